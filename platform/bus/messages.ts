// Payload shapes of every subject in subjects.ts, as zod schemas. Inbound payloads are decoded once,
// at the edge (Bus.subscribe / Bus.request), into these types; unknown fields are dropped.
import { z } from 'zod';

const dropletId = z.number().int().nonnegative();
const index = z.number().int().nonnegative();
const id = z.string().min(1).max(128);
/** Seconds since the epoch, fractional allowed. */
const timestamp = z.number().nonnegative();

export const InstanceStates = ['STARTING', 'RUNNING', 'CRASHED', 'STOPPED', 'DELETED'] as const;
export const instanceState = z.enum(InstanceStates);
export type InstanceState = z.infer<typeof instanceState>;

export const limits = z.object({
  mem: z.number().int().positive(),
  disk: z.number().int().positive().default(2048),
  fds: z.number().int().positive().default(256),
});
export type Limits = z.infer<typeof limits>;

/** A subject whose message is only a signal (`dea.locate`, `healthmanager.start`): any JSON is accepted. */
export const signal = z.unknown();

// ---- staging -------------------------------------------------------------------------------

export const stagingRequest = z.object({
  app_id: dropletId,
  /** Addition: chosen by cc so it can cancel the task (`staging.stop`) before the reply arrives. */
  task_id: id,
  name: z.string().min(1),
  properties: z.object({
    framework: z.string().nullish(),
    runtime: z.string().nullish(),
    command: z.string().nullish(),
    resources: z.object({ memory: z.number().int().positive(), disk: z.number().int().positive().default(2048), fds: z.number().int().positive().default(256) }),
    environment: z.array(z.string()).default([]),
    meta: z.record(z.string(), z.unknown()).default({}),
  }),
  download_uri: z.string().url(),
  upload_uri: z.string().url(),
  /** Addition: seconds; the stager kills the task after this long. */
  timeout: z.number().positive().optional(),
});
export type StagingRequest = z.infer<typeof stagingRequest>;

export const stagingReply = z.object({
  task_id: id,
  task_log: z.string(),
  error: z.string().nullish(),
  /** Addition: 310 staging failed, 800 timeout, 801 cancelled or failed to upload. */
  error_code: z.number().int().nullish(),
  /** Addition: what the stager detected and used, so cc can record it on the app. */
  detected: z.object({ framework: z.string(), runtime: z.string(), command: z.string() }).nullish(),
  droplet_sha1: z.string().nullish(),
});
export type StagingReply = z.infer<typeof stagingReply>;

export const stagingStop = z.object({ app_id: dropletId, task_id: id.optional() });
export type StagingStop = z.infer<typeof stagingStop>;
export const stagingStopReply = z.object({ task_id: id, stopped: z.boolean() });
export type StagingStopReply = z.infer<typeof stagingStopReply>;

export const stagingLogLine = z.object({
  app_id: dropletId,
  task_id: id,
  /** Sequence number within the task, from 0, so a reader can detect gaps. */
  seq: z.number().int().nonnegative(),
  /** One log line as written to staging.log (`[YYYY-MM-DD HH:MM:SS] msg`); absent on the final message. */
  line: z.string().optional(),
  /** Final message of a task. */
  done: z.boolean().optional(),
  ok: z.boolean().optional(),
  error: z.string().nullish(),
});
export type StagingLogLine = z.infer<typeof stagingLogLine>;

// ---- DEA -----------------------------------------------------------------------------------

export const deaAdvertise = z.object({
  id,
  ip: z.string().default('127.0.0.1'),
  available_memory: z.number().int(),
  runtimes: z.array(z.string()),
  prod: z.boolean().default(false),
  app_id_to_count: z.record(z.string(), z.number().int()).default({}),
});
export type DeaAdvertise = z.infer<typeof deaAdvertise>;

export const deaDiscover = z.object({
  droplet: dropletId,
  name: z.string(),
  runtime: z.string(),
  sha: z.string(),
  limits,
});
export type DeaDiscover = z.infer<typeof deaDiscover>;

