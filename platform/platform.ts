// The composition root of `pocket up`: NATS, controller, stager, DEA, health manager and router, in
// that order, each on its own bus connection (as if each were its own process); stopped in reverse.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Bus, startEmbeddedNats, Subjects, type NatsClusterOptions, type TlsFiles } from './bus';
import { startController, type ControllerTimings, type OwnerAccount } from './controller';
import { startDea, type DeaTimings } from './dea';
import { acquireDirLock, claimComponentDir, loadOrCreateToken, removeEndpoint, writeEndpoint } from './data-dir';
import { startHealthManager, type HealthTimings } from './health';
import { UserFacingError, type Log } from './log';
import { startRouter, type RouterTimings } from './router';
import { startServices } from './services';
import { startStager } from './stager';
import { HttpTls } from './tls';

export const platformComponents = ['controller', 'stager', 'dea', 'health', 'router', 'gateways'] as const;
export type PlatformComponent = (typeof platformComponents)[number];

export interface PlatformOptions {
  dataDir: string;
  /** An external NATS server, or several nodes of a cluster (comma-separated); embedded when absent. */
  natsUrl?: string;
  /** Token of that NATS server; it is also the platform token (REST and droplet transfer). */
  natsToken?: string;
  /** 0 or absent: a free port. */
  apiPort?: number;
  routerPort?: number;
  /** The address other hosts reach this one at: announced in every message and URL (default 127.0.0.1). */
  advertise?: string;
  /** Where the servers listen (default: `advertise`; 0.0.0.0 for every interface). */
  listen?: string;
  /** The embedded nats-server: its client port (default: a free one) and the cluster it joins. */
  natsPort?: number;
  natsCluster?: NatsClusterOptions;
  /** TLS files for NATS client and route connections and for the HTTP surfaces (API, transfers, file servers, gateways). */
  tls?: TlsFiles;
  log: Log;
  /** Run only these components (`pocket dea`, `pocket router`, ...). Default: all. */
  only?: readonly PlatformComponent[];
  /** Finer settings, mostly for tests. */
  tuning?: PlatformTuning;
  /** Run as a child of `pocket up`'s supervisor, which holds the data dir lock and writes endpoint.json. */
  underSupervisor?: boolean;
  /** The controller's URL, for service gateways run without the controller (`pocket gateways --api URL`). */
  api?: string;
}

export interface PlatformTuning {
  controller?: Partial<ControllerTimings>;
  dea?: Partial<DeaTimings>;
  deaMaxMemoryMb?: number;
  router?: Partial<RouterTimings>;
  health?: Partial<HealthTimings>;
  stagingTimeoutSec?: number;
  maxPackageBytes?: number;
  memoryLimitMb?: number;
}

export interface Platform {
  dataDir: string;
  /** Controller base URL, when the controller runs here. */
  api: string | null;
  /** Router base URL, when the router runs here. */
  router: string | null;
  nats: string;
  token: string;
  /** The owner account, when the controller runs here (its password only while the generated one is unchanged). */
  owner?: OwnerAccount;
  components: readonly PlatformComponent[];
  stop(): Promise<void>;
}

interface Stoppable {
  name: string;
  stop(): Promise<void> | void;
}

/** What the setup steps share while the platform comes up. */
interface Assembly {
  opts: PlatformOptions;
  log: Log;
  dataDir: string;
  token: string;
  tuning: PlatformTuning;
  nats: string;
  /** HTTPS settings of every HTTP server and client here. */
  http: HttpTls;
  started: Stoppable[];
  owner?: OwnerAccount;
}

export async function startPlatform(opts: PlatformOptions): Promise<Platform> {
  const log = opts.log;
  const dataDir = path.resolve(opts.dataDir);
  const only = new Set<PlatformComponent>(opts.only ?? platformComponents);
  const started: Stoppable[] = [];
  const stopAll = async (): Promise<void> => {
    for (const s of started.splice(0).reverse()) {
      try { await s.stop(); } catch (e) { log.error(`stopping ${s.name}`, e); }
    }
  };

  try {
    fs.mkdirSync(dataDir, { recursive: true, mode: 0o700 });
    // The controller owns the data dir's state: one per data dir.
    if (only.has('controller') && !opts.underSupervisor) {
      const lock = acquireDirLock(dataDir);
      started.push({ name: 'data dir lock', stop: () => lock.release() });
    }
    const a: Assembly = { opts, log, dataDir, token: opts.natsToken ?? loadOrCreateToken(dataDir), tuning: opts.tuning ?? {}, nats: '', http: HttpTls.load(opts.tls), started };
    a.nats = await setupNats(a);
    const api = only.has('controller') ? await setupController(a) : null;
    if (only.has('stager')) await setupStager(a);
    if (only.has('dea')) await setupDea(a);
    if (only.has('health')) await setupHealthManager(a);
    const router = only.has('router') ? await setupRouter(a) : null;
    if (only.has('gateways')) await setupServices(a, api ?? opts.api);
    if (api && !opts.underSupervisor) setupEndpoint(a, api, router);

    let stopping: Promise<void> | null = null;
    return {
      dataDir, api, router, nats: a.nats, token: a.token, owner: a.owner, components: [...only],
      stop: () => (stopping ??= stopAll()),
    };
  } catch (e) {
    await stopAll();
    throw e;
  }
}

