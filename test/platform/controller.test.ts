// The cloud controller's REST API, store, resource pool and packages, against a real controller
// (real NATS, SQLite, HTTP on 127.0.0.1) in a temp data dir.
import { strict as assert } from 'node:assert';
import { createHash, randomBytes } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as path from 'node:path';
import BetterSqlite3 from 'better-sqlite3';
import JSZip from 'jszip';
import { Subjects, type CcAppChanged } from '../../platform/bus';
import { migrations } from '../../platform/controller/migrations';
import {
  decodeSseEvents, multipartBody, nothingWritten, restRequest, startTestController,
  type HttpReply, type HttpRequestOptions, type TestController, type TestControllerOptions,
} from './support/controller';
import { sleep } from './support/wait';

const sha1 = (b: Buffer | string): string => createHash('sha1').update(b).digest('hex');

interface ZipFile {
  name: string;
  data?: string | Buffer;
  mode?: number;
  dir?: boolean;
}

async function makeZip(files: readonly ZipFile[]): Promise<Buffer> {
  const z = new JSZip();
  for (const f of files) {
    if (f.dir) z.file(f.name, null, { dir: true, createFolders: false, unixPermissions: f.mode ?? 0o40755 });
    else z.file(f.name, f.data ?? '', { createFolders: false, unixPermissions: f.mode ?? 0o100644, date: new Date() });
  }
  return z.generateAsync({ type: 'nodebuffer', platform: 'UNIX', compression: 'DEFLATE' });
}

/** A sinatra app, as `vmc push` would zip it. */
const sinatraFiles: ZipFile[] = [
  { name: 'app.rb', data: "require 'sinatra'\n\nget '/' do\n  'Hello from Sinatra'\nend\n", mode: 0o100644 },
  { name: 'config/', dir: true, mode: 0o40755 },
  { name: 'config/settings.yml', data: 'greeting: hello\n', mode: 0o100644 },
  { name: 'bin/run', data: '#!/bin/sh\nexec ruby app.rb\n', mode: 0o100755 },
  { name: 'public/big.txt', data: 'x'.repeat(70_000), mode: 0o100644 },
];

class Client {
  constructor(readonly t: TestController) {}
  get url(): string { return this.t.controller.url; }

  req(method: string, p: string, opts: HttpRequestOptions & { json?: unknown } = {}): Promise<HttpReply> {
    return restRequest(this.t, method, p, opts);
  }

  async create(body: Record<string, unknown>): Promise<HttpReply> {
    return this.req('POST', '/apps', { json: body });
  }

  async app(name: string): Promise<Record<string, unknown>> {
    const r = await this.req('GET', `/apps/${name}`);
    assert.equal(r.status, 200, r.text);
    return r.json as Record<string, unknown>;
  }

  async upload(name: string, zip: Buffer | null, resources: unknown, opts: { method?: 'PUT' | 'POST'; methodField?: boolean; query?: string; raw?: string } = {}): Promise<HttpReply> {
    const parts = [];
    if (opts.methodField) parts.push({ name: '_method', value: 'put' });
    parts.push({ name: 'resources', value: opts.raw ?? JSON.stringify(resources) });
    if (zip) parts.push({ name: 'application', value: zip, filename: 'app.zip', contentType: 'application/zip' });
    const mp = multipartBody(parts);
    return this.req(opts.method ?? 'PUT', `/apps/${name}/application${opts.query ?? ''}`, { body: mp.body, headers: { 'content-type': mp.contentType } });
  }
}

function expectError(r: HttpReply, status: number, code: number): void {
  assert.equal(r.status, status, `expected HTTP ${status}, got ${r.status}: ${r.text}`);
  const body = r.json as { code?: number; description?: string };
  assert.equal(body.code, code, `expected code ${code}: ${r.text}`);
  assert.ok(typeof body.description === 'string' && body.description.length > 0, 'a description');
}

