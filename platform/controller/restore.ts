// Bringing the desired state back after a controller restart: staging tasks the restart cut short
// fail, and STARTED apps are staged again or get the instances no DEA reports.
import { liveStates } from '../bus';
import type { DeaClient } from './dea-client';
import type { DesiredState } from './desired-state';
import { ErrorCodes } from './errors';
import { versionOf } from './instance-key';
import type { PartContext } from './lifetime';
import type { InstanceScheduler } from './scheduler';
import type { StagingCoordinator } from './staging';
import type { Store } from './store';

export interface RestoreOptions extends PartContext {
  store: Store;
  dea: Pick<DeaClient, 'find'>;
  scheduler: Pick<InstanceScheduler, 'isCovered' | 'start'>;
  desired: Pick<DesiredState, 'stage'>;
  staging: Pick<StagingCoordinator, 'current'>;
  /** How long to let heartbeats arrive before re-placing missing instances. */
  settleMs: number;
}

export async function restoreApps(o: RestoreOptions): Promise<void> {
  for (const l of o.store.runningStagingLogs()) {
    o.store.appendStagingLog(l.appId, l.taskId, '[controller restarted: staging interrupted]\n');
    o.store.finishStagingLog(l.appId, l.taskId, 'FAILED', { error: 'staging interrupted by a controller restart', errorCode: ErrorCodes.stagingAborted });
  }
  await o.lifetime.pause(o.settleMs);
  for (const a of o.store.listApps()) {
    if (o.lifetime.stopped) return;
    if (a.state !== 'STARTED') continue;
    try {
      await o.locks.run(a.id, async () => {
        const app = o.store.getApp(a.id);
        if (!app || app.state !== 'STARTED' || !app.packageHash) return;
        // A FAILED package is not retried on its own: the user pushes again (its last good version still runs).
        if (app.packageState === 'PENDING' && !o.staging.current(app.id)) o.desired.stage(app);
        // Whatever stages, the droplet that ran before keeps serving.
        if (!app.dropletSha1 || app.stagedHash === null) return;
        const version = versionOf(app);
        const up = new Set((await o.dea.find({ droplet: app.id, version, states: [...liveStates] })).map((r) => r.index));
        const missing: number[] = [];
        for (let index = 0; index < app.instances; index++) if (!up.has(index) && !o.scheduler.isCovered({ droplet: app.id, version, index })) missing.push(index);
        if (missing.length) {
          o.log.info(`restoring ${app.name}: starting instances ${missing.join(', ')}`);
          await o.scheduler.start(app, missing);
        }
      });
    } catch (e) {
      o.log.error(`restoring ${a.name}`, e);
    }
  }
}
