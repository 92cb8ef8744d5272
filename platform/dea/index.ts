// The DEA (droplet execution agent): the one public entry of platform/dea. Several DEAs can run in one
// process: call startDea once per DEA, each with its own baseDir.
import { DeaAgent } from './agent';
import type { Dea, DeaOptions } from './types';

export { defaultDeaTimings, type Dea, type DeaOptions, type DeaTimings } from './types';
export { InstanceLifecycle, IllegalTransitionError, canTransition } from './lifecycle';
export { buildInstanceEnv, parseUserEnv, type InstanceEnvInput } from './environment';
export { formatListing, formatSize } from './file-server';
export { detectRuntimes, type RuntimeSupport } from './runtimes';

export function startDea(opts: DeaOptions): Promise<Dea> {
  return DeaAgent.start(opts);
}
