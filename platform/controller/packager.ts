// Assembles a package from an upload (zip of the changed files) plus resources already in the pool
// (PROTOCOL.md §2). Everything is checked before anything is written: names, links, declared sizes
// against the limit, pooled blobs. Uploaded files are inflated into a private work folder, the
// deterministic package is stored, and only then do the new blobs join the pool. A failure at any
// step leaves the pool and the package store as they were.
import { createHash, randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Log } from '../log';
import { writeTemp } from './atomic-file';
import type { ContentGc, PackagePin } from './content-gc';
import type { ContentStore } from './content-store';
import { CcError, ErrorCodes } from './errors';
import { SMALL_ENTRY, readListing, type BasePackage, type ListingEntry, type Planned } from './package-base';
import { PLAN_SLICE, badZip, nextTurn, planPackage } from './package-plan';
import { UnsafePathError, normalizeAppPath, staleBase, type PackageDelta, type ResourceEntry } from './package-request';
import type { ResourcePool } from './resource-pool';
import type { Store } from './store';
import { ZipArchive, ZipFormatError, type ZipEntry } from '../archive';
import { writeZip, type ZipSource } from './zip-writer';

export interface PackageResult {
  hash: string;
  size: number;
  files: number;
  /** False when identical content had been assembled before. */
  created: boolean;
}

/** An uploaded file after inflation: small ones stay in memory, large ones in a temp file. */
interface Inflated {
  sha1: string;
  size: number;
  data?: Buffer;
  tempPath?: string;
}

/** How much inflated content may stay in memory before files spill to the work folder. */
const MEMORY_BUDGET = 128 * 1024 * 1024;
/** Listings of recent packages kept for delta uploads (a package's content never changes). */
const LISTINGS_KEPT = 32;
const LISTING_ENTRIES_KEPT = 500_000;

export interface PackagerOptions {
  pool: ResourcePool;
  packages: ContentStore;
  store: Store;
  tmpDir: string;
  maxPackageBytes: number;
  /** Entries an uploaded zip may hold (default DEFAULT_MAX_ZIP_ENTRIES); stored packages have no limit. */
  maxZipEntries?: number;
  /** Pins what an upload assembled or reused until its commit is over; absent, nothing is pinned. */
  gc?: Pick<ContentGc, 'pin' | 'package'>;
  log: Log;
}

export class Packager {
  /** Package hash -> its listing, most recently used last. */
  private readonly listings = new Map<string, readonly ListingEntry[]>();

  constructor(private readonly opts: PackagerOptions) {}

  /**
   * Builds (or finds) the package for an upload; with `delta`, on top of that base package. Throws
   * CcError 400/401/402 for bad input and 403 for a base package it does not hold, writing nothing.
   */
  async assemble(uploadZip: string | null, resources: readonly ResourceEntry[], delta?: PackageDelta): Promise<PackageResult> {
    const { pkg, pin } = await this.assemblePinned(uploadZip, resources, delta);
    await pin?.release();
    return pkg;
  }

  /**
   * Assembles, then runs `commit` while the package is pinned, so no collection (another upload's
   * commit replacing it) removes it before `commit` points the app at it. A package this upload
   * created and `commit` refused is collected once the pin goes.
   */
  async assembleAndCommit<T>(uploadZip: string | null, resources: readonly ResourceEntry[], delta: PackageDelta | undefined, commit: (pkg: PackageResult) => Promise<T>): Promise<T> {
    const { pkg, pin } = await this.assemblePinned(uploadZip, resources, delta);
    try {
      return await commit(pkg);
    } catch (e) {
      if (pkg.created) await this.opts.gc?.package(pkg.hash);
      throw e;
    } finally {
      await pin?.release();
    }
  }

  private async assemblePinned(uploadZip: string | null, resources: readonly ResourceEntry[], delta?: PackageDelta): Promise<{ pkg: PackageResult; pin?: PackagePin }> {
    let archive: ZipArchive | undefined;
    let base: BasePackage | undefined;
    const workDir = path.join(this.opts.tmpDir, `upload-${randomBytes(8).toString('hex')}`);
    try {
      if (uploadZip) {
        try { archive = await ZipArchive.open(uploadZip, { maxEntries: this.opts.maxZipEntries }); } catch (e) { throw badZip(e); }
      }
      if (delta) base = await this.openBase(delta.basePackage);
      const plan = await planPackage(archive, resources, base, delta?.deleted ?? [], this.opts);
      const inflated = new Map<string, Inflated>();
      if (archive) await this.inflate(archive, plan, workDir, inflated);
      const recovered = new Map<string, Inflated>();
      if (base) await this.recoverFromBase(base, plan, workDir, recovered);
      const result = await this.store(plan, inflated, recovered);
      await this.adoptIntoPool(inflated);
      await this.adoptIntoPool(recovered);
      return result;
    } finally {
      archive?.close();
      base?.archive.close();
      await fs.promises.rm(workDir, { recursive: true, force: true });
    }
  }

