// The cloud controller: v1 REST API over SQLite, the resource pool, packages, staging, placement and
// the desired state of every app. The one public entry of platform/controller.
import * as fs from 'node:fs';
import type { AddressInfo } from 'node:net';
import * as path from 'node:path';
import {
  ActualState, QueueGroups, Subjects, isLive,
  type Bus, type CcBulkAppsReply,
} from '../bus';
import type { Log } from '../log';
import { HttpTls } from '../tls';
import { Api } from './api';
import { AppNotifier } from './app-events';
import { AppLimits } from './app-limits';
import { AppLocks } from './app-locks';
import { ContentGc } from './content-gc';
import { ContentStore } from './content-store';
import { BusDeaClient } from './dea-client';
import { DesiredState } from './desired-state';
import { EventHub } from './event-stream';
import { HealthRequests } from './hm-requests';
import { InstanceViews } from './instances';
import { Lifetime } from './lifetime';
import { Packager } from './packager';
import { GatewayClient } from './gateway-client';
import { DeaDirectory, Placement } from './placement';
import { ResourcePool } from './resource-pool';
import { restoreApps } from './restore';
import { RuntimeCatalog } from './runtimes';
import { InstanceScheduler } from './scheduler';
import { ServiceInstances } from './service-instances';
import { ServiceOfferings } from './service-offerings';
import { StagingCoordinator } from './staging';
import { Store } from './store';
import { defaultControllerTimings, type ControllerTimings } from './timings';
import { Users, type OwnerAccount } from './users';

export type { ControllerTimings } from './timings';
export type { OwnerAccount } from './users';
export { ErrorCodes } from './errors';

export interface ControllerOptions {
  bus: Bus;
  dataDir: string;
  token: string;
  /** Listen address; 127.0.0.1 unless the platform spans several hosts. */
  host?: string;
  /** Address in the URLs it hands out (staging and droplet transfers) and accepts as Host; default: `host`. */
  advertise?: string;
  /** 0 or absent: a free port. */
  port?: number;
  /** HTTPS for the API and the transfers, and the CA the DEAs' and gateways' certificates are checked against (default: plain). */
  tls?: HttpTls;
  /** Largest unzipped package (upload plus pooled files); default 512 MiB. */
  maxPackageBytes?: number;
  /** Entries an uploaded zip may hold before it is refused with 402 (default 100,000). */
  maxZipEntries?: number;
  /** Account memory limit (memory x instances of STARTED apps); default 8192 MB. */
  memoryLimitMb?: number;
  /** Default uri domain: an app gets `<name>.<domain>`; default `localhost`. */
  domain?: string;
  /** Staging time limit in seconds; default 120. */
  stagingTimeoutSec?: number;
  log: Log;
  /** Most apps (default 100) and uris per app (default 16). */
  appLimit?: number;
  uriLimit?: number;
  /** Largest droplet a stager may upload; default 2 GiB. */
  maxDropletBytes?: number;
  timings?: Partial<ControllerTimings>;
  /** Email of the owner account made on first start; default `owner@pocket.local`. */
  ownerEmail?: string;
  /** Most services per user (default 16). */
  serviceLimit?: number;
  /** An offering not announced again within this long is gone (default 90 s; gateways announce every 30 s). */
  offeringTtlMs?: number;
}

export interface Controller {
  /** `http://127.0.0.1:PORT` (`https://` with TLS) */
  url: string;
  port: number;
  /** The owner account; its generated password while unchanged (for endpoint.json). */
  owner: OwnerAccount;
  stop(): Promise<void>;
}

const MiB = 1024 * 1024;