export const deaDiscoverReply = z.object({ id, ip: z.string(), port: z.number().int().nullable().default(null), version: z.number().default(0.1) });
export type DeaDiscoverReply = z.infer<typeof deaDiscoverReply>;

/** A service bound to the app, as `dea.<id>.start` carries it (v1's `services_for_dea`). */
export const boundService = z.object({
  name: z.string(),
  type: z.string().default('generic'),
  label: z.string(),
  vendor: z.string().default(''),
  version: z.string().default(''),
  tags: z.array(z.string()).default([]),
  plan: z.string().default('free'),
  plan_option: z.string().nullish(),
  credentials: z.record(z.string(), z.unknown()),
});
export type BoundService = z.infer<typeof boundService>;

export const deaStart = z.object({
  droplet: dropletId,
  name: z.string().min(1),
  uris: z.array(z.string()).default([]),
  runtime: z.string(),
  framework: z.string(),
  sha1: z.string(),
  executableFile: z.string().default(''),
  executableUri: z.string().url(),
  version: z.string(),
  limits,
  env: z.array(z.string()).default([]),
  index,
  debug: z.string().nullish(),
  console: z.boolean().nullish(),
  flapping: z.boolean().optional(),
  services: z.array(boundService).optional(),
});
export type DeaStart = z.infer<typeof deaStart>;

export const dropletFilter = z.object({
  droplet: dropletId,
  version: z.string().optional(),
  indices: z.array(index).optional(),
  instances: z.array(id).optional(),
  states: z.array(instanceState).optional(),
});
export type DropletFilter = z.infer<typeof dropletFilter>;

export const deaStop = dropletFilter;
export type DeaStop = DropletFilter;

export const deaUpdate = z.object({ droplet: dropletId, uris: z.array(z.string()) });
export type DeaUpdate = z.infer<typeof deaUpdate>;

export const deaFindDroplet = dropletFilter.extend({ include_stats: z.boolean().optional() });
export type DeaFindDroplet = z.infer<typeof deaFindDroplet>;

export const instanceStats = z.object({
  name: z.string(),
  host: z.string(),
  port: z.number().int().nullable(),
  uris: z.array(z.string()),
  uptime: z.number(),
  mem_quota: z.number(),
  disk_quota: z.number(),
  fds_quota: z.number(),
  cores: z.number().int(),
  usage: z.object({ time: z.string(), cpu: z.number(), mem: z.number(), disk: z.number() }),
});
export type InstanceStats = z.infer<typeof instanceStats>;

export const deaFindDropletReply = z.object({
  dea: id,
  version: z.string(),
  droplet: dropletId,
  instance: id,
  index,
  state: instanceState,
  state_timestamp: timestamp,
  /** Base URL of the DEA's file server for this instance; fetch `<file_uri><path>` with `credentials`. */
  file_uri: z.string(),
  credentials: z.tuple([z.string(), z.string()]),
  staged: z.string(),
  host: z.string().nullish(),
  port: z.number().int().nullish(),
  stats: instanceStats.optional(),
});
export type DeaFindDropletReply = z.infer<typeof deaFindDropletReply>;

export const heartbeatDroplet = z.object({
  droplet: dropletId,
  version: z.string(),
  instance: id,
  index,
  state: instanceState,
  state_timestamp: timestamp,
});
export type HeartbeatDroplet = z.infer<typeof heartbeatDroplet>;
export const deaHeartbeat = z.object({
  dea: id,
  droplets: z.array(heartbeatDroplet),
  /** The DEA's heartbeat period (ms), so receivers expire it after missed beats, not a guess; absent from older DEAs. */
  interval_ms: z.number().int().positive().optional(),
});
export type DeaHeartbeat = z.infer<typeof deaHeartbeat>;

