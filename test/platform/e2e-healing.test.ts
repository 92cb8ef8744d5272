// End to end, one real platform: an instance killed with SIGKILL comes back (timed), a crash loop
// turns FLAPPING and is given up, scaling 1 -> 3 -> 1 spreads requests over the live instances, and a
// stopped app answers the router's 404.
import { strict as assert } from 'node:assert';
import type { HttpReply } from './support/controller';
import {
  e2eWait, fixture, hostOf, instanceFolders, instanceIndexOf, pidAlive, pushApp, startE2ePlatform, tuningWith, viaRouter, type TestPlatform,
} from './support/e2e';
import { sleep, waitFor } from './support/wait';

/** Restart budget for a killed instance (issue: RUNNING again within 3 s on this machine). */
const restartBudgetMs = 3000;

describe('e2e: crashes, flapping, scaling, stopping', function () {
  this.timeout(90_000);
  let t: TestPlatform;

  before(async () => {
    t = await startE2ePlatform({
      tuning: tuningWith({ health: { flappingDeath: 1, minRestartDelayMs: 500, maxRestartDelayMs: 2000, giveupCrashNumber: 4 } }),
    });
  });
  after(async () => { await t?.stop(); });

  it('kill -9 of the app process: RUNNING again and answering through the router, within the budget', async () => {
    const p = await pushApp(t, fixture('node-hello'));
    assert.equal(p.summary.running, 1);
    const [before] = await waitFor('run.pid of node-hello[0]', () => {
      const f = instanceFolders(t.dataDir, 'node-hello');
      return f.length === 1 && f[0].pid ? f : undefined;
    }, e2eWait);
    assert.ok(pidAlive(before.pid as number));
    const t0 = Date.now();
    process.kill(before.pid as number, 'SIGKILL');

    // Back: a new instance (new id and pid) of index 0, RUNNING, and the router reaching it.
    const after = await waitFor('a new instance of index 0', () => {
      const f = instanceFolders(t.dataDir, 'node-hello').find((i) => i.instanceId !== before.instanceId && i.index === 0 && i.pid !== null);
      return f && pidAlive(f.pid as number) ? f : undefined;
    }, { timeoutMs: 20_000, everyMs: 25 });
    await waitFor('instance 0 RUNNING', async () => (await t.client.instances('node-hello'))[0]?.state === 'RUNNING', { timeoutMs: 20_000, everyMs: 25 });
    const running = Date.now() - t0;
    const r = await waitFor('the app answering again', async () => {
      const x = await viaRouter(t, hostOf('node-hello'));
      return x.status === 200 ? x : undefined;
    }, { timeoutMs: 20_000, everyMs: 25 });
    const serving = Date.now() - t0;
    console.log(`      kill -9 -> RUNNING in ${running} ms, serving in ${serving} ms`);
    assert.equal(r.text, 'Hello from node-hello, instance 0\n');
    assert.notEqual(after.pid, before.pid);
    assert.ok(running <= restartBudgetMs, `RUNNING again after ${running} ms (budget ${restartBudgetMs} ms)`);
    const crashes = await t.client.crashes('node-hello');
    assert.ok(crashes.some((c) => c.instance === before.instanceId), `the killed instance is listed in /crashes: ${JSON.stringify(crashes)}`);
    assert.ok((await t.client.app('node-hello'))?.runningInstances === 1);
  });

  it('crasher: restarted, then FLAPPING, then given up (no more restarts; every crash in /crashes)', async () => {
    // The push itself may report the crash loop; what matters is what the platform does next.
    await pushApp(t, fixture('crasher'), { startTimeoutMs: 20_000 }).catch(() => undefined);
    await waitFor('crasher FLAPPING in /instances', async () => {
      const list = await t.client.instances('crasher');
      return list[0]?.state === 'FLAPPING' ? list : undefined;
    }, { timeoutMs: 30_000, everyMs: 100 });
    // Given up: the crash count stops growing and nothing of crasher runs any more.
    let last = -1;
    let stableSince = Date.now();
    await waitFor('the crash loop to be given up', async () => {
      const n = (await t.client.crashes('crasher')).length;
      if (n !== last) { last = n; stableSince = Date.now(); }
      return Date.now() - stableSince > 6000 ? true : undefined;
    }, { timeoutMs: 60_000, everyMs: 250 });
    const crashes = await t.client.crashes('crasher');
    assert.equal(crashes.length, 5, `4 restarts, then given up after the 5th crash: ${JSON.stringify(crashes)}`);
    assert.equal(new Set(crashes.map((c) => c.instance)).size, crashes.length, 'one record per crashed instance');
    for (const c of crashes) assert.equal(typeof c.since, 'number');
    assert.ok(crashes.some((c) => /deliberate crash|status 1/.test(String(c.description ?? c.reason))), JSON.stringify(crashes[0]));
    const live = instanceFolders(t.dataDir, 'crasher').filter((f) => f.pid !== null && pidAlive(f.pid));
    assert.deepEqual(live, [], 'no crasher process runs');
    const inst = await t.client.instances('crasher');
    assert.equal(inst.length, 1);
    assert.notEqual(inst[0].state, 'RUNNING');
    assert.notEqual(inst[0].state, 'STARTING');
    assert.equal((await t.client.app('crasher'))?.state, 'STARTED', 'the desired state is left alone');
    const r = await viaRouter(t, hostOf('crasher'));
    assert.equal(r.status, 404);
    // The crashed instance's folder is kept: its stderr tells why.
    const stderr = (await t.client.files('crasher', 0, 'logs/stderr.log')).toString();
    assert.match(stderr, /Error: crasher: deliberate crash/);
  });

  it('scale 1 -> 3 -> 1: requests spread over the live instances', async () => {
    const name = 'node-hello';
    await t.client.updateApp(name, { instances: 3 });
    await waitFor('3 instances RUNNING', async () => {
      const list = await t.client.instances(name);
      return list.length === 3 && list.every((i) => i.state === 'RUNNING') ? list : undefined;
    }, e2eWait);
    const seen = await waitFor('requests reaching instances 0, 1 and 2', async () => {
      const idx = new Set<number>();
      for (let i = 0; i < 30; i++) {
        const r = await viaRouter(t, hostOf(name));
        assert.equal(r.status, 200, r.text);
        idx.add(instanceIndexOf(r) ?? -1);
      }
      return idx.size === 3 ? idx : undefined;
    }, { ...e2eWait, timeoutMs: 15_000 });
    assert.deepEqual([...seen].sort(), [0, 1, 2]);
    assert.equal((await t.client.app(name))?.runningInstances, 3);
    const stats = await t.client.stats(name);
    assert.deepEqual(Object.keys(stats).sort(), ['0', '1', '2']);
    const ports = new Set<number | null>();
    for (const s of Object.values(stats)) {
      assert.equal(s.state, 'RUNNING');
      assert.equal(s.stats?.mem_quota, 64 * 1024 * 1024);
      assert.deepEqual(s.stats?.uris, [hostOf(name)]);
      ports.add(s.stats?.port ?? null);
    }
    assert.equal(ports.size, 3, 'each instance has its own port');

    await t.client.updateApp(name, { instances: 1 });
    await waitFor('the processes of instances 1 and 2 to end', () => {
      const f = instanceFolders(t.dataDir, name).filter((i) => i.pid !== null && pidAlive(i.pid));
      return f.length === 1 && f[0].index === 0 ? true : undefined;
    }, { ...e2eWait, timeoutMs: 20_000 });
    const list = await t.client.instances(name);
    assert.deepEqual(list.map((i) => [i.index, i.state]), [[0, 'RUNNING']]);
    const replies: HttpReply[] = [];
    for (let i = 0; i < 20; i++) replies.push(await viaRouter(t, hostOf(name)));
    assert.deepEqual([...new Set(replies.map((r) => `${r.status} ${instanceIndexOf(r)}`))], ['200 0']);
  });

  it('stop: the processes end and the router answers 404 with its exact body', async () => {
    const name = 'node-hello';
    const pids = instanceFolders(t.dataDir, name).map((f) => f.pid).filter((p): p is number => p !== null);
    assert.ok(pids.length > 0);
    await t.client.updateApp(name, { state: 'STOPPED' });
    const r = await waitFor('the router to drop node-hello', async () => {
      const x = await viaRouter(t, hostOf(name));
      return x.status === 404 ? x : undefined;
    }, { timeoutMs: 10_000, everyMs: 50 });
    assert.equal(r.text, 'VCAP ROUTER: 404 - DESTINATION NOT FOUND');
    await waitFor('the app processes to end', () => pids.every((p) => !pidAlive(p)), { ...e2eWait, timeoutMs: 10_000 });
    assert.deepEqual(await t.client.instances(name), []);
    await sleep(1500);
    assert.equal((await viaRouter(t, hostOf(name))).status, 404, 'nothing restarts a stopped app');
    assert.deepEqual(instanceFolders(t.dataDir, name).filter((f) => f.pid !== null && pidAlive(f.pid)), []);
  });
});
