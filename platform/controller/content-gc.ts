// Garbage collection of packages and droplets: a blob goes when no app or droplet row needs it.
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

export class ContentGc {
  constructor(private readonly o: ContentGcOptions) {}

  async package(hash: string): Promise<void> {
    if (this.o.store.packageInUse(hash)) return;
    this.o.store.deletePackage(hash);
    await this.o.packages.remove(hash).catch((e: unknown) => this.o.log.warn(`removing package ${hash}: ${describeError(e)}`));
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
