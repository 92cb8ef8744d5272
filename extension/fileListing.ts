// The v1 directory listing (lines `name  size`, folders with a trailing `/`) as the DEA writes it,
// read back into entries; no vscode here, so it is tested in plain Node.
import { unescapeListingName } from '../platform/contract/file-path';

export interface ListingEntry {
  /** The file's real name (escapes such as `\n` undone). */
  name: string;
  /** The name as the listing shows it: one line, no control characters. */
  shown: string;
  dir: boolean;
  size: string | undefined;
}

/** v1 listing lines: `name   size`, folders with a trailing `/`. */
export function parseListing(text: string): ListingEntry[] {
  const out: ListingEntry[] = [];
  for (const line of text.split('\n')) {
    const t = line.trimEnd();
    if (!t) continue;
    const m = /^(.*?)\s{2,}(\S+)$/.exec(t);
    const raw = (m ? m[1] : t)?.trim() ?? '';
    if (!raw) continue;
    const dir = raw.endsWith('/');
    const shown = dir ? raw.slice(0, -1) : raw;
    out.push({ name: unescapeListingName(shown), shown, dir, size: m && !dir ? m[2] : undefined });
  }
  return out;
}
