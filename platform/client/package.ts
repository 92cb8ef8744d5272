// Zips the files the controller does not hold yet. Unix modes are kept; entries are sorted and
// dated at a fixed time so the same files give the same zip.
import * as fs from 'node:fs';
import { PushError } from './errors';
import type { AppFile } from './fingerprint';

export interface PackOptions {
  /** Deflate (level 1) instead of storing: worth it only when the upload leaves this machine. */
  compress?: boolean;
  signal?: AbortSignal;
}

const fixedDate = new Date(Date.UTC(1980, 0, 1));
/** Already-compressed formats gain nothing from deflate. */
const storedExtensions = /\.(zip|gz|tgz|bz2|xz|zst|jar|war|png|jpe?g|gif|webp|woff2?|mp[34]|mov|pdf)$/i;

export async function packFiles(files: AppFile[], opts: PackOptions = {}): Promise<Buffer> {
  // Loaded on first use, like the YAML parser: commands that do not push start faster.
  const { default: JSZip } = await import('jszip');
  const zip = new JSZip();
  const sorted = [...files].sort((a, b) => (a.fn < b.fn ? -1 : a.fn > b.fn ? 1 : 0));
  for (const f of sorted) {
    if (opts.signal?.aborted) throw opts.signal.reason instanceof Error ? opts.signal.reason : new Error('aborted');
    let data: Buffer;
    try {
      data = await fs.promises.readFile(f.abs);
    } catch (e) {
      throw new PushError(`Cannot read ${f.fn}: ${(e as Error).message}`, { cause: e });
    }
    const deflate = opts.compress === true && !storedExtensions.test(f.fn) && data.length > 256;
    zip.file(f.fn, data, {
      binary: true,
      createFolders: false,
      date: fixedDate,
      unixPermissions: 0o100000 | (f.mode & 0o7777),
      compression: deflate ? 'DEFLATE' : 'STORE',
      compressionOptions: deflate ? { level: 1 } : undefined,
    });
  }
  return zip.generateAsync({ type: 'nodebuffer', platform: 'UNIX', streamFiles: false });
}
