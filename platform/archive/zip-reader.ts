// Reading archives with yauzl: the end records and the central directory (zip64 included) are
// parsed by yauzl, lazily, one entry at a time, so the entry count is refused before any entry is
// read and names, declared sizes, modes and link flags are known BEFORE anything is inflated.
// Large entries stream from the file through yauzl, which checks the inflated size. Small entries
// are read synchronously by the short local-header part below: yauzl only streams, and the packager
// reads thousands of small files (a stream each is several times slower) from synchronous code.
import * as fs from 'node:fs';
import { PassThrough, Readable } from 'node:stream';
import * as zlib from 'node:zlib';
import * as yauzl from 'yauzl';

export class ZipFormatError extends Error {
  override name = 'ZipFormatError';
}

/** An archive with more entries than the reader was allowed to take; nothing was read past the count. */
export class ZipEntryLimitError extends ZipFormatError {
  override name = 'ZipEntryLimitError';
  constructor(readonly entryCount: number, readonly limit: number) {
    super(`the archive has ${entryCount} entries, more than the limit of ${limit}`);
  }
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

export interface ZipOpenOptions {
  /** Archives declaring more entries are refused with ZipEntryLimitError; default DEFAULT_MAX_ZIP_ENTRIES. */
  maxEntries?: number;
  /** False leaves names unchecked, for a caller that checks (and words its refusals) itself; default true. */
  checkNames?: boolean;
}

/** The default entry limit: far above real apps, low enough to keep the entry list small. */
export const DEFAULT_MAX_ZIP_ENTRIES = 100_000;

const SIG_LOCAL = 0x04034b50;
/** Bytes of central directory records (headers, names, extras, comments) read at most. */
const MAX_CENTRAL_DIRECTORY = 64 * 1024 * 1024;
/** yauzl's metadata reads are served from a read-ahead window of this size. */
const WINDOW = 1024 * 1024;
/** Entries listed between two turns of the event loop. */
const ENTRIES_PER_TURN = 1024;
const S_IFMT = 0o170000;
const S_IFDIR = 0o040000;
const S_IFLNK = 0o120000;

/**
 * yauzl's reader over one open file. Its metadata reads (two small ones per entry) come from a
 * window read ahead, so the central directory costs one read per MiB instead of two per entry.
 */
class WindowedReader extends yauzl.RandomAccessReader {
  private window = Buffer.alloc(0);
  private windowStart = 0;

  constructor(readonly fd: number, readonly file: string) { super(); }

  override read(buffer: Buffer, offset: number, length: number, position: number, callback: (err: Error | null, bytesRead?: number) => void): void {
    if (position >= this.windowStart && position + length <= this.windowStart + this.window.length) {
      this.window.copy(buffer, offset, position - this.windowStart, position - this.windowStart + length);
      process.nextTick(callback, null, length);
      return;
    }
    if (length > WINDOW) {
      fs.read(this.fd, buffer, offset, length, position, (err, n) => callback(err, n));
      return;
    }
    const next = Buffer.allocUnsafe(WINDOW);
    fs.read(this.fd, next, 0, WINDOW, position, (err, n) => {
      if (err) { callback(err); return; }
      this.window = next.subarray(0, n);
      this.windowStart = position;
      const got = Math.min(n, length);
      this.window.copy(buffer, offset, 0, got);
      callback(null, got);
    });
  }

  override _readStreamForRange(start: number, end: number): Readable {
    // Its own descriptor: destroying an fs stream closes its fd, and the archive's must stay open.
    return fs.createReadStream(this.file, { start, end: end - 1 });
  }

