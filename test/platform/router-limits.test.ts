// The router held against careless and hostile clients, over real sockets: silent and slow-loris
// sockets, more connections than the cap, stalled bodies both ways, request smuggling through
// `Connection`, spoofed X-Forwarded-*, cookies that do not decode, oversized heads.
import { strict as assert } from 'node:assert';
import * as http from 'node:http';
import * as net from 'node:net';
import type { AddressInfo } from 'node:net';
import { Subjects, type Bus } from '../../platform/bus';
import { silentLog } from '../../platform/log';
import { OVERLOADED_BODY, startRouter, type Router, type RouterOptions, type RouterTimings } from '../../platform/router';
import { httpRequest } from './support/controller';
import { sleep, waitFor } from './support/wait';
import { startTestNats, type TestNats } from './support/nats';

/** A raw client socket and everything it received. */
interface RawConn { socket: net.Socket; text: string; closed: boolean }

function rawConnect(port: number): Promise<RawConn> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1');
    const c: RawConn = { socket, text: '', closed: false };
    socket.on('data', (d: Buffer) => { c.text += d.toString('latin1'); });
    socket.on('close', () => { c.closed = true; });
    socket.on('error', () => undefined);
    socket.once('connect', () => resolve(c));
    socket.once('error', reject);
  });
}

/** Sends `request` on a fresh connection; resolves with what came back once the router closed it (or after `ms`). */
async function rawExchange(port: number, request: string | Buffer, ms = 3000): Promise<RawConn> {
  const c = await rawConnect(port);
  c.socket.write(request);
  const until = Date.now() + ms;
  while (!c.closed && Date.now() < until && !completeReply(c.text)) await sleep(10);
  return c;
}

/** A reply with a Content-Length body, received whole. */
function completeReply(text: string): boolean {
  const end = text.indexOf('\r\n\r\n');
  const m = /content-length: (\d+)\r\n/i.exec(text);
  return end >= 0 && m !== null && text.length >= end + 4 + Number(m[1]);
}

interface Seen { method: string; url: string; headers: http.IncomingHttpHeaders; body: string; complete: boolean }

/** A keep-alive backend that logs every request it sees; `/stall-head` never answers, `/stall-body` stops mid-body. */
interface LoggingBackend { port: number; seen: Seen[]; socketsClosed: number; server: http.Server }

async function startLoggingBackend(): Promise<LoggingBackend> {
  const b: LoggingBackend = { port: 0, seen: [], socketsClosed: 0, server: http.createServer({ keepAlive: true, maxHeaderSize: 64 * 1024 }) };
  b.server.on('connection', (s: net.Socket) => s.on('close', () => { b.socketsClosed++; }));
  b.server.on('request', (req: http.IncomingMessage, res: http.ServerResponse) => {
    const entry: Seen = { method: req.method ?? '', url: req.url ?? '', headers: req.headers, body: '', complete: false };
    b.seen.push(entry);
    if (req.url === '/stall-head') return;
    if (req.url === '/stall-body') { res.writeHead(200, { 'content-length': 1000 }); res.write('part'); return; }
    req.on('data', (d: Buffer) => { entry.body += d.toString('latin1'); });
    req.on('end', () => { entry.complete = true; res.end(`ok:${entry.body.length}`); });
  });
  b.server.on('upgrade', (_req: http.IncomingMessage, socket: net.Socket) => {
    socket.end('HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n');
  });
  await new Promise<void>((r) => b.server.listen(0, '127.0.0.1', r));
  b.port = (b.server.address() as AddressInfo).port;
  return b;
}

