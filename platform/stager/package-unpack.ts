// Unpacking an app package (zip) into the droplet's app/ folder. The package comes over the network,
// so every entry is checked before anything is written: no absolute paths, no `..` escapes, no link
// that leads out of the folder, followed through the other links as it would be on disk. The zip
// is read with the shared yauzl reader and streamed entry by entry, so memory stays bounded.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Transform, type TransformCallback } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import * as zlib from 'node:zlib';
import { LinkEscapeError, ZipArchive, ZipFormatError, resolveLinkChain, type ZipEntry } from '../archive';
import { StagingError } from './errors';

/** Unpacked size limit: the controller checks 512 MiB on upload; this guards against zip bombs. */
export const maxUnpackedBytes = 1024 * 1024 * 1024;
/** Entries up to this size are read in one step; larger ones are streamed to their file. */
const SMALL_ENTRY = 1024 * 1024;
const MAX_LINK_TARGET = 4096;

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

/** Passes bytes through and checks their CRC-32 at the end (yauzl checks the size). */
class Crc32Check extends Transform {
  private crc = 0;
  constructor(private readonly e: ZipEntry) { super(); }
  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    this.crc = zlib.crc32(chunk, this.crc);
    cb(null, chunk);
  }
  override _flush(cb: TransformCallback): void {
    cb((this.crc >>> 0) === this.e.crc32 ? null : new ZipFormatError(`${this.e.name}: CRC mismatch`));
  }
}

interface Planned { rel: string; entry: ZipEntry }

/** Every check that needs no writing: names, declared sizes, link targets and their chains. */
function plan(archive: ZipArchive): { entries: Planned[]; links: Map<string, string> } {
  const entries: Planned[] = [];
  const links = new Map<string, string>();
  let declared = 0;
  for (const entry of archive.entries) {
    const rel = safeEntryPath(entry.name);
    if (rel === '.' || rel === '') continue;
    if (!entry.isDirectory) declared += entry.uncompressedSize;
    if (declared > maxUnpackedBytes) throw new StagingError(`bad package: more than ${maxUnpackedBytes >> 20} MiB unpacked`);
    if (entry.isSymlink) {
      if (entry.uncompressedSize > MAX_LINK_TARGET) throw new StagingError(`bad package: link ${JSON.stringify(entry.name)} has a target too long`);
      links.set(rel, archive.readSmall(entry).toString('utf8'));
    }
    entries.push({ rel, entry });
  }
  for (const [rel, target] of links) {
    try { resolveLinkChain(rel, target, (p) => links.get(p)); } catch (e) {
      if (!(e instanceof LinkEscapeError)) throw e;
      const what = `bad package: link ${JSON.stringify(rel)} -> ${JSON.stringify(target)}`;
      throw new StagingError(e.loops ? `${what} loops through other links` : `${what} points outside the app folder`);
    }
  }
  return { entries, links };
}

/** Unpacks `zipFile` into `root` (which must exist). Throws StagingError for a bad or hostile zip. */
export async function unpackPackage(zipFile: string, root: string, signal: AbortSignal): Promise<UnpackResult> {
  let archive: ZipArchive;
  try {
    // The controller built this package; its names are checked below, with our own wording.
    archive = await ZipArchive.open(zipFile, { maxEntries: Infinity, checkNames: false });
  } catch (e) {
    throw new StagingError(`bad package: not a valid zip file (${(e as Error).message})`);
  }
  try {
    return await unpackEntries(archive, root, signal);
  } catch (e) {
    if (e instanceof ZipFormatError || (e instanceof Error && 'code' in e && String(e.code).startsWith('Z_'))) throw new StagingError(`bad package: ${e.message}`);
    throw e;
  } finally {
    archive.close();
  }
}

async function unpackEntries(archive: ZipArchive, root: string, signal: AbortSignal): Promise<UnpackResult> {
  const { entries, links } = plan(archive);
  const realRoot = await fs.promises.realpath(root);
  let files = 0;
  let bytes = 0;
  for (const { rel, entry } of entries) {
    signal.throwIfAborted();
    const dest = path.join(realRoot, rel);
    // The parent must really be inside the root, even through links created earlier.
    await fs.promises.mkdir(path.dirname(dest), { recursive: true });
    const realParent = await fs.promises.realpath(path.dirname(dest));
    if (!inside(realRoot, realParent)) throw new StagingError(`bad package: entry ${JSON.stringify(entry.name)} points outside the app folder`);
    if (entry.isDirectory) {
      await fs.promises.mkdir(dest, { recursive: true });
      continue;
    }
    if (entry.isSymlink) continue;
    await fs.promises.rm(dest, { force: true, recursive: true });
    // Keep the executable bits the client sent; the owner can always read and write.
    const perm = entry.mode !== null ? (entry.mode & 0o777) | 0o600 : 0o644;
    if (entry.uncompressedSize <= SMALL_ENTRY && entry.compressedSize <= SMALL_ENTRY) {
      await fs.promises.writeFile(dest, archive.readSmall(entry), { mode: perm, flag: 'wx' });
    } else {
      await pipeline(archive.stream(entry), new Crc32Check(entry), fs.createWriteStream(dest, { mode: perm, flags: 'wx' }), { signal });
    }
    await fs.promises.chmod(dest, perm);
    bytes += entry.uncompressedSize;
    files++;
  }
  // Links last, so no later entry is written through one.
  for (const [rel, target] of links) {
    const at = path.join(realRoot, rel);
    await fs.promises.rm(at, { force: true, recursive: true });
    await fs.promises.symlink(target, at);
    bytes += Buffer.byteLength(target);
    files++;
  }
  return { files, bytes };
}
