// The router drops a lost DEA's routes at once (2.5 declared heartbeat periods), asks for them again
// when the DEA is heard again, and drops nothing when the silence is its own: a frozen NATS server,
// or the last DEA it hears. Requests in flight to the lost DEA's backends are cancelled then, and
// retried elsewhere or answered at once instead of waiting for a connect timeout or a response
// that never comes. Real NATS, real backends on 127.0.0.1, real requests.
import { strict as assert } from 'node:assert';
import { spawn, type ChildProcess } from 'node:child_process';
import * as http from 'node:http';
import * as net from 'node:net';
import type { AddressInfo } from 'node:net';
import { Subjects, type Bus, type RouterRegister } from '../../platform/bus';
import { silentLog, type Log } from '../../platform/log';
import { startRouter, type Router } from '../../platform/router';
import { startTestNats, type TestNats } from './support/nats';
import { waitFor } from './support/wait';

const PERIOD_MS = 100;
// 2.5 periods, raised to the actual-state model's 1 s floor.
const LIMIT_MS = 1000;
const URI = 'loss.localhost';
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
/** The router's default connect timeout, said here because the tests measure against it. */
const CONNECT_TIMEOUT_MS = 5000;
/** A request in flight to a lost DEA's backend is settled within this of the router dropping the DEA. */
const PROMPT_MS = 1000;

/** How a FakeDea's backend treats a request: answers its id, reads it and never answers, or starts a response it never ends. */
type Mode = 'answer' | 'hold' | 'stream';

interface Seen { method: string; url: string; body: string }

/** A DEA as the router sees it: heartbeats with a declared period, and one backend registered under its id. */
class FakeDea {
  private timer: NodeJS.Timeout | undefined;
  mode: Mode = 'answer';
  /** Every request and upgrade its backend saw, with the body bytes received so far. */
  readonly seen: Seen[] = [];
  readonly server = http.createServer((req, res) => {
    const seen: Seen = { method: req.method ?? '', url: req.url ?? '', body: '' };
    this.seen.push(seen);
    req.on('data', (d: Buffer) => { seen.body += d.toString('latin1'); });
    if (this.mode === 'stream') { res.writeHead(200, { 'content-length': 1000 }); res.write('part'); return; }
    if (this.mode === 'answer') req.on('end', () => { res.end(this.id); });
  });
  /** Upgraded sockets are the server's no more: closed by `stop`. */
  private readonly upgraded = new Set<net.Socket>();
  port = 0;
  constructor(private readonly bus: Bus, readonly id: string) {
    this.server.on('upgrade', (req: http.IncomingMessage, socket: net.Socket) => {
      this.seen.push({ method: req.method ?? '', url: req.url ?? '', body: '' });
      this.upgraded.add(socket);
      socket.once('close', () => this.upgraded.delete(socket));
      socket.write(`HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n${this.id}`);
    });
  }

  async start(): Promise<void> {
    await new Promise<void>((r) => this.server.listen(0, '127.0.0.1', r));
    this.port = (this.server.address() as AddressInfo).port;
    this.beat();
  }
  beat(): void {
    this.rest();
    const send = (): void => { this.bus.publish(Subjects.deaHeartbeat, { dea: this.id, droplets: [], interval_ms: PERIOD_MS }); };
    send();
    this.timer = setInterval(send, PERIOD_MS);
  }
  rest(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }
  /** Its backend's registration; `port` and `instance` name another backend of the same DEA. */
  registration(port = this.port, instance = `${this.id}-0`): RouterRegister {
    return { dea: this.id, app: 'app', host: '127.0.0.1', port, uris: [URI], tags: {}, private_instance_id: instance };
  }
  async stop(): Promise<void> {
    this.rest();
    for (const s of this.upgraded) s.destroy();
    this.server.closeAllConnections();
    await new Promise<void>((r) => this.server.close(() => r()));
  }
}

/**
 * A port on 127.0.0.1 whose connections never complete: a listener with a backlog of 1, filled,
 * in a child process that never accepts (its thread waits on an Atomics.wait that nothing wakes).
 * With the accept queue full the kernel drops further SYNs, so a connect stays pending as it does
 * to a host whose link is cut.
 */
