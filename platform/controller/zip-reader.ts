// A small, strict zip reader: reads the central directory (zip64 included) so names, declared sizes,
// modes and link flags can be checked BEFORE anything is inflated, then streams single entries
// straight from the file (stored or deflated), never holding the archive in memory.
import * as fs from 'node:fs';
import { PassThrough, Readable, pipeline } from 'node:stream';
import * as zlib from 'node:zlib';

export class ZipFormatError extends Error {
  override name = 'ZipFormatError';
}

export interface ZipEntry {
  /** Name as stored in the archive (not yet checked for safety). */
  name: string;
  isDirectory: boolean;
  isSymlink: boolean;
  /** Unix mode including the file-type bits, when the archive was made on a unix-like system. */
  mode: number | null;
  method: number;
  flags: number;
  crc32: number;
  compressedSize: number;
  uncompressedSize: number;
  localHeaderOffset: number;
}

const SIG_EOCD = 0x06054b50;
const SIG_ZIP64_LOCATOR = 0x07064b50;
const SIG_ZIP64_EOCD = 0x06064b50;
const SIG_CENTRAL = 0x02014b50;
const SIG_LOCAL = 0x04034b50;
const MAX_CENTRAL_DIRECTORY = 64 * 1024 * 1024;
const S_IFMT = 0o170000;
const S_IFDIR = 0o040000;
const S_IFLNK = 0o120000;

async function readAt(fh: fs.promises.FileHandle, position: number, length: number): Promise<Buffer> {
  const buf = Buffer.alloc(length);
  let off = 0;
  while (off < length) {
    const { bytesRead } = await fh.read(buf, off, length - off, position + off);
    if (bytesRead === 0) throw new ZipFormatError('unexpected end of file');
    off += bytesRead;
  }
  return buf;
}

function safeNumber(v: bigint, what: string): number {
  if (v > BigInt(Number.MAX_SAFE_INTEGER)) throw new ZipFormatError(`${what} too large`);
  return Number(v);
}

const utf8Strict = new TextDecoder('utf-8', { fatal: true });

function decodeName(raw: Buffer, utf8Flag: boolean): string {
  if (utf8Flag) {
    try { return utf8Strict.decode(raw); } catch { throw new ZipFormatError('an entry name is not valid UTF-8'); }
  }
  // No flag: ASCII, or UTF-8 written by tools that forget the flag, else CP437-ish bytes read as latin1.
  try { return utf8Strict.decode(raw); } catch { return raw.toString('latin1'); }
}

export interface ZipDirectory {
  entries: ZipEntry[];
  size: number;
}

export async function readZipDirectory(file: string): Promise<ZipDirectory> {
  const fh = await fs.promises.open(file, 'r');
  try {
    const size = (await fh.stat()).size;
    if (size < 22) throw new ZipFormatError('not a zip file (too short)');
    const tailLen = Math.min(size, 22 + 0xffff + 20);
    const tail = await readAt(fh, size - tailLen, tailLen);
    let eocd = -1;
    for (let i = tail.length - 22; i >= 0; i--) {
      if (tail.readUInt32LE(i) === SIG_EOCD && i + 22 + tail.readUInt16LE(i + 20) === tail.length) { eocd = i; break; }
    }
    if (eocd < 0) throw new ZipFormatError('not a zip file (no end of central directory)');
    let count = tail.readUInt16LE(eocd + 10);
    let cdSize = tail.readUInt32LE(eocd + 12);
    let cdOffset = tail.readUInt32LE(eocd + 16);
    if (count === 0xffff || cdSize === 0xffffffff || cdOffset === 0xffffffff) {
      const loc = eocd - 20;
      if (loc < 0 || tail.readUInt32LE(loc) !== SIG_ZIP64_LOCATOR) throw new ZipFormatError('zip64 locator missing');
      const z64Offset = safeNumber(tail.readBigUInt64LE(loc + 8), 'zip64 offset');
      if (z64Offset + 56 > size) throw new ZipFormatError('zip64 record outside the file');
      const z64 = await readAt(fh, z64Offset, 56);
      if (z64.readUInt32LE(0) !== SIG_ZIP64_EOCD) throw new ZipFormatError('zip64 record missing');
      count = safeNumber(z64.readBigUInt64LE(32), 'entry count');
      cdSize = safeNumber(z64.readBigUInt64LE(40), 'central directory size');
      cdOffset = safeNumber(z64.readBigUInt64LE(48), 'central directory offset');
    }
    if (cdOffset + cdSize > size) throw new ZipFormatError('central directory outside the file');
    if (cdSize > MAX_CENTRAL_DIRECTORY) throw new ZipFormatError('central directory too large');
    const cd = cdSize > 0 ? await readAt(fh, cdOffset, cdSize) : Buffer.alloc(0);
    const entries: ZipEntry[] = [];
    let p = 0;
    for (let i = 0; i < count; i++) {
      if (p + 46 > cd.length || cd.readUInt32LE(p) !== SIG_CENTRAL) throw new ZipFormatError(`central directory entry ${i} is damaged`);
      const madeBy = cd.readUInt16LE(p + 4);
      const flags = cd.readUInt16LE(p + 8);
      const method = cd.readUInt16LE(p + 10);
      const crc32 = cd.readUInt32LE(p + 16);
      let compressedSize = cd.readUInt32LE(p + 20);
      let uncompressedSize = cd.readUInt32LE(p + 24);
      const nameLen = cd.readUInt16LE(p + 28);
      const extraLen = cd.readUInt16LE(p + 30);
      const commentLen = cd.readUInt16LE(p + 32);
      const extAttr = cd.readUInt32LE(p + 38);
      let localHeaderOffset = cd.readUInt32LE(p + 42);
      const end = p + 46 + nameLen + extraLen + commentLen;
      if (end > cd.length) throw new ZipFormatError(`central directory entry ${i} is damaged`);
      const name = decodeName(cd.subarray(p + 46, p + 46 + nameLen), (flags & 0x800) !== 0);
      // zip64 extended information: only the fields whose 32-bit value is saturated, in this order.
      let x = p + 46 + nameLen;
      const xEnd = x + extraLen;
      while (x + 4 <= xEnd) {
        const id = cd.readUInt16LE(x);
        const len = cd.readUInt16LE(x + 2);
        if (x + 4 + len > xEnd) break;
        if (id === 0x0001) {
          let q = x + 4;
          const next = (what: string): number => {
            if (q + 8 > x + 4 + len) throw new ZipFormatError('zip64 extra field too short');
            const v = safeNumber(cd.readBigUInt64LE(q), what); q += 8; return v;
          };
          if (uncompressedSize === 0xffffffff) uncompressedSize = next('size');
          if (compressedSize === 0xffffffff) compressedSize = next('compressed size');
          if (localHeaderOffset === 0xffffffff) localHeaderOffset = next('offset');
        }
        x += 4 + len;
      }
      const host = madeBy >> 8;
      const unixMode = host === 3 || host === 19 ? extAttr >>> 16 : 0;
      const mode = unixMode !== 0 ? unixMode : null;
      const isSymlink = mode !== null && (mode & S_IFMT) === S_IFLNK;
      const isDirectory = name.endsWith('/') || (mode !== null && (mode & S_IFMT) === S_IFDIR) || (!isSymlink && (extAttr & 0x10) !== 0);
      entries.push({ name, isDirectory, isSymlink, mode, method, flags, crc32, compressedSize, uncompressedSize, localHeaderOffset });
      p = end;
    }
    return { entries, size };
  } finally {
    await fh.close();
  }
}

