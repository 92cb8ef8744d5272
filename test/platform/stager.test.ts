// The stager on the wire: real nats-server, a real HTTP server in the controller's role, real npm,
// tar and processes. The test plays the controller: it sends `staging` / `staging.stop` requests.
import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Subjects, type Bus } from '../../platform/bus';
import { silentLog } from '../../platform/log';
import { startStager, type Stager } from '../../platform/stager';
import { publishRaw, requestRaw, startTestNats, type TestNats } from './support/nats';
import { extractDroplet, stage, stagingRequestFor, zipEntries, zipFixture } from './stager-harness';
import { startFakeController, type FakeController } from './support/fake-controller';
import { waitFor } from './support/wait';

const lineFormat = /^\[\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\] /;

describe('stager', function () {
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
    for (const f of ['node-hello', 'node-dep', 'staging-fail', 'slow-stage']) server.addPackage(f, await zipFixture(f));
  });

  after(async () => {
    await stager?.stop();
    await server?.close();
    await t?.stop();
    // The stager removes its own work dir on stop.
    assert.equal(fs.existsSync(workDir) ? fs.readdirSync(workDir).length : 0, 0, 'stager work dir left behind');
    fs.rmSync(tmp, { recursive: true, force: true });
  });

  it('stages node-hello: reply, live log on NATS, droplet uploaded with the token', async () => {
    const req = stagingRequestFor(server, 'node-hello');
    const run = await stage(bus, req);
    assert.equal(run.reply.error ?? null, null, run.reply.task_log);
    assert.equal(run.reply.task_id, req.task_id);
    assert.deepEqual(run.reply.detected, { framework: 'node', runtime: 'node', command: 'node server.js' });
    const up = server.uploads.get('node-hello');
    assert.ok(up, 'droplet uploaded');
    assert.equal(run.reply.droplet_sha1, up.sha1);
    assert.equal(up.contentType, 'application/gzip');

    // Live log: seq 0.., every line formatted, the same lines as task_log, then one final done message.
    const lineMsgs = run.lines.filter((l) => !l.done);
    assert.deepEqual(run.lines.map((l) => l.seq), run.lines.map((_l, i) => i));
    assert.ok(lineMsgs.every((l) => lineFormat.test(l.line ?? '')));
    assert.equal(run.reply.task_log, lineMsgs.map((l) => l.line).join('\n') + '\n');
    const last = run.lines[run.lines.length - 1];
    assert.equal(last.done, true);
    assert.equal(last.ok, true);
    assert.ok(run.linesBeforeReply >= lineMsgs.length, 'all lines arrive before the reply');
    assert.match(run.reply.task_log, /Detected framework: node \(server\.js\)/);

    // The droplet holds app/, logs/staging.log (the log up to packing), startup and stop.
    const dir = path.join(tmp, 'd-node-hello');
    const entries = extractDroplet(up.body, dir);
    for (const e of ['app/server.js', 'logs/staging.log', 'startup', 'stop']) assert.ok(entries.includes(e), `${e} in ${entries.join(', ')}`);
    assert.ok(!entries.includes('app/manifest.yml'));
    const stagingLog = fs.readFileSync(path.join(dir, 'logs', 'staging.log'), 'utf8');
    assert.ok(run.reply.task_log.startsWith(stagingLog), 'staging.log is the start of task_log');
    assert.match(stagingLog, /Packing the droplet\n$/);
    assert.ok((fs.statSync(path.join(dir, 'startup')).mode & 0o111) !== 0, 'startup is executable');
  });

  it('installs node-dep dependencies with npm, streaming its lines before the reply', async () => {
    const req = stagingRequestFor(server, 'node-dep');
    const run = await stage(bus, req);
    assert.equal(run.reply.error ?? null, null, run.reply.task_log);
    assert.deepEqual(run.reply.detected, { framework: 'node', runtime: 'node', command: 'node server.js' });
    const up = server.uploads.get('node-dep');
    assert.ok(up);
    const npmLines = run.lines.filter((l) => /\] (npm |added \d+ package)/.test(l.line ?? ''));
    assert.ok(npmLines.length >= 1, run.reply.task_log);
    assert.match(run.reply.task_log, /added 1 package/);
    // Streamed as written: the first line and npm's lines arrived before the droplet upload began.
    const putAt = server.uploadStarted.get('node-dep') ?? 0;
    assert.ok(run.lines[0].at <= putAt, 'first line arrived before the upload');
    assert.ok(npmLines[0].at <= putAt, 'npm output arrived before the upload');
    assert.ok(run.linesBeforeReply > 0);
    const entries = extractDroplet(up.body, path.join(tmp, 'd-node-dep'));
    assert.ok(entries.includes('app/node_modules/ms/package.json'), 'ms installed into app/node_modules');
  });

  it('fails staging-fail with 310, the whole log, and no upload', async () => {
    const req = stagingRequestFor(server, 'staging-fail');
    const run = await stage(bus, req);
    assert.equal(run.reply.error_code, 310);
    assert.match(run.reply.error ?? '', /npm install failed \(exited with code 1\): 404 Not Found.*pocket-foundry-no-such-package-7f3a/);
    assert.match(run.reply.task_log, /Staging staging-fail/);
    assert.match(run.reply.task_log, /npm error code E404/);
    assert.match(run.reply.task_log, /Staging failed: npm install failed/);
    assert.equal(server.uploadAttempts.includes('staging-fail'), false);
    const last = run.lines[run.lines.length - 1];
    assert.deepEqual({ done: last.done, ok: last.ok }, { done: true, ok: false });
    assert.equal(last.error, run.reply.error);
  });

  it('drops bad messages on staging and staging.stop and keeps serving', async () => {
    const before = stagerBus.counters.dropped;
    bus.nc.publish(Subjects.staging.subject, 'not json');
    bus.nc.publish(Subjects.stagingStop.subject, '{"app_id":');
    publishRaw(bus, Subjects.staging, { app_id: 'x', task_id: 't' });
    publishRaw(bus, Subjects.staging, []);
    publishRaw(bus, Subjects.stagingStop, { app_id: -3 });
    publishRaw(bus, Subjects.stagingStop, { task_id: 7 });
    const r = stagingRequestFor(server, 'node-hello');
    await assert.rejects(requestRaw(bus, Subjects.staging, { ...r, download_uri: 'not a uri' }, 5000), /download_uri/);
    await assert.rejects(requestRaw(bus, Subjects.staging, { ...r, properties: { ...r.properties, resources: { memory: 'lots' } } }, 5000), /resources\.memory/);
    await bus.flush();
    await waitFor('the bad messages to be dropped', () => stagerBus.counters.dropped - before >= 8, { timeoutMs: 5000 });
    assert.equal(stagerBus.counters.handlerErrors, 0);
    const run = await stage(bus, stagingRequestFor(server, 'node-hello', { name: 'after-bad' }));
    assert.equal(run.reply.error ?? null, null, run.reply.task_log);
  });

  it('reports download failures clearly: 404, wrong token, connection refused, bad zip', async () => {
    const missing = await stage(bus, stagingRequestFor(server, 'no-such-package'));
    assert.equal(missing.reply.error_code, 310);
    assert.match(missing.reply.error ?? '', /could not download the package from http:\/\/127\.0\.0\.1:\d+\/pkg\/no-such-package: HTTP 404 Not Found/);
    assert.match(missing.reply.task_log, /Staging failed: could not download/);

    const refusedBefore = server.refused;
    const otherStagerBus = await t.connect('stager-2');
    const wrongTokenStager = await startStager({ bus: otherStagerBus, workDir, token: 'wrong', log: silentLog });
    await stager.stop();
    try {
      const forbidden = await stage(bus, stagingRequestFor(server, 'node-hello'));
      assert.match(forbidden.reply.error ?? '', /HTTP 403/);
      assert.equal(server.refused, refusedBefore + 1);
    } finally {
      await wrongTokenStager.stop();
      stager = await startStager({ bus: stagerBus, workDir, token, timeoutSec: 60, log: silentLog });
    }

    const refused = await stage(bus, stagingRequestFor(server, 'node-hello', { download_uri: 'http://127.0.0.1:1/pkg/x' }));
    assert.equal(refused.reply.error_code, 310);
    assert.match(refused.reply.error ?? '', /could not download the package from http:\/\/127\.0\.0\.1:1\/pkg\/x: connect ECONNREFUSED/);

    server.addPackage('garbage', Buffer.from('this is not a zip file at all'));
    const garbage = await stage(bus, stagingRequestFor(server, 'garbage'));
    assert.equal(garbage.reply.error_code, 310);
    assert.match(garbage.reply.error ?? '', /bad package: not a valid zip file/);
  });

  it('refuses packages that escape the app folder and writes nothing outside it', async () => {
    const cases: [string, Record<string, string | { link: string }>, RegExp][] = [
      ['dotdot', { 'server.js': 'x', '../../escaped.txt': 'gotcha' }, /entry "\.\.\/\.\.\/escaped\.txt" points outside the app folder/],
      ['absolute', { 'server.js': 'x', '/tmp/escaped.txt': 'gotcha' }, /absolute path|points outside/],
      ['link-out', { 'server.js': 'x', 'etc': { link: '/etc' } }, /link "etc" -> "\/etc" points outside/],
      ['link-chain', { 'server.js': 'x', 'a': { link: '.' }, 'b': { link: 'a/../..' } }, /points outside|resolves outside/],
      // Each target stays inside read alone; through `x/y -> ..` they climb out (to a path missing
      // here, perhaps present beside an instance folder).
      ['link-chain-deep', { 'server.js': 'x', 'x/y': { link: '..' }, 'esc': { link: 'x/y/x/y/x/y/../../../../../../etc' } }, /link "esc" -> "x\/y\/x\/y.*" points outside the app folder/],
      ['link-chain-dangling', { 'server.js': 'x', 'x/y': { link: '..' }, 'esc': { link: 'x/y/x/y/../../../nowhere-yet' } }, /link "esc" -> .* points outside the app folder/],
      ['link-loop', { 'server.js': 'x', 'a': { link: 'b' }, 'b': { link: 'a' } }, /link "[ab]" -> "[ab]" loops through other links/],
    ];
    for (const [key, entries, expected] of cases) {
      server.addPackage(key, await zipEntries(entries));
      const run = await stage(bus, stagingRequestFor(server, key));
      assert.equal(run.reply.error_code, 310, key);
      assert.match(run.reply.error ?? '', expected, key);
      assert.equal(server.uploadAttempts.includes(key), false);
    }
    assert.equal(fs.existsSync(path.join(workDir, 'escaped.txt')), false);
    assert.equal(fs.existsSync(path.join(tmp, 'escaped.txt')), false);
  });

  it('detects rails and django but refuses them when their runtime library is missing', async () => {
    server.addPackage('rails-app', await zipEntries({ 'config/environment.rb': 'require "rails"', 'Gemfile': "gem 'rails'" }));
    const rails = await stage(bus, stagingRequestFor(server, 'rails-app'));
    assert.equal(rails.reply.error_code, 310);
    assert.match(rails.reply.task_log, /Detected framework: rails3 \(config\/environment\.rb\)/);
    assert.match(rails.reply.error ?? '', /Rails application \(config\/environment\.rb\) detected, but Rails is not installed/);

    server.addPackage('django-app', await zipEntries({ 'manage.py': 'import django', 'mysite/settings.py': 'DEBUG = False', 'mysite/__init__.py': '' }));
    const django = await stage(bus, stagingRequestFor(server, 'django-app'));
    assert.equal(django.reply.error_code, 310);
    assert.match(django.reply.task_log, /Detected framework: django \(manage\.py and mysite\/settings\.py\)/);
    assert.match(django.reply.error ?? '', /Django application .* detected, but Django is not installed for python3/);
  });

  it('honours an explicit framework and command, and says what is wrong with a bad one', async () => {
    server.addPackage('tool', await zipEntries({ 'run.sh': 'echo hi' }));
    const none = await stage(bus, stagingRequestFor(server, 'tool'));
    assert.equal(none.reply.error_code, 310);
    assert.match(none.reply.error ?? '', /could not detect the framework.*Give a start command/);

    const standalone = await stage(bus, stagingRequestFor(server, 'tool', { command: 'bash run.sh', name: 'tool-2' }));
    assert.equal(standalone.reply.error ?? null, null, standalone.reply.task_log);
    assert.deepEqual(standalone.reply.detected, { framework: 'standalone', runtime: 'standalone', command: 'bash run.sh' });

    const nodeCmd = await stage(bus, stagingRequestFor(server, 'node-hello', { command: 'node server.js --verbose', framework: 'node', runtime: 'node08' }));
    assert.deepEqual(nodeCmd.reply.detected, { framework: 'node', runtime: 'node', command: 'node server.js --verbose' });
    assert.match(nodeCmd.reply.task_log, /Requested runtime node08: using node v\d+/);

    const wrong = await stage(bus, stagingRequestFor(server, 'node-hello', { framework: 'sinatra' }));
    assert.equal(wrong.reply.error_code, 310);
    assert.match(wrong.reply.error ?? '', /framework sinatra was requested, but the app has no a \*\.rb file|framework sinatra was requested/);

    const unknown = await stage(bus, stagingRequestFor(server, 'node-hello', { framework: 'lift' }));
    assert.match(unknown.reply.error ?? '', /framework "lift" is not supported here/);
  });

  it('runs several tasks at once and cleans up every task folder', async () => {
    const reqs = ['node-hello', 'node-hello', 'node-hello'].map((k, i) => stagingRequestFor(server, k, { name: `many-${i}` }));
    const runs = await Promise.all(reqs.map((r) => stage(bus, r)));
    for (const r of runs) assert.equal(r.reply.error ?? null, null, r.reply.task_log);
    assert.deepEqual(new Set(runs.map((r) => r.reply.task_id)), new Set(reqs.map((r) => r.task_id)));
    const stagerDirs = fs.readdirSync(workDir);
    for (const d of stagerDirs) assert.deepEqual(fs.readdirSync(path.join(workDir, d)), [], `task folders left in ${d}`);
  });
});
