// The v1 REST API (PROTOCOL.md §1) as zod schemas: what the controller answers and what clients
// send. Fields Pocket Foundry adds beyond v1 are optional in responses, so a client still decodes a
// v1 controller's answer. Unknown fields are dropped on decoding.
import { z } from 'zod';

const int = z.number().int();
const nonNegInt = int.nonnegative();

/** `{"code": N, "description": "..."}`: every error answer. */
export const errorBody = z.object({ code: int, description: z.string() });
export type ErrorBody = z.infer<typeof errorBody>;

export const appStates = ['STARTED', 'STOPPED'] as const;
export const appState = z.enum(appStates);
export type AppState = z.infer<typeof appState>;

export const packageStates = ['PENDING', 'STAGED', 'FAILED'] as const;
export const packageState = z.enum(packageStates);
export type PackageState = z.infer<typeof packageState>;

/** States an instance is reported in by `/instances` and `/stats`. */
export const instanceStateNames = ['STARTING', 'RUNNING', 'FLAPPING', 'DOWN', 'CRASHED', 'STOPPED', 'DELETED'] as const;
export const instanceStateName = z.enum(instanceStateNames);
export type InstanceStateName = z.infer<typeof instanceStateName>;

// ---- GET /info, /info/runtimes, /info/services ---------------------------------------------------

export const frameworkInfo = z.object({
  name: z.string(),
  runtimes: z.array(z.object({ name: z.string(), version: z.string(), description: z.string(), default: z.boolean().optional() })),
  detection: z.array(z.record(z.string(), z.union([z.string(), z.boolean()]))).optional(),
});
export type FrameworkInfo = z.infer<typeof frameworkInfo>;

export const accountLimits = z.object({ memory: int, app_uris: int, services: int, apps: int });
export const accountUsage = z.object({ memory: int, apps: int, services: int });
export type AccountUsage = z.infer<typeof accountUsage>;

export const info = z.object({
  name: z.string(),
  build: z.union([z.string(), z.number()]),
  support: z.string(),
  version: z.union([z.string(), z.number()]),
  description: z.string(),
  allow_debug: z.boolean().optional(),
  frameworks: z.record(z.string(), frameworkInfo).optional(),
  /** Beyond v1: `base_package` (uploads may be a delta on the app's current package). */
  features: z.array(z.string()).optional(),
  /** With a valid token only. */
  user: z.string().optional(),
  limits: accountLimits.optional(),
  usage: accountUsage.optional(),
});
export type Info = z.infer<typeof info>;

export const runtimeInfo = z.object({ version: z.string(), description: z.string(), debug_modes: z.array(z.string()).optional() });
export type RuntimeInfo = z.infer<typeof runtimeInfo>;
export const runtimesInfo = z.record(z.string(), runtimeInfo);
export type RuntimesInfo = z.infer<typeof runtimesInfo>;

// ---- apps ----------------------------------------------------------------------------------

export const app = z.object({
  name: z.string(),
  staging: z.object({ model: z.string().nullable(), stack: z.string().nullable(), command: z.string().optional() }),
  uris: z.array(z.string()),
  instances: nonNegInt,
  runningInstances: nonNegInt,
  resources: z.object({ memory: int, disk: int.optional(), fds: int.optional() }),
  state: appState,
  services: z.array(z.string()),
  /** `<staged_hash or package_hash>-<run_count>`. */
  version: z.string(),
  env: z.array(z.string()),
  meta: z.object({ debug: z.string().nullish(), console: z.boolean().nullish(), version: int, created: z.number().optional() }),
  package_state: packageState.optional(),
  package_hash: z.string().nullish(),
  staged_hash: z.string().nullish(),
  staging_task_id: z.string().nullish(),
  /** Why the last staging failed (310 failed, 800 timeout, 801 aborted). */
  staging_error: errorBody.nullish(),
  /** Why instances could not be placed on a DEA (not enough memory, no DEA), when that is the case. */
  placement_error: z.string().nullish(),
  /** What the stager detected on the last staging. */
  detected: z.object({ framework: z.string().nullable(), runtime: z.string().nullable(), command: z.string().nullable() }).nullish(),
});
export type App = z.infer<typeof app>;
export const appList = z.array(app);

/** `staging` of a request: v1's `framework`/`runtime`, or the legacy `model`/`stack`. */
const stagingRequest = z.object({
  framework: z.string({ error: 'staging.framework must be a string' }).nullish(),
  runtime: z.string({ error: 'staging.runtime must be a string' }).nullish(),
  model: z.string({ error: 'staging.model must be a string' }).nullish(),
  stack: z.string({ error: 'staging.stack must be a string' }).nullish(),
  command: z.string({ error: 'staging.command must be a string' }).nullish(),
}, { error: 'staging must be an object' });

const wholeNumber = (path: string): z.ZodType<number | null | undefined> =>
  z.number({ error: `${path} must be an integer` }).int({ error: `${path} must be an integer` }).nullish();

const envEntries = z.array(z.string({ error: 'env must be an array of "KEY=value" strings' }), { error: 'env must be an array of "KEY=value" strings' });

/**
 * The body of `POST /apps` and `PUT /apps/:name` as the controller reads it: types only (a wrong
 * type is 100, with the message given here); the value rules (300, 307, 308, 700) are the controller's.
 * `state` is matched case-insensitively, so it is any string here.
 */
