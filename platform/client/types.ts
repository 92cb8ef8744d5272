// v1 REST shapes as the client sees them (PROTOCOL.md section 1). Fields the controller adds beyond
// v1 are optional so the client also works against an older controller.

export type AppState = 'STARTED' | 'STOPPED';
export type PackageState = 'PENDING' | 'STAGED' | 'FAILED';
export type InstanceStateName = 'STARTING' | 'RUNNING' | 'FLAPPING' | 'DOWN' | 'CRASHED' | 'STOPPED';

export interface AppStaging {
  model?: string | null;
  stack?: string | null;
  framework?: string | null;
  runtime?: string | null;
  command?: string | null;
}

export interface AppResources {
  memory: number;
  disk?: number;
  fds?: number;
}

export interface AppMeta {
  debug?: string | null;
  console?: boolean | null;
  version: number;
  created?: number;
  [key: string]: unknown;
}

export interface App {
  name: string;
  staging: AppStaging;
  uris: string[];
  instances: number;
  runningInstances: number;
  resources: AppResources;
  state: AppState;
  services: string[];
  /** `<staged_hash or package_hash>-<run_count>`. */
  version: string;
  env: string[];
  meta: AppMeta;
  package_state?: PackageState;
  package_hash?: string | null;
  staged_hash?: string | null;
  staging_task_id?: string | null;
  /** Why the last staging failed (310 failed, 800 timeout, 801 aborted). */
  staging_error?: { code: number; description: string } | null;
  /** Why instances could not be placed on a DEA (not enough memory, no DEA), when that is the case. */
  placement_error?: string | null;
  /** What the stager detected on the last staging. */
  detected?: { framework?: string | null; runtime?: string | null; command?: string | null } | null;
  [key: string]: unknown;
}

/** Body of POST /apps. Legacy `staging: {model, stack}` is also accepted by the controller. */
export interface AppCreateRequest {
  name: string;
  staging?: AppStaging;
  uris?: string[];
  instances?: number;
  resources?: { memory?: number; disk?: number; fds?: number };
  env?: string[];
  state?: AppState;
}

/** Body of PUT /apps/:name: any subset, plus `meta.version` for optimistic locking. */
export interface AppUpdateRequest {
  staging?: AppStaging;
  uris?: string[];
  instances?: number;
  resources?: { memory?: number; disk?: number; fds?: number };
  env?: string[];
  state?: AppState;
  meta?: { version?: number; [key: string]: unknown };
  [key: string]: unknown;
}

export interface FrameworkInfo {
  name: string;
  runtimes: { name: string; version: string; description: string }[];
  detection?: unknown;
}

export interface Info {
  name: string;
  build: string | number;
  support: string;
  version: string | number;
  description: string;
  frameworks?: Record<string, FrameworkInfo>;
  user?: string;
  limits?: { memory: number; app_uris: number; services: number; apps: number };
  usage?: { memory: number; apps: number; services: number };
  [key: string]: unknown;
}

export interface RuntimeInfo {
  version: string;
  description: string;
  debug_modes?: unknown;
}

/** One file of an app, as fingerprinted for POST /resources and the `resources` upload part. */
export interface Resource {
  fn: string;
  size: number;
  sha1: string;
  /** Permission bits, in the upload's `resources` when not 0644 (a Pocket Foundry addition; v1 ignored it). */
  mode?: number;
}

export interface InstanceInfo {
  index: number;
  state: InstanceStateName;
  since: number;
  debug_ip: string | null;
  debug_port: number | null;
  console_ip: string | null;
  console_port: number | null;
  [key: string]: unknown;
}

/**
 * DELETE /apps/:name/instances/:index (a Pocket Foundry addition, as later CF generations have it):
 * the index was stopped and placed again at once.
 */
export interface InstanceRestart {
  index: number;
  version: string;
  /** Ids of the instances stopped. */
  stopped: string[];
  /** False when no DEA took the new instance (see placement_error); the health manager retries. */
  started: boolean;
  placement_error: string | null;
}

export interface InstanceUsage {
  time: string;
  cpu: number;
  mem: number;
  disk: number;
}

export interface InstanceStatsBody {
  name: string;
  host: string;
  port: number | null;
  uris: string[];
  uptime: number;
  mem_quota: number;
  disk_quota: number;
  fds_quota: number;
  cores: number;
  usage: InstanceUsage;
}

/** GET /apps/:name/stats: `{"0": {state, stats}, ...}` keyed by instance index. */
export type AppStats = Record<string, { state: InstanceStateName; stats?: InstanceStatsBody | null; [key: string]: unknown }>;

export interface CrashInfo {
  instance: string;
  since: number;
  index?: number;
  reason?: string;
  [key: string]: unknown;
}

/** One event of GET /events (Server-Sent Events), data decoded from JSON. */
export type PlatformEvent =
  | { type: 'app'; name: string; droplet: number; event: string }
  | { type: 'instances'; name: string; droplet: number }
  | {
    type: 'staging'; name: string; droplet: number; task_id: string; seq: number;
    line?: string; done?: boolean; ok?: boolean; error?: string | null;
  };