  /** Opens a stored package as the base of a delta upload; 403 when it is gone or unreadable. */
  private async openBase(hash: string): Promise<BasePackage> {
    if (!this.opts.packages.has(hash)) throw staleBase(hash, 'is not held by the controller');
    let archive: ZipArchive;
    try {
      // A package this controller assembled itself: its size was checked when it was built.
      archive = await ZipArchive.open(this.opts.packages.pathOf(hash), { maxEntries: Infinity });
    } catch (e) {
      if (e instanceof ZipFormatError || (e as NodeJS.ErrnoException).code === 'ENOENT') throw staleBase(hash, 'cannot be read');
      throw e;
    }
    try {
      const entries = new Map<string, ZipEntry>();
      for (const e of archive.entries) entries.set(normalizeAppPath(e.name), e);
      let listing = this.listings.get(hash);
      if (!listing) listing = await readListing(archive);
      this.remember(hash, listing);
      return { hash, archive, listing, entries };
    } catch (e) {
      archive.close();
      if (e instanceof UnsafePathError || e instanceof ZipFormatError) throw staleBase(hash, 'cannot be read');
      throw e;
    }
  }

  private remember(hash: string, listing: readonly ListingEntry[]): void {
    this.listings.delete(hash);
    this.listings.set(hash, listing);
    let total = 0;
    for (const l of this.listings.values()) total += l.length;
    for (const [h, l] of this.listings) {
      if (this.listings.size <= 1 || (this.listings.size <= LISTINGS_KEPT && total <= LISTING_ENTRIES_KEPT)) break;
      this.listings.delete(h);
      total -= l.length;
    }
  }

  /** Inflates the uploaded files into the work folder, checking each against its declared size and CRC. */
  private async inflate(archive: ZipArchive, plan: Map<string, Planned>, workDir: string, out: Map<string, Inflated>): Promise<void> {
    fs.mkdirSync(workDir, { recursive: true, mode: 0o700 });
    let n = 0;
    let inMemory = 0;
    for (const [name, p] of plan) {
      if (p.kind !== 'file' || p.from !== 'zip') continue;
      const e = p.entry;
      if (e.uncompressedSize <= SMALL_ENTRY && e.compressedSize <= SMALL_ENTRY) {
        let data: Buffer;
        try { data = archive.readSmall(e); } catch (err) { throw badZip(err); }
        const sha1 = createHash('sha1').update(data).digest('hex');
        if (inMemory + data.length <= MEMORY_BUDGET) {
          inMemory += data.length;
          out.set(name, { sha1, size: data.length, data });
        } else {
          const tempPath = path.join(workDir, String(n));
          fs.writeFileSync(tempPath, data, { mode: 0o600 });
          out.set(name, { sha1, size: data.length, tempPath });
        }
        if (++n % 200 === 0) await new Promise((res) => setImmediate(res));
        continue;
      }
      let w;
      try {
        w = await writeTemp(archive.stream(e), workDir, {
          maxBytes: e.uncompressedSize,
          onTooLarge: () => new ZipFormatError(`${e.name}: inflates to more than its declared ${e.uncompressedSize} bytes`),
        });
      } catch (err) {
        throw badZip(err);
      }
      if (w.size !== e.uncompressedSize) throw new CcError(ErrorCodes.badZip, `zip entry ${e.name}: holds ${w.size} bytes, declares ${e.uncompressedSize}`);
      if (w.crc32 !== e.crc32) throw new CcError(ErrorCodes.badZip, `zip entry ${e.name}: CRC mismatch`);
      out.set(name, { tempPath: w.tempPath, sha1: w.sha1, size: w.size });
      n++;
    }
  }

  /**
   * A delta's base files come from the pool like pooled resources; the few the pool lacks (a blob
   * that could not be added earlier) are read from the base package itself and checked.
   */
  private async recoverFromBase(base: BasePackage, plan: Map<string, Planned>, workDir: string, out: Map<string, Inflated>): Promise<void> {
    let inMemory = 0;
    let n = 0;
    for (const [name, p] of plan) {
      if (p.kind !== 'file' || p.from !== 'base' || this.opts.pool.sizeOfSync(p.sha1) === p.size) continue;
      const e = p.entry;
      if (!e || e.isDirectory || e.isSymlink) throw staleBase(base.hash, `cannot be read (${name} is missing)`);
      let got: Inflated;
      try {
        if (e.uncompressedSize <= SMALL_ENTRY && e.compressedSize <= SMALL_ENTRY) {
          const data = base.archive.readSmall(e);
          got = { sha1: createHash('sha1').update(data).digest('hex'), size: data.length };
          if (inMemory + data.length <= MEMORY_BUDGET) {
            inMemory += data.length;
            got.data = data;
          } else {
            fs.mkdirSync(workDir, { recursive: true, mode: 0o700 });
            got.tempPath = path.join(workDir, `base-${n}`);
            fs.writeFileSync(got.tempPath, data, { mode: 0o600 });
          }
        } else {
          fs.mkdirSync(workDir, { recursive: true, mode: 0o700 });
          const w = await writeTemp(base.archive.stream(e), workDir, {
            maxBytes: e.uncompressedSize, onTooLarge: () => new ZipFormatError(`${name}: larger than declared`),
          });
          got = { sha1: w.sha1, size: w.size, tempPath: w.tempPath };
        }
      } catch (err) {
        if (err instanceof ZipFormatError || (err instanceof Error && 'code' in err && String(err.code).startsWith('Z_'))) throw staleBase(base.hash, `cannot be read (${name})`);
        throw err;
      }
      if (got.sha1 !== p.sha1 || got.size !== p.size) throw staleBase(base.hash, `cannot be read (${name} differs from its listing)`);
      out.set(name, got);
      if (++n % 200 === 0) await new Promise((res) => setImmediate(res));
    }
  }

