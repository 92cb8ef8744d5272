// Writing files safely: stream into a temp name while hashing and counting, then rename into place.
import { createHash, randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Transform, Writable, type Readable, type TransformCallback } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import * as zlib from 'node:zlib';

export const SHA1_HEX = /^[0-9a-f]{40}$/;

export interface WrittenFile {
  tempPath: string;
  sha1: string;
  size: number;
  crc32: number;
}

export function tempName(dir: string, hint = 'tmp'): string {
  return path.join(dir, `.${hint}-${process.pid}-${randomBytes(8).toString('hex')}.tmp`);
}

/** Counts, hashes (SHA-1, CRC-32) and optionally caps the bytes flowing through. */
export class DigestStream extends Transform {
  private hash = createHash('sha1');
  size = 0;
  crc32 = 0;
  constructor(private readonly maxBytes = Number.POSITIVE_INFINITY, private readonly onTooLarge: () => Error = () => new Error('too large')) {
    super();
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    this.size += chunk.length;
    if (this.size > this.maxBytes) { cb(this.onTooLarge()); return; }
    this.hash.update(chunk);
    this.crc32 = zlib.crc32(chunk, this.crc32);
    cb(null, chunk);
  }

  digest(): string {
    return this.hash.digest('hex');
  }
}

/**
 * Streams `source` into a new temp file in `dir` and reports its SHA-1, size and CRC-32. The temp
 * file is removed when anything fails. `sync` makes the bytes durable before the caller renames.
 */
export async function writeTemp(source: Readable, dir: string, opts: { maxBytes?: number; onTooLarge?: () => Error; sync?: boolean; hint?: string } = {}): Promise<WrittenFile> {
  await fs.promises.mkdir(dir, { recursive: true });
  const tempPath = tempName(dir, opts.hint);
  const digest = new DigestStream(opts.maxBytes, opts.onTooLarge);
  try {
    const out = fs.createWriteStream(tempPath, { flags: 'wx', mode: 0o600 });
    await pipeline(source, digest, out);
    if (opts.sync) {
      const fh = await fs.promises.open(tempPath, 'r');
      try { await fh.sync(); } finally { await fh.close(); }
    }
    return { tempPath, sha1: digest.digest(), size: digest.size, crc32: digest.crc32 >>> 0 };
  } catch (e) {
    await fs.promises.rm(tempPath, { force: true });
    throw e;
  }
}

/** Renames a verified temp file to its final name; if the content is already there, drops the temp. */
export async function commitFile(tempPath: string, finalPath: string, size: number): Promise<boolean> {
  await fs.promises.mkdir(path.dirname(finalPath), { recursive: true });
  try {
    const st = await fs.promises.stat(finalPath);
    if (st.isFile() && st.size === size) { await fs.promises.rm(tempPath, { force: true }); return false; }
  } catch { /* not there yet */ }
  await fs.promises.chmod(tempPath, 0o644);
  await fs.promises.rename(tempPath, finalPath);
  return true;
}

export async function sha1OfFile(file: string): Promise<{ sha1: string; size: number }> {
  const digest = new DigestStream();
  await pipeline(fs.createReadStream(file), digest, new Writable({ write: (_chunk, _enc, cb) => cb() }));
  return { sha1: digest.digest(), size: digest.size };
}
