// End to end through the router, one real platform: a re-push under steady traffic loses no request,
// WebSockets pass through to the ws-echo sample, and sticky sessions (`__VCAP_ID__`) pin a client
// to one of three instances.
import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import WebSocket from 'ws';
import type { HttpReply } from './support/controller';
import {
  copyFixture, e2eWait, fixture, hostOf, instanceFolders, instanceIndexOf, liveInstances, pushApp, startE2ePlatform, viaRouter,
  type TestPlatform,
} from './support/e2e';
import { sleep, waitFor } from './support/wait';

/** A small app with its own greeting and no SIGTERM handler: it dies the moment it is told to stop. */
function helloVersion(label: string): string {
  return copyFixture('node-hello', {
    'server.js': [
      "const index = JSON.parse(process.env.VCAP_APPLICATION || '{}').instance_index;",
      `require('http').createServer((q, s) => s.end(\`${label}, instance \${index}\\n\`)).listen(Number(process.env.PORT));`,
      '',
    ].join('\n'),
  });
}

describe('e2e: re-push without a failed request, WebSockets, sticky sessions', function () {
  this.timeout(90_000);
  let t: TestPlatform;
  const temps: string[] = [];

  before(async () => { t = await startE2ePlatform(); });
  after(async () => {
    await t?.stop();
    for (const d of temps) fs.rmSync(d, { recursive: true, force: true });
  });

  it('re-push of a changed app under steady requests: zero failures, the new version answers at the end', async () => {
    const name = 'steady';
    const v1 = helloVersion('steady v1');
    const v2 = helloVersion('steady v2');
    temps.push(v1, v2);
    await pushApp(t, v1, { name, memory: 64, instances: 2 });
    assert.match((await viaRouter(t, hostOf(name))).text, /^steady v1, instance [01]\n$/);
    const oldPids = liveInstances(instanceFolders(t.dataDir, name)).map((f) => f.pid);
    assert.equal(oldPids.length, 2);

    // Four clients, each sending GETs one after another (new connections and keep-alive both happen).
    let running = true;
    const results: { ok: boolean; what: string; at: number }[] = [];
    const client = async (): Promise<void> => {
      while (running) {
        let r: HttpReply | null = null;
        let err = '';
        try { r = await viaRouter(t, hostOf(name)); } catch (e) { err = String(e); }
        const ok = r !== null && r.status === 200 && /^steady v[12], instance [01]\n$/.test(r.text);
        results.push({ ok, what: r ? `${r.status} ${r.text.trim()}` : err, at: Date.now() });
      }
    };
    const clients = [client(), client(), client(), client()];
    await sleep(300);
    const p = await pushApp(t, v2, { name, memory: 64, instances: 2 });
    assert.equal(p.summary.running, 2);
    // Until the old version is gone everywhere, and a moment after.
    await waitFor('the old instances to end', () => oldPids.every((pid) => !fs.existsSync(`/proc/${pid}`)) ? true : undefined, e2eWait);
    await sleep(500);
    running = false;
    await Promise.all(clients);

    const failed = results.filter((r) => !r.ok);
    const bodies = new Set(results.map((r) => r.what.replace(/, instance \d/, '')));
    console.log(`      ${results.length} requests during the re-push, ${failed.length} failed; saw ${[...bodies].join(' | ')}`);
    assert.deepEqual(failed.slice(0, 5), [], `${failed.length} of ${results.length} requests failed`);
    assert.ok(results.length > 50, `steady traffic (${results.length} requests)`);
    assert.ok(bodies.has('200 steady v1') && bodies.has('200 steady v2'), 'both versions answered during the re-push');
    const lastV1 = Math.max(...results.filter((r) => r.what.includes('v1')).map((r) => r.at));
    assert.ok(results.filter((r) => r.at > lastV1).length > 0, 'v2 answered after v1 was gone');
    for (let i = 0; i < 10; i++) assert.match((await viaRouter(t, hostOf(name))).text, /^steady v2, instance [01]\n$/);
    assert.equal(liveInstances(instanceFolders(t.dataDir, name)).length, 2, 'only the new instances run');
  });

  it('WebSocket echo through the router (text, binary, ping, close)', async () => {
    await pushApp(t, fixture('ws-echo'));
    const port = new URL(t.router).port;
    const ws = new WebSocket(`ws://127.0.0.1:${port}/echo`, { headers: { Host: hostOf('ws-echo') } });
    const upgrade = new Promise<Record<string, unknown>>((resolve) => ws.once('upgrade', (res) => resolve(res.headers)));
    await new Promise<void>((resolve, reject) => { ws.once('open', () => resolve()); ws.once('error', reject); });
    assert.equal((await upgrade)['x-instance-index'], '0', 'the 101 came from the app');
    const next = (): Promise<{ data: Buffer; binary: boolean }> => new Promise((resolve) => ws.once('message', (data: Buffer, binary: boolean) => resolve({ data, binary })));

    let m = next();
    ws.send('hello through the router');
    assert.deepEqual(await m, { data: Buffer.from('hello through the router'), binary: false });
    const bin = Buffer.from(Array.from({ length: 70_000 }, (_, i) => i % 251));
    m = next();
    ws.send(bin);
    const got = await m;
    assert.equal(got.binary, true);
    assert.ok(got.data.equals(bin), 'a 70 kB binary message came back intact');
    const pong = new Promise<Buffer>((resolve) => ws.once('pong', (d: Buffer) => resolve(d)));
    ws.ping(Buffer.from('p1'));
    assert.equal((await pong).toString(), 'p1');
    const closed = new Promise<number>((resolve) => ws.once('close', (code: number) => resolve(code)));
    ws.close(1000, 'done');
    assert.equal(await closed, 1000);
    // Plain HTTP to the same app still works.
    assert.match((await viaRouter(t, hostOf('ws-echo'))).text, /^Hello from ws-echo, instance 0/);
    // An upgrade to an unknown host gets the router's 404.
    const stray = new WebSocket(`ws://127.0.0.1:${port}/`, { headers: { Host: hostOf('nobody-here') } });
    const status = await new Promise<number>((resolve) => {
      stray.once('unexpected-response', (_req, res) => resolve(res.statusCode ?? 0));
      stray.once('error', () => resolve(-1));
    });
    assert.equal(status, 404);
  });

  it('sticky session: with __VCAP_ID__ every request lands on the same one of 3 instances', async () => {
    const p = await pushApp(t, fixture('sticky-session'));
    assert.equal(p.summary.running, 3);
    const host = hostOf('sticky-session');
    // Without a session, requests spread.
    const spread = await waitFor('requests without a cookie to reach 3 instances', async () => {
      const idx = new Set<number | null>();
      for (let i = 0; i < 15; i++) idx.add(instanceIndexOf(await viaRouter(t, host)));
      return idx.size === 3 ? idx : undefined;
    }, { ...e2eWait, timeoutMs: 15_000 });
    assert.equal(spread.size, 3);

    const first = await viaRouter(t, host);
    const setCookie = first.headers['set-cookie'] ?? [];
    const jsession = setCookie.find((c) => c.startsWith('JSESSIONID='));
    const vcapId = setCookie.find((c) => c.startsWith('__VCAP_ID__='));
    assert.ok(jsession && vcapId, `the app's JSESSIONID and the router's __VCAP_ID__: ${JSON.stringify(setCookie)}`);
    const id = vcapId.split(';')[0].split('=')[1];
    const owner = liveInstances(instanceFolders(t.dataDir, 'sticky-session')).find((f) => f.instanceId === id);
    assert.ok(owner, '__VCAP_ID__ names a live instance');
    const index = instanceIndexOf(first);
    assert.equal(owner.index, index);
    const cookie = `${jsession.split(';')[0]}; ${vcapId.split(';')[0]}`;
    for (let i = 0; i < 20; i++) {
      const r = await viaRouter(t, host, '/', { cookie });
      assert.equal(r.status, 200);
      assert.equal(instanceIndexOf(r), index, `request ${i} stayed on instance ${index}`);
    }
    // A session whose instance is unknown is still served.
    const r = await viaRouter(t, host, '/', { cookie: '__VCAP_ID__=0000000000000000; JSESSIONID=x' });
    assert.equal(r.status, 200);
  });
});