/** Checks what the reader can stream; the caller still verifies size and CRC of what comes out. */
export function checkReadable(e: ZipEntry, archiveSize: number): void {
  if (e.flags & 0x1) throw new ZipFormatError(`${e.name}: encrypted entries are not supported`);
  if (e.method !== 0 && e.method !== 8) throw new ZipFormatError(`${e.name}: compression method ${e.method} is not supported (use deflate or store)`);
  if (e.method === 0 && e.compressedSize !== e.uncompressedSize) throw new ZipFormatError(`${e.name}: stored entry with inconsistent sizes`);
  if (e.localHeaderOffset + 30 + e.compressedSize > archiveSize) throw new ZipFormatError(`${e.name}: data outside the file`);
}

/**
 * An open archive for reading entries. Small entries are read and inflated synchronously (far
 * faster than a stream per file for apps with thousands of files); large ones are streamed.
 */
export class ZipArchive {
  private constructor(readonly file: string, private readonly fd: number, readonly size: number, readonly entries: ZipEntry[]) {}

  static async open(file: string): Promise<ZipArchive> {
    const dir = await readZipDirectory(file);
    const fd = fs.openSync(file, 'r');
    return new ZipArchive(file, fd, dir.size, dir.entries);
  }

  close(): void {
    try { fs.closeSync(this.fd); } catch { /* already closed */ }
  }

  private readSync(position: number, length: number): Buffer {
    const buf = Buffer.alloc(length);
    let off = 0;
    while (off < length) {
      const n = fs.readSync(this.fd, buf, off, length - off, position + off);
      if (n === 0) throw new ZipFormatError('unexpected end of file');
      off += n;
    }
    return buf;
  }

  /** Where the entry's (compressed) data starts, from its local header. */
  dataStart(e: ZipEntry): number {
    checkReadable(e, this.size);
    const head = this.readSync(e.localHeaderOffset, 30);
    if (head.readUInt32LE(0) !== SIG_LOCAL) throw new ZipFormatError(`${e.name}: local header missing`);
    const start = e.localHeaderOffset + 30 + head.readUInt16LE(26) + head.readUInt16LE(28);
    if (start + e.compressedSize > this.size) throw new ZipFormatError(`${e.name}: data outside the file`);
    return start;
  }

  /** The whole inflated content, checked against the declared size and CRC-32. */
  readSmall(e: ZipEntry): Buffer {
    const start = this.dataStart(e);
    const raw = e.compressedSize ? this.readSync(start, e.compressedSize) : Buffer.alloc(0);
    let data: Buffer;
    if (e.method === 0) {
      data = raw;
    } else {
      try {
        data = zlib.inflateRawSync(raw, { maxOutputLength: Math.max(1, e.uncompressedSize) });
      } catch (err) {
        throw new ZipFormatError(`${e.name}: ${err instanceof RangeError ? 'inflates to more than its declared size' : 'damaged compressed data'}`);
      }
    }
    if (data.length !== e.uncompressedSize) throw new ZipFormatError(`${e.name}: holds ${data.length} bytes, declares ${e.uncompressedSize}`);
    if ((zlib.crc32(data) >>> 0) !== e.crc32) throw new ZipFormatError(`${e.name}: CRC mismatch`);
    return data;
  }

  /** The inflated content as a stream; the consumer checks size and CRC-32 (see DigestStream). */
  stream(e: ZipEntry): Readable {
    const start = this.dataStart(e);
    if (e.compressedSize === 0) return Readable.from([]);
    const raw = fs.createReadStream(this.file, { start, end: start + e.compressedSize - 1 });
    const out = e.method === 8 ? zlib.createInflateRaw() : new PassThrough();
    return pipeline(raw, out, () => undefined);
  }
}

export const ZipModes = { S_IFMT, S_IFDIR, S_IFLNK, S_IFREG: 0o100000 } as const;
