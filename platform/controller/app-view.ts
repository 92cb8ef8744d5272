// The REST views of an app: what `GET /apps/:name` and a single-instance restart answer.
import type { ActualState } from '../bus';
import { ErrorCodes } from './errors';
import { versionOf } from './instance-key';
import type { StagingCoordinator } from './staging';
import type { AppRecord, Store } from './store';

export interface AppView {
  name: string;
  staging: { model: string | null; stack: string | null; command?: string };
  uris: string[];
  instances: number;
  runningInstances: number;
  resources: { memory: number; disk: number; fds: number };
  state: string;
  services: string[];
  version: string;
  env: string[];
  meta: { debug: string | null; console: boolean | null; version: number; created: number };
  package_state: string;
  package_hash: string | null;
  staged_hash: string | null;
  staging_task_id: string | null;
  staging_error: { code: number; description: string } | null;
  placement_error: string | null;
  detected: { framework: string | null; runtime: string | null; command: string | null } | null;
}

/** The answer of `DELETE /apps/:name/instances/:idx`. */
export interface InstanceRestart {
  index: number;
  version: string;
  /** Ids of the instances that were stopped (those the heartbeats knew of). */
  stopped: string[];
  /** False when no DEA took the new instance; the health manager starts it later. */
  started: boolean;
  placement_error: string | null;
}

export interface AppViewSources {
  store: Pick<Store, 'urisOf'>;
  actual: Pick<ActualState, 'runningCount'>;
  staging: Pick<StagingCoordinator, 'current'>;
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
    services: [],
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
