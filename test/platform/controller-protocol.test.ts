// The controller's side of staging and running (issue 3), tested as a protocol: the stager, DEA,
// router and health manager here are small participants on the real bus that speak the v1 subjects,
// so every message the controller sends and every answer it relies on is checked.
import { strict as assert } from 'node:assert';
import { createHash, randomBytes } from 'node:crypto';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import JSZip from 'jszip';
import { } from 'zod';
import {
  Subjects, QueueGroups, type Bus, type DeaFindDropletReply, type DeaStart, type DeaStop, type DeaUpdate,
  type HealthmanagerStatusReply, type InstanceState, type StagingReply, type StagingRequest, type StagingStop,
} from '../../platform/bus';
import { publishRaw } from './support/nats';
import { decodeSseEvents, httpRequest, multipartBody, restRequest, startTestController, type HttpReply, type HttpRequestOptions, type TestController } from './support/controller';
import { sleep, waitFor } from './support/wait';

const sha1 = (b: Buffer | string): string => createHash('sha1').update(b).digest('hex');

// ---- participants ------------------------------------------------------------------------

type StagingHandler = (req: StagingRequest, stager: FakeStager) => Promise<StagingReply | undefined>;

/** A stager that downloads the package, streams log lines, uploads a droplet and replies. */
class FakeStager {
  requests: StagingRequest[] = [];
  stops: StagingStop[] = [];
  packages = new Map<string, Buffer>();
  handler: StagingHandler = (req) => this.succeed(req);
  private stopWaiters = new Map<string, () => void>();

  constructor(private readonly bus: Bus, private readonly token: string) {
    bus.subscribe(Subjects.staging, (req) => { this.requests.push(req); return this.handler(req, this); }, { queue: QueueGroups.staging });
    bus.subscribe(Subjects.stagingStop, (m) => {
      this.stops.push(m);
      if (m.task_id) this.stopWaiters.get(m.task_id)?.();
    });
  }

  /** Resolves when the controller sends staging.stop for this task. */
  stopped(taskId: string): Promise<void> {
    return new Promise((resolve) => { this.stopWaiters.set(taskId, resolve); });
  }

  log(req: StagingRequest, seq: number, line: string): void {
    this.bus.publish(Subjects.stagingLog(req.app_id), { app_id: req.app_id, task_id: req.task_id, seq, line });
  }

  async download(req: StagingRequest, token = this.token): Promise<HttpReply> {
    return httpRequest(req.download_uri, { token });
  }

  async upload(req: StagingRequest, body: Buffer, token = this.token): Promise<HttpReply> {
    return httpRequest(req.upload_uri, { method: 'PUT', token, body, headers: { 'content-type': 'application/gzip' } });
  }

  async succeed(req: StagingRequest, lines = ['-----> Downloaded app package', '-----> Detected node', '-----> Uploading droplet']): Promise<StagingReply> {
    const pkg = await this.download(req);
    assert.equal(pkg.status, 200, pkg.text);
    await JSZip.loadAsync(pkg.body);
    this.packages.set(req.task_id, pkg.body);
    lines.forEach((l, i) => this.log(req, i, `[2024-01-01 00:00:0${i}] ${l}`));
    const droplet = Buffer.concat([Buffer.from(`droplet of ${req.name} task ${req.task_id}\n`), pkg.body]);
    const up = await this.upload(req, droplet);
    assert.equal(up.status, 200, up.text);
    return {
      task_id: req.task_id, task_log: lines.map((l, i) => `[2024-01-01 00:00:0${i}] ${l}`).join('\n') + '\n',
      droplet_sha1: sha1(droplet), detected: { framework: 'node', runtime: 'node', command: 'node server.js' },
    };
  }
}

interface FakeInstance {
  droplet: number;
  version: string;
  instance: string;
  index: number;
  state: InstanceState;
  since: number;
  port: number;
  uris: string[];
}

/** A DEA: answers discover when it fits, runs instances (STARTING, then RUNNING), heartbeats, stops. */
class FakeDea {
  readonly id: string;
  starts: DeaStart[] = [];
  stops: DeaStop[] = [];
  updates: DeaUpdate[] = [];
  instances = new Map<string, FakeInstance>();
  fits = true;
  runDelayMs = 150;
  /** Delay before answering dea.discover, so a placement is in flight for a while. */
  discoverDelayMs = 0;
  server!: http.Server;
  readonly credentials: [string, string] = ['dea-user', randomBytes(6).toString('hex')];
  private nextPort = 40000 + Math.floor(Math.random() * 10000);
  private timer?: NodeJS.Timeout;

  constructor(private readonly bus: Bus, private readonly router?: FakeRouter, id?: string) {
    this.id = id ?? `dea-${randomBytes(3).toString('hex')}`;
  }

  async start(): Promise<void> {
    this.server = http.createServer((req, res) => this.serveFile(req, res));
    await new Promise<void>((r) => this.server.listen(0, '127.0.0.1', r));
    const b = this.bus;
    b.subscribe(Subjects.deaDiscover, (m, ctx) => {
      if (!this.fits) return undefined;
      const answer = (): void => ctx.respond({ id: this.id, ip: '127.0.0.1', port: null, version: 0.1 });
      if (this.discoverDelayMs) setTimeout(answer, this.discoverDelayMs); else answer();
      void m;
      return undefined;
    });
    b.subscribe(Subjects.deaStart(this.id), (m) => { this.run(m); });
    b.subscribe(Subjects.deaStop, (m) => { this.stop(m); });
    b.subscribe(Subjects.deaUpdate, (m) => { this.updates.push(m); });
    b.subscribe(Subjects.deaFindDroplet, (m, ctx) => {
      for (const i of this.instances.values()) {
        if (i.droplet !== m.droplet) continue;
        if (m.version && i.version !== m.version) continue;
        if (m.indices && !m.indices.includes(i.index)) continue;
        if (m.instances && !m.instances.includes(i.instance)) continue;
        if (m.states && !m.states.includes(i.state)) continue;
        ctx.respond(this.findReply(i, m.include_stats === true));
      }
      return undefined;
    });
    b.subscribe(Subjects.deaLocate, () => { this.advertise(); });
    this.timer = setInterval(() => this.heartbeat(), 300);
    await b.flush();
  }

  async close(): Promise<void> {
    clearInterval(this.timer);
    await new Promise<void>((r) => this.server.close(() => r()));
  }

  get port(): number {
    return (this.server.address() as AddressInfo).port;
  }

  advertise(): void {
    this.bus.publish(Subjects.deaAdvertise, { id: this.id, ip: '127.0.0.1', available_memory: this.fits ? 4096 : 0, runtimes: ['node', 'ruby', 'python3'], prod: false });
  }

  heartbeat(): void {
    this.bus.publish(Subjects.deaHeartbeat, {
      dea: this.id,
      droplets: [...this.instances.values()].map((i) => ({ droplet: i.droplet, version: i.version, instance: i.instance, index: i.index, state: i.state, state_timestamp: i.since })),
    });
  }

