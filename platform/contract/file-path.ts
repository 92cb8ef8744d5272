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

/** Characters that would break a listing line or reach the reader's terminal: C0, DEL, C1, line separators, `\`. */
// eslint-disable-next-line no-control-regex -- matching control characters is the point
const unsafeInName = /[\\\u0000-\u001f\u007f-\u009f\u2028\u2029]/g;
const shortEscapes: Record<string, string> = { '\\': '\\\\', '\n': '\\n', '\r': '\\r', '\t': '\\t' };
const shortUnescapes: Record<string, string> = Object.fromEntries(Object.entries(shortEscapes).map(([c, e]) => [e.slice(1), c]));

/**
 * A file name for a listing line (`name  size`): as it is when it has none of those characters (v1's
 * format), else with C-style escapes, so a name with a newline cannot fake an entry.
 */
export function escapeListingName(name: string): string {
  return name.replace(unsafeInName, (c) => shortEscapes[c]
    ?? (c.charCodeAt(0) <= 0xff ? `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}` : `\\u${c.charCodeAt(0).toString(16)}`));
}

/** The name `escapeListingName` was given. */
export function unescapeListingName(shown: string): string {
  return shown.replace(/\\(\\|n|r|t|x[0-9a-f]{2}|u[0-9a-f]{4})/g, (_m, e: string) => {
    return e.length === 1 ? shortUnescapes[e] ?? e : String.fromCharCode(parseInt(e.slice(1), 16));
  });
}