  override close(callback: (err: Error | null) => void): void {
    fs.close(this.fd, callback);
  }
}

const utf8Strict = new TextDecoder('utf-8', { fatal: true });

function decodeName(raw: Buffer, utf8Flag: boolean): string {
  if (utf8Flag) {
    try { return utf8Strict.decode(raw); } catch { throw new ZipFormatError('an entry name is not valid UTF-8'); }
  }
  // No flag: ASCII, or UTF-8 written by tools that forget the flag, else CP437-ish bytes read as latin1.
  try { return utf8Strict.decode(raw); } catch { return raw.toString('latin1'); }
}

/** yauzl's and zlib's errors about the archive become ZipFormatError; disk errors stay what they are. */
function formatError(err: unknown, entryName?: string): Error {
  if (err instanceof ZipFormatError) return err;
  const e = err instanceof Error ? err : new Error(String(err));
  const code = 'code' in e ? String(e.code) : '';
  if (code !== '' && !code.startsWith('Z_')) return e;
  const what = code.startsWith('Z_') ? `damaged compressed data (${e.message})` : e.message;
  return new ZipFormatError(entryName === undefined ? what : `${entryName}: ${what}`, { cause: e });
}

function toEntry(e: yauzl.Entry, checkNames: boolean): ZipEntry {
  const flags = e.generalPurposeBitFlag;
  const name = decodeName(e.fileNameRaw, (flags & 0x800) !== 0);
  // yauzl's strict name check: backslashes, absolute paths and `..` segments (even `a/../b`) refused.
  const bad = checkNames ? yauzl.validateFileName(name) : null;
  if (bad !== null) throw new ZipFormatError(bad);
  const host = e.versionMadeBy >> 8;
  const extAttr = e.externalFileAttributes >>> 0;
  const unixMode = host === 3 || host === 19 ? extAttr >>> 16 : 0;
  const mode = unixMode !== 0 ? unixMode : null;
  const isSymlink = mode !== null && (mode & S_IFMT) === S_IFLNK;
  const isDirectory = name.endsWith('/') || (mode !== null && (mode & S_IFMT) === S_IFDIR) || (!isSymlink && (extAttr & 0x10) !== 0);
  return {
    name, isDirectory, isSymlink, mode, method: e.compressionMethod, flags, crc32: e.crc32,
    compressedSize: e.compressedSize, uncompressedSize: e.uncompressedSize, localHeaderOffset: e.relativeOffsetOfLocalHeader,
  };
}

/** Lists the central directory one entry at a time, yielding to the event loop now and then. */
function readEntries(zip: yauzl.ZipFile, checkNames: boolean): Promise<ZipEntry[]> {
  return new Promise((resolve, reject) => {
    const out: ZipEntry[] = [];
    let cdBytes = 0;
    const done = (err?: unknown): void => {
      zip.removeAllListeners('entry');
      zip.removeAllListeners('end');
      if (err === undefined) resolve(out); else reject(formatError(err));
    };
    zip.on('entry', (e: yauzl.Entry) => {
      try {
        cdBytes += 46 + e.fileNameLength + e.extraFieldLength + e.fileCommentLength;
        if (cdBytes > MAX_CENTRAL_DIRECTORY) throw new ZipFormatError('central directory too large');
        out.push(toEntry(e, checkNames));
      } catch (err) {
        done(err);
        return;
      }
      if (out.length % ENTRIES_PER_TURN === 0) setImmediate(() => zip.readEntry());
      else zip.readEntry();
    });
    zip.once('end', () => done());
    zip.once('error', (err: Error) => done(err));
    zip.readEntry();
  });
}

function openFd(file: string): Promise<number> {
  return new Promise((resolve, reject) => fs.open(file, 'r', (err, fd) => (err ? reject(err) : resolve(fd))));
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
  private closed = false;

  private constructor(readonly file: string, private readonly zip: yauzl.ZipFile, private readonly fd: number, readonly size: number, readonly entries: ZipEntry[]) {}

  /** Opens and lists an archive; ZipEntryLimitError before any entry is read when it declares too many. */
  static async open(file: string, opts: ZipOpenOptions = {}): Promise<ZipArchive> {
    const maxEntries = opts.maxEntries ?? DEFAULT_MAX_ZIP_ENTRIES;
    const fd = await openFd(file);
    let zip: yauzl.ZipFile;
    let size: number;
    try {
      size = (await fs.promises.stat(file)).size;
      zip = await yauzl.fromRandomAccessReaderPromise(new WindowedReader(fd, file), size, {
        lazyEntries: true, autoClose: false, decodeStrings: false, validateEntrySizes: true, strictFileNames: true,
      });
    } catch (e) {
      fs.close(fd, () => undefined);
      throw formatError(e);
    }
    // Errors after listing (closing the file) must not crash the process; reads report their own.
    zip.on('error', () => undefined);
    try {
      if (zip.entryCount > maxEntries) throw new ZipEntryLimitError(zip.entryCount, maxEntries);
      return new ZipArchive(file, zip, fd, size, await readEntries(zip, opts.checkNames ?? true));
    } catch (e) {
      zip.close();
      throw e;
    }
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.zip.close();
  }

  private readSync(position: number, length: number): Buffer {
    if (this.closed) throw new Error(`${this.file}: archive already closed`);
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

  /** The inflated content as a stream, cut off by yauzl past the declared size; the consumer checks the CRC-32. */
  stream(e: ZipEntry): Readable {
    const start = this.dataStart(e);
    if (e.compressedSize === 0) return Readable.from([]);
    const out = new PassThrough();
    this.zip.openReadStreamLowLevel(start, e.compressedSize, 0, e.compressedSize, e.method === 8, e.uncompressedSize, (err, s) => {
      if (err) { out.destroy(formatError(err, e.name)); return; }
      s.on('error', (serr: Error) => out.destroy(formatError(serr, e.name)));
      out.once('close', () => { if (!s.readableEnded) s.destroy(); });
      s.pipe(out);
    });
    return out;
  }
}

export const ZipModes = { S_IFMT, S_IFDIR, S_IFLNK, S_IFREG: 0o100000 } as const;
