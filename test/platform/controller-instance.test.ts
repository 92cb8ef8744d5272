// One real platform: `DELETE /apps/:name/instances/:idx` restarts one instance of node-hello (2
// instances): a new instance id for that index, RUNNING again within 5 s, the other index untouched,
// a STOPPED exit (no crash, no health-manager START), an `instances` event; an app slow to stop keeps
// its new instance although the health manager sees two for one index; the errors; and
// `pocket restart NAME --instance N` through the CLI.
import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import {
  Bus, Subjects, type DeaFindDropletReply, type DropletExited, type HmRequest,
} from '../../platform/bus';
import type { EventSubscription, PlatformEvent } from '../../platform/client';
import { silentLog } from '../../platform/log';
import { buildCli, type CliHarness } from './support/cli';
import { httpRequest, type HttpReply } from './support/controller';
import { copyFixture, e2eWait, fixture, instanceFolders, pidAlive, pushApp, startE2ePlatform, type TestPlatform } from './support/e2e';
import { sleep, waitFor } from './support/wait';

const app = 'node-hello';
const restartBudgetMs = 5000;

describe('controller: restart one instance (DELETE /apps/:name/instances/:idx)', function () {
  this.timeout(90_000);
  let t: TestPlatform;
  let bus: Bus;
  let cli: CliHarness | undefined;
  const exits: DropletExited[] = [];
  const hmRequests: HmRequest[] = [];

  const droplets = new Map<string, number>();
  /** Live instances of an app as the DEAs report them, by index. */
  const live = async (name = app): Promise<DeaFindDropletReply[]> => {
    let droplet = droplets.get(name);
    if (!droplet) {
      // The droplet id is the app's id, which its event log carries.
      const r = await httpRequest(`${t.api}/apps/${name}/events`, { token: t.token });
      droplet = (r.json as { events: { appId: number }[] }).events[0]?.appId ?? 0;
      assert.ok(droplet > 0, r.text);
      droplets.set(name, droplet);
    }
    const replies = await bus.requestMany(Subjects.deaFindDroplet, { droplet, states: ['STARTING', 'RUNNING'] }, { maxWait: 400 });
    return replies.sort((a, b) => a.index - b.index);
  };
  const del = (index: string, token: string | null = t.token, name = app): Promise<HttpReply> =>
    httpRequest(`${t.api}/apps/${name}/instances/${index}`, { method: 'DELETE', token });

  before(async () => {
    t = await startE2ePlatform();
    bus = await Bus.connect({ url: t.platform.nats, token: t.token, name: 'restart-test', log: silentLog });
    bus.subscribe(Subjects.dropletExited, (m) => { exits.push(m); });
    bus.subscribe(Subjects.hmRequests, (m) => { hmRequests.push(m); });
    const p = await pushApp(t, fixture('node-hello'), { instances: 2 });
    assert.equal(p.summary.running, 2);
  });
  after(async () => {
    cli?.cleanup();
    await bus?.close();
    await t?.stop();
  });

  it('restarts index 1 only: new instance id, RUNNING again within 5 s, index 0 untouched, no crash', async () => {
    const before = await waitFor('two RUNNING instances', async () => {
      const l = await live();
      return l.length === 2 && l.every((r) => r.state === 'RUNNING') ? l : undefined;
    }, e2eWait);
    const [zero, one] = before;
    assert.ok(zero && one && zero.index === 0 && one.index === 1);
    const pid0 = instanceFolders(t.dataDir, app).find((f) => f.instanceId === zero.instance)?.pid;
    assert.ok(pid0 && pidAlive(pid0), 'index 0 runs a process');
    const events: PlatformEvent[] = [];
    const sub: EventSubscription = t.client.events({ app }, (e) => { events.push(e); });
    try {
      await sleep(300); // the stream is open
      exits.length = 0;
      hmRequests.length = 0;
      const t0 = Date.now();
      const r = await del('1');
      assert.equal(r.status, 200, r.text);
      const body = r.json as { index: number; stopped: string[]; started: boolean; placement_error: string | null };
      assert.equal(body.index, 1);
      assert.deepEqual(body.stopped, [one.instance]);
      assert.equal(body.started, true);
      assert.equal(body.placement_error, null);

      const fresh = await waitFor('a new RUNNING instance at index 1', async () => {
        const l = await live();
        const at1 = l.filter((x) => x.index === 1);
        return at1.length === 1 && at1[0]?.instance !== one.instance && at1[0]?.state === 'RUNNING' ? at1[0] : undefined;
      }, { timeoutMs: restartBudgetMs + 5000, everyMs: 50 });
      const ms = Date.now() - t0;
      console.log(`      DELETE instance 1 -> new instance RUNNING in ${ms} ms`);
      assert.ok(ms <= restartBudgetMs, `RUNNING again after ${ms} ms (budget ${restartBudgetMs} ms)`);
      assert.equal((await t.client.instances(app))[1]?.state, 'RUNNING');

      // The old one went with a STOPPED exit; index 0 is the same instance and process.
      await waitFor('the exit of the old instance', () => exits.find((e) => e.instance === one.instance), { timeoutMs: 10_000, everyMs: 50 });
      assert.equal(exits.find((e) => e.instance === one.instance)?.reason, 'STOPPED');
      assert.ok(!exits.some((e) => e.instance === zero.instance), 'index 0 did not exit');
      assert.ok(pidAlive(pid0), 'index 0 still runs the same process');
      await waitFor('the old folder removed', () => !instanceFolders(t.dataDir, app).some((f) => f.instanceId === one.instance), { timeoutMs: 10_000, everyMs: 50 });

      // Settled: one instance per index (no duplicate from the health manager), no crash recorded.
      await sleep(2500);
      const after = await live();
      assert.deepEqual(after.map((x) => [x.index, x.instance, x.state]), [[0, zero.instance, 'RUNNING'], [1, fresh.instance, 'RUNNING']]);
      assert.deepEqual(await t.client.crashes(app), []);
      assert.deepEqual(hmRequests.filter((m) => m.op === 'START'), [], 'the health manager started nothing');
      assert.equal((await t.client.app(app))?.runningInstances, 2);
      assert.ok(events.some((e) => e.type === 'instances' && e.name === app), `an instances event on /events: ${JSON.stringify(events)}`);
    } finally {
      sub.close();
    }
  });

  it('an app slow to stop: its new instance stays although the health manager sees two at one index', async () => {
    // Ignores SIGTERM: the old instance stays RUNNING until the DEA's stop grace (2 s) ends in SIGKILL.
    const dir = copyFixture('node-hello', {
      'server.js': `const http = require('http');
process.on('SIGTERM', () => console.log('SIGTERM ignored'));
http.createServer((req, res) => res.end('slow to stop\\n')).listen(Number(process.env.PORT));
`,
    });
    try {
      await pushApp(t, dir, { name: 'slow-stop', instances: 1 });
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
    const [old] = await waitFor('slow-stop RUNNING', async () => {
      const l = await live('slow-stop');
      return l.length === 1 && l[0]?.state === 'RUNNING' ? l : undefined;
    }, e2eWait);
    assert.ok(old);
    await sleep(5500); // past the health manager's stable-state window: it analyses this app again
    hmRequests.length = 0;
    exits.length = 0;
    const r = await del('0', t.token, 'slow-stop');
    assert.equal(r.status, 200, r.text);
    const fresh = await waitFor('a new RUNNING instance', async () => (await live('slow-stop')).find((x) => x.instance !== old.instance && x.state === 'RUNNING'), { timeoutMs: restartBudgetMs, everyMs: 50 });
    await waitFor('the old instance gone', () => exits.find((e) => e.instance === old.instance), { timeoutMs: 15_000, everyMs: 50 });
    assert.equal(exits.find((e) => e.instance === old.instance)?.reason, 'STOPPED');
    await sleep(2500);
    const after = await live('slow-stop');
    const hmStops = hmRequests.filter((m) => m.op === 'STOP');
    console.log(`      health manager STOP requests during the restart: ${hmStops.length} (kept by the controller)`);
    assert.deepEqual(after.map((x) => [x.index, x.instance, x.state]), [[0, fresh.instance, 'RUNNING']], JSON.stringify({ after, hmStops }));
    // Only the old instance exited: the one the restart started is the one that runs.
    assert.deepEqual(exits.filter((e) => e.droplet === old.droplet).map((e) => e.instance), [old.instance]);
    assert.deepEqual(hmRequests.filter((m) => m.op === 'START'), [], 'the health manager had nothing to start');
    await t.client.deleteApp('slow-stop');
  });

  it('refuses: 403 without a valid token, 301 unknown app, 304 index out of range or not an index', async () => {
    const ids = (await live()).map((x) => x.instance);
    for (const [r, status, code] of [
      [await del('0', null), 403, 200],
      [await del('0', 'not-the-token'), 403, 200],
      [await del('0', t.token, 'no-such-app'), 404, 301],
      [await del('2'), 400, 304],
      [await del('99999999999999999999'), 400, 304],
      [await del('-1'), 400, 304],
      [await del('1.5'), 400, 304],
      [await del('x'), 400, 304],
      [await del('%20'), 400, 304],
    ] as const) {
      assert.equal(r.status, status, r.text);
      assert.equal((r.json as { code: number }).code, code, r.text);
      assert.equal(typeof (r.json as { description: unknown }).description, 'string');
    }
    await sleep(500);
    assert.deepEqual((await live()).map((x) => x.instance), ids, 'nothing was stopped');
  });

  it('`pocket restart NAME --instance 0` restarts index 0 and waits until it runs', async () => {
    cli = await buildCli();
    const before = await live();
    const zero = before.find((x) => x.index === 0);
    assert.ok(zero);
    const auth = ['--api', t.api, '--token', t.token];
    const r = await cli.run(['restart', app, '--instance', '0', ...auth]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, new RegExp(`Restarting ${app} #0 \\(stopped ${zero.instance.slice(0, 8)}\\)`));
    assert.match(r.stdout, new RegExp(`${app} #0: RUNNING`));
    const now = await live();
    assert.equal(now.filter((x) => x.index === 0 && x.state === 'RUNNING' && x.instance !== zero.instance).length, 1, JSON.stringify(now));
    assert.equal(now.find((x) => x.index === 1)?.instance, before.find((x) => x.index === 1)?.instance, 'index 1 untouched');

    const bad = await cli.run(['restart', app, '--instance', '7', ...auth]);
    assert.equal(bad.code, 1);
    assert.match(bad.stderr, /instance 7 of node-hello not found: it has 2 instance\(s\)/);
    const notIndex = await cli.run(['restart', app, '--instance', 'one', ...auth]);
    assert.notEqual(notIndex.code, 0);
    assert.match(notIndex.stderr, /--instance.*whole number/);
  });

  it('refuses a stopped app with 305', async () => {
    await t.client.updateApp(app, { state: 'STOPPED' });
    const r = await del('0');
    assert.equal(r.status, 400, r.text);
    assert.equal((r.json as { code: number }).code, 305);
    await assert.rejects(t.client.restartInstance(app, 0), (e: Error & { code?: number }) => e.code === 305);
    await assert.rejects(t.client.restartInstance(app, -1), (e: Error & { code?: number }) => e.code === 304);
  });
});
