// The router drops a lost DEA's routes at once (2.5 declared heartbeat periods), asks for them again
// when the DEA is heard again, and drops nothing when the silence is its own: a frozen NATS server,
// or the last DEA it hears. Real NATS, real backends on 127.0.0.1, real requests.
import { strict as assert } from 'node:assert';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import { Subjects, type Bus, type RouterRegister } from '../../platform/bus';
import { silentLog } from '../../platform/log';
import { startRouter, type Router } from '../../platform/router';
import { startTestNats, type TestNats } from './support/nats';

const PERIOD_MS = 100;
// 2.5 periods, raised to the actual-state model's 1 s floor.
const LIMIT_MS = 1000;
const URI = 'loss.localhost';
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** A DEA as the router sees it: heartbeats with a declared period, and one backend registered under its id. */
class FakeDea {
  private timer: NodeJS.Timeout | undefined;
  readonly server = http.createServer((_req, res) => { res.end(this.id); });
  port = 0;
  constructor(private readonly bus: Bus, readonly id: string) {}

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
  registration(): RouterRegister {
    return { dea: this.id, app: 'app', host: '127.0.0.1', port: this.port, uris: [URI], tags: {}, private_instance_id: `${this.id}-0` };
  }
  async stop(): Promise<void> {
    this.rest();
    this.server.closeAllConnections();
    await new Promise<void>((r) => this.server.close(() => r()));
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
    router = await startRouter({ bus: await t.connect('router'), log: silentLog, timings: { deaCheckIntervalMs: 50 } });
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
});
