// The controller's parts on their own, without a platform: an in-memory store, a fake DeaClient,
// a fake placement and a fake clock.
import { strict as assert } from 'node:assert';
import { ActualState, type DeaFindDroplet, type DeaFindDropletReply, type DeaStart, type DeaStop, type DeaUpdate } from '../../platform/bus';
import { AppLimits } from '../../platform/controller/app-limits';
import { AppLocks } from '../../platform/controller/app-locks';
import { ContentGc } from '../../platform/controller/content-gc';
import type { DeaClient } from '../../platform/controller/dea-client';
import { CcError } from '../../platform/controller/errors';
import { HealthRequests } from '../../platform/controller/hm-requests';
import { InstanceKeyMap, versionOf } from '../../platform/controller/instance-key';
import { Lifetime } from '../../platform/controller/lifetime';
import type { PlacementResult } from '../../platform/controller/placement';
import { restoreApps } from '../../platform/controller/restore';
import { InstanceScheduler } from '../../platform/controller/scheduler';
import { Store, type AppRecord } from '../../platform/controller/store';
import { silentLog } from '../../platform/log';

class FakeDea implements DeaClient {
  readonly stops: DeaStop[] = [];
  readonly updates: DeaUpdate[] = [];
  found: DeaFindDropletReply[] = [];
  async discover(): Promise<undefined> { return undefined; }
  start(): void { /* the fake placement records starts */ }
  stop(filter: DeaStop): void { this.stops.push(filter); }
  update(msg: DeaUpdate): void { this.updates.push(msg); }
  locate(): void { /* nothing to locate */ }
  async find(filter: DeaFindDroplet): Promise<DeaFindDropletReply[]> { return this.found.filter((f) => f.droplet === filter.droplet); }
}

interface Rig {
  store: Store;
  dea: FakeDea;
  actual: ActualState;
  scheduler: InstanceScheduler;
  hm: HealthRequests;
  locks: AppLocks;
  lifetime: Lifetime;
  started: DeaStart[];
  clock: { now: number };
  placeOk: { value: boolean };
  changed: number[];
}

function rig(): Rig {
  const store = Store.inMemory();
  const dea = new FakeDea();
  const clock = { now: 1_000_000 };
  const actual = new ActualState({ expiry: 'dea', lostAfterMs: 10_000, now: () => clock.now });
  const started: DeaStart[] = [];
  const placeOk = { value: true };
  const placement = {
    place: async (s: DeaStart): Promise<PlacementResult> => {
      if (!placeOk.value) return { ok: false, reason: 'no DEA is running (none advertised itself)' };
      started.push(s);
      return { ok: true, dea: 'dea-1' };
    },
  };
  const locks = new AppLocks();
  const lifetime = new Lifetime();
  const changed: number[] = [];
  const notify = { instancesChanged: (a: { id: number }): void => { changed.push(a.id); } };
  const scheduler = new InstanceScheduler({
    store, dea, placement, actual, runtimes: { resolve: () => undefined }, notify, locks, lifetime, log: silentLog,
    url: () => 'http://cc', routers: async () => [], timings: { startGraceMs: 8000, rolloutTimeoutMs: 1000, rolloutPollMs: 5 }, now: () => clock.now,
  });
  const hm = new HealthRequests({ store, dea, scheduler, locks, notify, log: silentLog });
  return { store, dea, actual, scheduler, hm, locks, lifetime, started, clock, placeOk, changed };
}

function stagedApp(store: Store, name = 'web', instances = 2): AppRecord {
  const a = store.createApp({
    name, framework: null, runtime: null, command: null, instances, memory: 64, disk: 256, fds: 64,
    state: 'STARTED', env: [], debug: null, console: null,
  });
  return store.updateApp(a.id, { packageHash: 'p1', stagedHash: 'p1', dropletSha1: 'd1', packageState: 'STAGED', runCount: 1 });
}

function heartbeat(r: Rig, app: AppRecord, instances: { instance: string; index: number; state?: 'RUNNING' | 'STARTING' }[]): void {
  r.actual.heartbeat({
    dea: 'dea-1',
    droplets: instances.map((i) => ({ droplet: app.id, version: versionOf(app), instance: i.instance, index: i.index, state: i.state ?? 'RUNNING', state_timestamp: 1 })),
  });
}

