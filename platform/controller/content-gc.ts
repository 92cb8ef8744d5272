// Garbage collection of packages and droplets: a blob goes when no app or droplet row needs it and
// no upload in flight holds it (a package assembled or reused is pinned until its commit is done).
import { describeError, type Log } from '../log';
import type { ContentStore } from './content-store';
import type { StagingCoordinator } from './staging';
import type { Store } from './store';

export interface ContentGcOptions {
  store: Store;
  packages: Pick<ContentStore, 'remove'>;
  droplets: Pick<ContentStore, 'remove'>;
  staging: Pick<StagingCoordinator, 'current'>;
  log: Log;
}

/** Held by an upload from assembly until its commit is done or abandoned; release it once. */
export interface PackagePin {
  readonly hash: string;
  release(): Promise<void>;
}

export class ContentGc {
  /** Package hash -> uploads in flight holding it. */
  private readonly pins = new Map<string, number>();
  /** Pinned packages a collection skipped: looked at again when the last pin goes. */
  private readonly deferred = new Set<string>();
  /** Package files being removed now. */
  private readonly removing = new Map<string, Promise<void>>();

  constructor(private readonly o: ContentGcOptions) {}

  async package(hash: string): Promise<void> {
    if (this.pins.has(hash)) { this.deferred.add(hash); return; }
    if (this.o.store.packageInUse(hash)) return;
    this.o.store.deletePackage(hash);
    const done = this.o.packages.remove(hash)
      .catch((e: unknown) => this.o.log.warn(`removing package ${hash}: ${describeError(e)}`))
      .finally(() => { if (this.removing.get(hash) === done) this.removing.delete(hash); });
    this.removing.set(hash, done);
    await done;
  }

  /**
   * Pins a package (synchronously, so no collection slips in between the caller's check and the
   * pin); the promise settles once a removal of it already under way is over, so the caller can
   * tell whether the file is still there.
   */
  pin(hash: string): { pin: PackagePin; settled: Promise<void> } {
    this.pins.set(hash, (this.pins.get(hash) ?? 0) + 1);
    let released = false;
    const pin: PackagePin = {
      hash,
      release: async () => {
        if (released) return;
        released = true;
        const n = (this.pins.get(hash) ?? 1) - 1;
        if (n > 0) { this.pins.set(hash, n); return; }
        this.pins.delete(hash);
        // A collection skipped it while pinned (replaced, or its commit abandoned): collect it now.
        if (this.deferred.delete(hash)) await this.package(hash);
      },
    };
    return { pin, settled: this.removing.get(hash) ?? Promise.resolve() };
  }

  async dropletFile(sha1: string): Promise<void> {
    if (this.o.store.dropletInUse(sha1)) return;
    await this.o.droplets.remove(sha1).catch((e: unknown) => this.o.log.warn(`removing droplet ${sha1}: ${describeError(e)}`));
  }

  /** Keeps the current droplet and the one before it (old instances may still be replaced from it). */
  async droplets(appId: number): Promise<void> {
    const app = this.o.store.getApp(appId);
    const rows = this.o.store.dropletsOf(appId);
    const keep = new Set<string>([app?.dropletSha1 ?? '']);
    for (const d of rows) { if (keep.size >= 2) break; keep.add(d.sha1); }
    const task = this.o.staging.current(appId);
    for (const d of rows) {
      if (keep.has(d.sha1) || (task && d.taskId === task.taskId)) continue;
      this.o.store.deleteDroplet(appId, d.sha1);
      await this.dropletFile(d.sha1);
      if (d.packageHash) await this.package(d.packageHash);
    }
  }

  /** After an app is deleted: its packages and droplet files, unless shared. */
  async app(hashes: Iterable<string>, dropletSha1s: Iterable<string>): Promise<void> {
    for (const h of hashes) await this.package(h);
    for (const d of dropletSha1s) await this.dropletFile(d);
  }
}
