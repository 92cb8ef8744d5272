// The plan of a package: every check of an upload that needs no writing (names, duplicates, links,
// declared sizes against the limit, pooled blobs), done before the packager writes anything.
import { CcError, ErrorCodes } from './errors';
import { mergeBase, type BasePackage, type Planned } from './package-base';
import { MAX_LINK_TARGET, checkLinkTarget, normalizeAppPath, type ResourceEntry } from './package-request';
import type { ResourcePool } from './resource-pool';
import { LinkEscapeError, ZipFormatError, resolveLinkChain, type ZipArchive, type ZipEntry } from '../archive';

/** Entries planned between two turns of the event loop (a few ms each), so routing and the API keep answering. */
export const PLAN_SLICE = 1000;
export const nextTurn = (): Promise<void> => new Promise((res) => setImmediate(res));

/** What the plan checks against: the size limit and the pool that pooled resources must be in. */
export interface PlanLimits {
  maxPackageBytes: number;
  pool: Pick<ResourcePool, 'sizeOfSync'>;
}

/** Every check that needs no writing: names, duplicates, links, declared sizes, pooled blobs. */
export async function planPackage(
  archive: ZipArchive | undefined, resources: readonly ResourceEntry[], base: BasePackage | undefined, deleted: readonly string[], limits: PlanLimits,
): Promise<Map<string, Planned>> {
  const plan = new Map<string, Planned>();
  let total = 0;
  let n = 0;
  for (const e of archive?.entries ?? []) {
    // A read of the local header per entry: 100,000 of them would hold the event loop for a second.
    if (++n % PLAN_SLICE === 0) await nextTurn();
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
    if (++n % PLAN_SLICE === 0) await nextTurn();
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
  checkLinkChains(plan);
  if (total > limits.maxPackageBytes) {
    throw new CcError(ErrorCodes.packageTooLarge, `package too large: ${total} bytes unzipped, the limit is ${limits.maxPackageBytes}`);
  }
  for (const [name, p] of plan) {
    if (p.kind !== 'file' || p.from !== 'pool') continue;
    const have = limits.pool.sizeOfSync(p.sha1);
    if (have === undefined) throw new CcError(ErrorCodes.badResources, `resource ${name}: ${p.sha1} is not in the resource pool; upload it in the zip`);
    if (have !== p.size) throw new CcError(ErrorCodes.badResources, `resource ${name}: size ${p.size} differs from the pooled blob ${p.sha1} (${have} bytes)`);
  }
  return plan;
}

/** Every link followed through the others, as it will be on disk: none may lead out of the app. */
function checkLinkChains(plan: ReadonlyMap<string, Planned>): void {
  const linkAt = (p: string): string | undefined => { const e = plan.get(p); return e?.kind === 'symlink' ? e.target : undefined; };
  for (const [name, p] of plan) {
    if (p.kind !== 'symlink') continue;
    try { resolveLinkChain(name, p.target, linkAt); } catch (err) {
      if (!(err instanceof LinkEscapeError)) throw err;
      throw new CcError(p.from === 'zip' ? ErrorCodes.badZip : ErrorCodes.badResources, `link ${name} -> ${p.target}: ${err.message}`);
    }
  }
}

function checkReadableEntry(e: ZipEntry, archive: ZipArchive): void {
  if (e.isDirectory) return;
  archive.dataStart(e);
}

/** A zip format or inflate error becomes code 402; anything else (disk, bugs) is passed on as is. */
export function badZip(err: unknown): unknown {
  if (err instanceof CcError) return err;
  if (err instanceof ZipFormatError) return new CcError(ErrorCodes.badZip, `bad zip: ${err.message}`, { cause: err });
  const code = err instanceof Error && 'code' in err ? String((err as { code: unknown }).code) : '';
  if (code.startsWith('Z_')) return new CcError(ErrorCodes.badZip, `bad zip: damaged compressed data (${(err as Error).message})`, { cause: err });
  return err;
}
