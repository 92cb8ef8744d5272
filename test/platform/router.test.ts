// The router over a real NATS server, with real backend HTTP servers on 127.0.0.1 and real requests.
import { strict as assert } from 'node:assert';
import * as http from 'node:http';
import * as net from 'node:net';
import type { AddressInfo } from 'node:net';
import { Subjects, type Bus, type RouterRegister, type RouterStart } from '../../platform/bus';
import { silentLog } from '../../platform/log';
import { NOT_FOUND_BODY, startRouter, type Router, type RouterTimings } from '../../platform/router';
import { startTestNats, type TestNats } from './support/nats';

interface Reply { status: number; headers: http.IncomingHttpHeaders; body: string }

/** One request to the router with a chosen Host header, on a fresh connection. */
function send(port: number, host: string | undefined, opts: { path?: string; method?: string; headers?: http.OutgoingHttpHeaders; body?: string } = {}): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const headers: http.OutgoingHttpHeaders = { ...opts.headers };
    if (host !== undefined) headers.host = host;
    const req = http.request({ host: '127.0.0.1', port, path: opts.path ?? '/', method: opts.method ?? 'GET', headers, agent: false, setHost: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString() }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(opts.body);
  });
}

/** Raw bytes in, raw response text out: for requests a well-behaved client would not make. */
function raw(port: number, request: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = net.connect(port, '127.0.0.1');
    let out = '';
    s.on('data', (d) => { out += d.toString(); });
    s.on('end', () => resolve(out));
    s.on('error', reject);
    s.setTimeout(3000, () => { s.destroy(); resolve(out); });
    s.write(request);
    // End of the response is the end of the headers plus the declared body for these tiny replies.
    s.on('data', () => {
      const m = /content-length: (\d+)\r\n/i.exec(out);
      const end = out.indexOf('\r\n\r\n');
      if (m && end >= 0 && out.length >= end + 4 + Number(m[1])) { s.destroy(); resolve(out); }
    });
  });
}

interface Backend { name: string; port: number; hits: number; server: http.Server; lastHeaders?: http.IncomingHttpHeaders }

/** A backend that answers `name` (and sets JSESSIONID on /login, echoes headers on /headers). */
async function startBackend(name: string): Promise<Backend> {
  const b: Backend = { name, port: 0, hits: 0, server: http.createServer() };
  b.server.on('request', (req: http.IncomingMessage, res: http.ServerResponse) => {
    b.hits++;
    b.lastHeaders = req.headers;
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      if (req.url === '/login') res.setHeader('set-cookie', ['JSESSIONID=abc123; Path=/', 'other=1']);
      if (req.url === '/headers') { res.setHeader('content-type', 'application/json'); res.end(JSON.stringify(req.headers)); return; }
      const body = Buffer.concat(chunks).toString();
      res.end(body ? `${name}:${body}` : name);
    });
  });
  await new Promise<void>((r) => b.server.listen(0, '127.0.0.1', r));
  b.port = (b.server.address() as AddressInfo).port;
  return b;
}

async function stopBackend(b: Backend): Promise<void> {
  b.server.closeAllConnections();
  await new Promise<void>((r) => b.server.close(() => r()));
}