  private run(m: DeaStart): void {
    this.starts.push(m);
    const inst: FakeInstance = {
      droplet: m.droplet, version: m.version, instance: randomBytes(8).toString('hex'), index: m.index,
      state: 'STARTING', since: Date.now() / 1000, port: this.nextPort++, uris: m.uris,
    };
    this.instances.set(inst.instance, inst);
    this.heartbeat();
    setTimeout(() => {
      if (inst.state !== 'STARTING') return;
      inst.state = 'RUNNING';
      inst.since = Date.now() / 1000;
      this.heartbeat();
      this.router?.register(inst);
    }, this.runDelayMs);
  }

  private stop(m: DeaStop): void {
    this.stops.push(m);
    for (const i of [...this.instances.values()]) {
      if (i.droplet !== m.droplet) continue;
      if (m.version && i.version !== m.version) continue;
      if (m.indices && !m.indices.includes(i.index)) continue;
      if (m.instances && !m.instances.includes(i.instance)) continue;
      this.exit(i, 'STOPPED');
    }
  }

  exit(i: FakeInstance, reason: 'STOPPED' | 'CRASHED'): void {
    this.instances.delete(i.instance);
    this.router?.unregister(i);
    this.bus.publish(Subjects.dropletExited, {
      droplet: i.droplet, version: i.version, instance: i.instance, index: i.index, reason,
      ...(reason === 'CRASHED' ? { crash_timestamp: Date.now() / 1000, exit_description: 'exited with code 1' } : {}),
    });
    this.heartbeat();
  }

  findReply(i: FakeInstance, withStats: boolean): DeaFindDropletReply {
    return {
      dea: this.id, version: i.version, droplet: i.droplet, instance: i.instance, index: i.index, state: i.state,
      state_timestamp: i.since, file_uri: `http://127.0.0.1:${this.port}/instances/${i.instance}/`, credentials: this.credentials,
      staged: `app-${i.index}`, host: '127.0.0.1', port: i.port,
      ...(withStats && i.state === 'RUNNING' ? {
        stats: {
          name: 'app', host: '127.0.0.1', port: i.port, uris: i.uris, uptime: 1.5, mem_quota: 256 * 1024 * 1024,
          disk_quota: 2048 * 1024 * 1024, fds_quota: 256, cores: 2, usage: { time: new Date().toISOString(), cpu: 0.5, mem: 1024, disk: 4096 },
        },
      } : {}),
    };
  }

  /** A v1-style file server: basic auth, listing for folders, raw files, `?tail=1` keeps streaming. */
  private serveFile(req: http.IncomingMessage, res: http.ServerResponse): void {
    const expected = `Basic ${Buffer.from(this.credentials.join(':')).toString('base64')}`;
    if (req.headers.authorization !== expected) { res.writeHead(401); res.end('unauthorized'); return; }
    const u = new URL(req.url ?? '/', 'http://x');
    const m = /^\/instances\/([^/]+)\/(.*)$/.exec(u.pathname);
    if (!m || !this.instances.has(m[1])) { res.writeHead(404); res.end('no such instance'); return; }
    const p = decodeURIComponent(m[2]);
    this.filePaths.push(p);
    if (p === '' || p === 'logs/' || p === 'logs') {
      res.writeHead(200, { 'content-type': 'text/plain' });
      res.end(p === '' ? 'app/                                     -\nlogs/                                    -\n' : 'stdout.log                               12\n');
      return;
    }
    if (p === 'boom') { res.writeHead(500); res.end('broken'); return; }
    if (p !== 'logs/stdout.log') { res.writeHead(404); res.end('not found'); return; }
    res.writeHead(200, { 'content-type': 'text/plain' });
    if (u.searchParams.get('tail') !== '1') { res.end('hello world\n'); return; }
    res.write(`tail from ${u.searchParams.get('offset') ?? 0}\n`);
    const t = setInterval(() => res.write('more\n'), 50);
    res.on('close', () => { clearInterval(t); this.tailClosed++; });
  }

  tailClosed = 0;
  /** Every decoded path the file server was asked for. */
  filePaths: string[] = [];
}

/** A router that answers router.status; registration lag is adjustable. */
class FakeRouter {
  routes = new Map<string, string[]>();
  registerDelayMs = 0;
  statusRequests = 0;

  constructor(bus: Bus) {
    bus.subscribe(Subjects.routerStatus, () => {
      this.statusRequests++;
      return { id: 'router-1', routes: Object.fromEntries(this.routes) };
    });
  }

  register(i: FakeInstance): void {
    setTimeout(() => {
      for (const u of i.uris) this.routes.set(u, [...(this.routes.get(u) ?? []), `127.0.0.1:${i.port}`]);
    }, this.registerDelayMs);
  }

  unregister(i: FakeInstance): void {
    for (const u of i.uris) this.routes.set(u, (this.routes.get(u) ?? []).filter((b) => b !== `127.0.0.1:${i.port}`));
  }
}

// ---- the controller's REST side ----------------------------------------------------------

class Client {
  constructor(readonly t: TestController) {}
  req(method: string, p: string, opts: HttpRequestOptions & { json?: unknown } = {}): Promise<HttpReply> {
    return restRequest(this.t, method, p, opts);
  }
  async app(name: string): Promise<Record<string, unknown> & { version: string; state: string; package_state: string }> {
    const r = await this.req('GET', `/apps/${name}`);
    assert.equal(r.status, 200, r.text);
    return r.json as Record<string, unknown> & { version: string; state: string; package_state: string };
  }
  async upload(name: string, files: Record<string, string>): Promise<HttpReply> {
    const zip = new JSZip();
    for (const [n, d] of Object.entries(files)) zip.file(n, d, { createFolders: false, unixPermissions: 0o100644 });
    const mp = multipartBody([{ name: 'resources', value: '[]' }, { name: 'application', value: await zip.generateAsync({ type: 'nodebuffer', platform: 'UNIX' }), filename: 'a.zip' }]);
    return this.req('PUT', `/apps/${name}/application`, { body: mp.body, headers: { 'content-type': mp.contentType } });
  }
  /** create + upload + start, as `pocket push` does. */
  async push(name: string, files: Record<string, string>, extra: Record<string, unknown> = {}): Promise<void> {
    assert.equal((await this.req('POST', '/apps', { json: { name, staging: { framework: 'node', runtime: 'node' }, ...extra } })).status, 302);
    assert.equal((await this.upload(name, files)).status, 200);
    const r = await this.req('PUT', `/apps/${name}`, { json: { state: 'STARTED' } });
    assert.equal(r.status, 200, r.text);
  }
  async instances(name: string): Promise<{ index: number; state: string; since: number }[]> {
    const r = await this.req('GET', `/apps/${name}/instances`);
    assert.equal(r.status, 200, r.text);
    return (r.json as { instances: { index: number; state: string; since: number }[] }).instances;
  }
}

