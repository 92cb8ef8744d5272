// The health manager's side door: `cloudcontrollers.bulk.apps` (the expected state) and
// `cloudcontrollers.hm.requests` (START what is missing, STOP what is extra), with v1's guards:
// a START the controller just sent covers its index, a STOP is dropped when the app changed since
// the health manager looked, while a rollout runs, or when it names the new instance of a restart.
import type { BulkApp, HmRequest } from '../bus';
import type { Log } from '../log';
import type { AppNotifier } from './app-events';
import type { AppLocks } from './app-locks';
import type { DeaClient } from './dea-client';
import { versionOf } from './instance-key';
import type { InstanceScheduler } from './scheduler';
import type { AppRecord, Store } from './store';

export interface HealthRequestOptions {
  store: Store;
  dea: Pick<DeaClient, 'stop'>;
  scheduler: Pick<InstanceScheduler, 'isCovered' | 'start' | 'isRollingOut' | 'shieldedByRestart'>;
  locks: AppLocks;
  notify: Pick<AppNotifier, 'instancesChanged'>;
  log: Log;
}

export class HealthRequests {
  constructor(private readonly o: HealthRequestOptions) {}

  /** The expected state of every app, or of one. */
  bulk(droplet?: number): BulkApp[] {
    const apps = droplet === undefined ? this.o.store.listApps() : [this.o.store.getApp(droplet)].filter((a): a is AppRecord => a !== undefined);
    return apps.map((a) => ({
      droplet: a.id, name: a.name, state: a.state, package_state: a.packageState, instances: a.instances,
      version: versionOf(a), memory: a.memory, last_updated: a.updatedAt,
    }));
  }

  async handle(req: HmRequest): Promise<void> {
    const app = this.o.store.getApp(req.droplet);
    if (req.op === 'START') {
      if (!app) return;
      await this.o.locks.run(app.id, async () => {
        const cur = this.o.store.getApp(app.id);
        // The live version may be an older droplet while a new package stages: it still gets restarted.
        if (!cur || cur.state !== 'STARTED' || !cur.dropletSha1 || cur.stagedHash === null || versionOf(cur) !== req.version) {
          this.o.log.debug(`hm START for ${req.droplet} ignored: the app is not STARTED at version ${req.version}`);
          return;
        }
        const indices = req.indices.filter((index) => index < cur.instances && !this.o.scheduler.isCovered({ droplet: cur.id, version: req.version, index }));
        if (indices.length) await this.o.scheduler.start(cur, [...new Set(indices)], req.flapping);
      });
      return;
    }
    if (app && app.updatedAt !== req.last_updated) {
      this.o.log.debug(`hm STOP for ${req.droplet} ignored: the app changed since ${req.last_updated}`);
      return;
    }
    if (app && this.o.scheduler.isRollingOut(app.id)) {
      this.o.log.debug(`hm STOP for ${req.droplet} ignored: a new version is being rolled out`);
      return;
    }
    const instances = app ? req.instances.filter((i) => !this.o.scheduler.shieldedByRestart(app.id, i)) : req.instances;
    if (instances.length < req.instances.length) this.o.log.debug(`hm STOP for ${req.droplet}: kept ${req.instances.length - instances.length} instance(s) that replace a restarted one`);
    if (instances.length === 0) return;
    this.o.dea.stop({ droplet: req.droplet, instances });
    if (app) this.o.notify.instancesChanged(app);
  }
}
