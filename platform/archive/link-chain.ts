// Where a link inside an app folder really leads: its target is followed component by component,
// through the other links of the folder as the kernel would follow them on disk, so a chain
// (`x/y -> ..`, `esc -> x/y/x/y/../../..`) that leaves the folder is caught even where each
// target, read alone, stays inside.

export class LinkEscapeError extends Error {
  override name = 'LinkEscapeError';
  /** True when the chain loops (it never resolves) rather than leaving the folder. */
  constructor(message: string, readonly loops = false) { super(message); }
}

/** The most links followed for one path, as Linux's MAXSYMLINKS. */
const MAX_LINKS = 40;

/**
 * The path inside the folder (`''` for the folder itself, `/`-separated) that the link at
 * `linkPath` resolves to; `linkAt` gives the target of any other link by its path. Throws
 * LinkEscapeError when the target is absolute, climbs above the folder, or loops.
 */
export function resolveLinkChain(linkPath: string, target: string, linkAt: (path: string) => string | undefined): string {
  const at: string[] = linkPath.split('/').filter((s) => s !== '' && s !== '.');
  at.pop();
  const todo: string[] = [];
  const push = (t: string): void => {
    if (t === '' || t.includes('\0')) throw new LinkEscapeError('empty link target');
    if (t.startsWith('/') || t.includes('\\') || /^[A-Za-z]:/.test(t)) throw new LinkEscapeError(`link to an absolute path (${t})`);
    const segs = t.split('/');
    for (let i = segs.length - 1; i >= 0; i--) todo.push(segs[i]);
  };
  push(target);
  let followed = 0;
  while (todo.length > 0) {
    const seg = todo.pop() as string;
    if (seg === '' || seg === '.') continue;
    if (seg === '..') {
      if (at.length === 0) throw new LinkEscapeError(`link escapes the app folder (${target})`);
      at.pop();
      continue;
    }
    at.push(seg);
    const next = linkAt(at.join('/'));
    if (next === undefined) continue;
    if (++followed > MAX_LINKS) throw new LinkEscapeError(`too many levels of links (${target})`, true);
    at.pop();
    push(next);
  }
  return at.join('/');
}
