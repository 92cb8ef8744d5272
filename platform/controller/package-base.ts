// The base package of a delta upload: its listing (what a later delta needs to reuse it) and how
// its entries join the plan of the new package.
import { createHash } from 'node:crypto';
import * as zlib from 'node:zlib';
import { CcError, ErrorCodes } from './errors';
import { normalizeAppPath } from './package-request';
import { ZipFormatError, type ZipArchive, type ZipEntry } from '../archive';

/** Entries up to this size are inflated in one synchronous step (much faster for many small files). */
export const SMALL_ENTRY = 1024 * 1024;

/** One entry of a stored package, with what a later delta upload needs to reuse it. */
export type ListingEntry =
  | { kind: 'dir'; name: string; mode: number }
  | { kind: 'symlink'; name: string; target: string }
  | { kind: 'file'; name: string; mode: number; size: number; sha1: string };

export interface BasePackage {
  hash: string;
  archive: ZipArchive;
  listing: readonly ListingEntry[];
  /** The archive's entries by normalised name, to read a file the pool lost. */
  entries: Map<string, ZipEntry>;
}

/** What goes into the new package, by normalised name, and where each entry comes from. */
export type Planned =
  | { kind: 'dir'; mode: number; explicit: boolean; base?: true }
  | { kind: 'symlink'; target: string; from: 'zip' | 'base' }
  | { kind: 'file'; size: number; mode: number; from: 'zip'; entry: ZipEntry }
  | { kind: 'file'; size: number; mode: number; from: 'pool'; sha1: string }
  | { kind: 'file'; size: number; mode: number; from: 'base'; sha1: string; entry: ZipEntry | undefined };

/**
 * Adds the base package's entries that the upload neither replaces nor deletes; returns the bytes
 * they add. A folder stays while something is left in it (or when it was empty in the base already).
 */
export function mergeBase(plan: Map<string, Planned>, base: BasePackage, deleted: readonly string[]): number {
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
export async function readListing(archive: ZipArchive): Promise<ListingEntry[]> {
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