export const ExitReasons = ['STOPPED', 'CRASHED', 'DEA_SHUTDOWN', 'DEA_EVACUATION'] as const;
export const dropletExited = z.object({
  droplet: dropletId,
  version: z.string(),
  instance: id,
  index,
  reason: z.enum(ExitReasons),
  crash_timestamp: timestamp.optional(),
  /** Addition: why it crashed, in words (exit code, signal, out of memory, never listened). */
  exit_description: z.string().optional(),
});
export type DropletExited = z.infer<typeof dropletExited>;

export const dropletUpdated = z.object({ droplet: dropletId });
export type DropletUpdated = z.infer<typeof dropletUpdated>;

// ---- router --------------------------------------------------------------------------------

export const routerRegister = z.object({
  dea: z.string().optional(),
  app: z.union([z.string(), z.number()]).optional(),
  host: z.string().min(1),
  port: z.number().int().min(1).max(65535),
  uris: z.array(z.string().min(1)).min(1),
  tags: z.record(z.string(), z.string()).default({}),
  private_instance_id: z.string().optional(),
});
export type RouterRegister = z.infer<typeof routerRegister>;

export const routerStart = z.object({ id, hosts: z.array(z.string()).default([]), minimumRegisterIntervalInSeconds: z.number().optional() });
export type RouterStart = z.infer<typeof routerStart>;

export const routerStatus = z.object({}).passthrough();
export const routerStatusReply = z.object({
  id,
  /** uri -> backends "host:port". */
  routes: z.record(z.string(), z.array(z.string())),
});
export type RouterStatusReply = z.infer<typeof routerStatusReply>;

// ---- health manager ------------------------------------------------------------------------

export const healthmanagerHealth = z.object({ droplets: z.array(z.object({ droplet: dropletId, version: z.string() })) });
export type HealthmanagerHealth = z.infer<typeof healthmanagerHealth>;
export const healthmanagerHealthReply = z.object({ droplet: dropletId, version: z.string(), healthy: z.number().int() });
export type HealthmanagerHealthReply = z.infer<typeof healthmanagerHealthReply>;

export const healthmanagerStatus = z.object({ droplet: dropletId, version: z.string().optional(), state: z.enum(['FLAPPING', 'CRASHED']) });
export type HealthmanagerStatus = z.infer<typeof healthmanagerStatus>;
export const healthmanagerStatusReply = z.object({
  indices: z.array(z.object({ index, since: timestamp })).optional(),
  instances: z.array(z.object({ instance: id, since: timestamp, index: index.optional(), reason: z.string().optional() })).optional(),
});
export type HealthmanagerStatusReply = z.infer<typeof healthmanagerStatusReply>;

export const hmRequest = z.discriminatedUnion('op', [
  z.object({
    droplet: dropletId, op: z.literal('START'), last_updated: timestamp, version: z.string(),
    indices: z.array(index).min(1), flapping: z.boolean().optional(),
  }),
  z.object({ droplet: dropletId, op: z.literal('STOP'), last_updated: timestamp, instances: z.array(id).min(1) }),
]);
export type HmRequest = z.infer<typeof hmRequest>;

export const ccBulkApps = z.object({ droplet: dropletId.optional() });
export type CcBulkApps = z.infer<typeof ccBulkApps>;
export const bulkApp = z.object({
  droplet: dropletId,
  name: z.string(),
  state: z.enum(['STARTED', 'STOPPED']),
  package_state: z.enum(['PENDING', 'STAGED', 'FAILED']),
  instances: z.number().int().nonnegative(),
  version: z.string(),
  memory: z.number().int(),
  /** Seconds since the epoch of the last change to the app's desired state. */
  last_updated: timestamp,
});
export type BulkApp = z.infer<typeof bulkApp>;
export const ccBulkAppsReply = z.object({ apps: z.array(bulkApp) });
export type CcBulkAppsReply = z.infer<typeof ccBulkAppsReply>;

export const ccAppChanged = z.object({
  droplet: dropletId,
  name: z.string(),
  event: z.enum(['created', 'updated', 'deleted', 'uploaded', 'staging', 'staged', 'staging_failed', 'started', 'stopped']),
});
export type CcAppChanged = z.infer<typeof ccAppChanged>;
