// Walks an app folder the way v1's client did (skip VCS folders and `.cfignore` matches, refuse
// links escaping the folder, skip sockets/fifos/devices) and fingerprints every file with SHA-1,
// streamed from disk through one reusable buffer.
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import ignore, { type Ignore } from 'ignore';
import { PushError } from './errors';
import type { Resource } from '../contract';

/** Folders never pushed, wherever they are. */
export const alwaysSkipped: ReadonlySet<string> = new Set(['.git', '.svn', '.hg', '_darcs']);

/** A file found in the app folder: its path inside the app (posix separators) and on disk. */
export interface AppFileEntry {
  fn: string;
  abs: string;
}

/** A fingerprinted file: the v1 resource triple plus what packing needs. */
export interface AppFile extends Resource {
  abs: string;
  /** Unix permission bits (kept in the zip so executables stay executable). */
  mode: number;
  /** What stat said when it was hashed: a later push with the same values need not read it again. */
  mtimeMs?: number;
  ctimeMs?: number;
  ino?: number;
}

/** Fingerprints known from an earlier push, by `fn`, trusted only while the file's stat is unchanged. */
export interface FingerprintCache {
  get(fn: string): AppFile | undefined;
  /** When those fingerprints were taken (ms): a file changed in the same instant cannot be told apart, so is read again. */
  takenAt: number;
}

export interface FingerprintProgress {
  files: number;
  totalFiles: number;
  bytes: number;
}

export interface FingerprintOptions {
  signal?: AbortSignal;
  onProgress?: (p: FingerprintProgress) => void;
  cache?: FingerprintCache;
}

/** Lists the files to push, sorted by path; throws PushError for links escaping the folder. */
export async function listAppFiles(root: string, opts: { signal?: AbortSignal } = {}): Promise<AppFileEntry[]> {
  let rootReal: string;
  try {
    rootReal = await fs.promises.realpath(root);
  } catch (e) {
    throw new PushError(`App folder ${root} does not exist`, { cause: e });
  }
  const rootStat = await fs.promises.stat(rootReal);
  if (!rootStat.isDirectory()) throw new PushError(`${root} is not a folder`);
  const cfIgnore = await loadCfIgnore(rootReal);
  // Without rules, skip the matcher: its first calls cost more than the whole walk.
  const ig = { ignores: (p: string): boolean => cfIgnore !== null && cfIgnore.ignores(p) };
  const out: AppFileEntry[] = [];

  // Synchronous calls in short slices, as for hashing: hundreds of folders cost a thread-pool hop each otherwise.
  let sliceStart = Date.now();
  // `chain` holds the real paths of the folders being walked, to stop on a link back to an ancestor.
  const walk = async (dirReal: string, prefix: string, chain: Set<string>): Promise<void> => {
    if (Date.now() - sliceStart >= sliceMs) {
      await new Promise<void>((r) => setImmediate(r));
      sliceStart = Date.now();
    }
    if (opts.signal?.aborted) throw opts.signal.reason instanceof Error ? opts.signal.reason : new Error('aborted');
    let entries: fs.Dirent[];
    try {
      entries = fs.readdirSync(dirReal, { withFileTypes: true });
    } catch (e) {
      throw new PushError(`Cannot read folder ${prefix || '.'}: ${(e as Error).message}`, { cause: e });
    }
    entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    for (const d of entries) {
      if (alwaysSkipped.has(d.name)) continue;
      const fn = prefix + d.name;
      const abs = dirReal + path.sep + d.name;
      if (d.isSymbolicLink()) {
        let target: string;
        try {
          target = fs.realpathSync(abs);
        } catch {
          throw new PushError(`${fn} is a broken symbolic link (-> ${readlinkOr(abs)}); remove it or add it to .cfignore`);
        }
        if (target !== rootReal && !target.startsWith(rootReal + path.sep)) {
          if (ig.ignores(fn) || ig.ignores(fn + '/')) continue;
          throw new PushError(`${fn} is a symbolic link to ${readlinkOr(abs)}, outside the app folder; copy what it points to into the app, or add it to .cfignore`);
        }
        const st = fs.statSync(target);
        if (st.isDirectory()) {
          if (ig.ignores(fn + '/')) continue;
          if (chain.has(target)) throw new PushError(`${fn} is a symbolic link to a folder that contains it (a loop); add it to .cfignore`);
          await walk(target, fn + '/', new Set(chain).add(target));
        } else if (st.isFile()) {
          if (!ig.ignores(fn)) out.push({ fn, abs: target });
        }
        continue;
      }
      if (d.isDirectory()) {
        if (ig.ignores(fn + '/')) continue;
        await walk(abs, fn + '/', new Set(chain).add(abs));
      } else if (d.isFile()) {
        if (!ig.ignores(fn)) out.push({ fn, abs });
      }
      // sockets, fifos and devices are not app content
    }
  };
  await walk(rootReal, '', new Set([rootReal]));
  return out;
}

