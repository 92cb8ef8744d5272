// End to end, one real platform with a short staging time limit: a staging failure keeps its whole
// log and leaves the app FAILED and STOPPED; a stager that runs too long is stopped with 800; a
// push cancelled during staging keeps the previous droplet serving.
import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import { CloudControllerError, PushCancelledError } from '../../platform/client';
import { httpRequest } from './support/controller';
import { copyFixture, e2eWait, fixture, hostOf, pidAlive, pushApp, startE2ePlatform, tuningWith, viaRouter, type TestPlatform } from './support/e2e';
import { sleep, waitFor } from './support/wait';

const stagingTimeoutSec = 15;

describe('e2e: staging failures, time limit, cancellation', function () {
  this.timeout(90_000);
  let t: TestPlatform;
  const temps: string[] = [];

  before(async () => { t = await startE2ePlatform({ tuning: tuningWith({ stagingTimeoutSec }) }); });
  after(async () => {
    await t?.stop();
    for (const d of temps) fs.rmSync(d, { recursive: true, force: true });
  });

  it('staging-fail: push fails with 310, the app is FAILED and STOPPED, the whole log is kept', async () => {
    const streamed: string[] = [];
    const err = await pushApp(t, fixture('staging-fail'), { onStagingLog: (l) => streamed.push(l) }).then(() => null, (e: unknown) => e);
    assert.ok(err instanceof CloudControllerError, `push rejected with a controller error: ${String(err)}`);
    assert.ok([310, 801].includes(err.code), `error code ${err.code}`);
    const app = await t.client.app('staging-fail');
    assert.equal(app?.package_state, 'FAILED');
    assert.equal(app?.state, 'STOPPED');
    assert.ok(app?.staging_error && [310, 801].includes(app.staging_error.code), JSON.stringify(app?.staging_error));
    assert.match(app.staging_error.description, /npm install failed/);
    // nothing runs for it
    assert.deepEqual(await t.client.instances('staging-fail'), []);
    const r = await viaRouter(t, hostOf('staging-fail'));
    assert.equal(r.status, 404);

    const raw = await httpRequest(`${t.api}/apps/staging-fail/instances/0/files/logs/staging.log`, { token: t.token });
    assert.equal(raw.status, 200);
    const log = raw.text;
    assert.match(log, /npm install/);
    assert.match(log, /404|E404|pocket-foundry-no-such-package-7f3a/);
    assert.match(log, /npm install failed/);
    // every line that streamed during the push is in the stored log, in order
    assert.ok(streamed.length > 0, 'lines streamed while staging');
    let at = 0;
    for (const line of streamed) {
      const i = log.indexOf(line, at);
      assert.ok(i >= 0, `streamed line kept in staging.log: ${line}`);
      at = i + line.length;
    }
    for (const l of log.trimEnd().split('\n')) assert.match(l, /^\[\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\] |^ {2}|^\S/, l);
  });

  it(`slow-stage over the ${stagingTimeoutSec} s limit: 800, the stager's process is gone, the app STOPPED`, async () => {
    const streamed: string[] = [];
    const t0 = Date.now();
    const err = await pushApp(t, fixture('slow-stage'), { onStagingLog: (l) => streamed.push(l) }).then(() => null, (e: unknown) => e);
    const took = (Date.now() - t0) / 1000;
    assert.ok(err instanceof CloudControllerError, `push rejected: ${String(err)}`);
    assert.ok(took >= stagingTimeoutSec - 1 && took < stagingTimeoutSec + 25, `ended after ${took} s`);
    const app = await t.client.app('slow-stage');
    assert.equal(app?.package_state, 'FAILED');
    assert.equal(app?.state, 'STOPPED');
    assert.equal(app?.staging_error?.code, 800);
    const pid = Number(/slow-stage: sleeping \d+ s \(pid (\d+)\)/.exec(streamed.join('\n'))?.[1]);
    assert.ok(pid > 1, `the postinstall said its pid:\n${streamed.join('\n')}`);
    await waitFor('the timed-out staging process to be gone', () => !pidAlive(pid), { ...e2eWait, timeoutMs: 10_000 });
    const log = (await t.client.files('slow-stage', 0, 'logs/staging.log')).toString();
    assert.match(log, /slow-stage: still staging/);
    assert.match(log, /timed out/i);
    // what the user is told carries the same code as the app
    assert.equal(err.code, 800, `push error code: ${err.message}`);
  });

  it('a push cancelled during staging keeps the previous droplet serving', async () => {
    const name = 'cancel-me';
    const versionA = copyFixture('node-hello', {
      'server.js': "require('http').createServer((q, s) => s.end('version A\\n')).listen(Number(process.env.PORT));\n",
    });
    temps.push(versionA);
    const a = await pushApp(t, versionA, { name, memory: 64 });
    assert.equal(a.summary.running, 1);
    assert.equal((await viaRouter(t, hostOf(name))).text, 'version A\n');
    const before = await t.client.app(name);

    // Version B stages slowly; cancel the push once its postinstall runs.
    const abort = new AbortController();
    let stagerPid = 0;
    let servedWhileStaging: string | null = null;
    const err = await pushApp(t, fixture('slow-stage'), {
      name, memory: 64, signal: abort.signal,
      onStagingLog: (l) => {
        const m = /slow-stage: sleeping \d+ s \(pid (\d+)\)/.exec(l);
        if (!m) return;
        stagerPid = Number(m[1]);
        void viaRouter(t, hostOf(name)).then((r) => { servedWhileStaging = r.text; abort.abort(); }, () => abort.abort());
      },
    }).then(() => null, (e: unknown) => e);
    assert.ok(err instanceof PushCancelledError, `push cancelled: ${String(err)}`);
    assert.equal(servedWhileStaging, 'version A\n', 'version A served while B was staging');
    assert.ok(stagerPid > 1);
    await waitFor('the cancelled staging process to be gone', () => !pidAlive(stagerPid), { ...e2eWait, timeoutMs: 10_000 });

    const app = await t.client.app(name);
    assert.equal(app?.state, 'STARTED');
    assert.equal(app?.package_state, 'STAGED');
    assert.equal(app?.staged_hash, before?.staged_hash, 'the droplet that ran before is still the app\'s');
    assert.equal(app?.staging_task_id ?? null, null);
    const log = (await t.client.files(name, 0, 'logs/staging.log')).toString();
    assert.match(log, /cancel/i);
    // Some time later still version A, and only one instance of it.
    for (let i = 0; i < 10; i++) {
      const r = await viaRouter(t, hostOf(name));
      assert.equal(r.status, 200);
      assert.equal(r.text, 'version A\n');
      await sleep(200);
    }
    const inst = await t.client.instances(name);
    assert.deepEqual(inst.map((i) => [i.index, i.state]), [[0, 'RUNNING']]);
  });

  it('a new push during a slow staging supersedes it: the slow task is stopped, the newer version runs', async () => {
    const name = 'cancel-me';
    const versionC = copyFixture('node-hello', {
      'server.js': "require('http').createServer((q, s) => s.end('version C\\n')).listen(Number(process.env.PORT));\n",
    });
    temps.push(versionC);
    let stagerPid = 0;
    let sawSleep!: () => void;
    const sleeping = new Promise<void>((r) => { sawSleep = r; });
    const slow = pushApp(t, fixture('slow-stage'), {
      name, memory: 64,
      onStagingLog: (l) => {
        const m = /slow-stage: sleeping \d+ s \(pid (\d+)\)/.exec(l);
        if (m) { stagerPid = Number(m[1]); sawSleep(); }
      },
    }).then(() => null, (e: unknown) => e);
    await sleeping;
    const c = await pushApp(t, versionC, { name, memory: 64 });
    assert.equal(c.summary.running, 1);
    assert.ok(!c.stagingLog.some((l) => /slow-stage/.test(l)), `the newer push shows only its own staging:\n${c.stagingLog.join('\n')}`);
    const slowErr = await slow;
    assert.ok(slowErr instanceof Error, `the superseded push did not report success: ${String(slowErr)}`);
    assert.match(slowErr.message, /pushed again/);
    await waitFor('the superseded staging process to be gone', () => !pidAlive(stagerPid), { ...e2eWait, timeoutMs: 10_000 });
    await waitFor('version C serving', async () => (await viaRouter(t, hostOf(name))).text === 'version C\n' || undefined, { ...e2eWait, timeoutMs: 15_000 });
    const app = await t.client.app(name);
    assert.equal(app?.package_state, 'STAGED');
    assert.equal(app?.package_hash, app?.staged_hash);
  });
  it('a failed staging of a re-push keeps the running version serving (no failed request), the failure reported with its code', async () => {
    const name = 'keep-serving';
    const good = copyFixture('node-hello', {
      'server.js': "require('http').createServer((q, s) => s.end('good version\\n')).listen(Number(process.env.PORT));\n",
    });
    // Fails locally, no registry needed: a local dependency whose install script exits non-zero.
    const broken = copyFixture('node-hello', {
      'package.json': JSON.stringify({ name, version: '1.0.0', private: true, scripts: { start: 'node server.js' }, dependencies: { 'broken-dep': 'file:./vendor/broken-dep' } }),
      'vendor/broken-dep/package.json': JSON.stringify({ name: 'broken-dep', version: '1.0.0', scripts: { install: 'echo build broken >&2; exit 3' } }),
    });
    temps.push(good, broken);
    assert.equal((await pushApp(t, good, { name, memory: 64 })).summary.running, 1);
    const before = await t.client.app(name);
    let stop = false;
    let sent = 0;
    const failures: string[] = [];
    const traffic = (async (): Promise<void> => {
      while (!stop) {
        const r = await viaRouter(t, hostOf(name));
        sent++;
        if (r.status !== 200 || r.text !== 'good version\n') failures.push(`${r.status} ${r.text.slice(0, 60)}`);
        await new Promise((res) => setTimeout(res, 20));
      }
    })();
    const err = await pushApp(t, broken, { name, memory: 64 }).then(() => null, (e: unknown) => e);
    await new Promise((res) => setTimeout(res, 1500)); // the app is looked at after the failure too
    stop = true;
    await traffic;
    console.log(`      failed re-push: ${failures.length}/${sent} requests failed while it staged and after`);
    assert.ok(err instanceof CloudControllerError, `push rejected with a controller error: ${String(err)}`);
    assert.ok([310, 801].includes(err.code), err.message);
    assert.match(err.message, /keeps running/);
    const app = await t.client.app(name);
    assert.equal(app?.state, 'STARTED');
    assert.equal(app?.package_state, 'FAILED');
    assert.equal(app?.version, before?.version, 'the good version is still the live one');
    assert.equal(app?.runningInstances, 1);
    assert.equal(app?.staging_error?.code, err.code);
    assert.deepEqual(failures, [], 'every request answered by the good version');
    assert.match((await t.client.files(name, 0, 'logs/staging.log')).toString(), /build broken/);
    assert.deepEqual((await t.client.instances(name)).map((i) => [i.index, i.state]), [[0, 'RUNNING']]);
  });
});
