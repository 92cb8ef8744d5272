// The environment an instance starts with: clean (nothing of the DEA's own environment leaks in but
// PATH, which apps need to find node, ruby or python3), in the v1 shape (PROTOCOL.md section 5).
import type { BoundService, Limits } from '../bus';
import { extendPath, splitUserEnv } from '../contract';

export interface InstanceEnvInput {
  instanceId: string;
  index: number;
  name: string;
  uris: string[];
  version: string;
  runtime: string;
  host: string;
  port: number | null;
  limits: Limits;
  /** The instance folder. */
  home: string;
  /** Milliseconds since the epoch when the instance was started. */
  startedAt: number;
  /** Seconds since the epoch of the last state change. */
  stateTimestamp: number;
  /** User env entries `K=V`, applied last. */
  userEnv: string[];
  /** PATH handed down from the DEA. */
  path: string;
  /** Services bound to the app (from `dea.<id>.start`). */
  services?: readonly BoundService[];
}

/** v1 printed times as Ruby's `Time#to_s`: `2013-06-26 03:38:44 +0000`. */
export function v1Time(ms: number): string {
  const iso = new Date(ms).toISOString();
  return `${iso.slice(0, 10)} ${iso.slice(11, 19)} +0000`;
}

/** Splits `K=V` user entries by the rule the controller checks them with (entries stored before it are skipped). */
export function parseUserEnv(entries: string[]): Array<[string, string]> {
  return splitUserEnv(entries);
}

export function buildInstanceEnv(i: InstanceEnvInput): Record<string, string> {
  const application = {
    instance_id: i.instanceId,
    instance_index: i.index,
    name: i.name,
    uris: i.uris,
    users: [] as string[],
    version: i.version,
    start: v1Time(i.startedAt),
    runtime: i.runtime,
    state_timestamp: i.stateTimestamp,
    port: i.port,
    limits: { fds: i.limits.fds, mem: i.limits.mem, disk: i.limits.disk },
    host: i.host,
  };
  const appJson = JSON.stringify(application);
  const env: Record<string, string> = {
    HOME: i.home,
    PATH: i.path,
    VCAP_APPLICATION: appJson,
    ...serviceEnv(i.services ?? []),
    VCAP_APP_HOST: i.host,
    VMC_APP_HOST: i.host,
    VMC_APP_NAME: i.name,
    VMC_APP_ID: i.instanceId,
    VMC_APP_VERSION: i.version,
    VMC_APP_INSTANCE: appJson,
  };
  if (i.port !== null) {
    const port = String(i.port);
    Object.assign(env, { VCAP_APP_PORT: port, VMC_APP_PORT: port, PORT: port });
  }
  // Last, but never over the platform's names (the rule leaves them out); a PATH extends the DEA's
  for (const [k, v] of parseUserEnv(i.userEnv)) env[k] = k === 'PATH' ? extendPath(v, i.path) : v;
  return env;
}

/** `VCAP_SERVICES` keyed by label, v1's legacy `VMC_SERVICES`, and `DATABASE_URL`/`REDIS_URL` when exactly one such service is bound. */
export function serviceEnv(services: readonly BoundService[]): Record<string, string> {
  const byLabel: Record<string, unknown[]> = {};
  for (const s of services) {
    (byLabel[s.label] ??= []).push({
      name: s.name, label: s.label, plan: s.plan, tags: s.tags, ...(s.plan_option ? { plan_option: s.plan_option } : {}), credentials: s.credentials,
    });
  }
  const legacy = services.map((s) => ({ name: s.name, type: s.type, vendor: s.vendor, version: s.version, tier: s.plan, options: s.credentials }));
  const env: Record<string, string> = { VCAP_SERVICES: JSON.stringify(byLabel) };
  // Only with something bound, so an app without services sees the environment it always had.
  if (services.length > 0) env.VMC_SERVICES = JSON.stringify(legacy);
  const uriOf = (kind: RegExp): string | undefined => {
    const uris = services.filter((s) => kind.test(s.vendor || s.label)).map((s) => s.credentials.uri).filter((u): u is string => typeof u === 'string');
    return uris.length === 1 ? uris[0] : undefined;
  };
  const db = uriOf(/^(postgresql|mysql|mariadb)/);
  if (db) env.DATABASE_URL = db;
  const redis = uriOf(/^redis/);
  if (redis) env.REDIS_URL = redis;
  return env;
}
