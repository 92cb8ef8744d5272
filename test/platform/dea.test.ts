// The DEA against a real nats-server, real droplets (tgz built here), a real HTTP droplet server
// playing the controller, and real app processes.
import { strict as assert } from 'node:assert';
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as os from 'node:os';
import * as path from 'node:path';
import * as esbuild from 'esbuild';
import {
  Subjects, type Bus, type Payload, type DeaAdvertise, type DeaFindDropletReply, type DeaHeartbeat, type DeaStart, type DropletExited, type RouterRegister,
} from '../../platform/bus';
import { startDea, type Dea, type DeaTimings } from '../../platform/dea';
import { UserFacingError, silentLog } from '../../platform/log';
import { startTestNats, type TestNats } from './support/nats';
import { StartBuilder } from './support/builders';
import { startFakeController, type Droplet, type FakeController } from './support/fake-controller';
import { sleep, waitFor } from './support/wait';

// ---- droplets --------------------------------------------------------------------------------

const appSource = `
const http = require('http');
const fs = require('fs');
const { spawn } = require('child_process');
const mode = process.argv[2] || 'web';
console.error('booting ' + mode);
if (mode === 'hog') { global.hog = []; for (let i = 0; i < 20; i++) global.hog.push(Buffer.alloc(10 * 1024 * 1024, 1)); }
if (mode === 'stubborn') {
  process.on('SIGTERM', () => console.error('ignoring SIGTERM'));
  const child = spawn('sleep', ['300'], { stdio: 'ignore' });
  fs.writeFileSync('../child.pid', String(child.pid));
}
if (mode === 'deaf' || mode === 'worker' || mode === 'stubborn') {
  setInterval(() => {}, 1000);
} else {
  http.createServer((req, res) => {
    if (req.url === '/env') { res.setHeader('content-type', 'application/json'); res.end(JSON.stringify(process.env)); return; }
    if (req.url === '/crash') { console.error('fatal: the database is on fire'); res.end('bye'); setTimeout(() => process.exit(3), 20); return; }
    res.end('hello from ' + process.env.VMC_APP_NAME);
  }).listen(Number(process.env.PORT), process.env.VCAP_APP_HOST, () => console.log('listening on ' + process.env.PORT));
}
`;

const tmpRoot = fs.mkdtempSync(path.join(os.tmpdir(), 'pocket-dea-test-'));

/** A droplet in the stager's format: app/, logs/staging.log, startup, stop. */
function buildDroplet(mode: string): Droplet {
  const dir = fs.mkdtempSync(path.join(tmpRoot, 'droplet-'));
  fs.mkdirSync(path.join(dir, 'app'));
  fs.mkdirSync(path.join(dir, 'logs'));
  fs.writeFileSync(path.join(dir, 'app', 'server.js'), appSource);
  fs.writeFileSync(path.join(dir, 'logs', 'staging.log'), '[2013-06-26 03:38:44] staged for the test\n');
  fs.writeFileSync(path.join(dir, 'startup'), [
    '#!/bin/bash',
    'export GREETING="set by startup"',
    'cd app',
    `node server.js ${mode} > ../logs/stdout.log 2> ../logs/stderr.log &`,
    'STARTED=$!',
    'echo "$STARTED" > ../run.pid',
    'wait $STARTED',
    '',
  ].join('\n'), { mode: 0o755 });
  fs.writeFileSync(path.join(dir, 'stop'), '#!/bin/bash\nkill -9 $(cat run.pid)\n', { mode: 0o755 });
  const tgz = path.join(dir, 'droplet.tgz');
  execFileSync('tar', ['-czf', tgz, '-C', dir, 'app', 'logs', 'startup', 'stop']);
  const body = fs.readFileSync(tgz);
  return { sha1: createHash('sha1').update(body).digest('hex'), body };
}

// ---- watching the bus -----------------------------------------------------------------------------

class Watcher {
  readonly heartbeats: DeaHeartbeat[] = [];
  readonly registers: RouterRegister[] = [];
  readonly unregisters: RouterRegister[] = [];
  readonly exits: DropletExited[] = [];
  readonly adverts: Array<DeaAdvertise & { at: number }> = [];

  constructor(bus: Bus) {
    bus.subscribe(Subjects.deaHeartbeat, (m) => { this.heartbeats.push(m); });
    bus.subscribe(Subjects.routerRegister, (m) => { this.registers.push(m); });
    bus.subscribe(Subjects.routerUnregister, (m) => { this.unregisters.push(m); });
    bus.subscribe(Subjects.dropletExited, (m) => { this.exits.push(m); });
    bus.subscribe(Subjects.deaAdvertise, (m) => { this.adverts.push({ ...m, at: Date.now() }); });
  }
}

function httpGet(url: string, headers: Record<string, string> = {}): Promise<{ status: number; body: string; headers: http.IncomingHttpHeaders }> {
  // The path goes out as written (http.get(url) would resolve `%2e%2e` segments before sending)
  const m = /^http:\/\/([^/:]+):(\d+)(\/.*)$/.exec(url);
  if (!m) throw new Error(`bad test url ${url}`);
  return new Promise((resolve, reject) => {
    http.get({ host: m[1], port: Number(m[2]), path: m[3], headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8'), headers: res.headers }));
    }).on('error', reject);
  });
}

/** Living processes whose working directory is under `dir`. */
function processesUnder(dir: string): number[] {
  const out: number[] = [];
  for (const name of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const cwd = fs.readlinkSync(`/proc/${name}/cwd`);
      const state = fs.readFileSync(`/proc/${name}/stat`, 'utf8').split(') ')[1]?.[0];
      if ((cwd + '/').startsWith(dir + '/') && state !== 'Z') out.push(Number(name));
    } catch { /* gone */ }
  }
  return out;
}