async function setupNats(a: Assembly): Promise<string> {
  if (a.opts.natsUrl) return a.opts.natsUrl;
  const o = a.opts;
  const nats = await startEmbeddedNats({
    log: a.log.child('nats'), dir: path.join(a.dataDir, 'nats'), token: a.token,
    port: o.natsPort, advertise: o.advertise, listen: o.listen, cluster: o.natsCluster, tls: o.tls,
  });
  a.started.push({ name: 'nats-server', stop: () => nats.stop() });
  return nats.url;
}

/** Each component gets its own connection, closed after the component stops. */
async function connect(a: Assembly, component: string): Promise<Bus> {
  const bus = await Bus.connect({ url: a.nats, token: a.token, tls: a.opts.tls, name: `pocket-${component}-${process.pid}`, log: a.log.child(component) });
  a.started.push({ name: `${component} bus`, stop: () => bus.close() });
  return bus;
}

async function setupController(a: Assembly): Promise<string> {
  const bus = await connect(a, 'cc');
  // Back from a NATS outage: find the DEAs again rather than wait for their next advertisement.
  bus.onReconnect(() => { bus.publish(Subjects.deaLocate, {}); });
  const controller = await startController({
    bus, dataDir: path.join(a.dataDir, 'controller'), token: a.token, port: a.opts.apiPort ?? 0, ...addresses(a), tls: a.http,
    maxPackageBytes: a.tuning.maxPackageBytes, memoryLimitMb: a.tuning.memoryLimitMb, stagingTimeoutSec: a.tuning.stagingTimeoutSec,
    timings: a.tuning.controller, log: a.log.child('cc'),
  });
  a.started.push({ name: 'controller', stop: () => controller.stop() });
  a.owner = controller.owner;
  return controller.url;
}

async function setupStager(a: Assembly): Promise<void> {
  const dir = claimComponentDir(path.join(a.dataDir, 'stager'));
  a.started.push({ name: 'stager folder', stop: () => dir.release() });
  const stager = await startStager({ bus: await connect(a, 'stager'), workDir: dir.dir, token: a.token, tls: a.http, timeoutSec: a.tuning.stagingTimeoutSec, log: a.log.child('stager') });
  a.started.push({ name: 'stager', stop: () => stager.stop() });
}

async function setupDea(a: Assembly): Promise<void> {
  const dir = claimComponentDir(path.join(a.dataDir, 'dea'));
  a.started.push({ name: 'dea folder', stop: () => dir.release() });
  const bus = await connect(a, 'dea');
  // Back from a NATS outage: advertise and heartbeat at once (the DEA answers its own dea.locate and healthmanager.start).
  bus.onReconnect(() => { bus.publish(Subjects.deaLocate, {}); bus.publish(Subjects.healthmanagerStart, {}); });
  const dea = await startDea({
    bus, baseDir: dir.dir, token: a.token, maxMemoryMb: a.tuning.deaMaxMemoryMb, host: a.opts.advertise, listen: a.opts.listen, tls: a.http, timings: a.tuning.dea, log: a.log.child('dea'),
  });
  a.started.push({ name: 'dea', stop: () => dea.stop() });
}

async function setupHealthManager(a: Assembly): Promise<void> {
  const bus = await connect(a, 'hm');
  // Back from a NATS outage: ask every DEA for a heartbeat at once.
  bus.onReconnect(() => { bus.publish(Subjects.healthmanagerStart, {}); });
  const hm = await startHealthManager({ bus, timings: a.tuning.health, log: a.log.child('hm') });
  a.started.push({ name: 'health manager', stop: () => hm.stop() });
}

async function setupRouter(a: Assembly): Promise<string> {
  const bus = await connect(a, 'router');
  const router = await startRouter({ bus, port: a.opts.routerPort ?? 0, ...addresses(a), timings: a.tuning.router, log: a.log.child('router') });
  // Back from a NATS outage: ask the DEAs to register their routes again (the table kept them meanwhile).
  bus.onReconnect(() => { bus.publish(Subjects.routerStart, { id: router.id, hosts: [a.opts.advertise ?? '127.0.0.1'] }); });
  a.started.push({ name: 'router', stop: () => router.stop() });
  return router.url;
}

async function setupServices(a: Assembly, api: string | null | undefined): Promise<void> {
  if (!api) throw new UserFacingError('The service gateways need the controller: pass --api URL.');
  const services = await startServices({
    bus: await connect(a, 'services'), log: a.log.child('services'), dataDir: a.dataDir,
    api, serviceToken: a.token, host: a.opts.listen ?? a.opts.advertise, advertise: a.opts.advertise, tls: a.http,
  });
  a.started.push({ name: 'services', stop: () => services.stop() });
}

/** Listen and announced addresses of a server component (loopback when neither is given). */
function addresses(a: Assembly): { host?: string; advertise?: string } {
  const { advertise, listen } = a.opts;
  return { host: listen ?? advertise, advertise };
}

/** endpoint.json last: once it exists, everything it names answers. */
function setupEndpoint(a: Assembly, api: string, router: string | null): void {
  writeEndpoint(a.dataDir, { api, router, nats: a.nats, token: a.token, pid: process.pid, user: a.owner?.email, password: a.owner?.password ?? undefined, ...(a.http.serving && a.http.caFile ? { ca: a.http.caFile } : {}) });
  a.started.push({ name: 'endpoint.json', stop: () => removeEndpoint(a.dataDir) });
}