export const appInput = z.object({
  name: z.string({ error: 'name must be a string' }).optional(),
  staging: stagingRequest.nullish(),
  instances: wholeNumber('instances'),
  resources: z.object({
    memory: wholeNumber('resources.memory'),
    disk: wholeNumber('resources.disk'),
    fds: wholeNumber('resources.fds'),
  }, { error: 'resources must be an object' }).nullish(),
  state: z.string({ error: 'state must be a string' }).nullish(),
  env: envEntries.nullish(),
  uris: z.array(z.string({ error: 'uris must be strings' }), { error: 'uris must be an array of strings' }).nullish(),
  services: z.array(z.unknown(), { error: 'services must be an array' }).nullish(),
  meta: z.object({
    version: wholeNumber('meta.version'),
    debug: z.string({ error: 'meta.debug must be a string or null' }).nullish(),
    console: z.boolean({ error: 'meta.console must be a boolean or null' }).nullish(),
  }, { error: 'meta must be an object' }).nullish(),
}, { error: 'request body must be a JSON object' });
export type AppInputBody = z.infer<typeof appInput>;

/** Body of POST /apps, as a client writes it. */
export interface AppCreateRequest {
  name: string;
  staging?: { framework?: string | null; runtime?: string | null; command?: string | null };
  uris?: string[];
  instances?: number;
  resources?: { memory?: number; disk?: number; fds?: number };
  env?: string[];
  state?: AppState;
  /** Names of the services to bind (v1 binds through this list). */
  services?: string[];
}

/** Body of PUT /apps/:name: any subset, plus `meta.version` for optimistic locking (102). */
export interface AppUpdateRequest extends Partial<Omit<AppCreateRequest, 'name'>> {
  meta?: { version?: number; debug?: string | null; console?: boolean | null };
}

/** `POST /apps` answers 302 with `Location` and this body. */
export const appCreated = z.object({ result: z.literal('success'), redirect: z.string() });
export type AppCreated = z.infer<typeof appCreated>;

/** `DELETE /apps/:name` answers `{}`. */
export const empty = z.object({});

/** `DELETE /apps/:name/staging`. */
export const stagingCancelled = z.object({ cancelled: z.boolean(), app });
export type StagingCancelled = z.infer<typeof stagingCancelled>;

/** `GET /apps/:name/events`: the app's recorded history, oldest first. */
export const appEvents = z.object({
  events: z.array(z.object({
    id: int, appId: int.nullable(), appName: z.string(), event: z.string(), detail: z.unknown(), at: z.number(),
  })),
});
export type AppEvents = z.infer<typeof appEvents>;

// ---- bits ----------------------------------------------------------------------------------

/** One file of an app, as fingerprinted for POST /resources and the `resources` upload part. */
export const resource = z.object({
  fn: z.string(),
  size: z.number().nonnegative(),
  sha1: z.string(),
  /** Permission bits, in the upload's `resources` when not 0644 (an addition; v1 ignored it). */
  mode: int.optional(),
});
export type Resource = z.infer<typeof resource>;
/** `POST /resources`: the request, and the subset the pool holds as the answer. */
export const resourceList = z.array(resource);

/** `PUT /apps/:name/application`; all of it beyond v1, which answered without a body. */
export const uploadResult = z.object({
  result: z.literal('success'),
  package_hash: z.string(),
  package_state: packageState,
  changed: z.boolean(),
  files: nonNegInt,
  size: z.number().nonnegative(),
  uploaded_bytes: z.number().nonnegative(),
  /** The staging task this upload started (a STARTED app stages at once). */
  staging_task_id: z.string().nullable(),
}).partial();
export type UploadResultBody = z.infer<typeof uploadResult>;

/** `PUT /staging/:droplet/:task/droplet` (the stager's upload). */
export const dropletReceived = z.object({ sha1: z.string(), size: z.number().nonnegative() });
export type DropletReceived = z.infer<typeof dropletReceived>;

// ---- instances -----------------------------------------------------------------------------

export const instanceInfo = z.object({
  index: nonNegInt,
  state: instanceStateName,
  since: z.number(),
  debug_ip: z.string().nullable(),
  debug_port: int.nullable(),
  console_ip: z.string().nullable(),
  console_port: int.nullable(),
});
export type InstanceInfo = z.infer<typeof instanceInfo>;
export const instanceList = z.object({ instances: z.array(instanceInfo).optional() });
export type InstanceList = z.infer<typeof instanceList>;

export const instanceStats = z.object({
  name: z.string(),
  host: z.string(),
  port: int.nullable(),
  uris: z.array(z.string()),
  uptime: z.number(),
  mem_quota: z.number(),
  disk_quota: z.number(),
  fds_quota: z.number(),
  cores: int,
  usage: z.object({ time: z.string(), cpu: z.number(), mem: z.number(), disk: z.number() }),
});
export type InstanceStats = z.infer<typeof instanceStats>;

/** `GET /apps/:name/stats`: `{"0": {state, stats}, ...}` keyed by instance index. */
export const appStats = z.record(z.string(), z.object({ state: instanceStateName, since: z.number().optional(), stats: instanceStats.nullish() }));
export type AppStats = z.infer<typeof appStats>;

export const crashInfo = z.object({
  instance: z.string(),
  since: z.number(),
  index: nonNegInt.optional(),
  reason: z.string().optional(),
  description: z.string().optional(),
});
export type CrashInfo = z.infer<typeof crashInfo>;
export const crashList = z.object({ crashes: z.array(crashInfo).optional() });
export type CrashList = z.infer<typeof crashList>;

/**
 * `DELETE /apps/:name/instances/:index` (an addition, as later CF generations have it): the index
 * was stopped and placed again at once.
 */
export const instanceRestart = z.object({
  index: nonNegInt,
  version: z.string(),
  /** Ids of the instances stopped (those the heartbeats knew of). */
  stopped: z.array(z.string()),
  /** False when no DEA took the new instance (see placement_error); the health manager retries. */
  started: z.boolean(),
  placement_error: z.string().nullable(),
});
export type InstanceRestart = z.infer<typeof instanceRestart>;
