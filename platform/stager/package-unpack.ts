// Unpacking an app package (zip) into the droplet's app/ folder. The package comes over the network,
// so every entry is checked: no absolute paths, no `..` escapes, no links that leave the folder.
import * as fs from 'node:fs';
import * as path from 'node:path';
import JSZip from 'jszip';
import { StagingError } from './errors';

const S_IFMT = 0o170000;
const S_IFLNK = 0o120000;
/** Unpacked size limit: the controller checks 512 MiB on upload; this guards against zip bombs. */
export const maxUnpackedBytes = 1024 * 1024 * 1024;

export interface UnpackResult {
  files: number;
  bytes: number;
}

/** The entry's path relative to the root, or an error naming the entry if it is not safe. */
export function safeEntryPath(name: string): string {
  const shown = JSON.stringify(name);
  if (name.includes('\0')) throw new StagingError(`bad package: entry ${shown} has a NUL byte in its name`);
  const slashed = name.replace(/\\/g, '/');
  if (slashed.startsWith('/') || /^[A-Za-z]:/.test(slashed)) throw new StagingError(`bad package: entry ${shown} has an absolute path`);
  const norm = path.posix.normalize(slashed);
  if (norm === '..' || norm.startsWith('../')) throw new StagingError(`bad package: entry ${shown} points outside the app folder`);
  return norm.replace(/\/+$/, '');
}

function inside(root: string, p: string): boolean {
  const rel = path.relative(root, p);
  return rel === '' || (!rel.startsWith('..') && !path.isAbsolute(rel));
}

function unixMode(entry: JSZip.JSZipObject): number | null {
  const m = entry.unixPermissions;
  if (typeof m === 'number') return m;
  if (typeof m === 'string' && /^[0-7]+$/.test(m)) return parseInt(m, 8);
  return null;
}

/** Unpacks `zipFile` into `root` (which must exist). Throws StagingError for a bad or hostile zip. */
export async function unpackPackage(zipFile: string, root: string, signal: AbortSignal): Promise<UnpackResult> {
  let zip: JSZip;
  try {
    zip = await JSZip.loadAsync(await fs.promises.readFile(zipFile), { createFolders: false });
  } catch (e) {
    throw new StagingError(`bad package: not a valid zip file (${(e as Error).message})`);
  }
  const realRoot = await fs.promises.realpath(root);
  let files = 0;
  let bytes = 0;
  const links: { at: string; target: string; name: string }[] = [];
  for (const entry of Object.values(zip.files)) {
    signal.throwIfAborted();
    // jszip quietly rewrites `../x` to `x`; a package that says `../x` is refused, not relocated.
    const rel = safeEntryPath(entry.unsafeOriginalName ?? entry.name);
    safeEntryPath(entry.name);
    if (rel === '.' || rel === '') continue;
    const dest = path.join(realRoot, rel);
    // The parent must really be inside the root, even through links created earlier.
    await fs.promises.mkdir(path.dirname(dest), { recursive: true });
    const realParent = await fs.promises.realpath(path.dirname(dest));
    if (!inside(realRoot, realParent)) throw new StagingError(`bad package: entry ${JSON.stringify(entry.unsafeOriginalName ?? entry.name)} points outside the app folder`);
    const mode = unixMode(entry);
    if (entry.dir) {
      await fs.promises.mkdir(dest, { recursive: true });
      continue;
    }
    const data = await entry.async('nodebuffer');
    bytes += data.length;
    if (bytes > maxUnpackedBytes) throw new StagingError(`bad package: more than ${maxUnpackedBytes >> 20} MiB unpacked`);
    if (mode !== null && (mode & S_IFMT) === S_IFLNK) {
      links.push({ at: dest, target: data.toString('utf8'), name: entry.name });
      continue;
    }
    await fs.promises.rm(dest, { force: true, recursive: true });
    // Keep the executable bits the client sent; the owner can always read and write.
    const perm = mode !== null ? (mode & 0o777) | 0o600 : 0o644;
    await fs.promises.writeFile(dest, data, { mode: perm, flag: 'wx' });
    await fs.promises.chmod(dest, perm);
    files++;
  }
  // Links last, so no later entry is written through one.
  for (const l of links) {
    if (path.isAbsolute(l.target) || !inside(realRoot, path.resolve(path.dirname(l.at), l.target))) {
      throw new StagingError(`bad package: link ${JSON.stringify(l.name)} -> ${JSON.stringify(l.target)} points outside the app folder`);
    }
    await fs.promises.rm(l.at, { force: true, recursive: true });
    await fs.promises.symlink(l.target, l.at);
    files++;
  }
  // Each target is inside on its own, but a chain (`a -> b/../x` with `b -> .`) can still leave.
  for (const l of links) {
    let real: string;
    try { real = await fs.promises.realpath(l.at); } catch { continue; /* dangling: points nowhere */ }
    if (!inside(realRoot, real)) throw new StagingError(`bad package: link ${JSON.stringify(l.name)} resolves outside the app folder`);
  }
  return { files, bytes };
}