describe('controller: REST API, store and packages', function () {
  this.timeout(60_000);
  let t: TestController;
  let c: Client;
  before(async () => {
    t = await startTestController();
    c = new Client(t);
  });
  after(async () => { await t?.stop(); });

  describe('info and security', () => {
    it('GET /info answers the public part without a token and adds user, limits, usage with it', async () => {
      const pub = await c.req('GET', '/info', { token: null });
      assert.equal(pub.status, 200);
      const p = pub.json as Record<string, unknown>;
      for (const k of ['name', 'build', 'support', 'version', 'description', 'frameworks']) assert.ok(k in p, k);
      for (const k of ['user', 'limits', 'usage']) assert.ok(!(k in p), `${k} must not be public`);
      const fw = p.frameworks as Record<string, { name: string; runtimes: { name: string; version: string; description: string }[] }>;
      assert.equal(fw.node.name, 'node');
      assert.ok(fw.node.runtimes[0].version.length > 0);
      const wrong = await c.req('GET', '/info', { token: 'not-the-token' });
      assert.equal(wrong.status, 200);
      assert.ok(!('user' in (wrong.json as object)));
      const full = (await c.req('GET', '/info')).json as Record<string, unknown>;
      assert.equal(typeof full.user, 'string');
      assert.deepEqual(Object.keys(full.limits as object).sort(), ['app_uris', 'apps', 'memory', 'services']);
      assert.deepEqual(Object.keys(full.usage as object).sort(), ['apps', 'memory', 'services']);
    });

    it('GET /info/runtimes lists exactly the runtimes installed here; /info/services is {}', async () => {
      const r = await c.req('GET', '/info/runtimes');
      assert.equal(r.status, 200);
      const rt = r.json as Record<string, { version: string; description: string; debug_modes: unknown }>;
      const has = (exe: string, args: string[]): boolean => { try { execFileSync(exe, args, { stdio: 'ignore' }); return true; } catch { return false; } };
      assert.equal(rt.node.version, execFileSync('node', ['-p', 'process.versions.node']).toString().trim());
      assert.equal('ruby' in rt, has('ruby', ['-v']));
      assert.equal('python3' in rt, has('python3', ['--version']));
      for (const v of Object.values(rt)) assert.deepEqual(Object.keys(v).sort(), ['debug_modes', 'description', 'version']);
      const s = await c.req('GET', '/info/services');
      assert.equal(s.status, 200);
      assert.deepEqual(s.json, {});
    });

    it('refuses a missing or wrong token with 403 code 200, and answers nothing else', async () => {
      for (const token of [null, 'wrong', `${t.token}x`, '']) {
        const r = await c.req('GET', '/apps', { token });
        expectError(r, 403, 200);
      }
      expectError(await c.req('POST', '/apps', { json: { name: 'sneaky' }, token: null }), 403, 200);
      expectError(await c.req('DELETE', '/apps/sneaky', { token: 'wrong' }), 403, 200);
      expectError(await c.req('GET', '/apps/sneaky'), 404, 301);
    });

    it('refuses a Host that is not a loopback name, even with the token', async () => {
      for (const host of ['evil.example.com', 'evil.example.com:80', `attacker.test:${t.controller.port}`, '10.0.0.1', 'localhost.evil.com', '127.0.0.1.nip.io']) {
        const r = await c.req('GET', '/apps', { host });
        expectError(r, 403, 200);
        assert.match((r.json as { description: string }).description, /loopback/);
        const info = await c.req('GET', '/info', { host, token: null });
        expectError(info, 403, 200);
      }
      for (const host of [`127.0.0.1:${t.controller.port}`, 'localhost', `api.localhost:${t.controller.port}`, '[::1]', `[::1]:${t.controller.port}`, '127.1.2.3']) {
        assert.equal((await c.req('GET', '/apps', { host })).status, 200, host);
      }
    });

    it('listens on 127.0.0.1 only, sends no CORS headers, treats OPTIONS like any unknown route', async () => {
      assert.match(t.controller.url, /^http:\/\/127\.0\.0\.1:\d+$/);
      const r = await c.req('OPTIONS', '/apps', { headers: { origin: 'http://evil.example.com', 'access-control-request-method': 'DELETE' } });
      expectError(r, 404, 404);
      const g = await c.req('GET', '/apps', { headers: { origin: 'http://evil.example.com' } });
      for (const res of [r, g]) assert.ok(!Object.keys(res.headers).some((h) => h.startsWith('access-control-')), 'no CORS header');
      expectError(await c.req('OPTIONS', '/apps', { token: null }), 403, 200);
    });

    it('answers an unknown route with 404 and a JSON error', async () => {
      expectError(await c.req('GET', '/nowhere'), 404, 404);
      expectError(await c.req('PATCH', '/apps'), 404, 404);
    });
  });

  describe('apps', () => {
    it('creates with 302, Location and {result, redirect}; reads the v1 shape with defaults', async () => {
      const r = await c.create({ name: 'shape', staging: { framework: 'node', runtime: 'node' } });
      assert.equal(r.status, 302);
      assert.equal(r.headers.location, `${c.url}/apps/shape`);
      assert.deepEqual(r.json, { result: 'success', redirect: `${c.url}/apps/shape` });
      const a = await c.app('shape');
      for (const k of ['name', 'staging', 'uris', 'instances', 'runningInstances', 'resources', 'state', 'services', 'version', 'env', 'meta']) assert.ok(k in a, k);
      assert.deepEqual(a.staging, { model: 'node', stack: 'node' });
      assert.deepEqual(a.uris, ['shape.localhost'], 'default uri <name>.<domain>');
      assert.equal(a.instances, 1);
      assert.equal(a.runningInstances, 0);
      assert.deepEqual(a.resources, { memory: 256, disk: 2048, fds: 256 });
      assert.equal(a.state, 'STOPPED');
      assert.equal(a.package_state, 'PENDING');
      assert.deepEqual(a.services, []);
      assert.deepEqual(a.env, []);
      assert.match(String(a.version), /^[0-9a-f]{40}-0$/);
      const meta = a.meta as Record<string, unknown>;
      assert.deepEqual(Object.keys(meta).sort(), ['console', 'created', 'debug', 'version']);
      assert.equal(meta.version, 1);
      assert.ok(Math.abs(Number(meta.created) - Date.now() / 1000) < 60);
      const list = (await c.req('GET', '/apps')).json as { name: string }[];
      assert.ok(list.some((x) => x.name === 'shape'));
    });

    it('accepts explicit uris, [] for none, env, legacy staging, and lists every app', async () => {
      assert.equal((await c.create({ name: 'routed', uris: ['Routed.Localhost', 'alias.localhost'], env: ['A=1', 'B=x=y'] })).status, 302);
      assert.deepEqual((await c.app('routed')).uris, ['routed.localhost', 'alias.localhost']);
      assert.deepEqual((await c.app('routed')).env, ['A=1', 'B=x=y']);
      assert.equal((await c.create({ name: 'worker', uris: [] })).status, 302);
      assert.equal((await c.create({ name: 'tooled', uris: [], env: ['PATH=/opt/tool/bin:$PATH', 'port=1', 'Home=x'] })).status, 302, 'PATH extends the platform\'s; other cases are other names');
      assert.deepEqual((await c.app('worker')).uris, []);
    });

    it('refuses bad names (300), bad types (100), malformed JSON (100), reserved env (300) and writes nothing', async () => {
      await nothingWritten(t, async () => {
        for (const name of ['has space', 'slash/y', 'dot.name', 'ünï', '', 'a;b', 'x'.repeat(101)]) expectError(await c.create({ name }), 400, 300);
        expectError(await c.create({}), 400, 300);
        expectError(await c.create({ name: 42 }), 400, 100);
        expectError(await c.req('POST', '/apps', { body: '{"name": "broken"', headers: { 'content-type': 'application/json' } }), 400, 100);
        expectError(await c.req('POST', '/apps', { body: '' }), 400, 100);
        expectError(await c.req('POST', '/apps', { json: '[1,2]' }), 400, 100);
        expectError(await c.create({ name: 'typed', instances: 'two' }), 400, 100);
        expectError(await c.create({ name: 'typed', instances: 1.5 }), 400, 100);
        expectError(await c.create({ name: 'typed', resources: { memory: '64M' } }), 400, 100);
        expectError(await c.create({ name: 'typed', env: 'A=1' }), 400, 100);
        expectError(await c.create({ name: 'typed', env: [1] }), 400, 100);
        expectError(await c.create({ name: 'typed', uris: 'typed.localhost' }), 400, 100);
        expectError(await c.create({ name: 'typed', staging: 'node' }), 400, 100);
        expectError(await c.create({ name: 'typed', meta: { version: 'one' } }), 400, 100);
        expectError(await c.create({ name: 'typed', state: 'RUNNING' }), 400, 300);
        expectError(await c.create({ name: 'typed', instances: -1 }), 400, 300);
        expectError(await c.create({ name: 'typed', env: ['NOEQUALS'] }), 400, 300);
        for (const e of ['VCAP_SERVICES={}', 'vcap_app_port=1', 'Vmc_App_Name=x', 'VMC_X=1']) expectError(await c.create({ name: 'typed', env: [e] }), 400, 300);
        // Names the instance's shell cannot read, and the platform's own, are refused, not dropped later by the DEA
        for (const [e, why] of [['A-B=1', /"A-B": a name is letters, digits and _/], ['1X=1', /"1X"/], ['SP ACE=1', /"SP ACE"/], ['PORT=8080', /PORT: set by the platform/], ['HOME=/tmp', /HOME: set by the platform/], ['NUL=a\u0000b', /NUL byte/]] as const) {
          const r = await c.create({ name: 'typed', env: [e] });
          expectError(r, 400, 300);
          assert.match((r.json as { description: string }).description, why);
        }
        expectError(await c.create({ name: 'typed', services: ['mysql'] }), 404, 500);
      });
    });

    it('refuses unknown runtimes (307), frameworks (308), bad uris (700), taken uris (701), a taken name, and writes nothing', async () => {
      await nothingWritten(t, async () => {
        expectError(await c.create({ name: 'rt', staging: { framework: 'node', runtime: 'cobol85' } }), 400, 307);
        expectError(await c.create({ name: 'rt', staging: { model: 'sinatra', stack: 'node' } }), 400, 307);
        expectError(await c.create({ name: 'fw', staging: { framework: 'grails' } }), 400, 308);
        for (const u of ['http://x.localhost', 'bad host.localhost', 'x..localhost', '-x.localhost', 'x.localhost/path', 'x.localhost:8080', '']) {
          expectError(await c.create({ name: 'uri', uris: [u] }), 400, 700);
        }
        expectError(await c.create({ name: 'uri', uris: ['routed.localhost'] }), 403, 701);
        expectError(await c.create({ name: 'routed' }), 400, 300);
      });
    });

    it('accepts the v1 runtime aliases (stack ruby19, node08) for the installed runtimes', async function () {
      const rt = (await c.req('GET', '/info/runtimes')).json as Record<string, unknown>;
      assert.equal((await c.create({ name: 'aliased', staging: { model: 'node', stack: 'node08' } })).status, 302);
      if ('ruby' in rt) {
        assert.equal((await c.create({ name: 'rubyish', staging: { model: 'sinatra', stack: 'ruby19' } })).status, 302);
        assert.deepEqual((await c.app('rubyish')).staging, { model: 'sinatra', stack: 'ruby19' });
      }
    });

    it('updates any subset, bumps meta.version, and refuses a stale meta.version with 102 (nothing written)', async () => {
      await c.create({ name: 'locked' });
      const a = await c.app('locked');
      const v1 = (a.meta as { version: number }).version;
      // Echoing the app back (what vmc does) changes nothing.
      const echo = await c.req('PUT', '/apps/locked', { json: a });
      assert.equal(echo.status, 200, echo.text);
      assert.equal(((await c.app('locked')).meta as { version: number }).version, v1);
      const r = await c.req('PUT', '/apps/locked', { json: { instances: 2, resources: { memory: 128 }, env: ['GREETING=hi'], meta: { version: v1 } } });
      assert.equal(r.status, 200, r.text);
      const b = await c.app('locked');
      assert.equal(b.instances, 2);
      assert.deepEqual(b.resources, { memory: 128, disk: 2048, fds: 256 });
      assert.deepEqual(b.env, ['GREETING=hi']);
      assert.equal((b.meta as { version: number }).version, v1 + 1);
      await nothingWritten(t, async () => {
        expectError(await c.req('PUT', '/apps/locked', { json: { instances: 3, meta: { version: v1 } } }), 400, 102);
        expectError(await c.req('PUT', '/apps/locked', { json: { env: ['VCAP_APPLICATION=x'] } }), 400, 300);
        expectError(await c.req('PUT', '/apps/locked', { json: { name: 'no good' } }), 400, 300);
        expectError(await c.req('PUT', '/apps/locked', { json: { instances: '3' } }), 400, 100);
        expectError(await c.req('PUT', '/apps/locked', { body: '{', headers: { 'content-type': 'application/json' } }), 400, 100);
        expectError(await c.req('PUT', '/apps/locked', { json: { uris: ['routed.localhost'] } }), 403, 701);
        expectError(await c.req('PUT', '/apps/locked', { json: { uris: ['x y'] } }), 400, 700);
        expectError(await c.req('PUT', '/apps/nosuchapp', { json: { instances: 1 } }), 404, 301);
      });
      const ok = await c.req('PUT', '/apps/locked', { json: { instances: 1, meta: { version: v1 + 1 } } });
      assert.equal(ok.status, 200);
      assert.equal((ok.json as { instances: number }).instances, 1);
    });

    it('renames an app and keeps its id', async () => {
      await c.create({ name: 'before-rename' });
      assert.equal((await c.req('PUT', '/apps/before-rename', { json: { name: 'after-rename' } })).status, 200);
      expectError(await c.req('GET', '/apps/before-rename'), 404, 301);
      assert.equal((await c.app('after-rename')).name, 'after-rename');
    });

    it('deletes an app: 200, 301 afterwards, its uris free again', async () => {
      await c.create({ name: 'doomed', uris: ['doomed.localhost'] });
      const d = await c.req('DELETE', '/apps/doomed');
      assert.equal(d.status, 200);
      expectError(await c.req('GET', '/apps/doomed'), 404, 301);
      expectError(await c.req('DELETE', '/apps/doomed'), 404, 301);
      assert.equal((await c.create({ name: 'heir', uris: ['doomed.localhost'] })).status, 302);
    });

    it('publishes cloudcontrollers.app.changed and SSE events for every change', async () => {
      const bus = await t.nats.connect('editor');
      const got: CcAppChanged[] = [];
      bus.subscribe(Subjects.ccAppChanged, (m) => { got.push(m); });
      await bus.flush();
      const ac = new AbortController();
      expectError(await c.req('GET', '/events?app=nosuchapp'), 404, 301);
      expectError(await c.req('GET', '/events', { token: null }), 403, 200);
      await c.create({ name: 'evented' });
      const events = await fetch(`${c.url}/events?app=evented`, { headers: { authorization: t.token }, signal: ac.signal });
      assert.equal(events.headers.get('content-type'), 'text/event-stream; charset=utf-8');
      const reader = (events.body as ReadableStream<Uint8Array>).getReader();
      await c.req('PUT', '/apps/evented', { json: { instances: 2 } });
      await c.req('DELETE', '/apps/evented');
      let text = '';
      const deadline = Date.now() + 5000;
      while (!text.includes('"deleted"') && Date.now() < deadline) {
        const { value, done } = await reader.read();
        if (done) break;
        text += Buffer.from(value).toString('utf8');
      }
      ac.abort();
      const datas = decodeSseEvents(text);
      assert.deepEqual(datas.filter((d) => d.type === 'app').map((d) => d.event), ['updated', 'deleted']);
      assert.ok(datas.every((d) => d.name === 'evented' && typeof d.droplet === 'number'));
      await bus.flush();
      assert.deepEqual(got.filter((g) => g.name === 'evented').map((g) => g.event), ['created', 'updated', 'deleted']);
    });
  });

  describe('packages and the resource pool', () => {
    it('replays the seed transcript of `vmc push` up to starting the app', async () => {
      expectError(await c.req('GET', '/apps/test'), 404, 301);
      const info = (await c.req('GET', '/info')).json as { frameworks: Record<string, unknown>; limits: unknown };
      assert.ok(info.frameworks && info.limits);
      assert.equal((await c.req('GET', '/info/runtimes')).status, 200);
      const created = await c.create({ name: 'test', instances: 1, staging: { model: 'sinatra', stack: 'ruby19' }, resources: { memory: 64 } });
      if (created.status === 307 || (created.json as { code?: number }).code === 307) return; // no ruby on this machine
      assert.equal(created.status, 302, created.text);
      assert.deepEqual(created.json, { result: 'success', redirect: `${c.url}/apps/test` });
      const app = await c.app('test');
      assert.equal(app.name, 'test');
      assert.deepEqual(app.staging, { model: 'sinatra', stack: 'ruby19' });
      assert.equal(app.instances, 1);
      assert.equal(app.runningInstances, 0);
      assert.deepEqual(app.resources, { memory: 64, disk: 2048, fds: 256 });
      assert.equal(app.state, 'STOPPED');
      assert.deepEqual(app.services, []);
      assert.match(String(app.version), /^[0-9a-f]{40}-0$/);
      assert.deepEqual(app.env, []);
      assert.deepEqual({ ...(app.meta as object), created: 0 }, { debug: null, console: null, version: 1, created: 0 });
      const put = await c.req('PUT', '/apps/test', { json: { ...app, uris: ['test.localhost'], state: 'STOPPED' } });
      assert.equal(put.status, 200, put.text);
      const zip = await makeZip(sinatraFiles);
      const up = await c.upload('test', zip, [], { method: 'POST', methodField: true });
      assert.equal(up.status, 200, up.text);
      const after = await c.app('test');
      assert.deepEqual(after.uris, ['test.localhost']);
      assert.equal(after.package_state, 'PENDING');
      assert.match(String(after.package_hash), /^[0-9a-f]{40}$/);
      assert.equal(after.version, `${String(after.package_hash)}-0`);
      // The stored package holds the app, modes kept.
      const dl = await c.req('GET', '/apps/test/application');
      assert.equal(dl.status, 200);
      assert.equal(dl.headers['content-type'], 'application/zip');
      assert.equal(sha1(dl.body), after.package_hash);
      const pkg = await JSZip.loadAsync(dl.body, { checkCRC32: true });
      assert.equal(await pkg.file('app.rb')?.async('string'), sinatraFiles[0].data);
      assert.equal(pkg.file('bin/run')?.unixPermissions, 0o100755);
      assert.equal(pkg.file('config/settings.yml')?.unixPermissions, 0o100644);
      assert.ok(pkg.files['config/']?.dir);
    });

    it('keeps uploaded files in the pool (v1 layout); POST /resources answers the held subset', async () => {
      const big = 'x'.repeat(70_000);
      const blob = path.join(t.dataDir, 'pool');
      const h = sha1(big);
      const n = BigInt(`0x${h}`);
      const p = path.join(blob, String(n % 269n), String(n % 251n), h);
      assert.ok(fs.existsSync(p), `blob at ${p}`);
      assert.equal(fs.readFileSync(p, 'utf8'), big);
      const r = await c.req('POST', '/resources', { json: [
        { fn: 'public/big.txt', size: 70_000, sha1: h },
        { fn: 'wrong-size.txt', size: 69_999, sha1: h },
        { fn: 'unknown.txt', size: 3, sha1: sha1('abc') },
        { fn: 'upper.txt', size: 70_000, sha1: h.toUpperCase() },
      ] });
      assert.equal(r.status, 200);
      assert.deepEqual((r.json as { fn: string }[]).map((x) => x.fn), ['public/big.txt', 'upper.txt']);
      expectError(await c.req('POST', '/resources', { body: 'nope', headers: { 'content-type': 'application/json' } }), 400, 100);
      expectError(await c.req('POST', '/resources', { json: { fn: 'x' } }), 400, 100);
      expectError(await c.req('POST', '/resources', { json: [{ fn: 'x' }] }), 400, 100);
    });

    it('assembles from upload + pooled resources; an identical re-push keeps the hash and does not go PENDING', async () => {
      await c.create({ name: 'fingerprinted' });
      const full = await c.upload('fingerprinted', await makeZip(sinatraFiles), []);
      assert.equal(full.status, 200, full.text);
      const hash = (full.json as { package_hash: string }).package_hash;
      assert.equal(hash, (await c.app('test')).package_hash, 'same content, same hash, whatever app');
      // Second push: big.txt comes from the pool, the rest in a zip with other timestamps.
      const rest = sinatraFiles.filter((f) => f.name !== 'public/big.txt');
      const res = [{ fn: 'public/big.txt', size: 70_000, sha1: sha1('x'.repeat(70_000)) }];
      await sleep(1100);
      const again = await c.upload('fingerprinted', await makeZip(rest), res);
      assert.equal(again.status, 200, again.text);
      assert.equal((again.json as { package_hash: string }).package_hash, hash);
      assert.equal((again.json as { changed: boolean }).changed, false);
      // Mark it staged by hand to prove an unchanged push leaves package_state alone.
      const db = new BetterSqlite3(path.join(t.dataDir, 'controller.db'));
      db.prepare(`UPDATE apps SET package_state = 'STAGED', staged_hash = package_hash WHERE name = 'fingerprinted'`).run();
      db.close();
      const v = (await c.app('fingerprinted')).meta as { version: number };
      const third = await c.upload('fingerprinted', await makeZip(rest), res, { method: 'POST', query: '?_method=put' });
      assert.equal(third.status, 200, third.text);
      const app = await c.app('fingerprinted');
      assert.equal(app.package_state, 'STAGED');
      assert.equal((app.meta as { version: number }).version, v.version);
      // A real change is PENDING with a new hash.
      const changed = await c.upload('fingerprinted', await makeZip([...rest, { name: 'NEW', data: 'new' }]), res);
      assert.equal((changed.json as { changed: boolean }).changed, true);
      const app2 = await c.app('fingerprinted');
      assert.equal(app2.package_state, 'PENDING');
      assert.notEqual(app2.package_hash, hash);
    });

    it('takes an empty zip with every file pooled, and a resource mode', async () => {
      await c.create({ name: 'allpooled' });
      const big = 'x'.repeat(70_000);
      const r = await c.upload('allpooled', await makeZip([]), [{ fn: 'deep/dir/big.txt', size: big.length, sha1: sha1(big), mode: '0755' }]);
      assert.equal(r.status, 200, r.text);
      const pkg = await JSZip.loadAsync((await c.req('GET', '/apps/allpooled/application')).body);
      assert.equal((await pkg.file('deep/dir/big.txt')?.async('string'))?.length, big.length);
      assert.equal(pkg.file('deep/dir/big.txt')?.unixPermissions, 0o100755);
      assert.ok(pkg.files['deep/']?.dir && pkg.files['deep/dir/']?.dir);
    });

    it('refuses POST without _method=put', async () => {
      await nothingWritten(t, async () => {
        expectError(await c.upload('allpooled', await makeZip([{ name: 'a', data: 'changed' }]), [], { method: 'POST' }), 404, 404);
      });
    });

    describe('hostile and careless uploads: the documented error and nothing written', () => {
      before(async () => { await c.create({ name: 'target' }); await c.upload('target', await makeZip([{ name: 'keep.txt', data: 'original' }]), []); });
      const refused = async (zip: Buffer | null, resources: unknown, status: number, code: number, raw?: string): Promise<void> => {
        await nothingWritten(t, async () => {
          const r = await c.upload('target', zip, resources, { raw });
          expectError(r, status, code);
        });
        assert.equal(fs.readdirSync(path.join(t.dataDir, 'tmp')).length, 0, 'tmp is empty');
      };

      it('zip entries with .. or absolute paths (402)', async () => {
        await refused(await makeZip([{ name: '../evil.txt', data: 'x' }]), [], 400, 402);
        await refused(await makeZip([{ name: 'ok.txt', data: 'ok' }, { name: 'a/../../evil.txt', data: 'x' }]), [], 400, 402);
        await refused(await makeZip([{ name: '/etc/passwd', data: 'x' }]), [], 400, 402);
        await refused(await makeZip([{ name: 'C:/win.txt', data: 'x' }]), [], 400, 402);
        await refused(await makeZip([{ name: 'dir\\..\\..\\evil', data: 'x' }]), [], 400, 402);
      });

      it('symlinks escaping the app (402)', async () => {
        await refused(await makeZip([{ name: 'link', data: '../../etc/passwd', mode: 0o120777 }]), [], 400, 402);
        await refused(await makeZip([{ name: 'link', data: '/etc/passwd', mode: 0o120777 }]), [], 400, 402);
        await refused(await makeZip([{ name: 'sub/link', data: '../..', mode: 0o120777 }]), [], 400, 402);
      });

      it('a link that stays inside the app is kept', async () => {
        await c.create({ name: 'linked' });
        const r = await c.upload('linked', await makeZip([{ name: 'sub/real.txt', data: 'r' }, { name: 'sub/link', data: '../top.txt', mode: 0o120777 }, { name: 'top.txt', data: 't' }]), []);
        assert.equal(r.status, 200, r.text);
        const pkg = await JSZip.loadAsync((await c.req('GET', '/apps/linked/application')).body);
        assert.equal(pkg.file('sub/link')?.unixPermissions, 0o120777);
        assert.equal(await pkg.file('sub/link')?.async('string'), '../top.txt');
      });

      it('resources with absolute, escaping or blank fn (400)', async () => {
        const s = sha1('original');
        for (const fn of ['/etc/passwd', '../outside', 'a/../../b', '', '   ', 'C:\\x', 'a\\..\\..\\b']) {
          await refused(await makeZip([]), [{ fn, size: 8, sha1: s }], 400, 400);
        }
      });

      it('a resource not in the pool, or with a size differing from the pooled blob (400)', async () => {
        await refused(await makeZip([]), [{ fn: 'keep.txt', size: 9, sha1: sha1('original') }], 400, 400);
        await refused(await makeZip([]), [{ fn: 'keep.txt', size: 7, sha1: sha1('original') }], 400, 400);
        await refused(await makeZip([]), [{ fn: 'x.txt', size: 5, sha1: sha1('never') }], 400, 400);
      });

      it('bad resources JSON (400): not JSON, not an array, bad entries, duplicates', async () => {
        await refused(await makeZip([]), null, 400, 400, '[{"fn": ');
        await refused(await makeZip([]), null, 400, 400, '{"fn": "a"}');
        await refused(await makeZip([]), [{ fn: 'a', size: -1, sha1: sha1('a') }], 400, 400);
        await refused(await makeZip([]), [{ fn: 'a', size: 1, sha1: 'not-a-sha' }], 400, 400);
        await refused(await makeZip([]), [{ fn: 7, size: 1, sha1: sha1('a') }], 400, 400);
        const s = sha1('original');
        await refused(await makeZip([]), [{ fn: 'k', size: 8, sha1: s }, { fn: 'k', size: 8, sha1: s }], 400, 400);
        await refused(await makeZip([{ name: 'k', data: 'zip' }]), [{ fn: 'k', size: 8, sha1: s }], 400, 400);
      });

      it('a broken, truncated or lying zip (402)', async () => {
        await refused(Buffer.from('this is not a zip file at all, just text'), [], 400, 402);
        const good = await makeZip([{ name: 'a.txt', data: 'hello world '.repeat(100) }]);
        await refused(good.subarray(0, good.length - 30), [], 400, 402);
        // Flip one byte of the stored data: the CRC no longer matches.
        const z = new JSZip();
        z.file('plain.txt', 'plain stored content', { compression: 'STORE', createFolders: false });
        const stored = await z.generateAsync({ type: 'nodebuffer' });
        const i = stored.indexOf('plain stored content');
        stored[i] = 'P'.charCodeAt(0);
        await refused(stored, [], 400, 402);
        // Duplicate entries and a file that is also a folder.
        await refused(await makeZip([{ name: 'd', data: '1' }, { name: 'd/e', data: '2' }]), [], 400, 402);
      });

      it('not multipart (100)', async () => {
        await nothingWritten(t, async () => {
          expectError(await c.req('PUT', '/apps/target/application', { json: { resources: [] } }), 400, 100);
        });
      });

      it('an upload for an app that does not exist (301)', async () => {
        await nothingWritten(t, async () => {
          expectError(await c.upload('ghost', await makeZip([{ name: 'a', data: 'a' }]), []), 404, 301);
        });
      });

      it('the original package is untouched by all of the above', async () => {
        const pkg = await JSZip.loadAsync((await c.req('GET', '/apps/target/application')).body);
        assert.deepEqual(Object.keys(pkg.files), ['keep.txt']);
        assert.equal(await pkg.file('keep.txt')?.async('string'), 'original');
      });
    });

    it('uploads of different apps run concurrently', async () => {
      const names = ['conc-a', 'conc-b', 'conc-c', 'conc-d'];
      for (const n of names) await c.create({ name: n });
      const zips = await Promise.all(names.map((n) => makeZip([{ name: `${n}.txt`, data: n.repeat(5000) }, { name: 'shared.txt', data: 'same in all' }])));
      const replies = await Promise.all(names.map((n, i) => c.upload(n, zips[i], [])));
      for (const r of replies) assert.equal(r.status, 200, r.text);
      for (const n of names) {
        const pkg = await JSZip.loadAsync((await c.req('GET', `/apps/${n}/application`)).body);
        assert.deepEqual(Object.keys(pkg.files).sort(), [`${n}.txt`, 'shared.txt'].sort());
        assert.equal(await pkg.file(`${n}.txt`)?.async('string'), n.repeat(5000));
      }
      assert.equal(new Set(replies.map((r) => (r.json as { package_hash: string }).package_hash)).size, 4);
    });

    it('deleting an app removes its package file when no other app uses it', async () => {
      await c.create({ name: 'unique-pkg' });
      const r = await c.upload('unique-pkg', await makeZip([{ name: 'only-here.txt', data: String(Date.now()) }]), []);
      const file = path.join(t.dataDir, 'packages', `${(r.json as { package_hash: string }).package_hash}.zip`);
      assert.ok(fs.existsSync(file));
      assert.equal((await c.req('DELETE', '/apps/unique-pkg')).status, 200);
      assert.ok(!fs.existsSync(file));
      const shared = path.join(t.dataDir, 'packages', `${String((await c.app('test')).package_hash)}.zip`);
      await c.req('DELETE', '/apps/fingerprinted');
      assert.ok(fs.existsSync(shared), 'a package another app uses stays');
    });
  });
});