export async function startController(opts: ControllerOptions): Promise<Controller> {
  const log = opts.log;
  const bus = opts.bus;
  const host = opts.host ?? '127.0.0.1';
  const timings: ControllerTimings = { ...defaultControllerTimings, ...opts.timings };
  const maxPackageBytes = opts.maxPackageBytes ?? 512 * MiB;
  const memoryLimitMb = opts.memoryLimitMb ?? 8192;
  const appLimit = opts.appLimit ?? 100;
  const uriLimit = opts.uriLimit ?? 16;
  const dataDir = path.resolve(opts.dataDir);
  const tls = opts.tls ?? HttpTls.plain;

  fs.mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  const tmpDir = path.join(dataDir, 'tmp');
  // Temp files of a previous run (an upload cut short by a crash) are garbage.
  fs.rmSync(tmpDir, { recursive: true, force: true });
  fs.mkdirSync(tmpDir, { recursive: true, mode: 0o700 });
  const store = Store.open(dataDir);
  const users = new Users(store, opts.token);
  let owner: OwnerAccount;
  try { owner = await users.ensureOwner(opts.ownerEmail ?? 'owner@pocket.local', dataDir); } catch (e) { store.close(); throw e; }
  const offerings = new ServiceOfferings(opts.offeringTtlMs ?? 90_000);
  const serviceLimit = opts.serviceLimit ?? 16;
  const services = new ServiceInstances({ store, offerings, gateway: new GatewayClient(opts.token, tls), log: log.child('services'), serviceLimit });
  const pool = new ResourcePool(path.join(dataDir, 'pool'), tmpDir);
  const packages = new ContentStore(path.join(dataDir, 'packages'), '.zip');
  const droplets = new ContentStore(path.join(dataDir, 'droplets'), '.tgz');
  packages.sweepTemps();
  droplets.sweepTemps();
  const runtimes = await RuntimeCatalog.detect();
  log.info(`runtimes: ${runtimes.runtimes.map((r) => `${r.name} ${r.version}`).join(', ') || 'none'}`);

  let url = '';
  // Built in dependency order: each part gets only what is already built.
  const events = new EventHub({ log: log.child('events') });
  const notify = new AppNotifier(bus, events);
  const actual = new ActualState({
    expiry: 'dea', lostAfterMs: timings.instanceLostMs,
    onChange: (droplet) => { const app = store.getApp(droplet); if (app) notify.instancesChanged(app); },
  });
  const locks = new AppLocks();
  const lifetime = new Lifetime();
  const dea = new BusDeaClient(bus, timings);
  const deas = new DeaDirectory();
  const placement = new Placement(dea, deas, log.child('placement'));
  const staging = new StagingCoordinator({
    bus, store, droplets, events, log: log.child('staging'), url: () => url,
    timeoutSec: opts.stagingTimeoutSec ?? 120,
    replyGraceMs: timings.stagingReplyGraceMs,
    stagerWaitMs: timings.stagerWaitMs,
    maxDropletBytes: opts.maxDropletBytes ?? 2048 * MiB,
  });
  const gc = new ContentGc({ store, packages, droplets, staging, log });
  const scheduler = new InstanceScheduler({
    store, dea, placement, actual, runtimes, notify, locks, lifetime, log, url: () => url, timings,
    routers: () => bus.requestMany(Subjects.routerStatus, {}, { maxWait: timings.routerStatusWaitMs }),
    services: (appId) => services.forDea(appId),
  });
  const desired = new DesiredState({
    store, limits: new AppLimits(store, { memoryLimitMb, appLimit, uriLimit }), runtimes, staging, scheduler, dea, actual, gc,
    packages, droplets, notify, locks, lifetime, log, domain: opts.domain ?? 'localhost', boundServices: (appId) => services.namesOf(appId),
  });
  staging.onDone((task, outcome) => desired.onStagingDone(task, outcome));
  const hm = new HealthRequests({ store, dea, scheduler, locks, notify, log });
  const views = new InstanceViews(dea, bus, store, events, log, timings, tls);
  const packager = new Packager({ pool, packages, store, tmpDir, maxPackageBytes, maxZipEntries: opts.maxZipEntries, gc, log: log.child('packager') });
  const named = opts.advertise ?? host;
  const extraHosts = /^[\d.]+$/.test(named) && named !== '0.0.0.0' && !named.startsWith('127.') ? [named] : [];
  const api = new Api({
    token: opts.token, extraHosts, store, apps: desired, restarts: scheduler, views, staging, packager, pool, packages, droplets, runtimes,
    events, log: log.child('api'), url: () => url, tmpDir, maxPackageBytes, memoryLimitMb, appLimit, uriLimit,
    serviceLimit, users, services, offerings, dataDir,
  });

  const server = tls.createServer(api.handle);
  // Uploads and droplet transfers may take long; idle connections still time out.
  server.requestTimeout = 0;
  server.headersTimeout = 60_000;
  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(opts.port ?? 0, host, () => { server.off('error', reject); resolve(); });
    });
  } catch (e) {
    staging.close();
    events.close();
    store.close();
    throw e;
  }
  const port = (server.address() as AddressInfo).port;
  url = tls.origin(named === '0.0.0.0' || named === '::' ? '127.0.0.1' : named, port);
  for (const h of [...extraHosts]) extraHosts.push(`${h}:${port}`);

  const subs = [
    bus.subscribe(Subjects.deaAdvertise, (m) => { deas.advertise(m); }),
    bus.subscribe(Subjects.deaHeartbeat, (m) => {
      actual.heartbeat(m);
      for (const d of m.droplets) if (isLive(d.state)) scheduler.onInstanceSeen(d);
    }),
    bus.subscribe(Subjects.dropletExited, (m) => { actual.exited(m); scheduler.onExited(m); }),
    bus.subscribe(Subjects.ccBulkApps, (m): CcBulkAppsReply => ({ apps: hm.bulk(m.droplet) }), { queue: QueueGroups.cloudControllers }),
    bus.subscribe(Subjects.hmRequests, (m) => hm.handle(m), { queue: QueueGroups.cloudControllers }),
  ];
  // Often, so a lost DEA's instances go within a quarter second of its limit (the health manager sweeps alike).
  const sweeper = setInterval(() => actual.sweep(), 250);
  sweeper.unref();
  dea.locate();
  log.info(`controller listening on ${url} (data in ${dataDir})`);
  const restoring = restoreApps({
    store, dea, scheduler, desired, staging, locks, lifetime, log, settleMs: timings.restoreSettleMs,
  }).catch((e: unknown) => log.error('restoring apps', e));

  let stopped = false;
  return {
    url,
    port,
    owner,
    async stop(): Promise<void> {
      if (stopped) return;
      stopped = true;
      clearInterval(sweeper);
      for (const s of subs) s.unsubscribe();
      lifetime.close();
      scheduler.close();
      staging.close();
      events.close();
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
      await restoring;
      store.close();
      log.info('controller stopped');
    },
  };
}