describe('controller parts', () => {
  it('InstanceKeyMap: one typed key, per droplet', () => {
    const m = new InstanceKeyMap<number>();
    m.set({ droplet: 1, version: 'a-1', index: 0 }, 10);
    m.set({ droplet: 1, version: 'a-1', index: 1 }, 11);
    m.set({ droplet: 2, version: 'a-1', index: 0 }, 20);
    assert.equal(m.get({ droplet: 1, version: 'a-1', index: 1 }), 11);
    assert.equal(m.get({ droplet: 1, version: 'a-11', index: 0 }), undefined);
    m.deleteDroplet(1);
    assert.equal(m.get({ droplet: 1, version: 'a-1', index: 0 }), undefined);
    assert.equal(m.get({ droplet: 2, version: 'a-1', index: 0 }), 20);
    m.deleteWhere((v) => v === 20);
    assert.equal(m.get({ droplet: 2, version: 'a-1', index: 0 }), undefined);
  });

  it('scheduler: a start covers its index for startGraceMs; a heartbeat or a crash ends the cover', async () => {
    const r = rig();
    const app = stagedApp(r.store);
    const version = versionOf(app);
    await r.scheduler.startAll(app);
    assert.deepEqual(r.started.map((s) => [s.index, s.version, s.executableUri]), [[0, version, `http://cc/droplets/${app.id}/d1`], [1, version, `http://cc/droplets/${app.id}/d1`]]);
    assert.deepEqual(r.scheduler.missing(app), [], 'both starts pending');
    r.clock.now += 8000;
    assert.deepEqual(r.scheduler.missing(app), [0, 1], 'the grace ran out');
    await r.scheduler.start(app, [0]);
    r.scheduler.onExited({ droplet: app.id, version, instance: 'x', index: 0, reason: 'CRASHED', crash_timestamp: 5 });
    assert.deepEqual(r.scheduler.missing(app), [0, 1]);
    assert.equal(r.store.crashesOf(app.id).length, 1, 'the crash is recorded');
    heartbeat(r, app, [{ instance: 'i0', index: 0 }]);
    assert.deepEqual(r.scheduler.missing(app), [1]);
    assert.ok(r.changed.includes(app.id));
  });

  it('scheduler: a failed placement is the app\'s placement error and leaves the index uncovered', async () => {
    const r = rig();
    const app = stagedApp(r.store, 'web', 1);
    r.placeOk.value = false;
    const [res] = await r.scheduler.startAll(app);
    assert.equal(res?.ok, false);
    assert.match(r.store.getApp(app.id)?.placementError ?? '', /^no instance could be placed: no DEA is running/);
    assert.deepEqual(r.scheduler.missing(app), [0]);
    r.placeOk.value = true;
    await r.scheduler.startAll(app);
    assert.equal(r.store.getApp(app.id)?.placementError, null);
  });

  it('scheduler: restarting one index stops its live instances there and starts it again', async () => {
    const r = rig();
    const app = stagedApp(r.store);
    heartbeat(r, app, [{ instance: 'old0', index: 0 }, { instance: 'i1', index: 1 }]);
    const res = await r.scheduler.restartInstance('web', '0');
    assert.deepEqual(res, { index: 0, version: versionOf(app), stopped: ['old0'], started: true, placement_error: null });
    assert.deepEqual(r.dea.stops, [{ droplet: app.id, version: versionOf(app), indices: [0], states: ['STARTING', 'RUNNING'] }]);
    assert.deepEqual(r.started.map((s) => s.index), [0]);
    await assert.rejects(r.scheduler.restartInstance('web', '2'), (e: unknown) => e instanceof CcError && /not found: it has 2/.test(e.message));
    await assert.rejects(r.scheduler.restartInstance('web', 'x'), CcError);
  });

  it('health requests: START skips covered indices; STOP obeys last_updated, rollouts and restarts', async () => {
    const r = rig();
    const app = stagedApp(r.store);
    const version = versionOf(app);
    heartbeat(r, app, [{ instance: 'i0', index: 0 }]);
    await r.hm.handle({ droplet: app.id, op: 'START', last_updated: app.updatedAt, version, indices: [0, 1, 1, 5] });
    assert.deepEqual(r.started.map((s) => s.index), [1], 'index 0 is up, 5 is beyond the count, 1 once');
    await r.hm.handle({ droplet: app.id, op: 'START', last_updated: app.updatedAt, version, indices: [1] });
    assert.equal(r.started.length, 1, 'the start just sent covers index 1');
    await r.hm.handle({ droplet: app.id, op: 'START', last_updated: app.updatedAt, version: 'other-1', indices: [1] });
    assert.equal(r.started.length, 1, 'another version is not started');

    await r.hm.handle({ droplet: app.id, op: 'STOP', last_updated: app.updatedAt - 1, instances: ['i0'] });
    assert.deepEqual(r.dea.stops, [], 'the app changed since the health manager looked');
    // While a rollout runs, stopping old instances is the rollout's job; the same STOP goes through after it.
    const rolling = r.scheduler.rollout(app);
    assert.ok(r.scheduler.isRollingOut(app.id));
    await r.hm.handle({ droplet: app.id, op: 'STOP', last_updated: app.updatedAt, instances: ['i0'] });
    assert.deepEqual(r.dea.stops, [], 'a rollout is running');
    r.scheduler.cancelRollout(app.id);
    await rolling;
    await r.hm.handle({ droplet: app.id, op: 'STOP', last_updated: app.updatedAt, instances: ['i0'] });
    assert.deepEqual(r.dea.stops, [{ droplet: app.id, instances: ['i0'] }], 'no rollout any more');
    // A restart of index 0: the new instance is shielded from a duplicate STOP while the old one is there.
    await r.scheduler.restartInstance('web', '0');
    r.dea.stops.length = 0;
    heartbeat(r, app, [{ instance: 'i0', index: 0 }, { instance: 'new0', index: 0, state: 'STARTING' }]);
    await r.hm.handle({ droplet: app.id, op: 'STOP', last_updated: app.updatedAt, instances: ['new0'] });
    assert.deepEqual(r.dea.stops, []);
    await r.hm.handle({ droplet: app.id, op: 'STOP', last_updated: app.updatedAt, instances: ['i0', 'new0'] });
    assert.deepEqual(r.dea.stops, [{ droplet: app.id, instances: ['i0'] }]);
    heartbeat(r, app, [{ instance: 'new0', index: 0 }]);
    await r.hm.handle({ droplet: app.id, op: 'STOP', last_updated: app.updatedAt, instances: ['new0'] });
    assert.deepEqual(r.dea.stops, [{ droplet: app.id, instances: ['i0'] }], 'the old instance is gone, but the restart is within its grace');
    r.clock.now += 8000;
    await r.hm.handle({ droplet: app.id, op: 'STOP', last_updated: app.updatedAt, instances: ['new0'] });
    assert.deepEqual(r.dea.stops.at(-1), { droplet: app.id, instances: ['new0'] }, 'the shield ends with the old instance and the grace');
    assert.deepEqual(r.hm.bulk(app.id).map((b) => [b.name, b.version, b.state]), [['web', version, 'STARTED']]);
  });

  it('restore: interrupted staging fails; a STARTED app gets the instances no DEA reports', async () => {
    const r = rig();
    const app = stagedApp(r.store, 'web', 3);
    r.store.beginStagingLog(app.id, 't1', 'p1');
    r.dea.found = [{ droplet: app.id, version: versionOf(app), index: 1, state: 'RUNNING' } as DeaFindDropletReply];
    await r.scheduler.start(app, [2]);
    // A STARTED app whose new package has not staged yet: staged again, its previous droplet still started.
    const pending = r.store.updateApp(stagedApp(r.store, 'api', 1).id, { packageHash: 'p2', packageState: 'PENDING' });
    const stopped = r.store.updateApp(stagedApp(r.store, 'off', 1).id, { state: 'STOPPED' });
    const staged: number[] = [];
    await restoreApps({
      store: r.store, dea: r.dea, scheduler: r.scheduler, desired: { stage: (a) => { staged.push(a.id); } },
      staging: { current: () => undefined }, locks: r.locks, lifetime: r.lifetime, log: silentLog, settleMs: 1,
    });
    assert.equal(r.store.getStagingLog(app.id)?.state, 'FAILED');
    assert.deepEqual(r.started.map((s) => [s.droplet, s.index]), [[app.id, 2], [app.id, 0], [pending.id, 0]], 'index 1 runs, index 2 was just started');
    assert.deepEqual(staged, [pending.id]);
    assert.ok(!r.started.some((s) => s.droplet === stopped.id), 'a STOPPED app stays down');
  });

  it('limits: memory, app count, uris and their owners', () => {
    const store = Store.inMemory();
    const limits = new AppLimits(store, { memoryLimitMb: 256, appLimit: 1, uriLimit: 1 });
    assert.throws(() => limits.checkMemory(128, 3, 'STOPPED', undefined), /3 x 128 MB = 384 MB/);
    const app = stagedApp(store, 'web', 2);
    store.setUris(app.id, ['web.localhost']);
    assert.throws(() => limits.checkMemory(192, 1, 'STARTED', undefined), /started apps use 128 MB, this app needs 192 MB/);
    limits.checkMemory(128, 1, 'STARTED', undefined); // 128 + 128 MB is the limit exactly: allowed
    limits.checkMemory(192, 1, 'STOPPED', undefined); // a stopped app counts only against itself
    limits.checkMemory(128, 2, 'STARTED', app.id);
    assert.throws(() => limits.checkAppCount(), /too many apps/);
    assert.throws(() => limits.checkUris(['a', 'b'], undefined), /too many uris/);
    assert.throws(() => limits.checkUris(['web.localhost'], undefined), /taken by another app/);
    limits.checkUris(['web.localhost'], app.id);
  });

  it('content gc: a package still in use stays; an unused one goes', async () => {
    const store = Store.inMemory();
    const removed: string[] = [];
    const remove = async (h: string): Promise<void> => { removed.push(h); };
    const gc = new ContentGc({ store, packages: { remove }, droplets: { remove }, staging: { current: () => undefined }, log: silentLog });
    stagedApp(store);
    store.addPackage('p1', 1, 1, null);
    store.addPackage('p2', 1, 1, null);
    await gc.package('p1');
    await gc.package('p2');
    assert.deepEqual(removed, ['p2']);
    assert.ok(store.hasPackage('p1') && !store.hasPackage('p2'));
  });
});