  /** Writes the deterministic package (or reuses the one built from the same content), pinned. */
  private async store(plan: Map<string, Planned>, inflated: Map<string, Inflated>, recovered: Map<string, Inflated>): Promise<{ pkg: PackageResult; pin?: PackagePin }> {
    const names = sortByBytes([...plan.keys()]);
    const sources: ZipSource[] = [];
    const listing: ListingEntry[] = [];
    const manifest = createHash('sha1').update('pocket-package-v1\n');
    let files = 0;
    let n = 0;
    for (const name of names) {
      if (++n % PLAN_SLICE === 0) await nextTurn();
      const p = plan.get(name) as Planned;
      if (p.kind === 'dir') {
        sources.push({ kind: 'dir', name, mode: p.mode });
        listing.push({ kind: 'dir', name, mode: p.mode });
        manifest.update(`d\t${name}\t${p.mode}\n`);
      } else if (p.kind === 'symlink') {
        sources.push({ kind: 'symlink', name, target: p.target });
        listing.push({ kind: 'symlink', name, target: p.target });
        manifest.update(`l\t${name}\t${p.target}\n`);
        files++;
      } else {
        const up = p.from === 'zip' ? (inflated.get(name) as Inflated) : p.from === 'base' ? recovered.get(name) : undefined;
        const sha1 = p.from === 'zip' ? (up as Inflated).sha1 : p.sha1;
        sources.push({ kind: 'file', name, mode: p.mode, size: p.size, path: up?.tempPath ?? this.opts.pool.pathOf(sha1), data: up?.data });
        listing.push({ kind: 'file', name, mode: p.mode, size: p.size, sha1 });
        manifest.update(`f\t${name}\t${p.mode}\t${p.size}\t${sha1}\n`);
        files++;
      }
    }
    const digest = manifest.digest('hex');
    const known = this.opts.store.packageByManifest(digest);
    if (known && this.opts.packages.has(known.hash)) {
      // Pinned in the same turn as the check: a collection can no longer remove it.
      const pin = this.opts.gc?.pin(known.hash).pin;
      this.remember(known.hash, listing);
      return { pkg: { ...known, created: false }, pin };
    }
    let stored = await this.opts.packages.put(writeZip(sources));
    const pinned = this.opts.gc?.pin(stored.sha1);
    try {
      // The same content may have been on disk and under removal when put() found it there.
      await pinned?.settled;
      if (!this.opts.packages.has(stored.sha1)) stored = await this.opts.packages.put(writeZip(sources));
      this.opts.store.addPackage(stored.sha1, stored.size, files, digest);
    } catch (e) {
      await pinned?.pin.release();
      // A package file without its row (the database could not be written) is not left behind.
      if (stored.created) await (this.opts.gc ? this.opts.gc.package(stored.sha1) : this.opts.packages.remove(stored.sha1));
      throw e;
    }
    this.remember(stored.sha1, listing);
    return { pkg: { hash: stored.sha1, size: stored.size, files, created: stored.created }, pin: pinned?.pin };
  }

  private async adoptIntoPool(inflated: Map<string, Inflated>): Promise<void> {
    let n = 0;
    for (const f of inflated.values()) {
      try {
        if (f.data) this.opts.pool.addSync(f.sha1, f.data);
        else if (f.tempPath) this.opts.pool.adoptSync(f.tempPath, f.sha1, f.size);
      } catch (e) {
        // The package is already stored; a blob missing from the pool only means a bigger next upload.
        this.opts.log.warn(`resource pool: could not add ${f.sha1}: ${(e as Error).message}`);
      }
      if (++n % 200 === 0) await new Promise((res) => setImmediate(res));
    }
  }
}

/** Byte order of the UTF-8 names, independent of locale; each name encoded once, not per comparison. */
function sortByBytes(names: string[]): string[] {
  return names.map((n) => ({ n, b: Buffer.from(n, 'utf8') })).sort((x, y) => Buffer.compare(x.b, y.b)).map((x) => x.n);
}