describe('controller: limits', function () {
  this.timeout(60_000);
  let t: TestController;
  let c: Client;
  const opts: TestControllerOptions = { maxPackageBytes: 64 * 1024, memoryLimitMb: 1024, appLimit: 3, uriLimit: 2 };
  before(async () => { t = await startTestController(opts); c = new Client(t); });
  after(async () => { await t?.stop(); });

  it('a package over the limit is refused before unpacking (401), by zip or by resources; nothing written', async () => {
    await c.create({ name: 'big' });
    const seed = 'y'.repeat(40 * 1024);
    assert.equal((await c.upload('big', await makeZip([{ name: 'seed.txt', data: seed }]), [])).status, 200);
    await nothingWritten(t, async () => {
      expectError(await c.upload('big', await makeZip([{ name: 'huge.txt', data: 'z'.repeat(65 * 1024) }]), []), 400, 401);
      expectError(await c.upload('big', await makeZip([{ name: 'half.txt', data: 'z'.repeat(30 * 1024) }]), [{ fn: 'seed.txt', size: seed.length, sha1: sha1(seed) }]), 400, 401);
      const mp = multipartBody([{ name: 'resources', value: '[]' }]);
      expectError(await c.req('PUT', '/apps/big/application', { body: mp.body, headers: { 'content-type': mp.contentType, 'content-length': String(10 ** 12) } }).catch(() => ({ status: 400, json: { code: 401, description: 'connection closed' } } as HttpReply)), 400, 401);
    });
    assert.equal((await c.upload('big', await makeZip([{ name: 'fits.txt', data: 'z'.repeat(20 * 1024) }]), [{ fn: 'seed.txt', size: seed.length, sha1: sha1(seed) }])).status, 200);
  });

  it('a chunked request body over the cap is cut off with 401; nothing written', async () => {
    await nothingWritten(t, async () => {
      const z = new JSZip();
      z.file('noise.bin', randomBytes(2 * 1024 * 1024), { compression: 'STORE', createFolders: false });
      const mp = multipartBody([{ name: 'resources', value: '[]' }, { name: 'application', value: await z.generateAsync({ type: 'nodebuffer' }), filename: 'a.zip' }]);
      const reply = await new Promise<{ status: number; body: string }>((resolve) => {
        const u = new URL(`${c.url}/apps/big/application`);
        const req = http.request({ hostname: u.hostname, port: u.port, path: u.pathname, method: 'PUT', headers: { authorization: t.token, 'content-type': mp.contentType, 'transfer-encoding': 'chunked' } }, (res) => {
          let body = '';
          res.on('data', (d: Buffer) => { body += d.toString(); });
          res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
          res.on('error', () => resolve({ status: res.statusCode ?? 0, body }));
        });
        req.on('error', () => undefined);
        for (let i = 0; i < mp.body.length; i += 64 * 1024) req.write(mp.body.subarray(i, i + 64 * 1024));
        req.end();
      });
      assert.equal(reply.status, 400);
      assert.equal((JSON.parse(reply.body) as { code: number }).code, 401);
      await sleep(200);
    });
  });

  it('memory x instances over the account limit (600), too many apps (601), too many uris (602)', async () => {
    await nothingWritten(t, async () => {
      expectError(await c.create({ name: 'hog', resources: { memory: 2048 } }), 403, 600);
      expectError(await c.create({ name: 'hog', instances: 5, resources: { memory: 256 } }), 403, 600);
      expectError(await c.create({ name: 'hog', uris: ['a.localhost', 'b.localhost', 'c.localhost'] }), 403, 602);
      expectError(await c.req('PUT', '/apps/big', { json: { instances: 8, resources: { memory: 256 } } }), 403, 600);
    });
    assert.equal((await c.create({ name: 'two' })).status, 302);
    assert.equal((await c.create({ name: 'three' })).status, 302);
    await nothingWritten(t, async () => {
      expectError(await c.create({ name: 'four' }), 403, 601);
    });
  });
});