async function startBlackhole(): Promise<{ port: number; stop(): void }> {
  const code = `const s = require('node:net').createServer();
s.listen(0, '127.0.0.1', 1, () => {
  process.stdout.write(s.address().port + '\\n');
  setImmediate(() => Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0));
});`;
  const child: ChildProcess = spawn(process.execPath, ['-e', code], { stdio: ['ignore', 'pipe', 'inherit'] });
  const fillers: net.Socket[] = [];
  const stop = (): void => { for (const f of fillers) f.destroy(); child.kill('SIGKILL'); };
  try {
    const port = await new Promise<number>((resolve, reject) => {
      child.once('error', reject);
      child.once('exit', (c) => reject(new Error(`blackhole exited (${c})`)));
      child.stdout?.once('data', (d: Buffer) => resolve(Number(d.toString().trim())));
    });
    // Fill the accept queue: connect until a connection stays pending.
    for (let i = 0; i < 16; i++) {
      const f = net.connect(port, '127.0.0.1');
      f.on('error', () => undefined);
      fillers.push(f);
      const connected = await new Promise<boolean>((resolve) => {
        const timer = setTimeout(() => resolve(false), 300);
        f.once('connect', () => { clearTimeout(timer); resolve(true); });
      });
      if (!connected) return { port, stop };
    }
    throw new Error('the blackhole kept accepting');
  } catch (e) {
    stop();
    throw e;
  }
}

interface Outcome {
  /** 0 when no response head came. */
  status: number;
  body: string;
  /** The response (or the connection) ended before its body was complete. */
  cut: boolean;
  /** When it ended. */
  at: number;
}

/** Long enough for an attempt to wait out the connect timeout and be retried, as before cancelling on loss. */
const CLIENT_WAIT_MS = CONNECT_TIMEOUT_MS + 2000;

/**
 * A request through the router. `body`: none, a whole body, or `open` (one chunk sent, the rest never
 * comes: a body still streaming). Settles when the response ends or the connection is cut, or after
 * CLIENT_WAIT_MS (then `cut` with whatever came).
 */
function send(port: number, opts: { method?: string; instance?: string; body?: string | 'open' } = {}): { headers: Promise<number>; done: Promise<Outcome> } {
  let gotHead: (status: number) => void = () => undefined;
  const headers = new Promise<number>((r) => { gotHead = r; });
  const done = new Promise<Outcome>((resolve) => {
    let status = 0;
    let body = '';
    const finish = (cut: boolean): void => { clearTimeout(timer); req.destroy(); resolve({ status, body, cut, at: Date.now() }); };
    const h: http.OutgoingHttpHeaders = { host: URI };
    if (opts.instance) h.cookie = `__VCAP_ID__=${opts.instance}`;
    const req = http.request({ host: '127.0.0.1', port, method: opts.method ?? 'GET', path: '/', headers: h, agent: false }, (res) => {
      status = res.statusCode ?? 0;
      gotHead(status);
      res.setEncoding('utf8');
      res.on('data', (d: string) => { body += d; });
      res.on('end', () => finish(false));
      res.on('error', () => finish(true));
      res.on('close', () => { if (!res.complete) finish(true); });
    });
    const timer = setTimeout(() => finish(true), CLIENT_WAIT_MS);
    req.on('error', () => finish(true));
    if (opts.body === 'open') req.write('first chunk');
    else req.end(opts.body);
  });
  return { headers, done };
}

/** An upgrade through the router on a raw socket: what came back within CLIENT_WAIT_MS, and when. */
async function upgrade(port: number, instance: string): Promise<{ text: string; at: number }> {
  const s = net.connect(port, '127.0.0.1');
  s.on('error', () => undefined);
  let text = '';
  s.on('data', (d: Buffer) => { text += d.toString('latin1'); });
  s.write(`GET /ws HTTP/1.1\r\nHost: ${URI}\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nCookie: __VCAP_ID__=${instance}\r\n\r\n`);
  try {
    return await waitFor('an answer to the upgrade', () => (/\r\n\r\n./s.test(text) ? { text, at: Date.now() } : false), { timeoutMs: CLIENT_WAIT_MS, everyMs: 5 });
  } catch {
    return { text, at: Date.now() };
  } finally {
    s.destroy();
  }
}

