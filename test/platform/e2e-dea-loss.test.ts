// End to end, a DEA host lost: two DEAs run as `pocket dea` child processes beside a platform
// without a DEA of its own; one is killed with SIGKILL (its app processes with it, as when a host
// dies). Measured: when the controller and the health manager count its instances lost, when they
// are RUNNING on the other DEA, and how many requests through the router fail once they are routed.
import { strict as assert } from 'node:assert';
import { spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Bus, Subjects } from '../../platform/bus';
import { silentLog } from '../../platform/log';
import { repoRoot } from './support/cli';
import {
  fixture, hostOf, instanceFoldersIn, liveInstances, pushApp, startE2ePlatform, viaRouter, type TestPlatform,
} from './support/e2e';
import { sleep, waitFor } from './support/wait';

/** The budgets: lost within 3 s of the kill, RUNNING elsewhere within 5 s. */
const lostBudgetMs = 3000;
const runningBudgetMs = 5000;

interface DeaChild { child: ChildProcess; dir: string; exited: Promise<void> }

describe('e2e: a DEA killed with SIGKILL is lost within 3 s and its instances run elsewhere within 5 s', function () {
  this.timeout(120_000);
  let t: TestPlatform;
  let root: string;
  let hm: Bus;
  const deas: DeaChild[] = [];

  function startDeaChild(label: string): DeaChild {
    const dir = path.join(root, label);
    const cli = path.join(repoRoot, 'dist', 'pocket.js');
    assert.ok(fs.existsSync(cli), 'dist/pocket.js is built (npm run build)');
    const child = spawn(process.execPath, [cli, 'dea', '--data', dir, '--nats', t.platform.nats, '--token', t.token], {
      env: { ...process.env, POCKET_LOG_LEVEL: 'warn' }, stdio: ['ignore', 'ignore', 'inherit'],
    });
    const exited = new Promise<void>((r) => child.on('exit', () => r()));
    const d = { child, dir: path.join(dir, 'dea'), exited };
    deas.push(d);
    return d;
  }

  /** Healthy RUNNING instances of the app, as the health manager counts them. */
  async function hmHealthy(droplet: number, version: string): Promise<number> {
    const replies = await hm.requestMany(Subjects.healthmanagerHealth, { droplets: [{ droplet, version }] }, { maxWait: 300, maxMessages: 1 });
    return replies[0]?.healthy ?? -1;
  }

  before(async () => {
    root = fs.mkdtempSync(path.join(os.tmpdir(), 'pocket-e2e-loss-'));
    t = await startE2ePlatform({ only: ['controller', 'stager', 'health', 'router'] });
    hm = await Bus.connect({ url: t.platform.nats, token: t.token, name: 'e2e-hm-probe', log: silentLog });
    startDeaChild('host-a');
    startDeaChild('host-b');
  });
  after(async () => {
    for (const d of deas) if (d.child.exitCode === null && d.child.signalCode === null) { d.child.kill('SIGTERM'); await Promise.race([d.exited, sleep(8000)]); }
    for (const d of deas) for (const f of liveInstances(instanceFoldersIn(d.dir, 'node-hello'))) { try { process.kill(f.pid as number, 'SIGKILL'); } catch { /* gone */ } }
    await hm?.close();
    await t?.stop();
    fs.rmSync(root, { recursive: true, force: true });
  });

  it('kill -9 of a DEA and its apps: lost, re-placed, served', async () => {
    // Both DEAs heartbeat before the push, so placement may use either.
    await waitFor('two DEAs advertising', async () => {
      const seen = new Set<string>();
      const b = await Bus.connect({ url: t.platform.nats, token: t.token, name: 'e2e-adv', log: silentLog });
      try {
        b.subscribe(Subjects.deaAdvertise, (m) => { seen.add(m.id); });
        b.publish(Subjects.deaLocate, {});
        await sleep(400);
      } finally { await b.close(); }
      return seen.size === 2 ? true : undefined;
    }, { timeoutMs: 30_000, everyMs: 100 });
    const p = await pushApp(t, fixture('node-hello'), { instances: 2 });
    assert.equal(p.summary.running, 2);
    const app = await t.client.app('node-hello');
    assert.ok(app);
    const droplet = (await hm.request(Subjects.ccBulkApps, {}, 2000)).apps.find((a) => a.name === 'node-hello')?.droplet as number;
    const [victim, survivor] = [...deas].sort((a, b) => liveInstances(instanceFoldersIn(b.dir, 'node-hello')).length - liveInstances(instanceFoldersIn(a.dir, 'node-hello')).length);
    const onVictim = liveInstances(instanceFoldersIn(victim.dir, 'node-hello'));
    assert.ok(onVictim.length >= 1, 'the DEA to kill runs an instance');
    const survivorBefore = new Set(liveInstances(instanceFoldersIn(survivor.dir, 'node-hello')).map((f) => f.instanceId));
    assert.equal(await hmHealthy(droplet, app.version), 2);

    // The host goes: the DEA and its app processes, with no word to anyone.
    const t0 = Date.now();
    victim.child.kill('SIGKILL');
    for (const f of onVictim) process.kill(f.pid as number, 'SIGKILL');
    let ccLostMs = -1;
    let hmLostMs = -1;
    const expectAfterLoss = 2 - onVictim.length;
    await waitFor('the controller and the health manager to count the lost instances', async () => {
      if (ccLostMs < 0 && (await t.client.app('node-hello'))?.runningInstances === expectAfterLoss) ccLostMs = Date.now() - t0;
      if (hmLostMs < 0 && (await hmHealthy(droplet, app.version)) <= expectAfterLoss) hmLostMs = Date.now() - t0;
      return ccLostMs >= 0 && hmLostMs >= 0 ? true : undefined;
    }, { timeoutMs: 20_000, everyMs: 25 });
    await waitFor('instances RUNNING on the surviving DEA', async () => {
      const fresh = liveInstances(instanceFoldersIn(survivor.dir, 'node-hello')).filter((f) => !survivorBefore.has(f.instanceId));
      if (fresh.length < onVictim.length) return undefined;
      const list = await t.client.instances('node-hello');
      return list.length === 2 && list.every((i) => i.state === 'RUNNING') ? true : undefined;
    }, { timeoutMs: 20_000, everyMs: 25 });
    const runningMs = Date.now() - t0;
    await waitFor('every instance routed', async () => {
      const idx = new Set<string>();
      for (let i = 0; i < 8; i++) { const r = await viaRouter(t, hostOf('node-hello')); if (r.status === 200) idx.add(r.text); }
      return idx.size === 2 ? true : undefined;
    }, { timeoutMs: 20_000, everyMs: 50 });
    const routedMs = Date.now() - t0;
    let failed = 0;
    const total = 200;
    for (let i = 0; i < total; i++) if ((await viaRouter(t, hostOf('node-hello'))).status !== 200) failed++;
    console.log(`      DEA kill -9 -> lost: controller ${ccLostMs} ms, health manager ${hmLostMs} ms; RUNNING elsewhere ${runningMs} ms; both routed ${routedMs} ms; ${failed}/${total} requests failed after`);
    assert.ok(ccLostMs < lostBudgetMs, `controller: lost after ${ccLostMs} ms (budget ${lostBudgetMs} ms)`);
    assert.ok(hmLostMs < lostBudgetMs, `health manager: lost after ${hmLostMs} ms (budget ${lostBudgetMs} ms)`);
    assert.ok(runningMs < runningBudgetMs, `RUNNING elsewhere after ${runningMs} ms (budget ${runningBudgetMs} ms)`);
    assert.equal(failed, 0, 'no request fails once the replacements are routed');
  });
});
