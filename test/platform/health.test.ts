// The health manager on the wire: a real NATS server; the test plays the cloud controller (answers
// `cloudcontrollers.bulk.apps`, records `cloudcontrollers.hm.requests`) and the DEAs (heartbeats, exits).
import { strict as assert } from 'node:assert';
import { randomBytes } from 'node:crypto';
import { } from 'zod';
import {
  QueueGroups, Subjects, type BulkApp, type Bus, type CcBulkApps, type DropletExited, type HeartbeatDroplet, type HmRequest,
} from '../../platform/bus';
import { startHealthManager, restartDelayMs, defaultHealthTimings, type HealthManager, type HealthTimings } from '../../platform/health';
import { silentLog } from '../../platform/log';
import { AppBuilder } from './support/builders';
import { anyReply, requestRaw, startTestNats, type TestNats } from './support/nats';
import { sleep, waitFor } from './support/wait';

const nowSec = (): number => Date.now() / 1000;

/** Short timings so each behaviour shows within a second or two. */
const fast: Partial<HealthTimings> = {
  expectedStateIntervalMs: 500, expectedStateRetryMs: 100, requestTimeoutMs: 1000, analysisIntervalMs: 50,
  stableStateMs: 0, startupGraceMs: 200, dropletLostMs: 600, restartTimeoutMs: 800,
  flappingTimeoutMs: 5000, flappingDeath: 1, minRestartDelayMs: 150, maxRestartDelayMs: 1000, giveupCrashNumber: 4,
};

/** A pretend DEA on the bus: holds instances, heartbeats them every 100 ms, reports exits. */
class FakeDea {
  readonly instances = new Map<string, HeartbeatDroplet>();
  private timer: NodeJS.Timeout | undefined;
  constructor(private readonly bus: Bus, readonly id = `dea-${randomBytes(3).toString('hex')}`) {}
  run(droplet: number, version: string, index: number, state: 'RUNNING' | 'STARTING' = 'RUNNING'): string {
    const instance = randomBytes(8).toString('hex');
    this.instances.set(instance, { droplet, version, instance, index, state, state_timestamp: nowSec() });
    this.beat();
    return instance;
  }
  exit(instance: string, reason: DropletExited['reason'], description?: string): void {
    const i = this.instances.get(instance);
    assert.ok(i, `instance ${instance} runs here`);
    this.instances.delete(instance);
    this.bus.publish(Subjects.dropletExited, {
      droplet: i.droplet, version: i.version, instance, index: i.index, reason,
      crash_timestamp: reason === 'CRASHED' ? nowSec() : undefined, exit_description: description,
    });
  }
  beat(): void { this.bus.publish(Subjects.deaHeartbeat, { dea: this.id, droplets: [...this.instances.values()] }); }
  start(): this { this.timer = setInterval(() => this.beat(), 100); return this; }
  stop(): void { clearInterval(this.timer); }
}

