// The path of `GET /apps/:name/instances/:idx/files/*path` (PROTOCOL.md section 10): segments as
// today's clients send them, or ONE encoded segment as v1's vmc sends it (`logs%2Fstdout.log`,
// `%2Flogs`, `%2F`). The controller and the DEA's file server decode it with this one rule.

export type FilePath =
  | { ok: true; segments: string[]; dir: boolean }
  | { ok: false; reason: 'encoding' | 'outside' };

/** How many further decodings are checked for a hidden `..` or separator (double, triple encoding). */
const nestedDecodings = 3;

function hidesEscape(part: string): boolean {
  let s = part;
  for (let i = 0; i < nestedDecodings && s.includes('%'); i++) {
    try { s = decodeURIComponent(s); } catch { return false; }
    if (s === '..' || /[/\\\0]/.test(s)) return true;
  }
  return false;
}

/**
 * Decodes a raw (still percent-encoded) path into the segments below the instance folder. A leading
 * `/` means the instance folder, as in v1. Refused: bad encoding; `..`, NUL or `\` in any segment,
 * plain or encoded once or several times. Links are the reader's business (it resolves them).
 */
export function decodeFilePath(raw: string): FilePath {
  let decoded: string;
  try { decoded = decodeURIComponent(raw); } catch { return { ok: false, reason: 'encoding' }; }
  if (decoded.includes('\0') || decoded.includes('\\')) return { ok: false, reason: 'outside' };
  const segments: string[] = [];
  for (const part of decoded.split('/')) {
    if (part === '' || part === '.') continue;
    if (part === '..' || hidesEscape(part)) return { ok: false, reason: 'outside' };
    segments.push(part);
  }
  return { ok: true, segments, dir: decoded === '' || decoded.endsWith('/') };
}

/** The segments again as a relative URL path (each one encoded), with the trailing `/` of a folder. */
export function encodeFilePath(p: { segments: readonly string[]; dir: boolean }): string {
  return p.segments.map(encodeURIComponent).join('/') + (p.dir && p.segments.length ? '/' : '');
}