describe('controller: restart', function () {
  this.timeout(60_000);

  it('a controller restarted on the same data dir keeps apps, packages and the pool', async () => {
    const first = await startTestController();
    const c1 = new Client(first);
    await c1.create({ name: 'survivor', instances: 2, env: ['K=v'], uris: ['survivor.localhost', 'alt.localhost'] });
    const body = 'persist me '.repeat(1000);
    const up = await c1.upload('survivor', await makeZip([{ name: 'data.txt', data: body }, { name: 'run.sh', data: 'echo', mode: 0o100755 }]), []);
    assert.equal(up.status, 200);
    const before = await c1.app('survivor');
    const pkgBefore = (await c1.req('GET', '/apps/survivor/application')).body;
    const dataDir = first.dataDir;
    const nats = first.nats;
    await first.controller.stop();
    await first.bus.close();
    const second = await startTestController({ dataDir, nats });
    try {
      const c2 = new Client(second);
      const after = await c2.app('survivor');
      assert.deepEqual({ ...after, runningInstances: 0 }, { ...before, runningInstances: 0 });
      assert.ok((await c2.req('GET', '/apps/survivor/application')).body.equals(pkgBefore));
      const held = await c2.req('POST', '/resources', { json: [{ fn: 'data.txt', size: body.length, sha1: sha1(body) }] });
      assert.equal((held.json as unknown[]).length, 1);
      const db = new BetterSqlite3(path.join(dataDir, 'controller.db'), { readonly: true });
      assert.deepEqual(db.prepare('SELECT version FROM schema_version').all(), migrations.map((m) => ({ version: m.version })), 'migrations ran once');
      assert.equal(db.pragma('journal_mode', { simple: true }), 'wal');
      db.close();
      const again = await c2.upload('survivor', await makeZip([{ name: 'run.sh', data: 'echo', mode: 0o100755 }]), [{ fn: 'data.txt', size: body.length, sha1: sha1(body) }]);
      assert.equal((again.json as { changed: boolean }).changed, false, 'pooled blob and deterministic package survive the restart');
    } finally {
      await second.stop();
      fs.rmSync(dataDir, { recursive: true, force: true });
      await nats.stop();
    }
  });
});