/** The `.cfignore` matcher, or null when there is no file or it holds no rule. */
async function loadCfIgnore(rootReal: string): Promise<Ignore | null> {
  let text: string;
  try {
    text = await fs.promises.readFile(path.join(rootReal, '.cfignore'), 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw new PushError(`Cannot read .cfignore: ${(e as Error).message}`, { cause: e });
  }
  if (!text.split(/\r?\n/).some((l) => l.trim() !== '' && !l.startsWith('#'))) return null;
  return ignore().add(text);
}

function readlinkOr(p: string): string {
  try { return fs.readlinkSync(p); } catch { return '?'; }
}

const chunkSize = 1 << 20;
/** How long one slice of hashing may hold the event loop before yielding (the editor shares it). */
const sliceMs = 15;
/** The outcome of hashing one file, or an error message. */
type HashResult = { size: number; sha1: string; mode: number; mtimeMs: number; ctimeMs: number; ino: number } | { error: string };

/**
 * Hashes one file through `buf`: exactly the size seen by fstat is read, so the size and hash sent
 * always agree even if the file grows meanwhile. Returns null for what is no longer a regular file.
 */
function hashFile(abs: string, buf: Buffer): HashResult | null {
  let fd: number;
  try {
    fd = fs.openSync(abs, 'r');
  } catch (e) {
    return { error: (e as Error).message };
  }
  try {
    const st = fs.fstatSync(fd);
    if (!st.isFile()) return null;
    const h = createHash('sha1');
    let read = 0;
    while (read < st.size) {
      const n = fs.readSync(fd, buf, 0, Math.min(buf.length, st.size - read), null);
      if (n === 0) break;
      h.update(n === buf.length ? buf : buf.subarray(0, n));
      read += n;
    }
    return { size: read, sha1: h.digest('hex'), mode: st.mode & 0o7777, mtimeMs: st.mtimeMs, ctimeMs: st.ctimeMs, ino: st.ino };
  } catch (e) {
    return { error: (e as Error).message };
  } finally {
    fs.closeSync(fd);
  }
}

function toAppFile(e: AppFileEntry, r: HashResult | null): AppFile | null {
  if (r === null) return null;
  if ('error' in r) throw new PushError(`Cannot read ${e.fn}: ${r.error}`);
  return { fn: e.fn, abs: e.abs, ...r };
}

/** The cached fingerprint when the file's stat matches it exactly and it was not changed around the time it was taken. */
function fromCache(e: AppFileEntry, cache: FingerprintCache): AppFile | null {
  const c = cache.get(e.fn);
  if (!c || c.mtimeMs === undefined) return null;
  let st: fs.Stats;
  try { st = fs.statSync(e.abs); } catch { return null; }
  if (!st.isFile() || st.size !== c.size || st.mtimeMs !== c.mtimeMs || st.ctimeMs !== c.ctimeMs || st.ino !== c.ino) return null;
  if (st.mtimeMs >= cache.takenAt - 2000 || st.ctimeMs >= cache.takenAt - 2000) return null;
  return { fn: e.fn, abs: e.abs, size: c.size, sha1: c.sha1, mode: st.mode & 0o7777, mtimeMs: st.mtimeMs, ctimeMs: st.ctimeMs, ino: st.ino };
}

function abortReason(signal: AbortSignal): Error {
  return signal.reason instanceof Error ? signal.reason : new Error('aborted');
}

/**
 * SHA-1, size and mode of every file, in the order given. Reads are synchronous through one reusable
 * 1 MiB buffer, in short slices that yield to the event loop: for thousands of small files this beats
 * a thread-pool hop per open/read/close by far, and the hash runs on this thread either way. (Worker
 * threads were measured too: on two cores their start-up and hand-offs cost more than they saved.)
 * With a cache from an earlier push, a file whose stat is unchanged is not read at all (as rsync does).
 */
export async function fingerprintFiles(entries: AppFileEntry[], opts: FingerprintOptions = {}): Promise<AppFile[]> {
  const buf = Buffer.allocUnsafe(chunkSize);
  const out: AppFile[] = [];
  let bytes = 0;
  let sliceStart = Date.now();
  let lastReport = 0;
  for (let i = 0; i < entries.length; i++) {
    const f = (opts.cache ? fromCache(entries[i], opts.cache) : null) ?? toAppFile(entries[i], hashFile(entries[i].abs, buf));
    if (f) { out.push(f); bytes += f.size; }
    const now = Date.now();
    if (now - sliceStart >= sliceMs) {
      if (opts.onProgress && now - lastReport >= 100) { lastReport = now; opts.onProgress({ files: i + 1, totalFiles: entries.length, bytes }); }
      await new Promise<void>((r) => setImmediate(r));
      if (opts.signal?.aborted) throw abortReason(opts.signal);
      sliceStart = Date.now();
    }
  }
  opts.onProgress?.({ files: entries.length, totalFiles: entries.length, bytes });
  return out;
}

/** Walk and fingerprint in one go. */
export async function scanApp(root: string, opts: FingerprintOptions = {}): Promise<AppFile[]> {
  return fingerprintFiles(await listAppFiles(root, opts), opts);
}
