// The REST client and the pusher against a real platform (controller, stager, DEA, health manager,
// router over a real nats-server) on a temp data dir.
import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as os from 'node:os';
import * as path from 'node:path';
import JSZip from 'jszip';
import {
  CloudControllerClient, CloudControllerError, CloudControllerUnreachableError, push, PushCancelledError, PushError, startApp,
  type PlatformEvent, type PushProgress,
} from '../../platform/client';
import { startTestPlatform, type TestPlatform } from './support/platform';

const fixtures = path.resolve(__dirname, '../fixtures');

function httpGet(url: string, host: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    http.get(url, { headers: { host } }, (res) => {
      let body = '';
      res.on('data', (d: Buffer) => { body += d.toString(); });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    }).on('error', reject);
  });
}

describe('client against a real platform', function () {
  this.timeout(60_000);
  let t: TestPlatform;
  let c: CloudControllerClient;
  let work: string;
  let cacheDir: string;

  /** A copy of a fixture (or an empty folder) to change freely. */
  const appDir = (name: string, from?: string): string => {
    const dir = path.join(work, name);
    if (from) fs.cpSync(path.join(fixtures, from), dir, { recursive: true });
    else fs.mkdirSync(dir, { recursive: true });
    return dir;
  };

  before(async () => {
    work = fs.mkdtempSync(path.join(os.tmpdir(), 'pocket-client-apps-'));
    cacheDir = path.join(work, '.push-cache');
    t = await startTestPlatform();
    c = t.client;
  });
  after(async () => {
    await t?.stop();
    fs.rmSync(work, { recursive: true, force: true });
  });

  describe('REST', () => {
    it('reads info without a token, everything else only with the right one (403, code 200)', async () => {
      const anonymous = new CloudControllerClient({ api: t.api, token: '' });
      try {
        const info = await anonymous.info();
        assert.equal(typeof info.name, 'string');
        assert.equal(info.limits, undefined);
        await assert.rejects(anonymous.apps(), (e: unknown) => e instanceof CloudControllerError && e.code === 200 && e.httpStatus === 403);
      } finally { anonymous.close(); }
      const info = await c.info();
      assert.ok(info.limits && info.usage, 'limits and usage with a valid token');
      assert.ok('node' in await c.runtimes());
      // The offerings of the gateways `startPlatform` runs: v1's type -> vendor -> version, free tier.
      const offerings = await c.services();
      const flat = Object.entries(offerings).flatMap(([type, vendors]) => Object.entries(vendors as Record<string, Record<string, { type: string; vendor: string; version: string; tiers: Record<string, unknown> }>>)
        .flatMap(([vendor, versions]) => Object.entries(versions).map(([version, o]) => ({ type, vendor, version, o }))));
      assert.ok(flat.some((f) => f.vendor === 'postgresql') && flat.some((f) => f.vendor === 'redis'), JSON.stringify(offerings));
      for (const f of flat) assert.deepEqual([f.o.type, f.o.vendor, f.o.version, 'free' in f.o.tiers], [f.type, f.vendor, f.version, true]);
    });

    it('creates (302 followed), reads, updates with meta.version (102 on a stale one) and deletes an app', async () => {
      assert.equal(await c.app('rest-app'), null);
      const app = await c.createApp({ name: 'rest-app', instances: 1, resources: { memory: 64 }, staging: { framework: 'node', runtime: 'node' } });
      assert.equal(app.name, 'rest-app');
      assert.equal(app.state, 'STOPPED');
      assert.deepEqual(app.uris, ['rest-app.localhost']);
      await c.updateApp('rest-app', { instances: 2, meta: { version: app.meta.version } });
      await assert.rejects(c.updateApp('rest-app', { instances: 3, meta: { version: app.meta.version } }),
        (e: unknown) => e instanceof CloudControllerError && e.code === 102 && e.httpStatus === 400);
      assert.equal((await c.app('rest-app'))?.instances, 2);
      await assert.rejects(c.createApp({ name: 'bad name' }), (e: unknown) => e instanceof CloudControllerError && e.code === 300);
      await assert.rejects(c.updateApp('rest-app', { env: ['VCAP_X=1'] }), (e: unknown) => e instanceof CloudControllerError && e.httpStatus === 400);
      assert.ok((await c.apps()).some((a) => a.name === 'rest-app'));
      await c.deleteApp('rest-app');
      assert.equal(await c.app('rest-app'), null);
      await assert.rejects(c.deleteApp('rest-app'), (e: unknown) => e instanceof CloudControllerError && e.code === 301 && e.httpStatus === 404);
    });

    it('uploads a zip with a resource list and downloads the assembled package', async () => {
      await c.createApp({ name: 'bits-app' });
      const zip = new JSZip();
      zip.file('a.txt', 'alpha');
      const first = await zip.generateAsync({ type: 'nodebuffer' });
      const sent = await c.uploadApplication('bits-app', first, []);
      assert.ok(sent > first.length, 'multipart body includes the zip');
      const a = { fn: 'a.txt', size: 5, sha1: 'be76331b95dfc399cd776d2fc68021e0db03cc4f' };
      assert.deepEqual(await c.matchResources([a, { fn: 'b.txt', size: 1, sha1: '0'.repeat(40) }]), [a]);
      // the pooled file is taken by reference, the new one from the zip
      const second = new JSZip();
      second.file('b.txt', 'beta');
      await c.uploadApplication('bits-app', await second.generateAsync({ type: 'nodebuffer' }), [{ ...a, fn: 'copy/a.txt' }]);
      const pkg = await JSZip.loadAsync(await c.downloadApplication('bits-app'));
      assert.deepEqual(Object.keys(pkg.files).filter((n) => !pkg.files[n].dir).sort(), ['b.txt', 'copy/a.txt']);
      assert.equal(await pkg.files['copy/a.txt'].async('string'), 'alpha');
      await assert.rejects(c.uploadApplication('bits-app', Buffer.from('not a zip'), []), (e: unknown) => e instanceof CloudControllerError && e.code === 402);
      await assert.rejects(c.uploadApplication('bits-app', first, [{ fn: '../escape', size: 5, sha1: a.sha1 }]), (e: unknown) => e instanceof CloudControllerError && e.code === 400);
      await c.deleteApp('bits-app');
    });

    it('follows a growing log file (?tail=1) until aborted', async () => {
      const dir = appDir('chatty');
      fs.writeFileSync(path.join(dir, 'server.js'), [
        "require('http').createServer((req, res) => { console.log('request ' + req.url); res.end('ok'); })",
        '  .listen(Number(process.env.PORT), () => console.log("listening"));',
      ].join('\n'));
      await push({ client: c, cacheDir, path: dir, name: 'chatty', memory: 64 });
      const ac = new AbortController();
      const stream = await c.streamFile('chatty', 0, 'logs/stdout.log', { tail: true, signal: ac.signal });
      let seen = '';
      const got = new Promise<void>((resolve) => {
        stream.on('data', (d: Buffer) => { seen += d.toString(); if (seen.includes('request /marker-2')) resolve(); });
      });
      stream.on('error', () => undefined);
      await httpGet(`${t.router}/marker-1`, 'chatty.localhost');
      await httpGet(`${t.router}/marker-2`, 'chatty.localhost');
      await got;
      assert.match(seen, /listening\nrequest \/marker-1\nrequest \/marker-2/);
      ac.abort();
      await assert.rejects(c.streamFile('chatty', 5, 'logs/stdout.log'), (e: unknown) => e instanceof CloudControllerError && e.httpStatus >= 400);
    });

    it('says which URL could not be reached', async () => {
      const dead = new CloudControllerClient({ api: 'http://127.0.0.1:9', token: 't' });
      await assert.rejects(dead.apps(), (e: unknown) => e instanceof CloudControllerUnreachableError && /http:\/\/127\.0\.0\.1:9 \(ECONNREFUSED\).*pocket up/.test(e.message));
      assert.throws(() => new CloudControllerClient({ api: 'not a url', token: '' }), /Not a valid API URL/);
    });
  });

  describe('push', () => {
    it('pushes, stages with live log lines and events, starts; reports every step and a summary', async () => {
      const dir = appDir('hello', 'node-hello');
      const steps: PushProgress['step'][] = [];
      const lines: string[] = [];
      const events: PlatformEvent[] = [];
      // all apps: `?app=hello` is refused until the app exists
      const sub = c.events({}, (e) => { if (e.name === 'hello') events.push(e); });
      await sub.ready;
      try {
        const s = await push({
          client: c, cacheDir, path: dir, name: 'hello', memory: 64, routerUrl: t.router,
          onProgress: (p) => { if (steps[steps.length - 1] !== p.step) steps.push(p.step); },
          onStagingLog: (l) => lines.push(l),
        });
        assert.deepEqual(steps, ['scanning', 'fingerprinting', 'matching', 'packing', 'uploading', 'uploaded', 'staging', 'starting', 'done']);
        assert.equal(s.created, true);
        assert.equal(s.files, 2);
        assert.equal(s.uploaded, 2);
        assert.equal(s.stagingNeeded, true);
        assert.equal(s.running, 1);
        assert.match(s.packageHash ?? '', /^[0-9a-f]{40}$/);
        assert.equal(s.url, `http://hello.localhost:${new URL(t.router).port}/`);
        assert.ok(s.bytesSent > 0);
        assert.ok(lines.some((l) => /Detected framework: node/.test(l)), lines.join('\n'));
        assert.ok(lines.every((l) => /^\[\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\] /.test(l)));
        const res = await httpGet(`${t.router}/`, 'hello.localhost');
        assert.equal(res.status, 200);
        assert.ok(events.some((e) => e.type === 'staging' && e.done === true && e.ok === true));
        assert.ok(events.some((e) => e.type === 'app'));
      } finally { sub.close(); }
    });

    it('re-pushes unchanged with nothing uploaded and no staging; one changed file travels alone', async () => {
      const dir = path.join(work, 'hello');
      // without a cache: the full v1 exchange (resource match, an upload of an empty zip)
      const same = await push({ client: c, cacheDir: false, path: dir, name: 'hello' });
      assert.deepEqual([same.uploaded, same.matched, same.stagingNeeded, same.created, same.reusedPackage], [0, 2, false, false, false]);
      assert.ok(same.bytesSent > 0);
      // with the cache of the first push: nothing read again, nothing uploaded
      const cached = await push({ client: c, cacheDir, path: dir, name: 'hello' });
      assert.deepEqual([cached.uploaded, cached.matched, cached.stagingNeeded, cached.reusedPackage], [0, 2, false, true]);
      assert.ok(cached.bytesSent < 100, `only the start request: ${cached.bytesSent} bytes`);
      assert.equal(cached.packageHash, same.packageHash);
      fs.appendFileSync(path.join(dir, 'server.js'), '\n// changed\n');
      fs.writeFileSync(path.join(dir, 'big.bin'), Buffer.alloc(200_000, 1));
      const before = same.packageHash;
      const changed = await push({ client: c, cacheDir, path: dir, name: 'hello', noStart: true });
      assert.deepEqual([changed.files, changed.uploaded, changed.matched, changed.stagingNeeded, changed.started], [3, 2, 1, true, false]);
      assert.notEqual(changed.packageHash, before);
      assert.ok(changed.bytesSent < 200_000 + 64 * 1024);
      // the running version is untouched until started
      assert.match((await httpGet(`${t.router}/`, 'hello.localhost')).body, /Hello from node-hello/);
      const started = await startApp({ client: c, name: 'hello', routerUrl: t.router });
      assert.equal(started.staged, true);
      assert.equal(started.running, 1);
    });

    it('applies manifest-style settings (instances, env, host) to an existing app with the start', async () => {
      const s = await push({ client: c, cacheDir, path: path.join(work, 'hello'), name: 'hello', instances: 2, env: { GREETING: 'hi' }, host: 'greeter' });
      assert.deepEqual([s.instances, s.running, s.uris], [2, 2, ['greeter.localhost']]);
      const app = await c.app('hello');
      assert.deepEqual(app?.env, ['GREETING=hi']);
      assert.equal((await httpGet(`${t.router}/`, 'greeter.localhost')).status, 200);
    });

    it('refuses a folder with a link outside it before creating anything', async () => {
      const dir = appDir('leaky', 'node-hello');
      fs.symlinkSync('/etc/passwd', path.join(dir, 'passwd'));
      await assert.rejects(push({ client: c, cacheDir, path: dir, name: 'leaky' }), (e: unknown) => e instanceof PushError && /passwd is a symbolic link to \/etc\/passwd, outside the app folder/.test(e.message));
      assert.equal(await c.app('leaky'), null);
    });

    it('reports a staging failure with the stager\'s words, after streaming its log', async () => {
      const dir = appDir('undetectable');
      fs.writeFileSync(path.join(dir, 'README.txt'), 'nothing to run here\n');
      const lines: string[] = [];
      await assert.rejects(push({ client: c, cacheDir, path: dir, name: 'undetectable', onStagingLog: (l) => lines.push(l) }), (e: unknown) => {
        assert.ok(e instanceof CloudControllerError, String(e));
        assert.match(e.message, /[Ss]taging failed/);
        return true;
      });
      assert.ok(lines.length > 0, 'the staging log streamed before the failure');
      assert.equal((await c.app('undetectable'))?.package_state, 'FAILED');
    });

    it('pushes different apps concurrently', async () => {
      const names = ['conc-a', 'conc-b', 'conc-c'];
      const results = await Promise.all(names.map((n) => push({ client: c, cacheDir, path: appDir(n, 'node-hello'), name: n, memory: 64 })));
      assert.deepEqual(results.map((r) => r.running), [1, 1, 1]);
      // the same content was pooled by whichever came first: each upload still lands whole
      for (const n of names) assert.equal((await httpGet(`${t.router}/`, `${n}.localhost`)).status, 200);
    });

    it('uploads again when the controller\'s package is no longer the one the cache remembers', async () => {
      const a = appDir('cache-a', 'node-hello');
      const b = appDir('cache-b', 'static-site');
      const first = await push({ client: c, cacheDir, path: a, name: 'shared', noStart: true });
      await push({ client: c, cacheDir: false, path: b, name: 'shared', noStart: true });
      const again = await push({ client: c, cacheDir, path: a, name: 'shared', noStart: true });
      assert.equal(again.reusedPackage, false);
      assert.equal(again.packageHash, first.packageHash);
      assert.equal((await c.app('shared'))?.package_hash, first.packageHash);
      const reused = await push({ client: c, cacheDir, path: a, name: 'shared', noStart: true });
      assert.equal(reused.reusedPackage, true);
    });

    it('cancelled during the upload: nothing changes on the app', async () => {
      const dir = path.join(work, 'hello');
      const before = await c.app('hello');
      fs.writeFileSync(path.join(dir, 'new-file.txt'), 'x'.repeat(100_000));
      const ac = new AbortController();
      await assert.rejects(push({
        client: c, cacheDir, path: dir, name: 'hello', instances: 1, signal: ac.signal,
        onProgress: (p) => { if (p.step === 'uploading') ac.abort(); },
      }), (e: unknown) => e instanceof PushCancelledError && /during uploading/.test(e.message));
      const after = await c.app('hello');
      assert.deepEqual([after?.package_hash, after?.version, after?.instances], [before?.package_hash, before?.version, before?.instances]);
      fs.rmSync(path.join(dir, 'new-file.txt'));
    });

    it('cancelled during staging: the previous version keeps serving, the staging task is stopped', async () => {
      const dir = appDir('cancel-me', 'node-hello');
      await push({ client: c, cacheDir, path: dir, name: 'cancel-me', memory: 64 });
      const v1 = (await c.app('cancel-me'))?.version;
      // the new version's staging sleeps (npm postinstall) until cancelled
      for (const f of ['package.json', 'server.js', 'stage-sleep.js']) fs.copyFileSync(path.join(fixtures, 'slow-stage', f), path.join(dir, f));
      fs.cpSync(path.join(fixtures, 'slow-stage', 'vendor'), path.join(dir, 'vendor'), { recursive: true });
      const ac = new AbortController();
      const lines: string[] = [];
      const pushing = push({
        client: c, cacheDir, path: dir, name: 'cancel-me', signal: ac.signal,
        onStagingLog: (l) => { lines.push(l); if (/still staging/.test(l)) ac.abort(); },
      });
      await assert.rejects(pushing, (e: unknown) => e instanceof PushCancelledError && /during staging/.test(e.message));
      const app = await c.app('cancel-me');
      assert.equal(app?.version, v1, 'the live version did not change');
      // the app reads as before the push: the running droplet's package, staged
      assert.equal(app?.package_state, 'STAGED');
      assert.equal(app?.package_hash, app?.staged_hash);
      assert.equal(app?.staging_task_id ?? null, null, 'no staging task left running');
      assert.match((await httpGet(`${t.router}/`, 'cancel-me.localhost')).body, /Hello from node-hello/);
    });
  });
});
