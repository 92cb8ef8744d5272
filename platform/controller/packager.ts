// Assembles a package from an upload (zip of the changed files) plus resources already in the pool
// (PROTOCOL.md §2). Everything is checked before anything is written: names, links, declared sizes
// against the limit, pooled blobs. Uploaded files are inflated into a private work folder, the
// deterministic package is stored, and only then do the new blobs join the pool. A failure at any
// step leaves the pool and the package store as they were.
import { createHash, randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as zlib from 'node:zlib';
import type { Log } from '../log';
import { SHA1_HEX, writeTemp } from './atomic-file';
import type { ContentStore } from './content-store';
import { CcError, ErrorCodes } from './errors';
import type { ResourcePool } from './resource-pool';
import type { Store } from './store';
import { ZipArchive, ZipFormatError, type ZipEntry } from './zip-reader';
import { writeZip, type ZipSource } from './zip-writer';

export interface ResourceEntry {
  fn: string;
  size: number;
  sha1: string;
  /** Permission bits; absent means 0644. An addition over v1's `{fn, size, sha1}`. */
  mode: number | null;
}

/** A delta upload: the new package is this base package minus `deleted`, plus the upload. */
export interface PackageDelta {
  /** Hash of the package the upload changes: the app's current package. */
  basePackage: string;
  /** Normalised names (files, links or folders) of the base package to leave out. */
  deleted: readonly string[];
}

/** One entry of a stored package, with what a later delta upload needs to reuse it. */
type ListingEntry =
  | { kind: 'dir'; name: string; mode: number }
  | { kind: 'symlink'; name: string; target: string }
  | { kind: 'file'; name: string; mode: number; size: number; sha1: string };

interface BasePackage {
  hash: string;
  archive: ZipArchive;
  listing: readonly ListingEntry[];
  /** The archive's entries by normalised name, to read a file the pool lost. */
  entries: Map<string, ZipEntry>;
}

export interface PackageResult {
  hash: string;
  size: number;
  files: number;
  /** False when identical content had been assembled before. */
  created: boolean;
}

const MAX_RESOURCES = 500_000;
const MAX_LINK_TARGET = 4096;
/** Entries up to this size are inflated in one synchronous step (much faster for many small files). */
const SMALL_ENTRY = 1024 * 1024;

export class UnsafePathError extends Error {
  override name = 'UnsafePathError';
}

/** A relative path inside the app, normalised (`a/./b` -> `a/b`); throws for blank, absolute or escaping names. */
export function normalizeAppPath(raw: string): string {
  if (typeof raw !== 'string' || raw.trim() === '') throw new UnsafePathError('blank name');
  if (raw.includes('\0')) throw new UnsafePathError('name contains a NUL byte');
  if (raw.includes('\\')) throw new UnsafePathError('name contains a backslash');
  if (raw.startsWith('/') || /^[A-Za-z]:/.test(raw)) throw new UnsafePathError('absolute path');
  const out: string[] = [];
  for (const seg of raw.split('/')) {
    if (seg === '' || seg === '.') continue;
    if (seg === '..') {
      if (out.length === 0) throw new UnsafePathError('escapes the app folder');
      out.pop();
    } else {
      out.push(seg);
    }
  }
  if (out.length === 0) throw new UnsafePathError('blank name');
  return out.join('/');
}

/** Checks that a symlink at `linkPath` pointing to `target` stays inside the app. */
export function checkLinkTarget(linkPath: string, target: string): void {
  if (target === '' || target.includes('\0')) throw new UnsafePathError('empty link target');
  if (target.startsWith('/') || /^[A-Za-z]:/.test(target) || target.includes('\\')) throw new UnsafePathError(`link to an absolute path (${target})`);
  const parts = linkPath.split('/').slice(0, -1);
  for (const seg of target.split('/')) {
    if (seg === '' || seg === '.') continue;
    if (seg === '..') {
      if (parts.length === 0) throw new UnsafePathError(`link escapes the app folder (${target})`);
      parts.pop();
    } else {
      parts.push(seg);
    }
  }
}

function parseMode(v: unknown, fn: string): number | null {
  if (v === undefined || v === null) return null;
  let n: number;
  if (typeof v === 'number' && Number.isInteger(v)) n = v;
  else if (typeof v === 'string' && /^[0-7]{1,7}$/.test(v)) n = parseInt(v, 8);
  else throw new CcError(ErrorCodes.badResources, `resources: ${fn}: mode must be an integer or an octal string`);
  if (n < 0) throw new CcError(ErrorCodes.badResources, `resources: ${fn}: bad mode`);
  return n & 0o777;
}

/** Parses the `resources` part: a JSON array of `{fn, size, sha1[, mode]}`. Code 400 for anything wrong. */
export function parseResources(text: string | undefined): ResourceEntry[] {
  if (text === undefined || text.trim() === '') return [];
  let raw: unknown;
  try { raw = JSON.parse(text); } catch { throw new CcError(ErrorCodes.badResources, 'resources: not valid JSON'); }
  if (!Array.isArray(raw)) throw new CcError(ErrorCodes.badResources, 'resources: expected a JSON array of {fn, size, sha1}');
  if (raw.length > MAX_RESOURCES) throw new CcError(ErrorCodes.badResources, `resources: more than ${MAX_RESOURCES} entries`);
  return raw.map((r: unknown, i) => {
    if (!r || typeof r !== 'object' || Array.isArray(r)) throw new CcError(ErrorCodes.badResources, `resources[${i}]: expected an object {fn, size, sha1}`);
    const o = r as Record<string, unknown>;
    if (typeof o.fn !== 'string') throw new CcError(ErrorCodes.badResources, `resources[${i}]: fn must be a string`);
    if (typeof o.size !== 'number' || !Number.isSafeInteger(o.size) || o.size < 0) throw new CcError(ErrorCodes.badResources, `resources[${i}] (${o.fn}): size must be a non-negative integer`);
    if (typeof o.sha1 !== 'string' || !SHA1_HEX.test(o.sha1.toLowerCase())) throw new CcError(ErrorCodes.badResources, `resources[${i}] (${o.fn}): sha1 must be 40 hex digits`);
    return { fn: o.fn, size: o.size, sha1: o.sha1.toLowerCase(), mode: parseMode(o.mode, o.fn) };
  });
}

/** Parses the `deleted` field of a delta upload: a JSON array of names in the base package. Code 400 for anything wrong. */
export function parseDeleted(text: string | undefined): string[] {
  if (text === undefined || text.trim() === '') return [];
  let raw: unknown;
  try { raw = JSON.parse(text); } catch { throw new CcError(ErrorCodes.badResources, 'deleted: not valid JSON'); }
  if (!Array.isArray(raw)) throw new CcError(ErrorCodes.badResources, 'deleted: expected a JSON array of file names');
  if (raw.length > MAX_RESOURCES) throw new CcError(ErrorCodes.badResources, `deleted: more than ${MAX_RESOURCES} entries`);
  const seen = new Set<string>();
  return raw.map((v: unknown, i) => {
    if (typeof v !== 'string') throw new CcError(ErrorCodes.badResources, `deleted[${i}]: expected a file name (a string)`);
    let name: string;
    try { name = normalizeAppPath(v); } catch (err) { throw new CcError(ErrorCodes.badResources, `deleted[${i}] ${JSON.stringify(v)}: ${(err as Error).message}`); }
    if (seen.has(name)) throw new CcError(ErrorCodes.badResources, `deleted: ${name} listed twice`);
    seen.add(name);
    return name;
  });
}

/**
 * The delta of an upload from its `base_package` and `deleted` fields, or undefined for a whole
 * (v1) upload. Code 400 when they are malformed.
 */
export function parseDelta(fields: Readonly<Record<string, string>>): PackageDelta | undefined {
  const base = fields.base_package;
  if (base === undefined || base.trim() === '') {
    if (fields.deleted !== undefined && fields.deleted.trim() !== '') throw new CcError(ErrorCodes.badResources, 'deleted: only allowed with base_package');
    return undefined;
  }
  const hash = base.trim().toLowerCase();
  if (!SHA1_HEX.test(hash)) throw new CcError(ErrorCodes.badResources, 'base_package: expected a package hash (40 hex digits)');
  return { basePackage: hash, deleted: parseDeleted(fields.deleted) };
}

export function staleBase(hash: string, why = 'is not the app\'s current package'): CcError {
  return new CcError(ErrorCodes.staleBasePackage, `base package is stale: ${hash} ${why}; push every file again`);
}

type Planned =
  | { kind: 'dir'; mode: number; explicit: boolean; base?: true }
  | { kind: 'symlink'; target: string; from: 'zip' | 'base' }
  | { kind: 'file'; size: number; mode: number; from: 'zip'; entry: ZipEntry }
  | { kind: 'file'; size: number; mode: number; from: 'pool'; sha1: string }
  | { kind: 'file'; size: number; mode: number; from: 'base'; sha1: string; entry: ZipEntry | undefined };

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
    let archive: ZipArchive | undefined;
    let base: BasePackage | undefined;
    const workDir = path.join(this.opts.tmpDir, `upload-${randomBytes(8).toString('hex')}`);
    try {
      if (uploadZip) {
        try { archive = await ZipArchive.open(uploadZip); } catch (e) { throw badZip(e); }
      }
      if (delta) base = await this.openBase(delta.basePackage);
      const plan = this.plan(archive, resources, base, delta?.deleted ?? []);
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
      archive = await ZipArchive.open(this.opts.packages.pathOf(hash));
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

  /** Every check that needs no writing: names, duplicates, links, declared sizes, pooled blobs. */
  private plan(archive: ZipArchive | undefined, resources: readonly ResourceEntry[], base?: BasePackage, deleted: readonly string[] = []): Map<string, Planned> {
    const plan = new Map<string, Planned>();
    let total = 0;
    for (const e of archive?.entries ?? []) {
      let name: string;
      try { name = normalizeAppPath(e.name); } catch (err) { throw new CcError(ErrorCodes.badZip, `zip entry ${JSON.stringify(e.name)}: ${(err as Error).message}`); }
      try {
        checkReadableEntry(e, archive as ZipArchive);
      } catch (err) { throw badZip(err); }
      const prev = plan.get(name);
      if (e.isDirectory) {
        if (prev && prev.kind !== 'dir') throw new CcError(ErrorCodes.badZip, `zip entry ${name}: both a file and a folder`);
        if (!prev || !prev.explicit) plan.set(name, { kind: 'dir', mode: ((e.mode ?? 0o755) & 0o777) | 0o700, explicit: true });
        continue;
      }
      if (prev) throw new CcError(ErrorCodes.badZip, `zip entry ${name}: appears twice`);
      if (e.isSymlink) {
        if (e.uncompressedSize > MAX_LINK_TARGET) throw new CcError(ErrorCodes.badZip, `zip entry ${name}: link target too long`);
        let target: string;
        try { target = (archive as ZipArchive).readSmall(e).toString('utf8'); } catch (err) { throw badZip(err); }
        try { checkLinkTarget(name, target); } catch (err) { throw new CcError(ErrorCodes.badZip, `zip entry ${name}: ${(err as Error).message}`); }
        plan.set(name, { kind: 'symlink', target, from: 'zip' });
        total += Buffer.byteLength(target);
      } else {
        plan.set(name, { kind: 'file', size: e.uncompressedSize, mode: ((e.mode ?? 0o644) & 0o777) | 0o400, from: 'zip', entry: e });
        total += e.uncompressedSize;
      }
    }
    for (const r of resources) {
      let name: string;
      try { name = normalizeAppPath(r.fn); } catch (err) { throw new CcError(ErrorCodes.badResources, `resource ${JSON.stringify(r.fn)}: ${(err as Error).message}`); }
      const prev = plan.get(name);
      if (prev) throw new CcError(ErrorCodes.badResources, `resource ${name}: ${prev.kind === 'dir' ? 'is also a folder in the upload' : prev.from === 'zip' ? 'also uploaded in the zip' : 'listed twice'}`);
      plan.set(name, { kind: 'file', size: r.size, mode: (r.mode ?? 0o644) | 0o400, from: 'pool', sha1: r.sha1 });
      total += r.size;
    }
    if (base) total += mergeBase(plan, base, deleted);
    // Parents must be folders; implicit ones are added so the package is the same however it was zipped.
    for (const [name, p] of [...plan]) {
      const segs = name.split('/');
      for (let i = 1; i < segs.length; i++) {
        const parent = segs.slice(0, i).join('/');
        const pp = plan.get(parent);
        if (!pp) { plan.set(parent, { kind: 'dir', mode: 0o755, explicit: false }); continue; }
        if (pp.kind !== 'dir') {
          const fromZip = p.kind === 'dir' ? !p.base : p.from === 'zip';
          const code = fromZip ? ErrorCodes.badZip : ErrorCodes.badResources;
          throw new CcError(code, `${name}: its parent ${parent} is a file, not a folder`);
        }
      }
    }
    if (total > this.opts.maxPackageBytes) {
      throw new CcError(ErrorCodes.packageTooLarge, `package too large: ${total} bytes unzipped, the limit is ${this.opts.maxPackageBytes}`);
    }
    for (const [name, p] of plan) {
      if (p.kind !== 'file' || p.from !== 'pool') continue;
      const have = this.opts.pool.sizeOfSync(p.sha1);
      if (have === undefined) throw new CcError(ErrorCodes.badResources, `resource ${name}: ${p.sha1} is not in the resource pool; upload it in the zip`);
      if (have !== p.size) throw new CcError(ErrorCodes.badResources, `resource ${name}: size ${p.size} differs from the pooled blob ${p.sha1} (${have} bytes)`);
    }
    return plan;
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

  /** Writes the deterministic package (or reuses the one built from the same content). */
  private async store(plan: Map<string, Planned>, inflated: Map<string, Inflated>, recovered: Map<string, Inflated>): Promise<PackageResult> {
    const names = [...plan.keys()].sort(compareNames);
    const sources: ZipSource[] = [];
    const listing: ListingEntry[] = [];
    const manifest = createHash('sha1').update('pocket-package-v1\n');
    let files = 0;
    for (const name of names) {
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
      this.remember(known.hash, listing);
      return { ...known, created: false };
    }
    const stored = await this.opts.packages.put(writeZip(sources));
    this.opts.store.addPackage(stored.sha1, stored.size, files, digest);
    this.remember(stored.sha1, listing);
    return { hash: stored.sha1, size: stored.size, files, created: stored.created };
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

/**
 * Adds the base package's entries that the upload neither replaces nor deletes; returns the bytes
 * they add. A folder stays while something is left in it (or when it was empty in the base already).
 */
function mergeBase(plan: Map<string, Planned>, base: BasePackage, deleted: readonly string[]): number {
  const byName = new Map(base.listing.map((e) => [e.name, e]));
  const gone = new Set<string>();
  for (const name of deleted) {
    if (!byName.has(name)) throw new CcError(ErrorCodes.badResources, `deleted ${name}: not in the base package`);
    if (plan.has(name)) throw new CcError(ErrorCodes.badResources, `deleted ${name}: also in the upload`);
    gone.add(name);
  }
  const parentsOf = (name: string, into: Set<string>): void => {
    for (let i = name.indexOf('/'); i >= 0; i = name.indexOf('/', i + 1)) into.add(name.slice(0, i));
  };
  const baseParents = new Set<string>();
  for (const e of base.listing) parentsOf(e.name, baseParents);
  let total = 0;
  for (const e of base.listing) {
    if (e.kind === 'dir' || gone.has(e.name) || plan.has(e.name)) continue;
    if (e.kind === 'symlink') {
      plan.set(e.name, { kind: 'symlink', target: e.target, from: 'base' });
      total += Buffer.byteLength(e.target);
    } else {
      plan.set(e.name, { kind: 'file', size: e.size, mode: e.mode, from: 'base', sha1: e.sha1, entry: base.entries.get(e.name) });
      total += e.size;
    }
  }
  const dirs = base.listing.filter((e): e is Extract<ListingEntry, { kind: 'dir' }> => e.kind === 'dir' && !gone.has(e.name) && !plan.has(e.name));
  for (const d of dirs) if (!baseParents.has(d.name)) plan.set(d.name, { kind: 'dir', mode: d.mode, explicit: true, base: true });
  const used = new Set<string>();
  for (const name of plan.keys()) parentsOf(name, used);
  for (const d of dirs) if (baseParents.has(d.name) && used.has(d.name)) plan.set(d.name, { kind: 'dir', mode: d.mode, explicit: true, base: true });
  return total;
}

/** The listing of a stored package, read back from its zip (after a restart: every file is hashed once). */
async function readListing(archive: ZipArchive): Promise<ListingEntry[]> {
  const out: ListingEntry[] = [];
  let n = 0;
  for (const e of archive.entries) {
    const name = normalizeAppPath(e.name);
    if (e.isDirectory) {
      out.push({ kind: 'dir', name, mode: (e.mode ?? 0o755) & 0o777 });
    } else if (e.isSymlink) {
      out.push({ kind: 'symlink', name, target: archive.readSmall(e).toString('utf8') });
    } else if (e.uncompressedSize <= SMALL_ENTRY && e.compressedSize <= SMALL_ENTRY) {
      const data = archive.readSmall(e);
      out.push({ kind: 'file', name, mode: (e.mode ?? 0o644) & 0o777, size: data.length, sha1: createHash('sha1').update(data).digest('hex') });
    } else {
      const h = createHash('sha1');
      let size = 0;
      let crc = 0;
      for await (const chunk of archive.stream(e) as AsyncIterable<Buffer>) { h.update(chunk); size += chunk.length; crc = zlib.crc32(chunk, crc); }
      if (size !== e.uncompressedSize || crc !== e.crc32) throw new ZipFormatError(`${e.name}: does not match its header`);
      out.push({ kind: 'file', name, mode: (e.mode ?? 0o644) & 0o777, size, sha1: h.digest('hex') });
    }
    if (++n % 200 === 0) await new Promise((res) => setImmediate(res));
  }
  return out;
}

function checkReadableEntry(e: ZipEntry, archive: ZipArchive): void {
  if (e.isDirectory) return;
  archive.dataStart(e);
}

/** Byte order of the UTF-8 names, independent of locale. */
function compareNames(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8'));
}

/** A zip format or inflate error becomes code 402; anything else (disk, bugs) is passed on as is. */
function badZip(err: unknown): unknown {
  if (err instanceof CcError) return err;
  if (err instanceof ZipFormatError) return new CcError(ErrorCodes.badZip, `bad zip: ${err.message}`, { cause: err });
  const code = err instanceof Error && 'code' in err ? String((err as { code: unknown }).code) : '';
  if (code.startsWith('Z_')) return new CcError(ErrorCodes.badZip, `bad zip: damaged compressed data (${(err as Error).message})`, { cause: err });
  return err;
}