function alive(pid: number): boolean {
  try {
    const state = fs.readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.[0];
    return state !== 'Z' && state !== 'X';
  } catch { return false; }
}

function basicAuth(creds: [string, string]): Record<string, string> {
  return { Authorization: `Basic ${Buffer.from(creds.join(':')).toString('base64')}` };
}

// ---- the suite ------------------------------------------------------------------------------------

describe('dea', function () {
  this.timeout(30_000);
  const token = 'droplet-token-for-tests';
  const quick: Partial<DeaTimings> = {
    advertiseMs: 60_000, heartbeatMs: 60_000, readinessPollMs: 50, readinessLimitMs: 5000,
    statsMs: 150, diskMs: 300, crashRetentionMs: 60_000, stopGraceMs: 500,
  };
  let t: TestNats;
  let bus: Bus;
  let w: Watcher;
  let ds: FakeController;
  let web: Droplet;
  const deas: Dea[] = [];
  let dea: Dea;
  let deaBus: Bus;
  let baseDir: string;
  let nextDroplet = 1;

  async function newDea(opts: { maxMemoryMb?: number; timings?: Partial<DeaTimings>; token?: string; dir?: string } = {}): Promise<{ dea: Dea; baseDir: string; bus: Bus }> {
    const dir = opts.dir ?? fs.mkdtempSync(path.join(tmpRoot, 'dea-'));
    const connection = await t.connect('dea');
    const d = await startDea({
      bus: connection, baseDir: dir, token: opts.token ?? token, maxMemoryMb: opts.maxMemoryMb ?? 1024,
      log: silentLog, timings: { ...quick, ...opts.timings },
    });
    deas.push(d);
    return { dea: d, baseDir: dir, bus: connection };
  }

  function startMessage(d: Droplet, over: Partial<DeaStart> = {}): DeaStart {
    const droplet = over.droplet ?? nextDroplet++;
    return new StartBuilder(droplet).droplet(d.sha1, ds.dropletUri(droplet, d.sha1)).with(over).build();
  }

  async function find(payload: Payload<typeof Subjects.deaFindDroplet>, maxWait = 400): Promise<DeaFindDropletReply[]> {
    return bus.requestMany(Subjects.deaFindDroplet, payload, { maxWait });
  }

  function heartbeatOf(deaId: string, instance: string): DeaHeartbeat['droplets'][number] | undefined {
    for (let i = w.heartbeats.length - 1; i >= 0; i--) {
      const hb = w.heartbeats[i];
      if (hb.dea !== deaId) continue;
      const e = hb.droplets.find((x) => x.instance === instance);
      if (e) return e;
    }
    return undefined;
  }

  /** Starts an instance and waits until it is RUNNING; returns its find reply. */
  async function run(target: { id: string }, msg: DeaStart): Promise<DeaFindDropletReply> {
    bus.publish(Subjects.deaStart(target.id), msg);
    return waitFor(`${msg.name}[${msg.index}] RUNNING`, () => {
      const hb = [...w.heartbeats].reverse().find((h) => h.dea === target.id && h.droplets.some((x) => x.droplet === msg.droplet && x.index === msg.index && x.version === msg.version && x.state === 'RUNNING'));
      return hb ? true : undefined;
    }, { timeoutMs: 15_000 }).then(async () => {
      const replies = await find({ droplet: msg.droplet, indices: [msg.index], version: msg.version, states: ['RUNNING'] }, 200);
      assert.equal(replies.length, 1);
      return replies[0];
    });
  }

  function exitOf(instance: string): DropletExited | undefined {
    return w.exits.find((e) => e.instance === instance);
  }

  before(async () => {
    process.env.POCKET_DEA_TEST_SECRET = 'must-not-leak';
    t = await startTestNats();
    bus = await t.connect('observer');
    w = new Watcher(bus);
    await bus.flush();
    ds = await startFakeController(token);
    web = buildDroplet('web');
    ds.addDroplet(web);
    ({ dea, baseDir, bus: deaBus } = await newDea({ maxMemoryMb: 1024 }));
  });

  after(async () => {
    await Promise.all(deas.map((d) => d.stop()));
    await ds?.close();
    await t?.stop();
    delete process.env.POCKET_DEA_TEST_SECRET;
    const left = processesUnder(tmpRoot);
    fs.rmSync(tmpRoot, { recursive: true, force: true });
    assert.deepEqual(left, [], 'no app process outlives the suite');
  });

  it('advertises on start and on dea.locate, with its memory and runtimes', async () => {
    const first = await waitFor('first advertise', () => w.adverts.find((a) => a.id === dea.id), { timeoutMs: 15_000 });
    assert.equal(first.available_memory, 1024);
    assert.ok(first.runtimes.includes('node'), `runtimes: ${first.runtimes.join(',')}`);
    assert.equal(first.ip, '127.0.0.1');
    const before = w.adverts.length;
    const sent = Date.now();
    bus.publish(Subjects.deaLocate, {});
    const again = await waitFor('advertise after locate', () => w.adverts.slice(before).find((a) => a.id === dea.id), { timeoutMs: 2000 });
    assert.ok(again.at - sent < 1000);
  });

  it('starts an instance: STARTING, RUNNING, heartbeat, router.register, and the env of PROTOCOL section 5', async () => {
    const msg = startMessage(web, { env: ['GREETING_USER=hello world', 'EQUATION=a=b', 'not an entry', 'PORT_NOTE=user env comes last'] });
    const r = await run(dea, msg);
    assert.equal(r.dea, dea.id);
    assert.equal(r.state, 'RUNNING');
    assert.equal(r.staged, `${msg.name}-0-${r.instance}`);
    const dir = path.join(baseDir, 'apps', r.staged);
    assert.ok(fs.existsSync(path.join(dir, 'startup')));
    // the heartbeat went out when the instance turned RUNNING (periodic ones are 60 s apart here)
    const hbStates = w.heartbeats.filter((h) => h.dea === dea.id).flatMap((h) => h.droplets.filter((x) => x.instance === r.instance).map((x) => x.state));
    assert.deepEqual([...new Set(hbStates)], ['STARTING', 'RUNNING']);
    const reg = await waitFor('router.register', () => w.registers.find((x) => x.private_instance_id === r.instance), { timeoutMs: 15_000 });
    assert.deepEqual(reg, {
      dea: dea.id, app: msg.droplet, host: '127.0.0.1', port: r.port, uris: msg.uris,
      tags: { framework: 'node', runtime: 'node' }, private_instance_id: r.instance,
    });

    const res = await httpGet(`http://127.0.0.1:${reg.port}/env`);
    assert.equal(res.status, 200);
    const env = JSON.parse(res.body) as Record<string, string>;
    assert.equal(env.PORT, String(reg.port));
    assert.equal(env.VCAP_APP_PORT, String(reg.port));
    assert.equal(env.VMC_APP_PORT, String(reg.port));
    assert.equal(env.VCAP_APP_HOST, '127.0.0.1');
    assert.equal(env.HOME, dir);
    assert.equal(env.VCAP_SERVICES, '{}');
    assert.equal(env.VMC_APP_NAME, msg.name);
    assert.equal(env.VMC_APP_ID, r.instance);
    assert.equal(env.VMC_APP_VERSION, msg.version);
    assert.equal(env.GREETING_USER, 'hello world');
    assert.equal(env.EQUATION, 'a=b');
    assert.equal(env.GREETING, 'set by startup');
    assert.equal(env.POCKET_DEA_TEST_SECRET, undefined, 'the DEA environment does not leak into apps');
    assert.equal(env.PATH, process.env.PATH);
    const app = JSON.parse(env.VCAP_APPLICATION) as Record<string, unknown>;
    assert.equal(app.instance_id, r.instance);
    assert.equal(app.instance_index, 0);
    assert.equal(app.name, msg.name);
    assert.deepEqual(app.uris, msg.uris);
    assert.deepEqual(app.users, []);
    assert.equal(app.version, msg.version);
    assert.equal(app.runtime, 'node');
    assert.equal(app.port, reg.port);
    assert.equal(app.host, '127.0.0.1');
    assert.deepEqual(app.limits, { fds: 128, mem: 64, disk: 256 });
    assert.match(String(app.start), /^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d \+0000$/);
    assert.equal(typeof app.state_timestamp, 'number');
    assert.deepEqual(JSON.parse(env.VMC_APP_INSTANCE), app);
    assert.match(fs.readFileSync(path.join(dir, 'logs', 'stdout.log'), 'utf8'), new RegExp(`listening on ${reg.port}`));

    const n = w.adverts.length;
    bus.publish(Subjects.deaLocate, {});
    const ad = await waitFor('advertise', () => w.adverts.slice(n).find((a) => a.id === dea.id), { timeoutMs: 15_000 });
    assert.equal(ad.available_memory, 1024 - 64);
    assert.equal(ad.app_id_to_count[String(msg.droplet)], 1);
  });

  it('finds instances by version, indices, instances and states, with stats on request', async () => {
    const droplet = nextDroplet++;
    const v1 = startMessage(web, { droplet, version: 'v1-1' });
    const a = await run(dea, v1);
    const b = await run(dea, { ...v1, index: 1 });
    const c = await run(dea, { ...v1, version: 'v2-1' });
    assert.equal(ds.downloads.get(web.sha1), 1, 'the droplet was downloaded once and then taken from the cache');

    const ids = (rs: DeaFindDropletReply[]): string[] => rs.map((x) => x.instance).sort();
    assert.deepEqual(ids(await find({ droplet }, 300)), ids([a, b, c]));
    assert.deepEqual(ids(await find({ droplet, version: 'v2-1' }, 300)), [c.instance]);
    assert.deepEqual(ids(await find({ droplet, indices: [1] }, 300)), [b.instance]);
    assert.deepEqual(ids(await find({ droplet, instances: [a.instance, 'nope'] }, 300)), [a.instance]);
    assert.deepEqual(ids(await find({ droplet, version: 'v1-1', indices: [0, 1] }, 300)), ids([a, b]));
    assert.deepEqual(await find({ droplet, states: ['CRASHED'] }, 300), []);
    assert.deepEqual(await find({ droplet: 999_999 }, 300), []);

    assert.equal(a.stats, undefined);
    await sleep(400); // a few usage samples
    const [s] = await find({ droplet, instances: [a.instance], include_stats: true }, 300);
    assert.ok(s.stats);
    const st = s.stats;
    assert.equal(st.name, v1.name);
    assert.equal(st.host, '127.0.0.1');
    assert.equal(st.port, a.port);
    assert.deepEqual(st.uris, v1.uris);
    assert.ok(st.uptime > 0.3, `uptime ${st.uptime}`);
    assert.equal(st.mem_quota, 64 * 1024 * 1024);
    assert.equal(st.disk_quota, 256 * 1024 * 1024);
    assert.equal(st.fds_quota, 128);
    assert.ok(st.cores >= 1);
    assert.match(st.usage.time, /^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d \+0000$/);
    assert.ok(st.usage.mem > 5_000 && st.usage.mem < 200_000, `mem in KiB: ${st.usage.mem}`);
    assert.ok(st.usage.cpu >= 0);
    assert.ok(st.usage.disk > appSource.length, `disk ${st.usage.disk}`);
    assert.equal(s.file_uri, `${new URL(s.file_uri).origin}/instances/${a.instance}/`);
  });

  it('dea.update registers added uris and unregisters removed ones', async () => {
    const msg = startMessage(web);
    const r = await run(dea, msg);
    const n = w.registers.length;
    bus.publish(Subjects.deaUpdate, { droplet: msg.droplet, uris: [msg.uris[0], 'extra.localhost'] });
    const added = await waitFor('register of the new uri', () => w.registers.slice(n).find((x) => x.private_instance_id === r.instance), { timeoutMs: 15_000 });
    assert.deepEqual(added.uris, ['extra.localhost']);
    const u = w.unregisters.length;
    bus.publish(Subjects.deaUpdate, { droplet: msg.droplet, uris: ['extra.localhost'] });
    const removed = await waitFor('unregister of the old uri', () => w.unregisters.slice(u).find((x) => x.private_instance_id === r.instance), { timeoutMs: 15_000 });
    assert.deepEqual(removed.uris, [msg.uris[0]]);
    const [again] = await find({ droplet: msg.droplet, include_stats: true });
    assert.deepEqual(again.stats?.uris, ['extra.localhost']);
  });

  it('router.start re-registers RUNNING instances; healthmanager.start gets a heartbeat at once', async () => {
    const msg = startMessage(web);
    const r = await run(dea, msg);
    const n = w.registers.length;
    bus.publish(Subjects.routerStart, { id: 'router-1', hosts: ['127.0.0.1'] });
    const again = await waitFor('re-register', () => w.registers.slice(n).find((x) => x.private_instance_id === r.instance), { timeoutMs: 2000 });
    assert.equal(again.port, r.port);
    const h = w.heartbeats.length;
    bus.publish(Subjects.healthmanagerStart, {});
    const hb = await waitFor('heartbeat', () => w.heartbeats.slice(h).find((x) => x.dea === dea.id), { timeoutMs: 2000 });
    assert.ok(hb.droplets.some((x) => x.instance === r.instance && x.state === 'RUNNING'));
  });

  it('dea.stop by version, then by indices: STOPPED, unregistered, processes and folder gone', async () => {
    const droplet = nextDroplet++;
    const base = startMessage(web, { droplet, version: 'old-1' });
    const a = await run(dea, base);
    const b = await run(dea, { ...base, index: 1 });
    const c = await run(dea, { ...base, version: 'new-1' });
    const pidOf = (x: DeaFindDropletReply): number => Number(fs.readFileSync(path.join(baseDir, 'apps', x.staged, 'run.pid'), 'utf8'));
    const pids = new Map([a, b, c].map((x) => [x.instance, pidOf(x)]));
    for (const pid of pids.values()) assert.ok(alive(pid));

    bus.publish(Subjects.deaStop, { droplet, version: 'new-1' });
    const ec = await waitFor('exit of the new version', () => exitOf(c.instance), { timeoutMs: 15_000 });
    assert.equal(ec.reason, 'STOPPED');
    assert.equal(ec.crash_timestamp, undefined);
    assert.ok(w.unregisters.some((x) => x.private_instance_id === c.instance));
    assert.ok(!alive(pids.get(c.instance) as number));
    await waitFor('folder removed', () => !fs.existsSync(path.join(baseDir, 'apps', c.staged)), { timeoutMs: 15_000 });
    assert.deepEqual((await find({ droplet }, 300)).map((x) => x.instance).sort(), [a.instance, b.instance].sort());

    bus.publish(Subjects.deaStop, { droplet, indices: [1] });
    assert.equal((await waitFor('exit of index 1', () => exitOf(b.instance), { timeoutMs: 15_000 })).reason, 'STOPPED');
    assert.ok(!alive(pids.get(b.instance) as number));
    assert.ok(alive(pids.get(a.instance) as number), 'index 0 keeps running');
    const res = await httpGet(`http://127.0.0.1:${a.port}/`);
    assert.equal(res.body, `hello from ${base.name}`);

    bus.publish(Subjects.deaStop, { droplet });
    await waitFor('exit of index 0', () => exitOf(a.instance), { timeoutMs: 15_000 });
    assert.deepEqual(await find({ droplet }, 300), []);
    assert.equal(exitOf(a.instance)?.reason, 'STOPPED');
  });

  it('kill -9 of the app: CRASHED, droplet.exited with reason, router.unregister; crash logs stay readable', async () => {
    const msg = startMessage(web);
    const r = await run(dea, msg);
    const dir = path.join(baseDir, 'apps', r.staged);
    const pid = Number(fs.readFileSync(path.join(dir, 'run.pid'), 'utf8'));
    const before = Date.now() / 1000;
    process.kill(pid, 'SIGKILL');
    const ex = await waitFor('droplet.exited', () => exitOf(r.instance), { timeoutMs: 15_000 });
    assert.equal(ex.reason, 'CRASHED');
    assert.equal(ex.droplet, msg.droplet);
    assert.equal(ex.version, msg.version);
    assert.equal(ex.index, 0);
    assert.ok(ex.crash_timestamp !== undefined && ex.crash_timestamp >= before - 1);
    assert.match(ex.exit_description ?? '', /SIGKILL/);
    const un = await waitFor('router.unregister', () => w.unregisters.find((x) => x.private_instance_id === r.instance), { timeoutMs: 15_000 });
    assert.equal(un.port, r.port);
    assert.equal(heartbeatOf(dea.id, r.instance)?.state, 'CRASHED');

    const [crashed] = await find({ droplet: msg.droplet, states: ['CRASHED'] });
    assert.equal(crashed.instance, r.instance);
    const log = await httpGet(`${crashed.file_uri}logs/stderr.log`, basicAuth(crashed.credentials));
    assert.equal(log.status, 200);
    assert.match(log.body, /booting web/);
    assert.deepEqual(processesUnder(dir), []);

    // the controller forgets crashed instances with dea.stop
    bus.publish(Subjects.deaStop, { droplet: msg.droplet, states: ['CRASHED'] });
    await waitFor('crashed folder removed', () => !fs.existsSync(dir), { timeoutMs: 15_000 });
    assert.deepEqual(await find({ droplet: msg.droplet }, 300), []);
  });

  it('an app that exits on its own is CRASHED with its status and last stderr line', async () => {
    const msg = startMessage(web);
    const r = await run(dea, msg);
    await httpGet(`http://127.0.0.1:${r.port}/crash`);
    const ex = await waitFor('droplet.exited', () => exitOf(r.instance), { timeoutMs: 15_000 });
    assert.equal(ex.reason, 'CRASHED');
    assert.match(ex.exit_description ?? '', /exited with status 3: fatal: the database is on fire/);
  });

  it('an app that never opens its port is killed and CRASHED after the readiness limit', async () => {
    const { dea: d, baseDir: dir } = await newDea({ timings: { readinessLimitMs: 800, crashRetentionMs: 600 } });
    const deaf = buildDroplet('deaf');
    ds.addDroplet(deaf);
    const msg = startMessage(deaf);
    const sent = Date.now();
    bus.publish(Subjects.deaStart(d.id), msg);
    const ex = await waitFor('droplet.exited', () => w.exits.find((e) => e.droplet === msg.droplet), { timeoutMs: 15_000 });
    assert.ok(Date.now() - sent >= 800);
    assert.equal(ex.reason, 'CRASHED');
    assert.match(ex.exit_description ?? '', /^did not start listening on port \d+ within 0\.8s$/);
    assert.ok(!w.registers.some((x) => x.private_instance_id === ex.instance), 'never routed');
    await waitFor('processes gone', () => processesUnder(path.join(dir, 'apps')).length === 0, { timeoutMs: 3000 });
    // the crashed folder stays readable for the retention time, then goes
    const [crashed] = await find({ droplet: msg.droplet, states: ['CRASHED'] }, 200);
    const crashedDir = path.join(dir, 'apps', crashed.staged);
    assert.ok(fs.existsSync(path.join(crashedDir, 'logs', 'stderr.log')));
    await waitFor('crashed folder removed after retention', () => !fs.existsSync(crashedDir), { timeoutMs: 3000 });
    assert.deepEqual(await find({ droplet: msg.droplet }, 200), []);
  });

  it('an app far over its memory quota is killed and CRASHED as out of memory', async () => {
    const hog = buildDroplet('hog');
    ds.addDroplet(hog);
    const msg = startMessage(hog, { uris: [] });
    bus.publish(Subjects.deaStart(dea.id), msg);
    const ex = await waitFor('droplet.exited', () => w.exits.find((e) => e.droplet === msg.droplet), { timeoutMs: 15_000 });
    assert.equal(ex.reason, 'CRASHED');
    assert.match(ex.exit_description ?? '', /^out of memory: using \d+ MB with a quota of 64 MB$/);
  });

  it('refuses starts beyond its memory, and then does not answer dea.discover; the less loaded DEA answers first', async () => {
    const { dea: small } = await newDea({ maxMemoryMb: 200 });
    const { dea: empty } = await newDea({ maxMemoryMb: 200 });
    const worker = buildDroplet('worker');
    ds.addDroplet(worker);
    const droplet = nextDroplet++;
    const first = startMessage(worker, { droplet, uris: [], limits: { mem: 150, disk: 256, fds: 128 } });
    await run(small, first);
    bus.publish(Subjects.deaStart(small.id), { ...first, index: 1 });
    await sleep(400);
    const found = await find({ droplet }, 300);
    assert.deepEqual(found.map((x) => x.index), [0], 'the second start was refused');
    assert.ok(!w.heartbeats.some((h) => h.dea === small.id && h.droplets.some((x) => x.index === 1)));

    const discover = { droplet, name: first.name, runtime: 'node', sha: worker.sha1, limits: { mem: 150, disk: 256, fds: 128 } };
    const ours = (rs: Array<{ id: string }>): string[] => rs.map((x) => x.id).filter((id) => id === small.id || id === empty.id);
    const big = await bus.requestMany(Subjects.deaDiscover, discover, { maxWait: 500 });
    assert.deepEqual(ours(big), [empty.id], 'only the DEA with room answers');
    const smallAsk = await bus.requestMany(Subjects.deaDiscover, { ...discover, limits: { mem: 40, disk: 256, fds: 128 } }, { maxWait: 500 });
    const fromUs = smallAsk.filter((x) => x.id === small.id || x.id === empty.id);
    assert.deepEqual(ours(fromUs), [empty.id, small.id], 'the empty DEA answers before the loaded one');
    assert.equal(fromUs[1].ip, '127.0.0.1');
    assert.equal(typeof fromUs[1].port, 'number');
  });

  it('refuses a runtime it does not have, without downloading anything', async () => {
    const other = buildDroplet('other-runtime');
    ds.addDroplet(other);
    const msg = startMessage(other, { runtime: 'erlangR14B02' });
    bus.publish(Subjects.deaStart(dea.id), msg);
    const replies = await bus.requestMany(Subjects.deaDiscover, { droplet: msg.droplet, name: msg.name, runtime: 'erlangR14B02', sha: other.sha1, limits: msg.limits }, { maxWait: 400 });
    assert.ok(!replies.some((x) => x.id === dea.id));
    assert.deepEqual(await find({ droplet: msg.droplet }, 200), []);
    assert.equal(ds.downloads.get(other.sha1), undefined);
    const ruby19 = await bus.requestMany(Subjects.deaDiscover, { droplet: msg.droplet, name: msg.name, runtime: 'node08', sha: other.sha1, limits: msg.limits }, { maxWait: 400 });
    assert.ok(ruby19.some((x) => x.id === dea.id), 'a v1 name of an installed family is accepted');
  });

  it('a droplet that fails its SHA-1 check or its download is CRASHED and not cached', async () => {
    const real = buildDroplet('tampered');
    ds.addDroplet(real, Buffer.concat([real.body, Buffer.from('extra bytes')]));
    const msg = startMessage(real);
    bus.publish(Subjects.deaStart(dea.id), msg);
    const ex = await waitFor('droplet.exited', () => w.exits.find((e) => e.droplet === msg.droplet), { timeoutMs: 15_000 });
    assert.equal(ex.reason, 'CRASHED');
    assert.match(ex.exit_description ?? '', /SHA-1 mismatch/);
    assert.ok(!fs.existsSync(path.join(baseDir, 'droplets', `${real.sha1}.tgz`)));
    assert.deepEqual(fs.readdirSync(path.join(baseDir, 'droplets')).filter((f) => f.endsWith('.tmp')), []);

    const { dea: wrongToken } = await newDea({ token: 'not-the-token' });
    const msg2 = startMessage(web);
    bus.publish(Subjects.deaStart(wrongToken.id), msg2);
    const ex2 = await waitFor('droplet.exited', () => w.exits.find((e) => e.droplet === msg2.droplet), { timeoutMs: 15_000 });
    assert.match(ex2.exit_description ?? '', /HTTP 403/);
  });

  it('serves instance files: v1 listing, raw files, tail; refuses traversal, links out and missing auth', async () => {
    const msg = startMessage(web);
    const r = await run(dea, msg);
    const auth = basicAuth(r.credentials);
    const dir = path.join(baseDir, 'apps', r.staged);
    assert.match(r.file_uri, /^http:\/\/127\.0\.0\.1:\d+\/instances\/[0-9a-f]+\/$/);

    const top = await httpGet(r.file_uri, auth);
    assert.equal(top.status, 200);
    const lines = top.body.trimEnd().split('\n');
    assert.deepEqual(lines.map((l) => l.split(/\s+/)[0]), ['app/', 'logs/', 'run.pid', 'startup', 'stop']);
    assert.equal(lines[0], `${'app/'.padEnd(35)} ${'-'.padStart(10)}`);
    assert.match(top.body, /^startup {29} +\d+B$/m);
    const logs = await httpGet(`${r.file_uri}logs/`, auth);
    assert.match(logs.body, /^staging\.log\s+\d+B$/m);
    assert.match(logs.body, /^stdout\.log\s+\d+B$/m);
    const staging = await httpGet(`${r.file_uri}logs/staging.log`, auth);
    assert.equal(staging.body, '[2013-06-26 03:38:44] staged for the test\n');

    assert.equal((await httpGet(r.file_uri)).status, 401);
    assert.equal((await httpGet(r.file_uri, basicAuth([r.credentials[0], 'wrong']))).status, 401);
    assert.equal((await httpGet(`${r.file_uri.replace(r.instance, 'f'.repeat(32))}`, auth)).status, 404);
    assert.equal((await httpGet(`${r.file_uri}logs/missing.log`, auth)).status, 404);
    for (const p of ['..%2F..%2Fdea.lock', '%2e%2e/%2e%2e/dea.lock', 'app/..%2f..%2f..%2fdea.lock', 'logs%2F..%2F..%2F..%2Fdea.lock']) {
      const res = await httpGet(`${r.file_uri}${p}`, auth);
      assert.equal(res.status, 403, `${p} -> ${res.status}`);
    }
    // v1 clients send the path as one encoded segment; the same containment holds for it
    assert.equal((await httpGet(`${r.file_uri}logs%2Fstaging.log`, auth)).body, staging.body);
    assert.equal((await httpGet(`${r.file_uri}%2Flogs%2Fstaging.log`, auth)).body, staging.body);
    assert.equal((await httpGet(`${r.file_uri}%2F`, auth)).body, top.body);
    assert.equal((await httpGet(`${r.file_uri}%2Flogs`, auth)).body, logs.body);
    for (const p of ['%2F..%2F..%2Fdea.lock', '%252e%252e%252f%252e%252e%252fdea.lock', 'logs%252F..%252F..%252F..%252Fdea.lock', 'logs%2F..%5C..%5Cdea.lock', 'logs%2Fstaging.log%00']) {
      const res = await httpGet(`${r.file_uri}${p}`, auth);
      assert.equal(res.status, 403, `${p} -> ${res.status}`);
    }
    assert.equal((await httpGet(`${r.file_uri}%E0%A4%A`, auth)).status, 400);
    // A name with a newline is one escaped line of the listing, and stays readable by its real name
    const odd = 'evil\nfake.txt                             12B';
    fs.writeFileSync(path.join(dir, 'app', odd), 'odd\n');
    const oddListing = (await httpGet(`${r.file_uri}app/`, auth)).body;
    assert.match(oddListing, /^evil\\nfake\.txt {29}12B +4B$/m);
    assert.ok(!/^fake\.txt/m.test(oddListing), 'no faked entry');
    assert.equal((await httpGet(`${r.file_uri}app/${encodeURIComponent(odd)}`, auth)).body, 'odd\n');
    fs.rmSync(path.join(dir, 'app', odd));
    fs.symlinkSync('/etc', path.join(dir, 'app', 'etc-link'));
    fs.symlinkSync('../logs', path.join(dir, 'app', 'logs-link'));
    assert.equal((await httpGet(`${r.file_uri}app/etc-link/passwd`, auth)).status, 403);
    const appListing = (await httpGet(`${r.file_uri}app/`, auth)).body;
    assert.ok(!appListing.includes('etc-link'), 'a link out of the instance folder is not listed');
    assert.match(appListing, /^logs-link\/\s+-$/m, 'a link inside is');
    assert.equal((await httpGet(`${r.file_uri}app/logs-link/staging.log`, auth)).status, 200);

    // tail: the file, then bytes as they are appended, until the client leaves
    const out = path.join(dir, 'logs', 'stdout.log');
    const got = await new Promise<string>((resolve, reject) => {
      let text = '';
      const req = http.get(`${r.file_uri}logs/stdout.log?tail=1`, { headers: auth }, (res) => {
        assert.equal(res.statusCode, 200);
        res.on('data', (c: Buffer) => {
          text += c.toString('utf8');
          if (text.includes('listening on') && !text.includes('appended line')) fs.appendFileSync(out, 'appended line\n');
          if (text.includes('appended line')) { req.destroy(); resolve(text); }
        });
      });
      req.on('error', (e) => { if (!text.includes('appended line')) reject(e); });
      setTimeout(() => { req.destroy(); reject(new Error(`tail got only ${JSON.stringify(text)}`)); }, 5000);
    });
    assert.match(got, /^listening on \d+\nappended line\n$/);
  });

  it('drops bad messages on every subject and keeps serving', async () => {
    const subjects = [
      Subjects.deaStart(dea.id), Subjects.deaStop, Subjects.deaUpdate, Subjects.deaDiscover, Subjects.deaFindDroplet,
      Subjects.deaLocate, Subjects.healthmanagerStart, Subjects.routerStart,
    ];
    const garbage = ['not json', '{"droplet":"seven"}', '[1,2]', '{"droplet":-1}', '{"droplet":1e400}', '"string"', '{'];
    const dropped = deaBus.counters.dropped;
    for (const s of subjects) for (const g of garbage) bus.nc.publish(s.subject, g);
    // well-formed but hostile starts: refused, never run
    const hostile = startMessage(web);
    bus.publish(Subjects.deaStart(dea.id), { ...hostile, name: '../../escape' });
    bus.publish(Subjects.deaStart(dea.id), { ...hostile, sha1: '../../../etc/passwd' });
    bus.publish(Subjects.deaStart(dea.id), { ...hostile, limits: { mem: 10 ** 9, disk: 1, fds: 1 } });
    bus.publish(Subjects.deaStart(dea.id), { ...hostile, executableUri: 'file:///etc/passwd' });
    await bus.flush();
    await sleep(300);
    // every garbage payload is dropped, except JSON on subjects that take any payload (locate, healthmanager.start)
    assert.ok(deaBus.counters.dropped - dropped >= subjects.length * garbage.length - 2 * 5, `dropped ${deaBus.counters.dropped - dropped}`);
    assert.equal(deaBus.counters.handlerErrors, 0);
    assert.deepEqual(await find({ droplet: hostile.droplet }, 300), []);
    assert.ok(!w.heartbeats.some((h) => h.droplets.some((x) => x.droplet === hostile.droplet)));
    assert.ok(!fs.existsSync(path.join(baseDir, '..', 'escape')));

    const r = await run(dea, startMessage(web));
    assert.equal((await httpGet(`http://127.0.0.1:${r.port}/`)).status, 200);
  });

  /** A DEA in a process of its own, to see what happens to its apps when that process ends. */
  let childScript: string | null = null;
  async function childDea(dir: string): Promise<{ child: ChildProcess; id: string }> {
    if (!childScript) {
      // Bundled once with esbuild: a plain node process starts in a fraction of tsx's time
      const repo = path.resolve(__dirname, '..', '..');
      const entry = path.join(tmpRoot, 'child-dea.ts');
      fs.writeFileSync(entry, `
        import { Bus } from ${JSON.stringify(path.join(repo, 'platform', 'bus'))};
        import { startDea } from ${JSON.stringify(path.join(repo, 'platform', 'dea'))};
        import { silentLog } from ${JSON.stringify(path.join(repo, 'platform', 'log'))};
        (async () => {
          const [url, natsToken, baseDir, token] = process.argv.slice(2);
          const bus = await Bus.connect({ url, token: natsToken, name: 'child-dea', log: silentLog });
          const dea = await startDea({ bus, baseDir, token, log: silentLog, timings: { readinessPollMs: 50 } });
          process.stdout.write(dea.id + '\\n');
          process.stdin.on('data', (d) => { if (String(d).includes('exit')) process.exit(0); });
        })().catch((e) => { console.error(e); process.exit(2); });
      `);
      childScript = path.join(tmpRoot, 'child-dea.js');
      await esbuild.build({ entryPoints: [entry], bundle: true, platform: 'node', target: 'node20', format: 'cjs', outfile: childScript, logLevel: 'error', nodePaths: [path.join(repo, 'node_modules')] });
    }
    const child = spawn(process.execPath, [childScript, t.nats.url, t.nats.token, dir, token], { stdio: ['pipe', 'pipe', 'inherit'] });
    const id = await new Promise<string>((resolve, reject) => {
      child.stdout?.once('data', (d: Buffer) => resolve(d.toString('utf8').trim()));
      child.once('exit', (code) => reject(new Error(`child DEA exited with ${code}`)));
    });
    return { child, id };
  }

  it('a DEA process that exits without stop() takes its apps with it', async () => {
    const dir = fs.mkdtempSync(path.join(tmpRoot, 'dea-child-'));
    const { child, id } = await childDea(dir);
    const r = await run({ id }, startMessage(web));
    const pid = Number(fs.readFileSync(path.join(dir, 'apps', r.staged, 'run.pid'), 'utf8'));
    assert.ok(alive(pid));
    const exited = new Promise((res) => child.once('exit', res));
    child.stdin?.write('exit\n');
    await exited;
    await waitFor('app killed with its DEA', () => !alive(pid), { timeoutMs: 2000 });
    // The whole group goes with it; the kernel may take a moment to reap the rest of the group.
    await waitFor('no process left under the DEA folder', () => processesUnder(dir).length === 0, { timeoutMs: 2000 }).catch(() => undefined);
    assert.deepEqual(processesUnder(dir), []);
  });

  it('a DEA started on the folder of a killed one stops the apps it left behind', async () => {
    const dir = fs.mkdtempSync(path.join(tmpRoot, 'dea-child-'));
    const { child, id } = await childDea(dir);
    const r = await run({ id }, startMessage(web));
    const pid = Number(fs.readFileSync(path.join(dir, 'apps', r.staged, 'run.pid'), 'utf8'));
    const exited = new Promise((res) => child.once('exit', res));
    child.kill('SIGKILL');
    await exited;
    assert.ok(alive(pid), 'SIGKILL leaves the app orphaned');
    // someone's process that merely sits in the folder is not an app and is left alone
    const bystander = spawn('sleep', ['30'], { cwd: path.join(dir, 'apps'), stdio: 'ignore' });
    try {
      await newDea({ dir }); // the lock of a dead process is taken over
      assert.ok(!alive(pid));
      assert.ok(bystander.pid !== undefined && alive(bystander.pid), 'a bystander survives');
    } finally {
      const gone = new Promise((res) => bystander.once('exit', res));
      bystander.kill('SIGKILL');
      await gone;
    }
    assert.deepEqual(processesUnder(dir), []);
    assert.deepEqual(fs.readdirSync(path.join(dir, 'apps')), []);
  });

  it('refuses a second DEA on a folder in use', async () => {
    await assert.rejects(newDea({ dir: baseDir }), (e: unknown) => e instanceof UserFacingError && /in use by process/.test(e.message));
  });

  it('advertises and heartbeats periodically', async () => {
    const { dea: d } = await newDea({ timings: { advertiseMs: 150, heartbeatMs: 150 } });
    await sleep(700);
    assert.ok(w.adverts.filter((a) => a.id === d.id).length >= 3);
    assert.ok(w.heartbeats.filter((h) => h.dea === d.id).length >= 3);
  });

  it('stop(): DEA_SHUTDOWN for every instance, unregistered, no process left (SIGKILL after the grace)', async () => {
    const { dea: d, baseDir: dir } = await newDea({ timings: { advertiseMs: 100, stopGraceMs: 400 } });
    const stubborn = buildDroplet('stubborn');
    ds.addDroplet(stubborn);
    const routed = await run(d, startMessage(web));
    const worker = await run(d, startMessage(stubborn, { uris: [] }));
    const workerDir = path.join(dir, 'apps', worker.staged);
    const childPid = await waitFor('child pid', () => { try { return Number(fs.readFileSync(path.join(workerDir, 'child.pid'), 'utf8')) || undefined; } catch { return undefined; } }, { timeoutMs: 15_000 });
    const pids = [routed, worker].map((x) => Number(fs.readFileSync(path.join(dir, 'apps', x.staged, 'run.pid'), 'utf8')));
    assert.ok([...pids, childPid].every(alive));

    const started = Date.now();
    await d.stop();
    assert.ok(Date.now() - started >= 400, 'the stubborn app needed SIGKILL after the grace');
    for (const x of [routed, worker]) {
      const ex = exitOf(x.instance);
      assert.equal(ex?.reason, 'DEA_SHUTDOWN', `${x.instance}: ${JSON.stringify(ex)}`);
    }
    assert.ok(w.unregisters.some((x) => x.private_instance_id === routed.instance));
    assert.deepEqual([...pids, childPid].filter(alive), []);
    assert.deepEqual(processesUnder(dir), []);
    assert.deepEqual(fs.readdirSync(path.join(dir, 'apps')), []);
    assert.ok(!fs.existsSync(path.join(dir, 'dea.lock')));
    const n = w.adverts.filter((a) => a.id === d.id).length;
    await sleep(300);
    assert.equal(w.adverts.filter((a) => a.id === d.id).length, n, 'silent after stop');
    await d.stop(); // idempotent
  });
});
