// The REST views of an app: what `GET /apps/:name` and a single-instance restart answer.
import type { ActualState } from '../bus';
import type { App, InstanceRestart } from '../contract';
import { ErrorCodes } from './errors';
import { versionOf } from './instance-key';
import type { StagingCoordinator } from './staging';
import type { AppRecord, Store } from './store';

/** `GET /apps/:name` as the contract declares it. */
export type AppView = App;
export type { InstanceRestart };

export interface AppViewSources {
  store: Pick<Store, 'urisOf'>;
  actual: Pick<ActualState, 'runningCount'>;
  staging: Pick<StagingCoordinator, 'current'>;
  /** Names of the services bound to an app. */
  boundServices?: (appId: number) => string[];
}

export function appView(app: AppRecord, s: AppViewSources): AppView {
  const version = versionOf(app);
  const command = app.command ?? app.detectedCommand;
  const detected = app.detectedFramework || app.detectedRuntime || app.detectedCommand
    ? { framework: app.detectedFramework, runtime: app.detectedRuntime, command: app.detectedCommand } : null;
  return {
    name: app.name,
    staging: { model: app.framework ?? app.detectedFramework, stack: app.runtime ?? app.detectedRuntime, ...(command ? { command } : {}) },
    uris: s.store.urisOf(app.id),
    instances: app.instances,
    runningInstances: app.state === 'STARTED' ? s.actual.runningCount(app.id, version, app.instances) : 0,
    resources: { memory: app.memory, disk: app.disk, fds: app.fds },
    state: app.state,
    services: s.boundServices?.(app.id) ?? [],
    version,
    env: app.env,
    meta: { debug: app.debug, console: app.console, version: app.lockVersion, created: app.createdAt },
    package_state: app.packageState,
    package_hash: app.packageHash,
    staged_hash: app.stagedHash,
    staging_task_id: s.staging.current(app.id)?.taskId ?? null,
    staging_error: app.stagingError ? { code: app.stagingErrorCode ?? ErrorCodes.stagingFailed, description: app.stagingError } : null,
    placement_error: app.placementError,
    detected,
  };
}
