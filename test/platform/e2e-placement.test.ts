// End to end with several DEAs on one bus: the platform's own DEA is small, a second one (startDea,
// as `pocket dea --nats URL` runs it) is large. Placement follows memory; an app no DEA can hold
// says why; a DEA that shuts down has its instances started on another by the health manager.
import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Bus, Subjects } from '../../platform/bus';
import { PushError } from '../../platform/client';
import { startDea, type Dea } from '../../platform/dea';
import { silentLog } from '../../platform/log';
import {
  copyFixture, e2eWait, hostOf, instanceFolders, instanceFoldersIn, liveInstances, pushApp, startE2ePlatform, tuningWith, viaRouter, type TestPlatform,
} from './support/e2e';
import { waitFor } from './support/wait';

describe('e2e: two DEAs, placement by memory, a DEA going away', function () {
  this.timeout(90_000);
  let t: TestPlatform;
  let root: string;
  let app: string;
  const extra: { dea: Dea; bus: Bus; dir: string }[] = [];

  async function addDea(label: string, maxMemoryMb: number): Promise<{ dea: Dea; dir: string }> {
    const dir = path.join(root, label);
    const bus = await Bus.connect({ url: t.platform.nats, token: t.token, name: `e2e-${label}`, log: silentLog });
    const dea = await startDea({ bus, baseDir: dir, token: t.token, maxMemoryMb, log: silentLog, timings: { heartbeatMs: 1000, advertiseMs: 1000, stopGraceMs: 2000 } });
    extra.push({ dea, bus, dir });
    return { dea, dir };
  }

  before(async () => {
    // The platform's own DEA has room for 100 MB only.
    t = await startE2ePlatform({ tuning: tuningWith({ deaMaxMemoryMb: 100 }) });
    root = fs.mkdtempSync(path.join(os.tmpdir(), 'pocket-e2e-deas-'));
    app = copyFixture('node-hello');
  });
  after(async () => {
    for (const e of extra.reverse()) {
      await e.dea.stop().catch(() => undefined);
      await e.bus.close();
    }
    await t?.stop();
    fs.rmSync(root, { recursive: true, force: true });
    fs.rmSync(app, { recursive: true, force: true });
  });

  it('an instance of 128 MB goes to the DEA with room; the small one refuses it', async () => {
    const big = await addDea('dea-big', 1024);
    const p = await pushApp(t, app, { name: 'roomy', memory: 128 });
    assert.equal(p.summary.running, 1);
    assert.equal(liveInstances(instanceFoldersIn(big.dir, 'roomy')).length, 1, 'runs on the large DEA');
    assert.deepEqual(instanceFolders(t.dataDir, 'roomy'), [], 'nothing on the small DEA');
    assert.match((await viaRouter(t, hostOf('roomy'))).text, /^Hello from node-hello, instance 0/);
  });

  it('three 64 MB instances at once: the DEA with room for one takes one, no start is refused and retried', async () => {
    // Every start message the controller sends, to count refusals (a refused start is silent; v1).
    const starts: string[] = [];
    const watcher = await Bus.connect({ url: t.platform.nats, token: t.token, name: 'e2e-watch', log: silentLog });
    watcher.nc.subscribe(Subjects.deaStartAll.subject, { callback: (_e, m) => {
      try { const s = JSON.parse(Buffer.from(m.data).toString()) as { name?: string; index?: number }; if (s.name === 'small') starts.push(`${m.subject} #${s.index}`); } catch { /* not ours */ }
    } });
    await watcher.flush();
    try {
      const q = await pushApp(t, app, { name: 'small', memory: 64, instances: 3 });
      console.log(`      push of 3 instances: ${q.ms} ms`);
      assert.equal(q.summary.running, 3);
      const onSmall = liveInstances(instanceFolders(t.dataDir, 'small')).length;
      assert.ok(onSmall <= 1, `the small DEA holds at most one 64 MB instance (${onSmall})`);
      assert.equal(onSmall + liveInstances(instanceFoldersIn(extra[0].dir, 'small')).length, 3);
      assert.equal(starts.length, 3, `one start per instance, none refused for lack of memory and sent again:\n${starts.join('\n')}`);
    } finally {
      await watcher.close();
    }
  });

  it('an app no DEA can hold: the push says why, nothing runs', async () => {
    const err = await pushApp(t, app, { name: 'huge', memory: 2048, startTimeoutMs: 4000 }).then(() => null, (e: unknown) => e);
    assert.ok(err instanceof PushError, String(err));
    assert.match(err.message, /no DEA has 2048 MB free/);
    const a = await t.client.app('huge');
    assert.match(String(a?.placement_error), /2048 MB/);
    await t.client.deleteApp('huge');
  });

  it('a DEA that shuts down: its instances are started on another DEA and keep answering', async () => {
    const first = extra[0];
    const other = await addDea('dea-other', 1024);
    const before = liveInstances(instanceFoldersIn(first.dir, 'roomy'));
    assert.equal(before.length, 1);
    const t0 = Date.now();
    await first.dea.stop();
    assert.deepEqual(liveInstances(instanceFoldersIn(first.dir, 'roomy')), [], 'the stopped DEA left nothing running');
    const moved = await waitFor('roomy running on the other DEA', () => {
      const f = liveInstances(instanceFoldersIn(other.dir, 'roomy'));
      return f.length === 1 ? f : undefined;
    }, { timeoutMs: 30_000, everyMs: 50 });
    const r = await waitFor('roomy answering again', async () => {
      const x = await viaRouter(t, hostOf('roomy'));
      return x.status === 200 ? x : undefined;
    }, { timeoutMs: 30_000, everyMs: 50 });
    console.log(`      DEA stopped -> instance serving elsewhere in ${Date.now() - t0} ms`);
    assert.match(r.text, /^Hello from node-hello, instance 0/);
    assert.notEqual(moved[0].instanceId, before[0].instanceId);
    await waitFor('instance 0 RUNNING', async () => (await t.client.instances('roomy'))[0]?.state === 'RUNNING', { ...e2eWait, timeoutMs: 10_000 });
    // The small app's instances that were on the stopped DEA came back as well.
    await waitFor('small: 3 RUNNING again', async () => {
      const list = await t.client.instances('small');
      return list.length === 3 && list.every((i) => i.state === 'RUNNING') ? true : undefined;
    }, e2eWait);
    const total = liveInstances(instanceFolders(t.dataDir, 'small')).length + liveInstances(instanceFoldersIn(other.dir, 'small')).length;
    assert.equal(total, 3);
  });
});