/** A port nothing listens on. */
async function deadPort(): Promise<number> {
  const s = net.createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const port = (s.address() as AddressInfo).port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

function reg(port: number, uris: string[], id?: string): RouterRegister {
  return { dea: 'test-dea', app: 'app', host: '127.0.0.1', port, uris, tags: { framework: 'node' }, private_instance_id: id };
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

async function waitFor(what: string, check: () => Promise<boolean> | boolean, timeoutMs = 3000): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (Date.now() < until) {
    if (await check()) return;
    await sleep(20);
  }
  assert.fail(`timed out waiting for ${what}`);
}

describe('router', function () {
  this.timeout(20_000);
  let t: TestNats;
  let bus: Bus;
  let routerBus: Bus;
  let router: Router;
  const backends: Backend[] = [];
  const extraRouters: Router[] = [];

  const backend = async (name: string): Promise<Backend> => { const b = await startBackend(name); backends.push(b); return b; };
  const routesOf = async (r: Router): Promise<Record<string, string[]>> => {
    const replies = await bus.requestMany(Subjects.routerStatus, {}, { maxWait: 1000, maxMessages: 1 + extraRouters.length });
    const mine = replies.find((x) => x.id === r.id);
    assert.ok(mine, 'router answers router.status');
    return mine.routes;
  };
  const register = async (m: RouterRegister, r: Router = router): Promise<void> => {
    bus.publish(Subjects.routerRegister, m);
    await waitFor(`${m.uris[0]} -> ${m.port}`, async () => (await routesOf(r))[m.uris[0].toLowerCase()]?.includes(`${m.host}:${m.port}`) ?? false);
  };
  const unregister = async (m: RouterRegister): Promise<void> => {
    bus.publish(Subjects.routerUnregister, m);
    await waitFor(`${m.uris[0]} without ${m.port}`, async () => !(await routesOf(router))[m.uris[0]]?.includes(`${m.host}:${m.port}`));
  };

  before(async () => {
    t = await startTestNats();
    bus = await t.connect('test');
    routerBus = await t.connect('router');
    router = await startRouter({ bus: routerBus, log: silentLog });
  });
  after(async () => {
    await router.stop();
    for (const r of extraRouters) await r.stop();
    for (const b of backends) await stopBackend(b);
    await t.stop();
  });

  it('listens on loopback and routes by Host, port stripped and case folded', async () => {
    assert.match(router.url, /^http:\/\/127\.0\.0\.1:\d+$/);
    const a = await backend('a');
    await register(reg(a.port, ['hello.localhost']));
    for (const host of ['hello.localhost', `hello.localhost:${router.port}`, `Hello.LocalHost:${router.port}`, 'hello.localhost.']) {
      const r = await send(router.port, host);
      assert.equal(r.status, 200, host);
      assert.equal(r.body, 'a');
    }
    const post = await send(router.port, 'hello.localhost', { method: 'POST', body: 'payload' });
    assert.equal(post.body, 'a:payload');
  });

  it('answers 404 with the v1 body for unknown hosts', async () => {
    const r = await send(router.port, `nobody.localhost:${router.port}`);
    assert.equal(r.status, 404);
    assert.equal(r.body, NOT_FOUND_BODY);
    assert.equal(r.body, 'VCAP ROUTER: 404 - DESTINATION NOT FOUND');
  });

  it('answers 400 to an empty or missing Host', async () => {
    const empty = await raw(router.port, 'GET / HTTP/1.1\r\nHost: \r\n\r\n');
    assert.match(empty, /^HTTP\/1\.1 400 /);
    assert.match(empty, /VCAP ROUTER: 400/);
    const missing = await raw(router.port, 'GET / HTTP/1.0\r\n\r\n');
    assert.match(missing, /^HTTP\/1\.1 400 /);
    const portOnly = await send(router.port, `:${router.port}`);
    assert.equal(portOnly.status, 400);
  });

  it('spreads requests round-robin over three backends', async () => {
    const bs = [await backend('r1'), await backend('r2'), await backend('r3')];
    for (const b of bs) await register(reg(b.port, ['rr.localhost']));
    const counts = new Map<string, number>();
    for (let i = 0; i < 30; i++) {
      const r = await send(router.port, 'rr.localhost');
      counts.set(r.body, (counts.get(r.body) ?? 0) + 1);
    }
    assert.deepEqual([...counts.entries()].sort(), [['r1', 10], ['r2', 10], ['r3', 10]]);
  });

  it('spreads randomly when asked to', async () => {
    const bs = [await backend('x1'), await backend('x2'), await backend('x3')];
    const r = await startRouter({ bus: await t.connect('random-router'), log: silentLog, balancing: 'random' });
    extraRouters.push(r);
    for (const b of bs) await register(reg(b.port, ['random.localhost']), r);
    const seq: string[] = [];
    for (let i = 0; i < 60; i++) seq.push((await send(r.port, 'random.localhost')).body);
    assert.equal(new Set(seq).size, 3, `all three used: ${seq.join(' ')}`);
    // Round-robin repeats with period 3; 60 random picks do so with probability 3^-57.
    assert.ok(seq.some((b, i) => i >= 3 && b !== seq[i - 3]), `not round-robin: ${seq.join(' ')}`);
  });

  it('refreshes a registration of the same host:port instead of adding it twice, and unregisters', async () => {
    const a = await backend('u1');
    const b = await backend('u2');
    await register(reg(a.port, ['unreg.localhost', 'alias.localhost']));
    await register(reg(a.port, ['unreg.localhost']));
    await register(reg(b.port, ['unreg.localhost']));
    assert.deepEqual((await routesOf(router))['unreg.localhost'], [`127.0.0.1:${a.port}`, `127.0.0.1:${b.port}`]);
    await unregister(reg(a.port, ['unreg.localhost']));
    for (let i = 0; i < 4; i++) assert.equal((await send(router.port, 'unreg.localhost')).body, 'u2');
    assert.equal((await send(router.port, 'alias.localhost')).body, 'u1', 'other uris of the backend stay');
    await unregister(reg(b.port, ['unreg.localhost']));
    assert.equal((await send(router.port, 'unreg.localhost')).status, 404);
  });

  it('pins a JSESSIONID session to its instance with __VCAP_ID__', async () => {
    const bs = [await backend('s1'), await backend('s2'), await backend('s3')];
    for (const [i, b] of bs.entries()) await register(reg(b.port, ['sticky.localhost'], `instance-${i + 1}`));
    const login = await send(router.port, 'sticky.localhost', { path: '/login' });
    const cookies = login.headers['set-cookie'] ?? [];
    assert.ok(cookies.some((c) => c.startsWith('JSESSIONID=abc123')), 'the app cookie stays');
    const vcap = cookies.find((c) => c.startsWith('__VCAP_ID__='));
    assert.ok(vcap, `__VCAP_ID__ added: ${JSON.stringify(cookies)}`);
    const id = /^__VCAP_ID__=([^;]+)/.exec(vcap)![1];
    assert.equal(id, `instance-${login.body.slice(1)}`);
    for (let i = 0; i < 9; i++) {
      const r = await send(router.port, 'sticky.localhost', { headers: { cookie: `JSESSIONID=abc123; __VCAP_ID__=${id}` } });
      assert.equal(r.body, login.body);
    }
    // No JSESSIONID in the response: no cookie added.
    const plain = await send(router.port, 'sticky.localhost');
    assert.ok(!(plain.headers['set-cookie'] ?? []).some((c) => c.startsWith('__VCAP_ID__')));
    // The pinned instance goes away: the session moves to the others.
    const pinned = bs.find((b) => b.name === login.body)!;
    await unregister(reg(pinned.port, ['sticky.localhost'], id));
    const seen = new Set<string>();
    for (let i = 0; i < 4; i++) {
      const r = await send(router.port, 'sticky.localhost', { headers: { cookie: `__VCAP_ID__=${id}` } });
      assert.equal(r.status, 200);
      seen.add(r.body);
    }
    assert.ok(!seen.has(login.body));
    assert.equal(seen.size, 2);
  });

  it('adds X-Vcap-Backend and X-Vcap-Router only for the right X-Vcap-Trace key', async () => {
    const a = await backend('tr');
    await register(reg(a.port, ['trace.localhost']));
    const traced = await send(router.port, 'trace.localhost', { headers: { 'x-vcap-trace': router.traceKey } });
    assert.equal(traced.headers['x-vcap-backend'], `127.0.0.1:${a.port}`);
    assert.equal(traced.headers['x-vcap-router'], `127.0.0.1:${router.port}`);
    const wrong = await send(router.port, 'trace.localhost', { headers: { 'x-vcap-trace': 'guess' } });
    assert.equal(wrong.headers['x-vcap-backend'], undefined);
    assert.equal(wrong.headers['x-vcap-router'], undefined);
    assert.ok(router.traceKey.length >= 16);
    const keyed = await startRouter({ bus: await t.connect('keyed-router'), log: silentLog, traceKey: 'sesame' });
    extraRouters.push(keyed);
    await register(reg(a.port, ['trace.localhost']), keyed);
    const r = await send(keyed.port, 'trace.localhost', { headers: { 'x-vcap-trace': 'sesame' } });
    assert.equal(r.headers['x-vcap-backend'], `127.0.0.1:${a.port}`);
  });

  it('adds X-Forwarded-For/Proto/Host and keeps the original Host', async () => {
    const a = await backend('fw');
    await register(reg(a.port, ['fwd.localhost']));
    const r = await send(router.port, `fwd.localhost:${router.port}`, { path: '/headers', headers: { 'x-forwarded-for': '10.1.2.3', connection: 'keep-alive, x-private', 'x-private': 'hop' } });
    const h = JSON.parse(r.body) as Record<string, string>;
    assert.equal(h.host, `fwd.localhost:${router.port}`);
    assert.equal(h['x-forwarded-for'], '10.1.2.3, 127.0.0.1');
    assert.equal(h['x-forwarded-proto'], 'http');
    assert.equal(h['x-forwarded-host'], `fwd.localhost:${router.port}`);
    assert.equal(h['x-private'], undefined, 'headers named in Connection are hop-by-hop');
  });

  it('retries a refused connection on another backend and drops the dead one until it registers again', async () => {
    const live = await backend('live');
    const dead = await deadPort();
    await register(reg(dead, ['retry.localhost']));
    await register(reg(live.port, ['retry.localhost']));
    for (let i = 0; i < 4; i++) {
      const r = await send(router.port, 'retry.localhost');
      assert.equal(r.status, 200);
      assert.equal(r.body, 'live');
    }
    assert.deepEqual((await routesOf(router))['retry.localhost'], [`127.0.0.1:${live.port}`]);
    // A request with a body is retried too when the refused backend never saw it.
    await register(reg(dead, ['retry.localhost']));
    for (let i = 0; i < 2; i++) {
      const r = await send(router.port, 'retry.localhost', { method: 'POST', body: 'kept' });
      assert.equal(r.body, 'live:kept');
    }
    assert.deepEqual((await routesOf(router))['retry.localhost'], [`127.0.0.1:${live.port}`]);
  });

  it('retries a GET on another backend when a fresh connection is reset before any response', async () => {
    const live = await backend('steady');
    const resetter = net.createServer((sock) => { sock.once('data', () => sock.resetAndDestroy()); });
    await new Promise<void>((r) => resetter.listen(0, '127.0.0.1', r));
    const resetPort = (resetter.address() as AddressInfo).port;
    try {
      await register(reg(resetPort, ['reset.localhost']));
      await register(reg(live.port, ['reset.localhost']));
      for (let i = 0; i < 3; i++) assert.equal((await send(router.port, 'reset.localhost')).body, 'steady');
      assert.deepEqual((await routesOf(router))['reset.localhost'], [`127.0.0.1:${live.port}`], 'the resetting backend is dropped');
      // A POST that reached a backend is not sent twice: the client gets 502.
      await register(reg(resetPort, ['reset-post.localhost']));
      const r = await send(router.port, 'reset-post.localhost', { method: 'POST', body: 'once' });
      assert.equal(r.status, 502);
    } finally {
      await new Promise<void>((r) => resetter.close(() => r()));
    }
  });

  it('answers 502 when no backend answers, then 404 once the dead route is gone', async () => {
    const dead = await deadPort();
    await register(reg(dead, ['dead.localhost']));
    const r = await send(router.port, 'dead.localhost');
    assert.equal(r.status, 502);
    assert.match(r.body, /502/);
    assert.equal((await send(router.port, 'dead.localhost')).status, 404);
  });

  it('drops registrations whose lease ran out', async () => {
    const a = await backend('lease');
    const timings: Partial<RouterTimings> = { leaseMs: 1500, sweepIntervalMs: 50, startIntervalMs: 60_000 };
    const r = await startRouter({ bus: await t.connect('lease-router'), log: silentLog, timings });
    extraRouters.push(r);
    await register(reg(a.port, ['lease.localhost']), r);
    const registeredAt = Date.now();
    assert.equal((await send(r.port, 'lease.localhost')).status, 200);
    await sleep(700);
    bus.publish(Subjects.routerRegister, reg(a.port, ['lease.localhost'])); // a refresh extends the lease
    await sleep(registeredAt + 1700 - Date.now()); // past the first registration's lease
    assert.equal((await send(r.port, 'lease.localhost')).status, 200, 'refreshed lease still valid');
    await waitFor('lease expiry', async () => (await send(r.port, 'lease.localhost')).status === 404, 3000);
    assert.equal((await routesOf(r))['lease.localhost'], undefined);
  });

  it('publishes router.start at boot and periodically; participants that re-register keep their routes', async () => {
    const keeper = await backend('keeper');
    const leaver = await backend('leaver');
    const starts: RouterStart[] = [];
    const participant = await t.connect('participant');
    participant.subscribe(Subjects.routerStart, (m) => {
      starts.push(m);
      participant.publish(Subjects.routerRegister, reg(keeper.port, ['keep.localhost']));
    });
    await participant.flush();
    const timings: Partial<RouterTimings> = { leaseMs: 1000, sweepIntervalMs: 50, startIntervalMs: 200 };
    const r = await startRouter({ bus: await t.connect('start-router'), log: silentLog, timings });
    extraRouters.push(r);
    await waitFor('boot router.start', () => starts.some((s) => s.id === r.id));
    const mine = starts.find((s) => s.id === r.id)!;
    assert.deepEqual(mine.hosts, ['127.0.0.1']);
    assert.equal(mine.minimumRegisterIntervalInSeconds, 0.2);
    await register(reg(leaver.port, ['leave.localhost']), r);
    await waitFor('keeper registered', async () => (await send(r.port, 'keep.localhost')).status === 200);
    await sleep(2000);
    assert.ok(starts.filter((s) => s.id === r.id).length >= 5, 'periodic router.start');
    assert.equal((await send(r.port, 'keep.localhost')).body, 'keeper');
    assert.equal((await send(r.port, 'leave.localhost')).status, 404);
  });

  it('drops bad messages on its subjects and keeps routing', async () => {
    const a = await backend('sturdy');
    await register(reg(a.port, ['sturdy.localhost']));
    const before = routerBus.counters.dropped;
    const garbage: unknown[] = [
      'not json', '', '[]', 'null', '{"host":"127.0.0.1"}', '{"host":"127.0.0.1","port":0,"uris":["x.localhost"]}',
      '{"host":"127.0.0.1","port":70000,"uris":["x.localhost"]}', '{"host":"","port":80,"uris":["x.localhost"]}',
      '{"host":"127.0.0.1","port":80,"uris":[]}', '{"host":"127.0.0.1","port":80,"uris":"x.localhost"}',
      `{"host":"127.0.0.1","port":${a.port},"uris":[7]}`, '\u0000\u0001',
    ];
    for (const g of garbage) {
      bus.nc.publish(Subjects.routerRegister.subject, String(g));
      bus.nc.publish(Subjects.routerUnregister.subject, String(g));
      bus.nc.publish(Subjects.routerStart.subject, String(g));
    }
    bus.nc.publish(Subjects.routerStatus.subject, 'not json');
    // Well-formed but unusable uris are refused one by one; the usable one of the same message counts.
    bus.publish(Subjects.routerRegister, reg(a.port, ['has space.localhost', 'slash/path.localhost', 'ok-too.localhost']));
    await bus.flush();
    await waitFor('ok-too registered', async () => (await routesOf(router))['ok-too.localhost'] !== undefined);
    const routes = await routesOf(router);
    assert.ok(!Object.keys(routes).some((u) => u.includes(' ') || u.includes('/')), JSON.stringify(Object.keys(routes)));
    assert.equal(routes['x.localhost'], undefined);
    assert.ok(routerBus.counters.dropped - before >= 2 * (garbage.length - 1), `dropped ${routerBus.counters.dropped - before}`);
    assert.equal((await send(router.port, 'sturdy.localhost')).body, 'sturdy');
  });
});