function get(port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = http.get({ host: '127.0.0.1', port, path: '/', headers: { host: URI }, agent: false, timeout: 3000 }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => { body += d; });
      res.on('end', () => resolve(`${res.statusCode} ${body}`));
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', reject);
  });
}

/** The bodies of `n` requests through the router, as a set. */
async function answers(port: number, n: number): Promise<Set<string>> {
  const out = new Set<string>();
  for (let i = 0; i < n; i++) out.add(await get(port));
  return out;
}

describe('router: a lost DEA\'s routes', function () {
  this.timeout(30_000);
  let t: TestNats;
  let bus: Bus;
  let router: Router;
  let b: FakeDea;
  let c: FakeDea;
  /** DEA id -> when the router dropped its routes (from its log, in this process). */
  const lostAt = new Map<string, number>();
  const log: Log = {
    ...silentLog,
    warn: (m) => { const lost = /^DEA (\S+) lost/.exec(m); if (lost) lostAt.set(lost[1], Date.now()); },
    child: () => log,
  };

  const backendsOf = async (): Promise<string[]> => {
    const [r] = await bus.requestMany(Subjects.routerStatus, {}, { maxWait: 1000, maxMessages: 1 });
    assert.ok(r, 'router answers router.status');
    return r.routes[URI] ?? [];
  };
  const waitRoutes = async (what: string, want: (keys: string[]) => boolean, timeoutMs = 5000): Promise<void> => {
    const until = Date.now() + timeoutMs;
    while (Date.now() < until) {
      if (want(await backendsOf())) return;
      await sleep(20);
    }
    assert.fail(`timed out waiting for ${what}: ${JSON.stringify(await backendsOf())}`);
  };
  const key = (d: FakeDea): string => `127.0.0.1:${d.port}`;

  beforeEach(async () => {
    t = await startTestNats();
    bus = await t.connect('deas');
    lostAt.clear();
    router = await startRouter({ bus: await t.connect('router'), log, timings: { deaCheckIntervalMs: 50, connectTimeoutMs: CONNECT_TIMEOUT_MS } });
    b = new FakeDea(bus, 'dea-b');
    c = new FakeDea(bus, 'dea-c');
    await b.start(); await c.start();
    bus.publish(Subjects.routerRegister, b.registration());
    bus.publish(Subjects.routerRegister, c.registration());
    await waitRoutes('both backends', (k) => k.includes(key(b)) && k.includes(key(c)));
  });
  afterEach(async () => {
    await router.stop();
    await b.stop(); await c.stop();
    await t.stop();
  });

  it('drops a silent DEA\'s backends after 2.5 declared periods, and asks for them when it is heard again', async () => {
    const starts: number[] = [];
    bus.subscribe(Subjects.routerStart, () => { starts.push(Date.now()); });
    await bus.flush();
    const quietAt = Date.now();
    b.rest();
    await waitRoutes('dea-b dropped', (k) => !k.includes(key(b)) && k.includes(key(c)));
    const droppedMs = Date.now() - quietAt;
    assert.ok(droppedMs >= LIMIT_MS - PERIOD_MS - 50, `dropped after ${droppedMs} ms, before 2.5 periods`);
    assert.ok(droppedMs < LIMIT_MS + 1000, `dropped after ${droppedMs} ms`);
    // B's backend still answers: only the router's view of B went, so every request goes to C.
    assert.deepEqual(await answers(router.port, 6), new Set(['200 dea-c']));

    const backAt = Date.now();
    b.beat();
    const deadline = Date.now() + 3000;
    while (!starts.some((s) => s >= backAt) && Date.now() < deadline) await sleep(20);
    assert.ok(starts.some((s) => s >= backAt), 'router.start published when the lost DEA is heard again');
    bus.publish(Subjects.routerRegister, b.registration()); // what a DEA does on router.start
    await waitRoutes('dea-b back', (k) => k.includes(key(b)) && k.includes(key(c)));
    assert.deepEqual(await answers(router.port, 6), new Set(['200 dea-b', '200 dea-c']));
  });

  it('keeps the routes of the last DEA it hears: silence from everyone is the router\'s own problem', async () => {
    b.rest(); c.rest();
    await sleep(LIMIT_MS * 2.5);
    assert.deepEqual(new Set(await backendsOf()), new Set([key(b), key(c)]));
    assert.deepEqual(await answers(router.port, 6), new Set(['200 dea-b', '200 dea-c']));
  });

  it('drops nothing through a NATS outage (a frozen nats-server), and still drops a DEA lost after it', async () => {
    const pid = t.nats.pid();
    assert.ok(pid);
    process.kill(pid, 'SIGSTOP');
    let served: Set<string>;
    try {
      await sleep(LIMIT_MS * 3);
      served = await answers(router.port, 6); // the router serves what it knows while NATS is gone
    } finally {
      process.kill(pid, 'SIGCONT');
    }
    assert.deepEqual(served, new Set(['200 dea-b', '200 dea-c']));
    // The clients find the server again; heartbeats missed meanwhile do not count against the DEAs.
    await sleep(LIMIT_MS * 2);
    assert.deepEqual(new Set(await backendsOf()), new Set([key(b), key(c)]));
    assert.deepEqual(await answers(router.port, 6), new Set(['200 dea-b', '200 dea-c']));
    c.rest();
    await waitRoutes('dea-c dropped after the outage', (k) => !k.includes(key(c)) && k.includes(key(b)));
  });
  describe('requests in flight when the DEA is lost', () => {
    let hole: { port: number; stop(): void } | undefined;
    afterEach(() => { hole?.stop(); hole = undefined; });

    /** A second backend of dea-b on a port whose connections never complete, pinned by `dea-b-hole`. */
    const registerHole = async (): Promise<void> => {
      hole = await startBlackhole();
      bus.publish(Subjects.routerRegister, b.registration(hole.port, 'dea-b-hole'));
      const k = `127.0.0.1:${hole.port}`;
      await waitRoutes('the blackholed backend', (keys) => keys.includes(k));
    };
    /** Resolves undefined if `p` has not settled after `ms`: the request is still waiting on dea-b. */
    const pending = <T>(p: Promise<T>, ms = 300): Promise<T | undefined> => Promise.race([p, sleep(ms).then(() => undefined)]);
    /** Asserts the outcome came within PROMPT_MS of the router dropping dea-b; returns how long after it came. */
    const promptAfterLoss = (o: { at: number }, what: string): number => {
      const at = lostAt.get('dea-b');
      assert.ok(at !== undefined, 'the router dropped dea-b');
      const ms = o.at - at;
      assert.ok(ms < PROMPT_MS, `settled ${ms} ms after the loss: ${what}`);
      return ms;
    };
    const outcome = (o: Outcome): string => `${o.status} ${o.body}${o.cut ? ' (cut)' : ''}`;

    it('retries a GET still connecting to the lost DEA\'s backend on another backend at once, not after the connect timeout', async () => {
      await registerHole();
      const sentAt = Date.now();
      const r = send(router.port, { instance: 'dea-b-hole' });
      assert.equal(await pending(r.done), undefined, 'the GET waits on the blackholed backend');
      b.rest();
      const out = await r.done;
      promptAfterLoss(out, outcome(out));
      assert.equal(outcome(out), '200 dea-c');
      assert.ok(out.at - sentAt < CONNECT_TIMEOUT_MS, `answered ${out.at - sentAt} ms after it was sent`);
      const n = router.counters();
      assert.equal(n.cancelledOnLoss, 1);
      assert.equal(n.retries, 1);
      assert.equal(n.badGateway, 0);
    });

    it('retries a GET the lost DEA\'s backend received but never answered on another backend at once', async () => {
      b.mode = 'hold';
      const r = send(router.port, { instance: 'dea-b-0' });
      await waitFor('the GET at dea-b', () => b.seen.length === 1, { timeoutMs: 3000, everyMs: 10 });
      b.rest();
      const out = await r.done;
      promptAfterLoss(out, outcome(out));
      assert.equal(outcome(out), '200 dea-c');
      assert.equal(c.seen.length, 1);
      assert.equal(router.counters().cancelledOnLoss, 1);
    });

    for (const [method, body, what] of [
      ['POST', 'open', 'a POST whose body is still streaming'],
      ['PUT', 'the whole body', 'a PUT whose whole body was sent'],
    ] as const) {
      it(`answers 502 at once to ${what} to the lost DEA's backend, and does not replay it`, async () => {
        b.mode = 'hold';
        const r = send(router.port, { method, instance: 'dea-b-0', body });
        const sent = body === 'open' ? 'first chunk' : body;
        await waitFor('the body at dea-b', () => b.seen[0]?.body === sent, { timeoutMs: 3000, everyMs: 10 });
        b.rest();
        const out = await r.done;
        promptAfterLoss(out, outcome(out));
        assert.equal(out.status, 502);
        assert.match(out.body, /VCAP ROUTER: 502/);
        await sleep(200);
        assert.deepEqual(c.seen, [], 'the other backend saw nothing');
        const n = router.counters();
        assert.equal(n.cancelledOnLoss, 1);
        assert.equal(n.retries, 0);
        assert.equal(n.badGateway, 1);
      });
    }

    it('answers 502 at once when the lost DEA\'s backends were the route\'s only ones', async () => {
      bus.publish(Subjects.routerUnregister, c.registration());
      await waitRoutes('dea-c unregistered', (k) => !k.includes(key(c)));
      await registerHole();
      const r = send(router.port, { instance: 'dea-b-hole' });
      assert.equal(await pending(r.done), undefined, 'the GET waits on the blackholed backend');
      b.rest(); // dea-c still heartbeats: the router hears the bus, so dea-b's silence is dea-b's
      const out = await r.done;
      promptAfterLoss(out, outcome(out));
      assert.equal(out.status, 502);
      assert.equal(router.counters().cancelledOnLoss, 1);
    });

    it('cuts the client\'s connection when the lost DEA\'s backend was streaming the response', async () => {
      b.mode = 'stream';
      const r = send(router.port, { instance: 'dea-b-0' });
      assert.equal(await r.headers, 200);
      assert.equal(await pending(r.done), undefined, 'the response is still streaming');
      b.rest();
      const out = await r.done;
      promptAfterLoss(out, outcome(out));
      assert.ok(out.cut, 'the response was cut, not completed');
      assert.equal(out.body, 'part');
      assert.deepEqual(c.seen, [], 'not replayed');
      assert.equal(router.counters().cancelledOnLoss, 1);
    });

    it('retries a WebSocket upgrade still connecting to the lost DEA\'s backend on another backend at once', async () => {
      await registerHole();
      const answer = upgrade(router.port, 'dea-b-hole');
      assert.equal(await pending(answer), undefined, 'the upgrade waits on the blackholed backend');
      b.rest();
      const out = await answer;
      promptAfterLoss(out, JSON.stringify(out.text));
      assert.match(out.text, /^HTTP\/1\.1 101 .*\r\n\r\ndea-c$/s);
      assert.equal(router.counters().cancelledOnLoss, 1);
    });
    it('closes an open WebSocket tunnel to the lost DEA\'s backend', async () => {
      const s = net.connect(router.port, '127.0.0.1');
      s.on('error', () => undefined);
      let text = '';
      let closedAt = 0;
      s.on('data', (d: Buffer) => { text += d.toString('latin1'); });
      s.on('close', () => { closedAt = Date.now(); });
      try {
        s.write(`GET /ws HTTP/1.1\r\nHost: ${URI}\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nCookie: __VCAP_ID__=dea-b-0\r\n\r\n`);
        await waitFor('the tunnel to dea-b', () => text.endsWith('\r\n\r\ndea-b'), { timeoutMs: 3000, everyMs: 5 });
        b.rest();
        const at = await waitFor('the tunnel closed', () => closedAt || false, { timeoutMs: CLIENT_WAIT_MS, everyMs: 5 }).catch(() => Date.now());
        promptAfterLoss({ at }, closedAt ? 'closed' : 'still open');
        assert.ok(closedAt > 0, 'the tunnel was closed');
        assert.deepEqual(c.seen, [], 'nothing went to the other backend');
        assert.equal(router.counters().cancelledOnLoss, 1);
      } finally {
        s.destroy();
      }
    });
  });
});
