// Droplets built by the stager from the sample apps, run the way a DEA runs them: `bash ./startup`
// as a process-group leader with PORT / VCAP_* set, reached over HTTP, stopped with `./stop`.
import { strict as assert } from 'node:assert';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import WebSocket from 'ws';
import type { Bus, StagingReply } from '../../platform/bus';
import { silentLog } from '../../platform/log';
import { startStager, type Stager } from '../../platform/stager';
import { startTestNats, type TestNats } from './support/nats';
import {
  extractDroplet, getWhenUp, groupAlive, killGroupQuietly, runDroplet, stage, stagingRequestFor, zipEntries, zipFixture,
  type RunningDroplet,
} from './stager-harness';
import { startFakeController, type FakeController } from './support/fake-controller';
import { waitFor } from './support/wait';

describe('stager droplets', function () {
  this.timeout(60_000);
  let t: TestNats;
  let bus: Bus;
  let server: FakeController;
  let stager: Stager;
  let tmp: string;
  const token = 'droplet-test-token';
  const running: RunningDroplet[] = [];
  const staged = new Map<string, { reply: StagingReply; dir: string }>();

  /** Stages a fixture once and unpacks its droplet into a folder of its own. */
  async function droplet(fixture: string, zip?: Buffer): Promise<{ reply: StagingReply; dir: string }> {
    const have = staged.get(fixture);
    if (have) return have;
    server.addPackage(fixture, zip ?? await zipFixture(fixture));
    const run = await stage(bus, stagingRequestFor(server, fixture));
    assert.equal(run.reply.error ?? null, null, run.reply.task_log);
    const up = server.uploads.get(fixture);
    assert.ok(up, `${fixture}: droplet uploaded`);
    const dir = path.join(tmp, fixture);
    extractDroplet(up.body, dir);
    const out = { reply: run.reply, dir };
    staged.set(fixture, out);
    return out;
  }

  /** Runs startup, checks GET / answers with the app's body and instance index, then stops it with ./stop. */
  async function runAndStop(fixture: string, expected: RegExp, index = 3): Promise<void> {
    const { dir } = await droplet(fixture);
    assert.ok(fs.existsSync(path.join(dir, 'logs', 'staging.log')));
    const inst = await runDroplet(dir, index);
    running.push(inst);
    const res = await getWhenUp(inst.port, '/', 20_000).catch((e: unknown) => {
      throw new Error(`${String(e)}\nstderr.log: ${readLog(dir, 'stderr.log')}\nstartup: ${inst.output()}`);
    });
    assert.equal(res.status, 200);
    assert.match(res.body, expected);
    const pid = Number(fs.readFileSync(path.join(dir, 'run.pid'), 'utf8'));
    assert.ok(pid > 0 && pid !== inst.pid, 'run.pid holds the app, not startup');
    execFileSync('bash', [path.join(dir, 'stop')]);
    // startup passes on the app's status: TERM -> 143 (or 0 for apps that exit cleanly on TERM)
    const exit = await inst.exited;
    assert.ok(exit.code === 0 || exit.code === 143, `${fixture}: startup exit ${JSON.stringify(exit)}`);
    await waitFor(`${fixture}: process group gone after stop`, () => !groupAlive(inst.pid), { timeoutMs: 5000 });
  }

  function readLog(dir: string, name: string): string {
    try { return fs.readFileSync(path.join(dir, 'logs', name), 'utf8'); } catch { return '(none)'; }
  }

  before(async () => {
    t = await startTestNats();
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'pocket-droplets-'));
    server = await startFakeController(token);
    bus = await t.connect('cc');
    stager = await startStager({ bus: await t.connect('stager'), workDir: path.join(tmp, 'work'), token, log: silentLog });
  });

  afterEach(() => {
    for (const r of running.splice(0)) killGroupQuietly(r.pid);
  });

  after(async () => {
    await stager?.stop();
    await server?.close();
    await t?.stop();
    fs.rmSync(tmp, { recursive: true, force: true });
  });

  it('detects the framework of every sample app', async () => {
    const expected: Record<string, [string, string, string]> = {
      'node-hello': ['node', 'node', 'node server.js'],
      'static-site': ['static', 'node', 'node ../pocket/static-server.js'],
      'sinatra-hello': ['sinatra', 'ruby', 'ruby app.rb -p $PORT -o $VCAP_APP_HOST'],
      'flask-hello': ['wsgi', 'python3', 'python3 -m flask --app app run --host $VCAP_APP_HOST --port $PORT'],
      'crasher': ['node', 'node', 'node server.js'],
      'no-port': ['node', 'node', 'node server.js'],
      'ws-echo': ['node', 'node', 'node server.js'],
      'syntax-error': ['node', 'node', 'node server.js'],
    };
    await Promise.all(Object.keys(expected).map((f) => droplet(f)));
    for (const [f, [framework, runtime, command]] of Object.entries(expected)) {
      assert.deepEqual(staged.get(f)?.reply.detected, { framework, runtime, command }, f);
    }
    assert.ok(fs.existsSync(path.join(staged.get('static-site')?.dir ?? '', 'pocket', 'static-server.js')));
  });

  it('node-hello: startup serves on $PORT with the instance index; stop ends the whole group', async () => {
    await runAndStop('node-hello', /^Hello from node-hello, instance 3\n$/);
    const { dir } = await droplet('node-hello');
    assert.match(readLog(dir, 'stdout.log'), /node-hello listening on \d+ \(instance 3\)/);
  });

  it('startup exports only defaults: the instance environment wins, PORT falls back to VCAP_APP_PORT', async () => {
    const { dir } = await droplet('node-hello');
    const own = await runDroplet(dir, 0, { NODE_ENV: 'development' });
    running.push(own);
    const env = JSON.parse((await getWhenUp(own.port, '/env')).body) as Record<string, unknown>;
    assert.deepEqual([env.PORT, env.NODE_ENV, env.VCAP_APP_HOST], [String(own.port), 'development', '127.0.0.1']);
    killGroupQuietly(own.pid);
    await own.exited;

    // A v1-style environment: no PORT, no NODE_ENV.
    const v1 = await runDroplet(dir, 0, { PORT: '' });
    running.push(v1);
    const env1 = JSON.parse((await getWhenUp(v1.port, '/env')).body) as Record<string, unknown>;
    assert.deepEqual([env1.PORT, env1.VCAP_APP_PORT, env1.NODE_ENV], [String(v1.port), String(v1.port), 'production']);
  });

  it('static-site: serves index.html, css with its content type, 404 for the rest', async () => {
    await runAndStop('static-site', /<h1>Hello from static-site<\/h1>/);
    const { dir } = await droplet('static-site');
    const inst = await runDroplet(dir, 5);
    running.push(inst);
    const index = await getWhenUp(inst.port, '/');
    assert.equal(index.headers['content-type'], 'text/html; charset=utf-8');
    assert.equal(index.headers['x-instance-index'], '5');
    const css = await getWhenUp(inst.port, '/css/site.css');
    assert.equal(css.status, 200);
    assert.equal(css.headers['content-type'], 'text/css; charset=utf-8');
    assert.match(css.body, /h1 \{ color/);
    assert.equal((await getWhenUp(inst.port, '/nope.html')).status, 404);
    assert.equal((await getWhenUp(inst.port, '/../../etc/passwd')).status, 404);
    assert.equal((await getWhenUp(inst.port, '/%2e%2e/%2e%2e/startup')).status, 404);
    assert.equal((await getWhenUp(inst.port, '/css')).status, 301);
  });

  it('sinatra-hello: startup runs ruby on $PORT', async () => {
    await runAndStop('sinatra-hello', /^Hello from sinatra-hello, instance 3\n$/);
  });

  it('a sinatra file name is one quoted word: a name with a space runs, a `;` in a name does not execute', async () => {
    const app = fs.readFileSync(path.join(__dirname, '../fixtures/sinatra-hello/app.rb'), 'utf8');
    for (const [fixture, file, quoted] of [
      ['sinatra-spaced', "a b's.rb", `'a b'\\''s.rb'`],
      ['sinatra-injected', 'x;touch pwned.rb', `'x;touch pwned.rb'`],
    ] as const) {
      const { reply, dir } = await droplet(fixture, await zipEntries({ [file]: app.replace('sinatra-hello', fixture) }));
      assert.equal(reply.detected?.command, `ruby ${quoted} -p $PORT -o $VCAP_APP_HOST`);
      await runAndStop(fixture, new RegExp(`^Hello from ${fixture}, instance 3\\n$`));
      assert.ok(!fs.existsSync(path.join(dir, 'app', 'pwned.rb')), `${fixture}: nothing ran but ruby`);
    }
  });

  it('flask-hello: startup runs flask on $PORT', async () => {
    await runAndStop('flask-hello', /^Hello from flask-hello, instance 3\n$/);
  });

  it('a plain wsgi.py runs on the built-in WSGI server; a config.ru runs on rackup', async () => {
    const wsgi = await droplet('wsgi-app', await zipEntries({
      'wsgi.py': [
        'import json, os',
        'def application(environ, start_response):',
        '    index = json.loads(os.environ.get("VCAP_APPLICATION") or "{}").get("instance_index")',
        '    start_response("200 OK", [("Content-Type", "text/plain")])',
        '    return [("Hello from wsgi, instance %s\\n" % index).encode()]',
        '',
      ].join('\n'),
    }));
    assert.deepEqual(wsgi.reply.detected, { framework: 'wsgi', runtime: 'python3', command: 'python3 ../pocket/wsgi-runner.py wsgi' });
    await runAndStop('wsgi-app', /^Hello from wsgi, instance 3\n$/);

    const rack = await droplet('rack-app', await zipEntries({
      'config.ru': 'require "json"\nrun lambda { |env| [200, { "content-type" => "text/plain" }, ["Hello from rack, instance #{JSON.parse(ENV["VCAP_APPLICATION"])["instance_index"]}\\n"]] }\n',
    }));
    assert.deepEqual(rack.reply.detected, { framework: 'rack', runtime: 'ruby', command: 'rackup -p $PORT -o $VCAP_APP_HOST config.ru' });
    await runAndStop('rack-app', /^Hello from rack, instance 3\n$/);
  });

  it('node-dep: the installed dependency is in the droplet and the app uses it', async () => {
    await runAndStop('node-dep', /Hello from node-dep, instance 3, .*ms says 2 days is 172800000/);
  });

  it('ws-echo: the hand-written WebSocket server echoes text and binary', async () => {
    const { dir } = await droplet('ws-echo');
    const inst = await runDroplet(dir, 1);
    running.push(inst);
    assert.match((await getWhenUp(inst.port, '/')).body, /Hello from ws-echo, instance 1/);
    const ws = new WebSocket(`ws://127.0.0.1:${inst.port}/echo`);
    await new Promise<void>((resolve, reject) => { ws.once('open', () => resolve()); ws.once('error', reject); });
    const echo = (data: string | Buffer): Promise<{ data: Buffer; binary: boolean }> => new Promise((resolve) => {
      ws.once('message', (d: Buffer, binary: boolean) => resolve({ data: d, binary }));
      ws.send(data);
    });
    const text = await echo('hello over websocket');
    assert.deepEqual([text.data.toString(), text.binary], ['hello over websocket', false]);
    const big = Buffer.alloc(70_000, 7);
    const bin = await echo(big);
    assert.equal(bin.binary, true);
    assert.ok(bin.data.equals(big));
    const closed = new Promise<number>((r) => ws.once('close', (code: number) => r(code)));
    ws.close(1000);
    assert.equal(await closed, 1000);
  });

  it('crasher: answers, then exits non-zero with a stack trace in logs/stderr.log', async () => {
    const { dir } = await droplet('crasher');
    const inst = await runDroplet(dir);
    running.push(inst);
    const exit = await inst.exited;
    assert.equal(exit.code, 1);
    const stderr = readLog(dir, 'stderr.log');
    assert.match(stderr, /Error: crasher: deliberate crash\n\s+at Timeout\.explode .*server\.js:\d+/);
  });

  it('syntax-error: staged fine; the instance exits with server.js:LINE on stderr', async () => {
    const { dir } = await droplet('syntax-error');
    const inst = await runDroplet(dir);
    running.push(inst);
    const exit = await inst.exited;
    assert.equal(exit.code, 1);
    assert.match(readLog(dir, 'stderr.log'), /server\.js:6\n[\s\S]*SyntaxError/);
  });

  it('no-port: runs without listening until stopped', async () => {
    const { dir } = await droplet('no-port');
    const inst = await runDroplet(dir);
    running.push(inst);
    await waitFor('no-port to start', () => /running, not listening/.test(readLog(dir, 'stdout.log')), { timeoutMs: 5000 });
    await assert.rejects(getWhenUp(inst.port, '/', 500));
    execFileSync('bash', [path.join(dir, 'stop')]);
    await inst.exited;
    await waitFor('no-port group gone', () => !groupAlive(inst.pid), { timeoutMs: 5000 });
  });
});