describe('router limits', function () {
  this.timeout(30_000);
  let t: TestNats;
  let bus: Bus;
  let router: Router;
  let backend: LoggingBackend;
  const conns: RawConn[] = [];
  const HOST = 'limits.localhost';

  /** A router with these limits, `HOST` routed to the logging backend. */
  async function routerWith(timings: Partial<RouterTimings>, opts: Pick<RouterOptions, 'maxConnections' | 'maxHeaderBytes'> = {}): Promise<void> {
    router = await startRouter({ bus: await t.connect('limits-router'), log: silentLog, timings, ...opts });
    bus.publish(Subjects.routerRegister, { dea: 'test-dea', app: 'app', host: '127.0.0.1', port: backend.port, uris: [HOST], tags: {} });
    await waitFor('the route', async () => {
      const replies = await bus.requestMany(Subjects.routerStatus, {}, { maxWait: 500, maxMessages: 1 });
      return replies.find((x) => x.id === router.id)?.routes[HOST] !== undefined;
    }, { timeoutMs: 5000, everyMs: 20 });
  }
  const connect = async (): Promise<RawConn> => { const c = await rawConnect(router.port); conns.push(c); return c; };
  const get = (path = '/', headers: Record<string, string> = {}): Promise<{ status: number; text: string }> =>
    httpRequest(`${router.url}${path}`, { host: HOST, headers });

  before(async () => {
    t = await startTestNats();
    bus = await t.connect('limits-test');
  });
  beforeEach(async () => { backend = await startLoggingBackend(); });
  afterEach(async () => {
    for (const c of conns.splice(0)) c.socket.destroy();
    await router?.stop();
    backend.server.closeAllConnections();
    await new Promise<void>((r) => backend.server.close(() => r()));
  });
  after(async () => { await t.stop(); });

  it('answers silent sockets 408 and closes them after the header timeout', async () => {
    await routerWith({ headerTimeoutMs: 500 });
    const opened = Date.now();
    const silent = await Promise.all(Array.from({ length: 5 }, connect));
    await waitFor('every silent socket closed', () => silent.every((c) => c.closed), { timeoutMs: 3000, everyMs: 20 });
    assert.ok(Date.now() - opened >= 400, 'not before the timeout');
    for (const c of silent) assert.match(c.text, /^HTTP\/1\.1 408 .*VCAP ROUTER: 408/s);
    assert.equal((await get()).status, 200);
  });

  it('cuts a slow-loris client sending one header byte per second', async () => {
    await routerWith({ headerTimeoutMs: 1500 });
    const c = await connect();
    const head = `GET / HTTP/1.1\r\nHost: ${HOST}\r\nX-Slow: ${'x'.repeat(40)}\r\n\r\n`;
    const started = Date.now();
    for (let i = 0; i < head.length && !c.closed && Date.now() - started < 5000; i++) {
      c.socket.write(head[i]);
      await sleep(1000);
    }
    assert.ok(c.closed, 'the trickling socket was closed');
    assert.ok(Date.now() - started < 4000, `cut after ${Date.now() - started} ms`);
    assert.match(c.text, /^HTTP\/1\.1 408 /);
    assert.equal(backend.seen.length, 0, 'nothing reached the backend');
  });

  it('keeps at most maxConnections: idle sockets beyond it get 503, and a normal request is still answered', async () => {
    await routerWith({ headerTimeoutMs: 20_000 }, { maxConnections: 50 });
    const silent: RawConn[] = [];
    for (let i = 0; i < 200; i++) silent.push(await connect());
    await waitFor('150 sockets refused', () => silent.filter((c) => c.closed).length >= 150, { timeoutMs: 5000, everyMs: 20 });
    await sleep(200);
    const shut = silent.filter((c) => c.closed);
    assert.equal(shut.length, 150, 'exactly the sockets beyond the cap are closed');
    for (const c of shut) assert.equal(c.text.slice(c.text.indexOf('\r\n\r\n') + 4), OVERLOADED_BODY);
    assert.match(shut[0].text, /^HTTP\/1\.1 503 /);
    const r = await get();
    assert.equal(r.status, 200, 'an idle socket made room for a real request');
    assert.equal(r.text, 'ok:0');
  });

  it('answers 503 to a newcomer when every connection is busy', async () => {
    await routerWith({ headerTimeoutMs: 20_000 }, { maxConnections: 10 });
    const busy = await Promise.all(Array.from({ length: 10 }, connect));
    for (const c of busy) c.socket.write(`GET / HTTP/1.1\r\nHost: ${HOST}\r\n`);
    await sleep(200);
    const r = await get();
    assert.equal(r.status, 503);
    assert.equal(r.text, OVERLOADED_BODY);
    assert.ok(busy.every((c) => !c.closed), 'requests in flight are not evicted');
    // One of them finishes its request: answered, then idle, and room for the next client.
    busy[0].socket.write('\r\n');
    await waitFor('the busy request answered', () => completeReply(busy[0].text), { timeoutMs: 3000, everyMs: 20 });
    assert.equal((await get()).status, 200);
  });

  it('cuts a request body that stops arriving (408, backend request closed), but not one that keeps flowing', async () => {
    await routerWith({ clientIdleMs: 300 });
    const c = await connect();
    c.socket.write(`POST /upload HTTP/1.1\r\nHost: ${HOST}\r\nContent-Length: 1000\r\n\r\n${'a'.repeat(100)}`);
    await waitFor('the stalled upload cut', () => c.closed, { timeoutMs: 3000, everyMs: 20 });
    assert.match(c.text, /^HTTP\/1\.1 408 .*VCAP ROUTER: 408/s);
    await waitFor('the backend side closed', () => backend.socketsClosed >= 1, { timeoutMs: 3000, everyMs: 20 });
    assert.equal(backend.seen[0].complete, false);

    const flowing = await new Promise<string>((resolve, reject) => {
      const req = http.request({ host: '127.0.0.1', port: router.port, method: 'POST', path: '/upload', headers: { host: HOST, 'content-length': 1500 } }, (res) => {
        let body = '';
        res.on('data', (d: Buffer) => { body += d.toString(); });
        res.on('end', () => resolve(body));
      });
      req.on('error', reject);
      void (async () => { for (let i = 0; i < 15; i++) { req.write('b'.repeat(100)); await sleep(100); } req.end(); })();
    });
    assert.equal(flowing, 'ok:1500', 'an upload slower than the idle timeout but flowing gets through');
  });

  it('answers 504 when the backend says nothing, and cuts a response body that stops flowing', async () => {
    await routerWith({ backendIdleMs: 300 });
    const head = await rawExchange(router.port, `GET /stall-head HTTP/1.1\r\nHost: ${HOST}\r\n\r\n`);
    assert.match(head.text, /^HTTP\/1\.1 504 .*VCAP ROUTER: 504/s);
    const body = await rawExchange(router.port, `GET /stall-body HTTP/1.1\r\nHost: ${HOST}\r\n\r\n`);
    await waitFor('the stalled response cut', () => body.closed, { timeoutMs: 3000, everyMs: 20 });
    conns.push(head, body);
    assert.match(body.text, /^HTTP\/1\.1 200 /);
    assert.ok(body.text.endsWith('part'), 'the client got the part sent, and a cut connection, not a complete response');
    await waitFor('both backend sockets closed', () => backend.socketsClosed >= 2, { timeoutMs: 3000, everyMs: 20 });
  });

  for (const [listed, framing] of [
    ['content-length', (inner: string) => `Content-Length: ${inner.length}\r\n\r\n${inner}`],
    ['transfer-encoding', (inner: string) => `Transfer-Encoding: chunked\r\n\r\n${inner.length.toString(16)}\r\n${inner}\r\n0\r\n\r\n`],
  ] as const) {
    it(`keeps the framing of a body whose client lists ${listed} in Connection (no smuggled request)`, async () => {
      await routerWith({});
      const inner = `GET /smuggled HTTP/1.1\r\nHost: ${HOST}\r\n\r\n`;
      const c = await rawExchange(router.port, `GET / HTTP/1.1\r\nHost: ${HOST}\r\nConnection: keep-alive, ${listed}\r\n${framing(inner)}`);
      conns.push(c);
      assert.match(c.text, /^HTTP\/1\.1 200 /);
      await sleep(200);
      assert.deepEqual(backend.seen.map((s) => s.url), ['/'], 'exactly one request reached the backend');
      const seen = backend.seen[0];
      assert.equal(seen.body, inner, 'the inner request arrived as the body');
      assert.equal(seen.headers['x-forwarded-for'], '127.0.0.1');
      assert.equal(seen.headers['x-forwarded-proto'], 'http');
      assert.equal(seen.headers['x-forwarded-host'], HOST);
    });
  }

  it('replaces client-sent X-Forwarded-Proto/Host/Port and appends to X-Forwarded-For', async () => {
    await routerWith({});
    const r = await get('/', {
      'x-forwarded-proto': 'https', 'x-forwarded-host': 'bank.example', 'x-forwarded-port': '443', 'x-forwarded-for': '10.9.9.9',
    });
    assert.equal(r.status, 200);
    const h = backend.seen[0].headers;
    assert.equal(h['x-forwarded-proto'], 'http');
    assert.equal(h['x-forwarded-host'], HOST);
    assert.equal(h['x-forwarded-port'], String(router.port));
    assert.equal(h['x-forwarded-for'], '10.9.9.9, 127.0.0.1');
  });

  it('routes a request or an upgrade whose __VCAP_ID__ cookie does not decode', async () => {
    await routerWith({});
    const r = await get('/', { cookie: '__VCAP_ID__=%E0%A4%A; other=1' });
    assert.equal(r.status, 200);
    assert.equal(r.text, 'ok:0');
    const up = await rawExchange(router.port, `GET /ws HTTP/1.1\r\nHost: ${HOST}\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nCookie: __VCAP_ID__=%E0%A4%A\r\n\r\n`, 1000);
    conns.push(up);
    assert.match(up.text, /^HTTP\/1\.1 101 /);
  });

  it('answers 431 to a request head over the limit, and routes one under it', async () => {
    await routerWith({});
    const big = await rawExchange(router.port, `GET / HTTP/1.1\r\nHost: ${HOST}\r\nX-Big: ${'b'.repeat(40 * 1024)}\r\n\r\n`);
    conns.push(big);
    assert.match(big.text, /^HTTP\/1\.1 431 .*VCAP ROUTER: 431/s);
    assert.equal((await get('/', { 'x-big': 'b'.repeat(20 * 1024) })).status, 200, 'a 20 KiB header is fine');
    assert.equal(backend.seen.length, 1);
  });

  it('answers every odd header with a reply, never an empty one', async () => {
    await routerWith({});
    const odd = [
      `Host: ${HOST}\r\nCookie: __VCAP_ID__=%\r\n`, `Host: ${HOST}\r\nCookie: __VCAP_ID__=%ZZ; __VCAP_ID__=\r\n`,
      `Host: [\r\n`, `Host: :::\r\n`, `Host: ${HOST}\r\nConnection: host, x-forwarded-for, , ,\r\n`,
      `Host: ${HOST}\r\nX-Bytes: \xe9\xff\x80\r\n`, `Host: ${'h'.repeat(5000)}\r\n`, `Host: ${HOST}\r\nUpgrade: \r\n`,
    ];
    for (const lines of odd) {
      const c = await rawExchange(router.port, Buffer.from(`GET / HTTP/1.1\r\n${lines}\r\n`, 'latin1'), 2000);
      conns.push(c);
      assert.match(c.text, /^HTTP\/1\.1 \d{3} /, JSON.stringify(lines));
    }
  });
});