function expectError(r: HttpReply, status: number, code: number): void {
  assert.equal(r.status, status, r.text);
  assert.equal((r.json as { code: number }).code, code, r.text);
}

describe('controller protocol: staging, placement, instances, health manager', function () {
  this.timeout(60_000);
  let t: TestController;
  let c: Client;
  let parts: Bus;
  let stager: FakeStager;
  let router: FakeRouter;
  let dea: FakeDea;
  const updated: number[] = [];

  before(async () => {
    t = await startTestController({
      stagingTimeoutSec: 30,
      timings: { rolloutPollMs: 60, startGraceMs: 3000, stagingReplyGraceMs: 300, restoreSettleMs: 300 },
    });
    c = new Client(t);
    parts = await t.nats.connect('participants');
    stager = new FakeStager(parts, t.token);
    router = new FakeRouter(parts);
    dea = new FakeDea(parts, router, 'dea-main');
    await dea.start();
    parts.subscribe(Subjects.dropletUpdated, (m) => { updated.push(m.droplet); });
    await parts.flush();
  });
  after(async () => {
    await dea?.close();
    await t?.stop();
  });

  it('stages on start: the PUT answers once staging is queued, the log streams into staging.log, then instances start', async () => {
    let release!: () => void;
    const gate = new Promise<void>((r) => { release = r; });
    stager.handler = async (req, s) => {
      s.log(req, 0, '[2024-01-01 00:00:00] first line');
      s.log(req, 1, '[2024-01-01 00:00:01] second line');
      await gate;
      return s.succeed(req, ['first line', 'second line', 'third line']);
    };
    assert.equal((await c.req('POST', '/apps', { json: { name: 'web', instances: 2, env: ['GREETING=hello'], staging: { framework: 'node', runtime: 'node08' } } })).status, 302);
    assert.equal((await c.upload('web', { 'server.js': 'require("http").createServer().listen(process.env.PORT)' })).status, 200);
    const events: string[] = [];
    const ac = new AbortController();
    const sse = await fetch(`${t.controller.url}/events?app=web`, { headers: { authorization: t.token }, signal: ac.signal });
    const reading = (async () => {
      const reader = (sse.body as ReadableStream<Uint8Array>).getReader();
      for (;;) { const { value, done } = await reader.read().catch(() => ({ value: undefined, done: true })); if (done || !value) break; events.push(Buffer.from(value).toString()); }
    })();
    const put = await c.req('PUT', '/apps/web', { json: { state: 'STARTED' } });
    assert.equal(put.status, 200);
    assert.equal((put.json as { package_state: string }).package_state, 'PENDING');
    const req = await waitFor('the staging request', () => stager.requests.find((r) => r.name === 'web'), { timeoutMs: 8000 });
    const app = await c.app('web');
    assert.equal(app.staging_task_id, req.task_id);
    assert.equal(req.app_id, (await c.req('GET', '/apps/web')).json && req.app_id);
    assert.equal(req.download_uri, `${t.controller.url}/staging/${req.app_id}/${req.task_id}/package`);
    assert.equal(req.upload_uri, `${t.controller.url}/staging/${req.app_id}/${req.task_id}/droplet`);
    assert.equal(req.timeout, 30);
    assert.deepEqual(req.properties.resources, { memory: 256, disk: 2048, fds: 256 });
    assert.deepEqual(req.properties.environment, ['GREETING=hello']);
    assert.equal(req.properties.framework, 'node');
    assert.equal(req.properties.runtime, 'node');
    // Transfers need the token.
    assert.equal((await stager.download(req, 'wrong')).status, 403);
    // Mid-staging: a partial log, from the files endpoint, and on /events.
    const partial = await waitFor('the partial log', async () => {
      const r = await c.req('GET', '/apps/web/instances/0/files/logs/staging.log');
      return r.status === 200 && r.text.includes('second line') ? r.text : undefined;
    }, { timeoutMs: 8000 });
    assert.equal(partial, '[2024-01-01 00:00:00] first line\n[2024-01-01 00:00:01] second line\n');
    // Following the staging log: what is there, then the lines as they come, until the task ends.
    const follow = fetch(`${t.controller.url}/apps/web/instances/0/files/logs/staging.log?tail=1`, { headers: { authorization: t.token } }).then((r) => r.text());
    await sleep(200);
    release();
    const followed = await follow;
    assert.match(followed, /^\[2024-01-01 00:00:00\] first line\n\[2024-01-01 00:00:01\] second line\n(.|\n)*third line\n$/);
    const staged = await waitFor('STAGED', async () => { const a = await c.app('web'); return a.package_state === 'STAGED' ? a : undefined; }, { timeoutMs: 8000 });
    assert.equal(staged.staged_hash, staged.package_hash);
    assert.equal(staged.version, `${String(staged.package_hash)}-0`);
    assert.deepEqual(staged.detected, { framework: 'node', runtime: 'node', command: 'node server.js' });
    const log = await c.req('GET', '/apps/web/instances/0/files/logs/staging.log');
    assert.match(log.text, /first line\n.*second line\n.*third line\n$/s);
    // Placement: two starts with the full v1 start message.
    const starts = await waitFor('two starts', () => { const s = dea.starts.filter((m) => m.name === 'web'); return s.length === 2 ? s : undefined; }, { timeoutMs: 8000 });
    const droplet = dea.starts[0].sha1;
    assert.deepEqual(starts.map((s) => s.index).sort(), [0, 1]);
    for (const s of starts) {
      assert.equal(s.droplet, req.app_id);
      assert.equal(s.version, staged.version);
      assert.deepEqual(s.uris, ['web.localhost']);
      assert.deepEqual(s.env, ['GREETING=hello']);
      assert.deepEqual(s.limits, { mem: 256, disk: 2048, fds: 256 });
      assert.equal(s.runtime, 'node');
      assert.equal(s.framework, 'node');
      assert.equal(s.executableUri, `${t.controller.url}/droplets/${req.app_id}/${droplet}`);
    }
    const dl = await httpRequest(starts[0].executableUri, { token: t.token });
    assert.equal(dl.status, 200);
    assert.equal(sha1(dl.body), droplet);
    assert.equal((await httpRequest(starts[0].executableUri, { token: null })).status, 403);
    assert.equal((await httpRequest(`${t.controller.url}/droplets/${req.app_id}/${'0'.repeat(40)}`, { token: t.token })).status, 404);
    // Instances come up: runningInstances from heartbeats, /instances from find.droplet.
    await waitFor('2 running', async () => (await c.app('web')).runningInstances === 2, { timeoutMs: 8000 });
    assert.deepEqual((await c.instances('web')).map((i) => [i.index, i.state]), [[0, 'RUNNING'], [1, 'RUNNING']]);
    ac.abort();
    await reading;
    const data = decodeSseEvents(events.join(''));
    assert.ok(data.some((d) => d.type === 'staging' && d.line === '[2024-01-01 00:00:01] second line'), 'log lines on /events');
    assert.ok(data.some((d) => d.type === 'staging' && d.done === true && d.ok === true), 'done on /events');
    assert.ok(data.some((d) => d.type === 'app' && d.event === 'staged'));
    assert.ok(data.some((d) => d.type === 'instances'));
    assert.ok(updated.includes(req.app_id), 'droplet.updated published');
  });

  it('stats, files (listing, file, tail, errors) and crashes of a running app', async () => {
    const stats = (await c.req('GET', '/apps/web/stats')).json as Record<string, { state: string; stats?: { port: number; usage: { cpu: number } } }>;
    assert.deepEqual(Object.keys(stats).sort(), ['0', '1']);
    assert.equal(stats['0'].state, 'RUNNING');
    assert.equal(stats['0'].stats?.usage.cpu, 0.5);
    const listing = await c.req('GET', '/apps/web/instances/0/files/');
    assert.equal(listing.status, 200);
    assert.match(listing.text, /^app\/\s+-\nlogs\/\s+-\n$/);
    assert.match((await c.req('GET', '/apps/web/instances/1/files/logs/')).text, /stdout\.log/);
    assert.equal((await c.req('GET', '/apps/web/instances/1/files/logs/stdout.log')).text, 'hello world\n');
    expectError(await c.req('GET', '/apps/web/instances/0/files/nothing/here'), 404, 303);
    expectError(await c.req('GET', '/apps/web/instances/0/files/boom'), 500, 306);
    expectError(await c.req('GET', '/apps/web/instances/7/files/logs/stdout.log'), 400, 304);
    expectError(await c.req('GET', '/apps/web/instances/x/files/'), 400, 304);
    expectError(await c.req('GET', '/apps/web/instances/0/files/..%2Fsecret'), 404, 303);
    expectError(await c.req('GET', '/apps/web/instances/0/files/logs%2F..%2F..%2Fsecret'), 404, 303);
    expectError(await c.req('GET', '/apps/web/instances/0/files/logs/stdout.log', { token: null }), 403, 200);
    // Follow: the DEA's stream is passed through, and closed when the client leaves.
    const ac = new AbortController();
    const res = await fetch(`${t.controller.url}/apps/web/instances/0/files/logs/stdout.log?tail=1&offset=5`, { headers: { authorization: t.token }, signal: ac.signal });
    const reader = (res.body as ReadableStream<Uint8Array>).getReader();
    let text = '';
    while ((text.match(/more/g) ?? []).length < 3) text += Buffer.from((await reader.read()).value ?? []).toString();
    assert.match(text, /^tail from 5\nmore\n/);
    const closedBefore = dea.tailClosed;
    ac.abort();
    await waitFor('the DEA stream closed', () => dea.tailClosed > closedBefore, { timeoutMs: 8000 });
    // A crash: recorded from droplet.exited, merged with the health manager's records.
    const inst = [...dea.instances.values()].find((i) => i.index === 1) as FakeInstance;
    dea.exit(inst, 'CRASHED');
    const hm = parts.subscribe(Subjects.healthmanagerStatus, (m): HealthmanagerStatusReply => (
      m.state === 'CRASHED' ? { instances: [{ instance: 'older-crash', since: 1000, index: 0 }] } : { indices: [{ index: 1, since: 1234 }] }));
    await parts.flush();
    const crashes = await waitFor('the crash record', async () => {
      const r = (await c.req('GET', '/apps/web/crashes')).json as { crashes: { instance: string; since: number; index?: number; description?: string }[] };
      return r.crashes.length === 2 ? r.crashes : undefined;
    }, { timeoutMs: 8000 });
    assert.deepEqual(crashes.map((x) => x.instance), ['older-crash', inst.instance]);
    assert.equal(crashes[1].index, 1);
    assert.equal(crashes[1].description, 'exited with code 1');
    // Index 1 is down and the health manager says it flaps.
    assert.deepEqual((await c.instances('web')).map((i) => [i.index, i.state]), [[0, 'RUNNING'], [1, 'FLAPPING']]);
    assert.equal((await c.app('web')).runningInstances, 1);
    hm.unsubscribe();
    assert.deepEqual((await c.instances('web')).map((i) => i.state), ['RUNNING', 'DOWN']);
  });

  it('files: a v1 path in one encoded segment, the same containment; a crashed instance by its id', async () => {
    assert.equal((await c.req('GET', '/apps/web/instances/0/files/logs%2Fstdout.log')).text, 'hello world\n');
    assert.equal((await c.req('GET', '/apps/web/instances/0/files/%2Flogs%2Fstdout.log')).text, 'hello world\n');
    assert.match((await c.req('GET', '/apps/web/instances/0/files/%2F')).text, /^app\/\s+-\nlogs\/\s+-\n$/);
    assert.match((await c.req('GET', '/apps/web/instances/0/files/%2Flogs')).text, /stdout\.log/);
    assert.match((await c.req('GET', '/apps/web/instances/0/files/%2Flogs%2F')).text, /stdout\.log/);
    assert.match((await c.req('GET', '/apps/web/instances/0/files/%2Flogs%2Fstaging.log')).text, /third line/);
    assert.deepEqual(dea.filePaths.slice(-5), ['logs/stdout.log', 'logs/stdout.log', '', 'logs', 'logs/']);
    const asked = dea.filePaths.length;
    for (const p of ['..%2F..%2Fsecret', '%2F..%2F..%2Fsecret', '%2e%2e%2Fsecret', 'logs%2F%2E%2E%2F%2e%2e%2Fsecret', '%252e%252e%252fsecret',
      'logs%252F..%252F..%252Fsecret', '%25252e%25252e%25252fsecret', 'logs%2F..%5C..%5Csecret', 'logs%5Csecret', 'logs%2Fstdout.log%00', '%E0%A4%A']) {
      expectError(await c.req('GET', `/apps/web/instances/0/files/${p}`), 404, 303);
    }
    assert.equal(dea.filePaths.length, asked, 'no refused path reached the DEA');
    // `vmc crashlogs --instance <id>`: a crashed instance's folder, any version, while its DEA keeps it
    const live = [...dea.instances.values()].find((i) => i.index === 0) as FakeInstance;
    const crashed: FakeInstance = { ...live, instance: randomBytes(8).toString('hex'), version: 'older-version', state: 'CRASHED', index: 1 };
    dea.instances.set(crashed.instance, crashed);
    try {
      assert.equal((await c.req('GET', `/apps/web/instances/${crashed.instance}/files/logs%2Fstdout.log`)).text, 'hello world\n');
      assert.equal((await c.req('GET', `/apps/web/instances/${live.instance}/files/%2Flogs%2Fstdout.log`)).text, 'hello world\n');
      expectError(await c.req('GET', `/apps/web/instances/${crashed.instance}/files/..%2Fsecret`), 404, 303);
    } finally {
      dea.instances.delete(crashed.instance);
    }
    expectError(await c.req('GET', `/apps/web/instances/${crashed.instance}/files/logs%2Fstdout.log`), 400, 304);
    expectError(await c.req('GET', '/apps/web/instances/a%2Fb/files/logs%2Fstdout.log'), 400, 304);
  });

  it('answers cloudcontrollers.bulk.apps and honours health manager requests only with the v1 guards', async () => {
    const hmBus = await t.nats.connect('hm');
    const all = await hmBus.request(Subjects.ccBulkApps, {}, 2000);
    const web = all.apps.find((a) => a.name === 'web');
    assert.ok(web);
    assert.equal(web.state, 'STARTED');
    assert.equal(web.package_state, 'STAGED');
    assert.equal(web.instances, 2);
    assert.equal(web.version, (await c.app('web')).version);
    const one = await hmBus.request(Subjects.ccBulkApps, { droplet: web.droplet }, 2000);
    assert.deepEqual(one.apps, [web]);
    assert.deepEqual((await hmBus.request(Subjects.ccBulkApps, { droplet: 99999 }, 2000)).apps, []);
    // START with a wrong version: ignored. With the live version: index 1 is started again.
    const before = dea.starts.length;
    hmBus.publish(Subjects.hmRequests, { droplet: web.droplet, op: 'START', last_updated: web.last_updated, version: 'stale-9', indices: [1] });
    await sleep(400);
    assert.equal(dea.starts.length, before);
    hmBus.publish(Subjects.hmRequests, { droplet: web.droplet, op: 'START', last_updated: web.last_updated, version: web.version, indices: [0, 1], flapping: true });
    const restart = await waitFor('a restart of index 1', () => dea.starts.slice(before).find((s) => s.index === 1), { timeoutMs: 8000 });
    assert.equal(restart.flapping, true);
    await sleep(300);
    assert.equal(dea.starts.slice(before).filter((s) => s.index === 0).length, 0, 'index 0 runs: not started twice');
    await waitFor('2 running again', async () => (await c.app('web')).runningInstances === 2, { timeoutMs: 8000 });
    // STOP with a stale last_updated: ignored; with the current one: dea.stop for those instances.
    const victim = [...dea.instances.values()].find((i) => i.droplet === web.droplet && i.index === 1) as FakeInstance;
    const stopsBefore = dea.stops.length;
    hmBus.publish(Subjects.hmRequests, { droplet: web.droplet, op: 'STOP', last_updated: web.last_updated - 5, instances: [victim.instance] });
    await sleep(400);
    assert.equal(dea.stops.length, stopsBefore);
    hmBus.publish(Subjects.hmRequests, { droplet: web.droplet, op: 'STOP', last_updated: web.last_updated, instances: [victim.instance] });
    const stop = await waitFor('the stop', () => dea.stops[stopsBefore], { timeoutMs: 8000 });
    assert.deepEqual(stop, { droplet: web.droplet, instances: [victim.instance] });
    // Garbage on the subject is dropped; the controller keeps answering.
    publishRaw(hmBus, Subjects.hmRequests, { droplet: 'x', op: 'EXPLODE' });
    hmBus.nc.publish(Subjects.hmRequests.subject, 'not json');
    assert.equal((await hmBus.request(Subjects.ccBulkApps, { droplet: web.droplet }, 2000)).apps.length, 1);
    await hmBus.close();
  });

  it('scales up and down, restarts on a memory change without downtime, updates uris, stops', async () => {
    const id = (await hmBulk(t, 'web')).droplet;
    // Bring index 1 back (HM would).
    await c.req('PUT', '/apps/web', { json: { instances: 1 } });
    await c.req('PUT', '/apps/web', { json: { instances: 2 } });
    await waitFor('2 running', async () => (await c.app('web')).runningInstances === 2, { timeoutMs: 8000 });
    const startsBefore = dea.starts.length;
    const r = await c.req('PUT', '/apps/web', { json: { instances: 4 } });
    assert.equal(r.status, 200, r.text);
    await waitFor('indices 2 and 3 started', () => dea.starts.slice(startsBefore).map((s) => s.index).sort().join() === '2,3', { timeoutMs: 8000 });
    await waitFor('4 running', async () => (await c.app('web')).runningInstances === 4, { timeoutMs: 8000 });
    const stopsBefore = dea.stops.length;
    await c.req('PUT', '/apps/web', { json: { instances: 1 } });
    const down = await waitFor('scale-down stop', () => dea.stops[stopsBefore], { timeoutMs: 8000 });
    assert.equal(down.droplet, id);
    assert.deepEqual(down.indices, [1, 2, 3]);
    await waitFor('1 running', async () => (await c.instances('web')).length === 1 && (await c.app('web')).runningInstances === 1, { timeoutMs: 8000 });
    // uris: dea.update to the DEAs.
    await c.req('PUT', '/apps/web', { json: { uris: ['web.localhost', 'www.localhost'] } });
    const upd = await waitFor('dea.update', () => dea.updates.find((u) => u.droplet === id && u.uris.length === 2), { timeoutMs: 8000 });
    assert.deepEqual(upd.uris, ['web.localhost', 'www.localhost']);
    // Memory: a new version; the old one is stopped only after the new one runs and is routed.
    const old = (await c.app('web')).version;
    const stops2 = dea.stops.length;
    router.registerDelayMs = 400;
    const m = await c.req('PUT', '/apps/web', { json: { resources: { memory: 128 } } });
    assert.equal(m.status, 200);
    const nv = (await c.app('web')).version;
    assert.notEqual(nv, old);
    assert.equal(nv.split('-')[0], old.split('-')[0]);
    assert.equal(Number(nv.split('-')[1]), Number(old.split('-')[1]) + 1);
    const newStart = await waitFor('the new version started', () => dea.starts.find((s) => s.version === nv), { timeoutMs: 8000 });
    assert.equal(newStart.limits.mem, 128);
    const stopOld = await waitFor('old version stopped', () => dea.stops.slice(stops2).find((s) => s.version === old), { timeoutMs: 8000 });
    assert.deepEqual(stopOld, { droplet: id, version: old });
    const newInst = [...dea.instances.values()].find((i) => i.version === nv) as FakeInstance;
    assert.ok((router.routes.get('web.localhost') ?? []).includes(`127.0.0.1:${newInst.port}`), 'new instance routed before the old one stopped');
    router.registerDelayMs = 0;
    // Stop: dea.stop for the droplet, instances list empty.
    const stops3 = dea.stops.length;
    await c.req('PUT', '/apps/web', { json: { state: 'STOPPED' } });
    assert.deepEqual(await waitFor('stop all', () => dea.stops[stops3], { timeoutMs: 8000 }), { droplet: id });
    assert.deepEqual(await c.instances('web'), []);
    assert.deepEqual((await c.req('GET', '/apps/web/stats')).json, {});
    expectError(await c.req('GET', '/apps/web/instances/0/files/logs/stdout.log'), 400, 305);
    assert.equal((await c.req('GET', '/apps/web/instances/0/files/logs/staging.log')).status, 200, 'the staging log stays readable');
  });

  it('re-push of a running app: new version started, waited for RUNNING and routed, then the old one stopped', async () => {
    await c.push('live', { 'server.js': 'v1' });
    const id = (await hmBulk(t, 'live')).droplet;
    await waitFor('v1 running', async () => (await c.app('live')).runningInstances === 1, { timeoutMs: 8000 });
    const v1 = (await c.app('live')).version;
    const v1Inst = [...dea.instances.values()].find((i) => i.droplet === id) as FakeInstance;
    dea.runDelayMs = 1500;
    router.registerDelayMs = 300;
    const stopsBefore = dea.stops.length;
    assert.equal((await c.upload('live', { 'server.js': 'v2' })).status, 200);
    // The upload of a STARTED app stages it at once; the old instance keeps serving meanwhile.
    const v2Start = await waitFor('v2 started', () => dea.starts.find((s) => s.droplet === id && s.version !== v1), { timeoutMs: 8000 });
    const v2 = v2Start.version;
    assert.equal(v2, (await c.app('live')).version);
    assert.ok(dea.instances.has(v1Inst.instance), 'v1 still running while v2 starts');
    // `/instances` reports the live version only: v1, still RUNNING, is not counted (the pusher waits on this list).
    assert.ok(['STARTING', 'DOWN'].includes((await c.instances('live'))[0]?.state ?? ''), 'v1 counted as an instance of v2');
    assert.equal(dea.stops.slice(stopsBefore).length, 0);
    const stop = await waitFor('v1 stopped', () => dea.stops.slice(stopsBefore).find((s) => s.droplet === id));
    assert.deepEqual(stop, { droplet: id, version: v1 });
    const v2Inst = [...dea.instances.values()].find((i) => i.droplet === id && i.version === v2) as FakeInstance;
    assert.equal(v2Inst.state, 'RUNNING');
    assert.ok(router.routes.get('live.localhost')?.includes(`127.0.0.1:${v2Inst.port}`));
    dea.runDelayMs = 150;
    router.registerDelayMs = 0;
  });

  it('a failed staging of a re-push keeps the running version serving: STARTED, its version, the failure beside it', async () => {
    stager.handler = (req, s) => s.succeed(req);
    await c.push('keeper', { 'server.js': 'v1' });
    const id = (await hmBulk(t, 'keeper')).droplet;
    await waitFor('v1 running', async () => (await c.app('keeper')).runningInstances === 1);
    const v1 = await c.app('keeper');
    const v1Inst = [...dea.instances.values()].find((i) => i.droplet === id) as FakeInstance;
    const stopsBefore = dea.stops.length;
    stager.handler = async (req, s) => {
      s.log(req, 0, 'Installing dependencies');
      return { task_id: req.task_id, task_log: 'Installing dependencies\nnpm ERR! missing script: start\n', error: 'npm install failed', error_code: 310 };
    };
    assert.equal((await c.upload('keeper', { 'server.js': 'v2 broken' })).status, 200);
    const app = await waitFor('FAILED', async () => { const a = await c.app('keeper'); return a.package_state === 'FAILED' ? a : undefined; });
    assert.equal(app.state, 'STARTED', 'the app stays STARTED');
    assert.equal(app.version, v1.version, 'the running version stays the live one');
    assert.equal(app.runningInstances, 1);
    assert.equal(app.staged_hash, v1.staged_hash);
    assert.notEqual(app.package_hash, v1.package_hash);
    assert.deepEqual(app.staging_error, { code: 310, description: 'npm install failed' });
    await sleep(300);
    assert.deepEqual(dea.stops.slice(stopsBefore).filter((s) => s.droplet === id), [], 'nothing stopped');
    assert.equal(dea.instances.get(v1Inst.instance)?.state, 'RUNNING', 'v1 keeps serving');
    assert.match((await c.req('GET', '/apps/keeper/instances/0/files/logs/staging.log')).text, /npm ERR! missing script: start\n.*npm install failed\n$/s);
    const bulk = await hmBulk(t, 'keeper');
    assert.equal(bulk.version, v1.version, 'the health manager keeps the running version up');
    // Scaling it meanwhile scales the version that runs; the failed package is not staged again.
    const stagingsBefore = stager.requests.length;
    assert.equal((await c.req('PUT', '/apps/keeper', { json: { instances: 2 } })).status, 200);
    await waitFor('two v1 instances', async () => (await c.app('keeper')).runningInstances === 2 ? true : undefined, { timeoutMs: 10_000 });
    assert.deepEqual([...dea.instances.values()].filter((i) => i.droplet === id).map((i) => i.version), [v1.version, v1.version]);
    assert.equal(stager.requests.length, stagingsBefore, 'no staging of the failed package');
    assert.equal((await c.app('keeper')).package_state, 'FAILED');
    assert.equal((await c.req('PUT', '/apps/keeper', { json: { instances: 1 } })).status, 200);
    // A good push afterwards replaces it as usual.
    stager.handler = (req, s) => s.succeed(req);
    assert.equal((await c.upload('keeper', { 'server.js': 'v3' })).status, 200);
    await waitFor('v3 serving, v1 stopped', async () => {
      const a = await c.app('keeper');
      return a.package_state === 'STAGED' && a.version !== v1.version && a.runningInstances === 1 && !dea.instances.has(v1Inst.instance) ? a : undefined;
    }, { timeoutMs: 10_000 });
    assert.equal((await c.req('DELETE', '/apps/keeper')).status, 200);
  });

  it('a stop during a rollout stops every instance, the ones the rollout started included', async () => {
    stager.handler = (req, s) => s.succeed(req);
    await c.push('roller', { 'server.js': 'r1' }, { instances: 2 });
    const id = (await hmBulk(t, 'roller')).droplet;
    await waitFor('2 running', async () => (await c.app('roller')).runningInstances === 2);
    const v1 = (await c.app('roller')).version;
    dea.runDelayMs = 2000;
    dea.discoverDelayMs = 200; // within the test controller's discover wait (300 ms)
    try {
      assert.equal((await c.req('PUT', '/apps/roller', { json: { resources: { memory: 128 } } })).status, 200);
      await waitFor('the first new instance started', () => dea.starts.find((s) => s.droplet === id && s.version !== v1));
      assert.equal((await c.req('PUT', '/apps/roller', { json: { state: 'STOPPED' } })).status, 200);
      await sleep(1200); // past the placement that was in flight
      assert.deepEqual([...dea.instances.values()].filter((i) => i.droplet === id).map((i) => `${i.version}#${i.index} ${i.state}`), [], 'nothing of the app runs');
      assert.equal((await c.req('DELETE', '/apps/roller')).status, 200);
    } finally {
      dea.runDelayMs = 150;
      dea.discoverDelayMs = 0;
    }
  });

  it('a newer update during a rollout stops the first rollout\'s instances; only the newest version runs, at the right count', async () => {
    stager.handler = (req, s) => s.succeed(req);
    await c.push('roller2', { 'server.js': 'r1' }, { instances: 2 });
    const id = (await hmBulk(t, 'roller2')).droplet;
    await waitFor('2 running', async () => (await c.app('roller2')).runningInstances === 2);
    const v1 = (await c.app('roller2')).version;
    dea.runDelayMs = 1500;
    dea.discoverDelayMs = 200;
    try {
      assert.equal((await c.req('PUT', '/apps/roller2', { json: { resources: { memory: 128 } } })).status, 200);
      const v2 = (await c.app('roller2')).version;
      await waitFor('a v2 instance started', () => dea.starts.find((s) => s.droplet === id && s.version === v2));
      assert.equal((await c.req('PUT', '/apps/roller2', { json: { resources: { memory: 64 } } })).status, 200);
      const v3 = (await c.app('roller2')).version;
      assert.notEqual(v3, v2);
      await sleep(700); // v3 is still STARTING (1.5 s), v2's placement in flight has ended
      const now = [...dea.instances.values()].filter((i) => i.droplet === id);
      assert.deepEqual(now.filter((i) => i.version === v2).map((i) => `#${i.index} ${i.state}`), [], 'the superseded rollout\'s instances are stopped');
      assert.equal(now.filter((i) => i.version === v1 && i.state === 'RUNNING').length, 2, 'v1 serves until v3 is up');
      const final = await waitFor('only v3, 2 RUNNING', () => {
        const left = [...dea.instances.values()].filter((i) => i.droplet === id);
        return left.length === 2 && left.every((i) => i.version === v3 && i.state === 'RUNNING') ? left : undefined;
      }, { timeoutMs: 10_000 });
      assert.deepEqual(final.map((i) => i.index).sort(), [0, 1]);
      await sleep(500);
      assert.equal([...dea.instances.values()].filter((i) => i.droplet === id).length, 2, 'no late start of a superseded version');
      assert.equal((await c.req('DELETE', '/apps/roller2')).status, 200);
    } finally {
      dea.runDelayMs = 150;
      dea.discoverDelayMs = 0;
    }
  });

  it('cancels staging on a newer upload (staging.stop) and keeps the droplet that runs; DELETE /staging reverts the package', async () => {
    const id = (await hmBulk(t, 'live')).droplet;
    const running = (await c.app('live'));
    const tasks: StagingRequest[] = [];
    stager.handler = async (req, s) => {
      tasks.push(req);
      s.log(req, 0, 'started');
      await s.stopped(req.task_id);
      return { task_id: req.task_id, task_log: 'cancelled', error: 'cancelled', error_code: 801 };
    };
    const startsBefore = dea.starts.length;
    assert.equal((await c.upload('live', { 'server.js': 'v3' })).status, 200);
    const t3 = await waitFor('task for v3', () => tasks[0], { timeoutMs: 8000 });
    const up4 = await c.upload('live', { 'server.js': 'v4' });
    assert.equal(up4.status, 200);
    const stop3 = await waitFor('staging.stop for v3', () => stager.stops.find((s) => s.task_id === t3.task_id), { timeoutMs: 8000 });
    assert.deepEqual(stop3, { app_id: id, task_id: t3.task_id });
    const t4 = await waitFor('task for v4', () => tasks[1], { timeoutMs: 8000 });
    assert.notEqual(t4.task_id, t3.task_id);
    assert.equal((up4.json as { staging_task_id: string }).staging_task_id, t4.task_id, 'the upload names the task it started');
    // The cancelled task can no longer fetch its package or upload a droplet.
    assert.equal((await stager.download(t3)).status, 404);
    assert.equal((await stager.upload(t3, Buffer.from('late'))).status, 404);
    let app = await c.app('live');
    assert.equal(app.package_state, 'PENDING');
    assert.equal(app.state, 'STARTED');
    assert.equal(app.version, running.version, 'the running droplet stays the live version');
    const cancel = await c.req('DELETE', '/apps/live/staging');
    assert.equal(cancel.status, 200);
    assert.equal((cancel.json as { cancelled: boolean }).cancelled, true);
    await waitFor('staging.stop for v4', () => stager.stops.find((s) => s.task_id === t4.task_id), { timeoutMs: 8000 });
    app = await c.app('live');
    assert.equal(app.package_state, 'STAGED');
    assert.equal(app.package_hash, running.package_hash);
    assert.equal(app.version, running.version);
    assert.equal(app.runningInstances, 1);
    assert.equal(dea.starts.length, startsBefore, 'nothing restarted');
    assert.match((await c.req('GET', '/apps/live/instances/0/files/logs/staging.log')).text, /cancelled/);
    assert.equal(((await c.req('DELETE', '/apps/live/staging')).json as { cancelled: boolean }).cancelled, false);
  });

  it('a failed staging leaves FAILED, STOPPED, code 310 and the whole log', async () => {
    stager.handler = async (req, s) => {
      s.log(req, 0, 'Installing dependencies');
      return { task_id: req.task_id, task_log: 'Installing dependencies\nnpm ERR! missing script: start\n', error: 'npm install failed', error_code: 310 };
    };
    const ac = new AbortController();
    const sse = await fetch(`${t.controller.url}/events`, { headers: { authorization: t.token }, signal: ac.signal });
    const reader = (sse.body as ReadableStream<Uint8Array>).getReader();
    await c.push('broken', { 'package.json': '{}' });
    let text = '';
    while (!/"done":true/.test(text)) text += Buffer.from((await reader.read()).value ?? []).toString();
    ac.abort();
    const done = decodeSseEvents(text).find((e) => e.type === 'staging' && e.done === true);
    assert.ok(done && done.type === 'staging');
    assert.deepEqual([done.ok, done.code, done.error], [false, 310, 'npm install failed']);
    const app = await waitFor('FAILED', async () => { const a = await c.app('broken'); return a.package_state === 'FAILED' ? a : undefined; }, { timeoutMs: 8000 });
    assert.equal(app.state, 'STOPPED');
    assert.deepEqual(app.staging_error, { code: 310, description: 'npm install failed' });
    const log = (await c.req('GET', '/apps/broken/instances/0/files/logs/staging.log')).text;
    assert.match(log, /^Installing dependencies\nnpm ERR! missing script: start\n.*npm install failed\n$/s);
  });

  it('a staging that never answers times out with 800 and staging.stop', async () => {
    const short = await startTestController({ nats: t.nats, stagingTimeoutSec: 0.5, timings: { stagingReplyGraceMs: 200 } });
    try {
      const sc = new Client(short);
      stager.handler = async (req, s) => { await s.stopped(req.task_id); return undefined; };
      await sc.push('slow', { 'server.js': 'x' });
      const app = await waitFor('timed out', async () => { const a = await sc.app('slow'); return a.package_state === 'FAILED' ? a : undefined; }, { timeoutMs: 8000 });
      assert.equal((app.staging_error as { code: number }).code, 800);
      assert.equal(app.state, 'STOPPED');
      const req = stager.requests.find((r) => r.name === 'slow' && r.download_uri.startsWith(short.controller.url)) as StagingRequest;
      await waitFor('staging.stop', () => stager.stops.find((s) => s.task_id === req.task_id), { timeoutMs: 8000 });
      assert.match((await sc.req('GET', '/apps/slow/instances/0/files/logs/staging.log')).text, /timed out/);
    } finally {
      await short.stop();
    }
  });

  it('with no stager the app fails staging clearly (310); with no fitting DEA the placement error is recorded', async () => {
    const lone = await startTestController({ timings: { discoverWaitMs: 200, stagerWaitMs: 1000 } });
    try {
      const lc = new Client(lone);
      const t0 = Date.now();
      await lc.push('orphan', { 'server.js': 'x' });
      const app = await waitFor('FAILED', async () => { const a = await lc.app('orphan'); return a.package_state === 'FAILED' ? a : undefined; }, { timeoutMs: 8000 });
      assert.deepEqual(app.staging_error, { code: 310, description: 'no stager is running to stage the app' });
      assert.ok(Date.now() - t0 >= 900, `it kept asking for a stager for stagerWaitMs first (${Date.now() - t0} ms)`);
      // Now a stager but no DEA.
      const b = await lone.nats.connect('stager');
      const s = new FakeStager(b, lone.token);
      await b.flush();
      const r = await lc.req('PUT', '/apps/orphan', { json: { state: 'STARTED' } });
      assert.equal(r.status, 200);
      const placed = await waitFor('placement error', async () => { const a = await lc.app('orphan'); return a.placement_error ? a : undefined; }, { timeoutMs: 8000 });
      assert.equal(placed.package_state, 'STAGED');
      assert.match(String(placed.placement_error), /no DEA is running/);
      assert.deepEqual((await lc.instances('orphan')).map((i) => i.state), ['DOWN']);
      assert.equal(s.requests.length, 1);
    } finally {
      await lone.stop();
    }
  });

  it('a stager that comes up while the staging request waits (one being restarted) still stages the app', async () => {
    const lone = await startTestController({ timings: { discoverWaitMs: 200, stagerWaitMs: 5000 } });
    try {
      const lc = new Client(lone);
      await lc.push('late', { 'server.js': 'x' });
      await sleep(800);
      const b = await lone.nats.connect('stager');
      const s = new FakeStager(b, lone.token);
      s.handler = (req, st) => st.succeed(req);
      await b.flush();
      const app = await waitFor('STAGED', async () => { const a = await lc.app('late'); return a.package_state !== 'PENDING' ? a : undefined; }, { timeoutMs: 8000 });
      assert.equal(app.package_state, 'STAGED', JSON.stringify(app.staging_error));
      assert.equal(s.requests.length, 1);
    } finally {
      await lone.stop();
    }
  });

  it('stopping during staging cancels it (staging.stop) and leaves the package PENDING', async () => {
    stager.handler = async (req, s) => { await s.stopped(req.task_id); return undefined; };
    await c.push('halted', { 'server.js': 'x' });
    const req = await waitFor('the staging request', () => stager.requests.find((r) => r.name === 'halted'), { timeoutMs: 8000 });
    const r = await c.req('PUT', '/apps/halted', { json: { state: 'STOPPED' } });
    assert.equal(r.status, 200);
    assert.deepEqual(await waitFor('staging.stop', () => stager.stops.find((s) => s.task_id === req.task_id), { timeoutMs: 8000 }), { app_id: req.app_id, task_id: req.task_id });
    const app = await c.app('halted');
    assert.deepEqual([app.state, app.package_state, app.staging_task_id], ['STOPPED', 'PENDING', null]);
  });

  it('explains a failed placement from the DEAs\' advertisements, and places once a DEA fits', async () => {
    stager.handler = (req, s) => s.succeed(req);
    dea.fits = false;
    dea.advertise();
    await parts.flush();
    await c.push('nofit', { 'server.js': 'x' }, { resources: { memory: 300 } });
    const app = await waitFor('placement error', async () => { const a = await c.app('nofit'); return a.placement_error ? a : undefined; }, { timeoutMs: 8000 });
    assert.match(String(app.placement_error), /no DEA has 300 MB free/);
    assert.equal(app.package_state, 'STAGED');
    dea.fits = true;
    dea.advertise();
    // Starting what is already STARTED brings it in line: the missing instance is placed.
    const r = await c.req('PUT', '/apps/nofit', { json: { state: 'STARTED' } });
    assert.equal((r.json as { placement_error: unknown }).placement_error, null);
    await waitFor('running', async () => (await c.app('nofit')).runningInstances === 1, { timeoutMs: 8000 });
  });

  it('deleting a running app stops its instances and removes its droplet', async () => {
    const id = (await hmBulk(t, 'live')).droplet;
    const sha = dea.starts.filter((s) => s.droplet === id).at(-1)?.sha1 as string;
    const stopsBefore = dea.stops.length;
    assert.equal((await c.req('DELETE', '/apps/live')).status, 200);
    assert.deepEqual(await waitFor('dea.stop', () => dea.stops.slice(stopsBefore).find((s) => s.droplet === id), { timeoutMs: 8000 }), { droplet: id });
    assert.equal((await httpRequest(`${t.controller.url}/droplets/${id}/${sha}`, { token: t.token })).status, 404);
  });

  it('after a restart, STARTED apps get their missing instances back', async () => {
    stager.handler = (req, s) => s.succeed(req);
    await c.push('phoenix', { 'server.js': 'rise' }, { instances: 2 });
    await waitFor('2 running', async () => (await c.app('phoenix')).runningInstances === 2, { timeoutMs: 8000 });
    const id = (await hmBulk(t, 'phoenix')).droplet;
    const dataDir = t.dataDir;
    await t.controller.stop();
    await t.bus.close();
    // While the controller is away, index 1 dies.
    const lost = [...dea.instances.values()].find((i) => i.droplet === id && i.index === 1) as FakeInstance;
    dea.exit(lost, 'CRASHED');
    const startsBefore = dea.starts.length;
    const second = await startTestController({ dataDir, nats: t.nats, timings: { restoreSettleMs: 300 } });
    const c2 = new Client(second);
    const restart = await waitFor('index 1 restarted', () => dea.starts.slice(startsBefore).find((s) => s.droplet === id), { timeoutMs: 8000 });
    assert.equal(restart.index, 1);
    await waitFor('2 running after restart', async () => (await c2.app('phoenix')).runningInstances === 2, { timeoutMs: 8000 });
    assert.equal(dea.starts.slice(startsBefore).length, 1, 'the running index 0 is left alone');
    await second.stop();
    // after() still stops t: its controller is already stopped; its NATS server and data dir go then.
  });
});

async function hmBulk(t: TestController, name: string): Promise<{ droplet: number; version: string; last_updated: number }> {
  const bus = await t.nats.connect('bulk');
  try {
    const r = await bus.request(Subjects.ccBulkApps, {}, 2000);
    const a = r.apps.find((x) => x.name === name);
    assert.ok(a, `${name} in bulk apps`);
    return a;
  } finally {
    await bus.close();
  }
}