describe('health manager', function () {
  this.timeout(30_000);
  let t: TestNats;
  let cc: Bus;
  let deaBus: Bus;
  let hmBus: Bus;
  let hm: HealthManager | undefined;
  const deas: FakeDea[] = [];
  /** The controller's apps, as bulk.apps answers them. */
  const apps = new Map<number, BulkApp>();
  let bulkMode: 'ok' | 'garbage' = 'ok';
  const bulkAsked: CcBulkApps[] = [];
  const requests: { at: number; msg: HmRequest }[] = [];

  const startHm = async (timings: Partial<HealthTimings> = fast): Promise<void> => {
    hm = await startHealthManager({ bus: hmBus, log: silentLog, timings });
  };
  const dea = (): FakeDea => { const d = new FakeDea(deaBus).start(); deas.push(d); return d; };
  const setApp = (a: BulkApp): BulkApp => { apps.set(a.droplet, a); return a; };
  const requestsFor = (droplet: number, op?: 'START' | 'STOP'): { at: number; msg: HmRequest }[] =>
    requests.filter((r) => r.msg.droplet === droplet && (!op || r.msg.op === op));

  const nthStart = (droplet: number, n: number, timeoutMs = 3000): Promise<{ at: number; msg: HmRequest }> =>
    waitFor(`START #${n} for droplet ${droplet}`, () => requestsFor(droplet, 'START')[n - 1], { timeoutMs });

  before(async () => {
    t = await startTestNats();
    cc = await t.connect('cc');
    deaBus = await t.connect('dea');
    hmBus = await t.connect('hm');
    cc.subscribe(anyReply(Subjects.ccBulkApps), (m) => {
      bulkAsked.push(m);
      if (bulkMode === 'garbage') return { apps: [{ droplet: 'x' }] };
      const list = m.droplet === undefined ? [...apps.values()] : [apps.get(m.droplet)].filter((a) => a !== undefined);
      return { apps: list };
    });
    cc.subscribe(Subjects.hmRequests, (m) => { requests.push({ at: Date.now(), msg: m }); }, { queue: QueueGroups.cloudControllers });
    await cc.flush();
  });
  afterEach(async () => {
    await hm?.stop();
    hm = undefined;
    for (const d of deas.splice(0)) d.stop();
    bulkMode = 'ok';
  });
  after(async () => { await t.stop(); });

  it('publishes healthmanager.start at boot and reads the expected state', async () => {
    let starts = 0;
    const probe = await t.connect('probe');
    probe.subscribe(Subjects.healthmanagerStart, () => { starts++; });
    await probe.flush();
    const asked = bulkAsked.length;
    await startHm();
    await waitFor('healthmanager.start', () => (starts === 1 ? true : undefined), { timeoutMs: 3000 });
    await waitFor('bulk.apps', () => (bulkAsked.slice(asked).some((m) => m.droplet === undefined) ? true : undefined), { timeoutMs: 3000 });
  });

  it('asks to START a missing index, once per restart_timeout, and stops once it runs', async () => {
    const app = setApp(new AppBuilder(101).instances(3).version('v7').build());
    const d = dea();
    d.run(101, 'v7', 0);
    d.run(101, 'v7', 2);
    d.run(101, 'v6', 1); // an old version does not count for index 1
    await startHm();
    const first = await nthStart(101, 1);
    assert.deepEqual(first.msg, { droplet: 101, op: 'START', last_updated: app.last_updated, version: 'v7', indices: [1] });
    // Judged by the times the requests arrived, not by a sleep (which a loaded machine stretches).
    const second = await nthStart(101, 2, 2000);
    assert.ok(second.at - first.at >= 750, `no second START within restart_timeout (800 ms): it came ${second.at - first.at} ms after the first`);
    d.run(101, 'v7', 1);
    await sleep(1200);
    assert.equal(requestsFor(101, 'START').length, 2, 'nothing more once the index runs');
  });

  it('leaves a just-changed app to the controller for stable_state, and ignores apps still staging', async () => {
    setApp(new AppBuilder(102).instances(1).updatedNow().build());
    setApp(new AppBuilder(103).instances(1).pending().build());
    await startHm({ ...fast, stableStateMs: 1200 });
    await sleep(700);
    assert.equal(requestsFor(102).length, 0, 'no START while the change is fresh');
    const start = await nthStart(102, 1, 2000);
    assert.deepEqual((start.msg as { indices: number[] }).indices, [0]);
    assert.equal(requestsFor(103).length, 0, 'no START while staging');
  });

  it('asks to STOP extra instances: old version, index too high, duplicate index, stopped app', async () => {
    const a = setApp(new AppBuilder(111).instances(2).version('v2').build());
    const s = setApp(new AppBuilder(112).stopped().build());
    const d = dea();
    const keep0 = d.run(111, 'v2', 0);
    d.run(111, 'v2', 1);
    const old = d.run(111, 'v1', 1);
    const high = d.run(111, 'v2', 5);
    const dup = d.run(111, 'v2', 0, 'STARTING');
    const stray = d.run(112, 'v1', 0);
    await startHm();
    const stop111 = await waitFor('STOP 111', () => requestsFor(111, 'STOP')[0], { timeoutMs: 3000 });
    assert.equal(stop111.msg.last_updated, a.last_updated);
    assert.deepEqual([...(stop111.msg as { instances: string[] }).instances].sort(), [old, high, dup].sort());
    assert.ok(!(stop111.msg as { instances: string[] }).instances.includes(keep0));
    const stop112 = await waitFor('STOP 112', () => requestsFor(112, 'STOP')[0], { timeoutMs: 3000 });
    assert.deepEqual(stop112.msg, { droplet: 112, op: 'STOP', last_updated: s.last_updated, instances: [stray] });
    assert.equal(requestsFor(111, 'START').length, 0);
    await sleep(400);
    assert.equal(requestsFor(111, 'STOP').length, 1, 'no repeat within restart_timeout');
  });

  it('restarts a crash at once and records it; STOPPED and old-version exits stay down; a DEA shutdown restarts uncounted', async () => {
    setApp(new AppBuilder(121).instances(2).version('v3').build());
    const d = dea();
    const i0 = d.run(121, 'v3', 0);
    const i1 = d.run(121, 'v3', 1);
    const oldOne = d.run(121, 'v2', 0);
    // No periodic analysis here: every START must come from an exit.
    await startHm({ ...fast, analysisIntervalMs: 60_000 });
    await sleep(400);
    assert.equal(requestsFor(121, 'START').length, 0, 'all there');
    const crashedAt = Date.now();
    d.exit(i0, 'CRASHED', 'exited with code 1');
    const start = await nthStart(121, 1, 1000);
    assert.ok(start.at - crashedAt < 300, `START ${start.at - crashedAt} ms after the crash`);
    assert.deepEqual((start.msg as { indices: number[] }).indices, [0]);
    assert.equal((start.msg as { flapping?: boolean }).flapping, undefined);
    d.run(121, 'v3', 0);
    d.exit(i1, 'STOPPED');
    d.exit(oldOne, 'CRASHED', 'old version');
    await sleep(300);
    assert.equal(requestsFor(121, 'START').length, 1, 'STOPPED and old-version exits are not restarted');
    // The DEA went away: back at once, and it is not a crash.
    const again = d.run(121, 'v3', 1);
    d.exit(again, 'DEA_SHUTDOWN');
    const s2 = await nthStart(121, 2, 1000);
    assert.deepEqual((s2.msg as { indices: number[] }).indices, [1]);
    const status = await cc.request(Subjects.healthmanagerStatus, { droplet: 121, state: 'CRASHED' }, 1000);
    const crashes = status.instances ?? [];
    assert.deepEqual(crashes.map((c) => c.instance).sort(), [i0, oldOne].sort());
    const c0 = crashes.find((c) => c.instance === i0)!;
    assert.equal(c0.index, 0);
    assert.equal(c0.reason, 'exited with code 1');
    assert.ok(Math.abs(c0.since - crashedAt / 1000) < 2);
    const v3only = await cc.request(Subjects.healthmanagerStatus, { droplet: 121, version: 'v3', state: 'CRASHED' }, 1000);
    assert.deepEqual(v3only.instances?.map((c) => c.instance), [i0]);
  });

  it('turns a crash loop into FLAPPING with growing delays, then gives up until the app changes', async () => {
    const timings = { ...fast, minRestartDelayMs: 150, maxRestartDelayMs: 1000, giveupCrashNumber: 4, flappingDeath: 1 };
    const app = setApp(new AppBuilder(131).instances(1).version('v1').build());
    const d = dea();
    let current = d.run(131, 'v1', 0);
    await startHm(timings);
    await sleep(300);
    const gaps: number[] = [];
    const flags: (boolean | undefined)[] = [];
    for (let n = 1; n <= 4; n++) {
      const crashedAt = Date.now();
      d.exit(current, 'CRASHED', `crash ${n}`);
      const s = await nthStart(131, n, 3000);
      gaps.push(s.at - crashedAt);
      flags.push((s.msg as { flapping?: boolean }).flapping);
      current = d.run(131, 'v1', 0);
      await sleep(50);
    }
    // crash 1 restarts at once; crashes 2..4 wait 150, 300, 600 ms (v1's rule with these timings)
    const full = { ...defaultHealthTimings, ...timings };
    assert.ok(gaps[0] < 300, `first restart after ${gaps[0]} ms`);
    for (const [i, crashes] of [[1, 2], [2, 3], [3, 4]]) {
      const want = restartDelayMs(full, crashes);
      assert.ok(gaps[i] >= want - 20 && gaps[i] < want + 800, `restart after crash ${crashes}: ${gaps[i]} ms, want ~${want}`);
    }
    assert.deepEqual([2, 3, 4].map((c) => restartDelayMs(full, c)), [150, 300, 600]);
    assert.deepEqual(flags, [undefined, true, true, true]);
    const flapping = await cc.request(Subjects.healthmanagerStatus, { droplet: 131, version: 'v1', state: 'FLAPPING' }, 1000);
    assert.equal(flapping.indices?.length, 1);
    assert.equal(flapping.indices?.[0].index, 0);
    // The fifth crash is one too many: no START, not even from the missing-instance analysis.
    d.exit(current, 'CRASHED', 'crash 5');
    await sleep(2000);
    assert.equal(requestsFor(131, 'START').length, 4, 'given up');
    const still = await cc.request(Subjects.healthmanagerStatus, { droplet: 131, state: 'FLAPPING' }, 1000);
    assert.deepEqual(still.indices?.map((i) => i.index), [0], 'a given-up index stays FLAPPING');
    // A new desired state lifts it.
    setApp({ ...app, last_updated: nowSec() - 1 });
    cc.publish(Subjects.dropletUpdated, { droplet: 131 });
    const after = await nthStart(131, 5, 2000);
    assert.equal((after.msg as { flapping?: boolean }).flapping, undefined);
    const cleared = await cc.request(Subjects.healthmanagerStatus, { droplet: 131, state: 'FLAPPING' }, 1000);
    assert.deepEqual(cleared.indices, []);
  });

  it('starts counting crashes again after flapping_timeout', async () => {
    setApp(new AppBuilder(141).instances(1).build());
    const d = dea();
    let current = d.run(141, 'v1', 0);
    await startHm({ ...fast, flappingTimeoutMs: 500, minRestartDelayMs: 400 });
    await sleep(300);
    const crash = async (n: number): Promise<number> => {
      const at = Date.now();
      d.exit(current, 'CRASHED');
      const s = await nthStart(141, n, 3000);
      current = d.run(141, 'v1', 0);
      return s.at - at;
    };
    assert.ok(await crash(1) < 300);
    await sleep(700); // longer than flapping_timeout: the next crash is a first crash again
    assert.ok(await crash(2) < 300, 'immediate restart after the counter reset');
    const quick = await crash(3); // within flapping_timeout: FLAPPING, delayed
    assert.ok(quick >= 380, `second crash inside flapping_timeout waits: ${quick} ms`);
    assert.equal((requestsFor(141, 'START')[2].msg as { flapping?: boolean }).flapping, true);
    await sleep(700);
    const none = await cc.request(Subjects.healthmanagerStatus, { droplet: 141, state: 'FLAPPING' }, 1000);
    assert.deepEqual(none.indices, [], 'FLAPPING ends with flapping_timeout');
  });

  it('answers healthmanager.health with RUNNING counts per droplet and version', async () => {
    setApp(new AppBuilder(151).instances(3).version('v2').build());
    const d = dea();
    d.run(151, 'v2', 0);
    d.run(151, 'v2', 1);
    d.run(151, 'v2', 2, 'STARTING');
    d.run(151, 'v1', 0);
    await startHm();
    await sleep(200);
    const replies = await cc.requestMany(Subjects.healthmanagerHealth, { droplets: [{ droplet: 151, version: 'v2' }, { droplet: 151, version: 'v1' }, { droplet: 999, version: 'x' }] }, { maxWait: 1000, maxMessages: 3 });
    const byKey = Object.fromEntries(replies.map((r) => [`${r.droplet}/${r.version}`, r.healthy]));
    assert.deepEqual(byKey, { '151/v2': 2, '151/v1': 1, '999/x': 0 });
  });

  it('forgets instances whose heartbeats stop (droplet_lost) and starts their index again', async () => {
    setApp(new AppBuilder(161).instances(1).build());
    const d = dea();
    d.run(161, 'v1', 0);
    await startHm();
    await sleep(300);
    assert.equal(requestsFor(161).length, 0);
    const silentAt = Date.now();
    d.stop(); // the DEA vanishes without a word
    const s = await nthStart(161, 1, 3000);
    assert.ok(s.at - silentAt >= 500, `DOWN after droplet_lost, not before (${s.at - silentAt} ms)`);
  });

  it('re-reads one app on droplet.updated: scale up, new version, deletion', async () => {
    setApp(new AppBuilder(171).instances(1).version('v1').build());
    const d = dea();
    const first = d.run(171, 'v1', 0);
    await startHm({ ...fast, expectedStateIntervalMs: 60_000 });
    await sleep(400);
    assert.equal(requestsFor(171).length, 0);
    setApp(new AppBuilder(171).instances(2).version('v1').build());
    const asked = bulkAsked.length;
    cc.publish(Subjects.dropletUpdated, { droplet: 171 });
    const s = await nthStart(171, 1, 2000);
    assert.deepEqual((s.msg as { indices: number[] }).indices, [1]);
    assert.ok(bulkAsked.slice(asked).some((m) => m.droplet === 171), 'asked for that droplet');
    d.run(171, 'v1', 1);
    // A new version: the old instances become extra.
    setApp(new AppBuilder(171).instances(2).version('v2').build());
    cc.publish(Subjects.dropletUpdated, { droplet: 171 });
    const stop = await waitFor('STOP of the old version', () => requestsFor(171, 'STOP')[0], { timeoutMs: 3000 });
    assert.equal((stop.msg as { instances: string[] }).instances.length, 2);
    assert.ok((stop.msg as { instances: string[] }).instances.includes(first));
    // Deleted: nothing more is asked for it.
    apps.delete(171);
    cc.publish(Subjects.dropletUpdated, { droplet: 171 });
    await sleep(300);
    const count = requestsFor(171).length;
    await sleep(1000);
    assert.equal(requestsFor(171).length, count);
  });

  it('drops bad messages on every subject, survives a controller that answers nonsense, and keeps working', async () => {
    bulkMode = 'garbage';
    setApp(new AppBuilder(181).instances(1).build());
    const d = dea();
    await startHm();
    const before = hmBus.counters.dropped;
    const garbage = ['not json', '', '[]', 'null', '{"droplet":-1}', '{"droplet":"x"}', '{"dea":"d","droplets":[{"droplet":1}]}',
      '{"droplet":181,"version":"v1","instance":"i","index":0,"reason":"EXPLODED"}', '{"droplets":"all"}',
      '{"droplet":181,"state":"SLEEPING"}', '\u0000'];
    for (const subject of [Subjects.deaHeartbeat, Subjects.dropletExited, Subjects.dropletUpdated, Subjects.healthmanagerHealth, Subjects.healthmanagerStatus]) {
      for (const g of garbage) deaBus.nc.publish(subject.subject, g);
    }
    await deaBus.flush();
    await sleep(600);
    assert.ok(hmBus.counters.dropped - before >= 5 * (garbage.length - 2), `dropped ${hmBus.counters.dropped - before}`);
    assert.equal(requestsFor(181).length, 0, 'no expected state yet: nothing judged');
    const bad = await requestRaw(cc, Subjects.healthmanagerStatus, { droplet: 'x' }, 1000).catch((e: Error) => e);
    assert.ok(bad instanceof Error && /bad payload/.test(bad.message), 'a bad request gets an error reply');
    bulkMode = 'ok';
    const s = await nthStart(181, 1, 3000);
    assert.deepEqual((s.msg as { indices: number[] }).indices, [0]);
    const running = d.run(181, 'v1', 0);
    await sleep(100);
    d.exit(running, 'CRASHED');
    await nthStart(181, 2, 1000);
  });
});
