// The stager's limits on the wire: time limit, cancellation, upload refusal and shutdown, with a real
// npm whose postinstall sleeps (test/fixtures/slow-stage); no process of a task may outlive it.
import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Subjects, type Bus } from '../../platform/bus';
import { silentLog } from '../../platform/log';
import { startStager, type Stager } from '../../platform/stager';
import { startTestNats, type TestNats } from './support/nats';
import { groupAlive, processesUnder, stage, stagingRequestFor, zipFixture } from './stager-harness';
import { startFakeController, type FakeController } from './support/fake-controller';
import { waitFor } from './support/wait';

describe('stager limits', function () {
  this.timeout(60_000);
  let t: TestNats;
  let bus: Bus;
  let stagerBus: Bus;
  let server: FakeController;
  let stager: Stager;
  let tmp: string;
  let workDir: string;
  const token = 'stager-test-token';

  before(async () => {
    t = await startTestNats();
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'pocket-stager-'));
    workDir = path.join(tmp, 'work');
    server = await startFakeController(token);
    stagerBus = await t.connect('stager');
    bus = await t.connect('cc');
    stager = await startStager({ bus: stagerBus, workDir, token, timeoutSec: 60, log: silentLog });
    for (const f of ['node-hello', 'slow-stage']) server.addPackage(f, await zipFixture(f));
  });

  after(async () => {
    await stager?.stop();
    await server?.close();
    await t?.stop();
    // The stager removes its own work dir on stop.
    assert.equal(fs.existsSync(workDir) ? fs.readdirSync(workDir).length : 0, 0, 'stager work dir left behind');
    fs.rmSync(tmp, { recursive: true, force: true });
  });

  it('times out with 800 and leaves no process of the task behind', async () => {
    const req = stagingRequestFor(server, 'slow-stage', { timeout: 10 });
    const seen: { pid: number; pgid: number }[] = [];
    const runP = stage(bus, req);
    // While npm's postinstall sleeps, note the task's processes (their cwd is under the work dir).
    await waitFor('the slow postinstall to run', () => { const now = processesUnder(workDir); seen.push(...now); return now.some((p) => /stage-sleep/.test(p.cmd)); }, { timeoutMs: 20_000 });
    const run = await runP;
    assert.equal(run.reply.error_code, 800, run.reply.task_log);
    assert.match(run.reply.error ?? '', /timed out after 10 s/);
    assert.match(run.reply.task_log, /slow-stage: sleeping/);
    assert.equal(server.uploadAttempts.includes('slow-stage'), false);
    const groups = [...new Set(seen.map((p) => p.pgid))];
    assert.ok(groups.length > 0);
    for (const g of groups) assert.equal(groupAlive(g), false, `process group ${g} still alive`);
    assert.deepEqual(processesUnder(workDir), []);
  });

  it('cancels a running task on staging.stop: 801, processes killed, nothing uploaded', async () => {
    const req = stagingRequestFor(server, 'slow-stage');
    const runP = stage(bus, req);
    await waitFor('the slow postinstall to run', () => processesUnder(workDir).some((p) => /stage-sleep/.test(p.cmd)), { timeoutMs: 20_000 });
    const groups = [...new Set(processesUnder(workDir).map((p) => p.pgid))];
    // A stop for another task of the app is not answered by anyone.
    const none = await bus.requestMany(Subjects.stagingStop, { app_id: req.app_id, task_id: 'other-task' }, { maxWait: 300 });
    assert.deepEqual(none, []);
    const stopped = await bus.request(Subjects.stagingStop, { app_id: req.app_id, task_id: req.task_id }, 15_000);
    assert.deepEqual(stopped, { task_id: req.task_id, stopped: true });
    const run = await runP;
    assert.equal(run.reply.error_code, 801);
    assert.equal(run.reply.error, 'cancelled');
    assert.match(run.reply.task_log, /Staging failed: cancelled/);
    assert.equal(server.uploadAttempts.includes('slow-stage'), false);
    for (const g of groups) assert.equal(groupAlive(g), false, `process group ${g} still alive`);
    assert.deepEqual(processesUnder(workDir), []);
  });

  it('answers 801 when the droplet upload is refused, and 801 to tasks cut short by stop()', async () => {
    const req = stagingRequestFor(server, 'node-hello', { name: 'upload-refused' });
    const refused = await stage(bus, { ...req, upload_uri: `${server.url}/nowhere/x` });
    assert.equal(refused.reply.error_code, 801);
    assert.match(refused.reply.error ?? '', /could not upload the droplet to http:\/\/127\.0\.0\.1:\d+\/nowhere\/x: HTTP 404/);

    // A stager that stops answers its running tasks and kills their processes.
    const otherBus = await t.connect('stager-3');
    const other = await startStager({ bus: otherBus, workDir, token, log: silentLog });
    await stager.stop();
    try {
      const slow = stagingRequestFor(server, 'slow-stage');
      const runP = stage(bus, slow);
      await waitFor('the slow postinstall to run', () => processesUnder(workDir).some((p) => /stage-sleep/.test(p.cmd)), { timeoutMs: 20_000 });
      const groups = [...new Set(processesUnder(workDir).map((p) => p.pgid))];
      await other.stop();
      const run = await runP;
      assert.equal(run.reply.error_code, 801);
      assert.match(run.reply.error ?? '', /stager is shutting down/);
      for (const g of groups) assert.equal(groupAlive(g), false, `process group ${g} still alive`);
      assert.equal(server.uploadAttempts.includes('slow-stage'), false);
    } finally {
      await other.stop();
      stager = await startStager({ bus: stagerBus, workDir, token, timeoutSec: 60, log: silentLog });
    }
  });
});
