// End to end, one real platform: the seed's own `vmc push` transcript (PROTOCOL.md §8) replayed over
// raw HTTP with the sinatra sample, then every framework's sample pushed with the client and
// answering through the router.
import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as path from 'node:path';
import JSZip from 'jszip';
import { httpRequest, multipartBody, type HttpReply } from './support/controller';
import { e2eWait, fixture, hostOf, pushApp, startE2ePlatform, viaRouter, type TestPlatform } from './support/e2e';
import { waitFor } from './support/wait';

describe('e2e: push and run', function () {
  this.timeout(120_000);
  let t: TestPlatform;

  before(async () => { t = await startE2ePlatform(); });
  after(async () => { await t?.stop(); });

  describe('the seed transcript of vmc push (PROTOCOL.md §8), over raw HTTP', () => {
    const domain = 'test.localhost';
    const api = (p: string, opts: { method?: string; body?: string | Buffer; headers?: Record<string, string> } = {}): Promise<HttpReply> =>
      httpRequest(`${t.api}${p}`, { ...opts, token: t.token });
    const json = (body: unknown): { body: string; headers: Record<string, string> } => ({ body: JSON.stringify(body), headers: { 'content-type': 'application/json' } });

    it('GET /apps/test: 404, the name is free', async () => {
      const r = await api('/apps/test');
      assert.equal(r.status, 404);
      assert.equal((r.json as { code: number }).code, 301);
    });

    it('GET /info, /info/runtimes, /info: frameworks, runtimes (ruby), limits', async () => {
      const info = await api('/info');
      assert.equal(info.status, 200);
      const i = info.json as { frameworks: Record<string, unknown>; limits: { memory: number }; usage: unknown };
      assert.ok(i.frameworks.sinatra, 'sinatra is a framework');
      assert.equal(typeof i.limits.memory, 'number');
      const rt = await api('/info/runtimes');
      assert.equal(rt.status, 200);
      assert.ok(Object.keys(rt.json as object).some((k) => /^ruby/.test(k)), `a ruby runtime: ${rt.text}`);
      assert.equal((await api('/info')).status, 200);
    });

    let created: Record<string, unknown>;
    it('POST /apps with the legacy staging {model, stack: ruby19}: 302 and {result, redirect}', async () => {
      const r = await api('/apps', { method: 'POST', ...json({ name: 'test', instances: 1, staging: { model: 'sinatra', stack: 'ruby19' }, resources: { memory: 64 } }) });
      assert.equal(r.status, 302, r.text);
      assert.deepEqual(r.json, { result: 'success', redirect: `${t.api}/apps/test` });
      assert.equal(r.headers.location, `${t.api}/apps/test`);
      const g = await api('/apps/test');
      assert.equal(g.status, 200);
      created = g.json as Record<string, unknown>;
      assert.equal(created.name, 'test');
      assert.deepEqual(created.staging, { model: 'sinatra', stack: 'ruby19' });
      assert.equal(created.instances, 1);
      assert.equal(created.runningInstances, 0);
      assert.deepEqual(created.resources, { memory: 64, disk: 2048, fds: 256 });
      assert.equal(created.state, 'STOPPED');
      assert.deepEqual(created.services, []);
      assert.match(String(created.version), /^[0-9a-f]{40}-0$/);
      assert.deepEqual(created.env, []);
      const meta = created.meta as Record<string, unknown>;
      assert.equal(meta.debug, null);
      assert.equal(meta.console, null);
      assert.equal(meta.version, 1);
      assert.equal(typeof meta.created, 'number');
    });

    it('PUT /apps/test with the uris (the whole app echoed back, state STOPPED)', async () => {
      const r = await api('/apps/test', { method: 'PUT', ...json({ ...created, uris: [`test.${domain}`], state: 'STOPPED' }) });
      assert.equal(r.status, 200, r.text);
      assert.deepEqual((r.json as { uris: string[] }).uris, [`test.${domain}`]);
    });

    it('POST /apps/test/application: multipart, _method=put, resources "[]", application=test.zip', async () => {
      const zip = new JSZip();
      zip.file('app.rb', fs.readFileSync(path.join(fixture('sinatra-hello'), 'app.rb')));
      const bytes = await zip.generateAsync({ type: 'nodebuffer', compression: 'DEFLATE' });
      const { body, contentType } = multipartBody([
        { name: '_method', value: 'put' },
        { name: 'resources', value: '[]' },
        { name: 'application', value: bytes, filename: 'test.zip', contentType: 'application/zip' },
      ]);
      const r = await api('/apps/test/application', { method: 'POST', body, headers: { 'content-type': contentType } });
      assert.equal(r.status, 200, r.text);
    });

    it('PUT /apps/test state STARTED; GET /apps/test/instances shows RUNNING; the app answers through the router', async () => {
      const g = await api('/apps/test');
      const r = await api('/apps/test', { method: 'PUT', ...json({ ...(g.json as object), state: 'STARTED' }) });
      assert.equal(r.status, 200, r.text);
      const instances = await waitFor('instance 0 RUNNING', async () => {
        const i = await api('/apps/test/instances');
        const list = (i.json as { instances: { state: string }[] }).instances;
        if (list?.[0]?.state === 'FLAPPING') throw new Error(`FLAPPING: ${i.text}`);
        return list?.[0]?.state === 'RUNNING' ? list : undefined;
      }, { ...e2eWait, timeoutMs: 90_000 });
      assert.equal(instances.length, 1);
      const [inst] = instances as unknown as Record<string, unknown>[];
      assert.deepEqual(Object.keys(inst).sort(), ['console_ip', 'console_port', 'debug_ip', 'debug_port', 'index', 'since', 'state']);
      assert.equal(inst.index, 0);
      assert.equal(typeof inst.since, 'number');
      assert.ok(Math.abs((inst.since as number) - Date.now() / 1000) < 300, 'since is seconds since the epoch');
      for (const k of ['debug_ip', 'debug_port', 'console_ip', 'console_port']) assert.equal(inst[k], null);
      const app = (await api('/apps/test')).json as { state: string; runningInstances: number; package_state: string };
      assert.equal(app.state, 'STARTED');
      assert.equal(app.package_state, 'STAGED');
      const page = await waitFor('the app through the router', async () => {
        const p = await viaRouter(t, `test.${domain}`);
        return p.status === 200 ? p : undefined;
      }, { ...e2eWait, timeoutMs: 15_000 });
      assert.equal(page.text, 'Hello from sinatra-hello, instance 0\n');
      assert.equal(((await api('/apps/test')).json as { runningInstances: number }).runningInstances, 1);
    });
  });

  describe('each framework answers through the router', () => {
    const cases: { fixture: string; framework: RegExp; body: RegExp; check?: (r: HttpReply, log: string[]) => void }[] = [
      { fixture: 'node-hello', framework: /^node/, body: /^Hello from node-hello, instance 0\n$/ },
      {
        fixture: 'node-dep', framework: /^node/, body: /node-dep/,
        check: (_r, log) => assert.ok(log.some((l) => /npm install/.test(l)), `npm install in the staging log:\n${log.join('\n')}`),
      },
      {
        fixture: 'static-site', framework: /^static/, body: /<html/i,
        check: (r) => assert.equal(r.headers['x-instance-index'], '0'),
      },
      { fixture: 'sinatra-hello', framework: /^sinatra/, body: /^Hello from sinatra-hello, instance 0\n$/ },
      { fixture: 'flask-hello', framework: /^(wsgi|flask)/, body: /flask-hello/ },
    ];
    for (const c of cases) {
      it(`${c.fixture}`, async () => {
        const p = await pushApp(t, fixture(c.fixture));
        assert.equal(p.summary.started, true);
        assert.equal(p.summary.running, 1);
        assert.equal(p.summary.url, `http://${hostOf(c.fixture)}:${new URL(t.router).port}/`);
        assert.ok(p.stagingLog.length > 0, 'staging log lines streamed during the push');
        const app = await t.client.app(c.fixture);
        assert.match(String(app?.detected?.framework ?? app?.staging.model), c.framework);
        const r = await viaRouter(t, hostOf(c.fixture));
        assert.equal(r.status, 200, r.text);
        assert.match(r.text, c.body);
        c.check?.(r, p.stagingLog);
        // the staged log is kept and readable through the files API
        const log = (await t.client.files(c.fixture, 0, 'logs/staging.log')).toString();
        assert.match(log, /^\[\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\] /m);
      });
    }
  });
});
