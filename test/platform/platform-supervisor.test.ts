// `pocket up` as a supervisor, against real processes: kill -9 nats-server and each component
// process; each comes back within seconds, the rest keep working, the app keeps answering through
// the router (except during the router's own restart), and pushes work after. Prints each figure.
import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { CloudControllerClient, readEndpoint, type Endpoint } from '../../platform/client';
import { buildCli, repoRoot, type CliHarness, type RunningUp } from './support/cli';
import { httpRequest } from './support/controller';
import { instanceFolders, liveInstances } from './support/e2e';
import { sleep, waitFor } from './support/wait';

const app = 'node-hello';
const fixture = path.join(repoRoot, 'test/fixtures/node-hello');

function parentOf(pid: number): number {
  try { const s = fs.readFileSync(`/proc/${pid}/stat`, 'utf8'); return Number(s.slice(s.lastIndexOf(')') + 2).split(' ')[1]); } catch { return 0; }
}

function argv(pid: number): string[] {
  try { return fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0'); } catch { return []; }
}

/** The pid of a direct child of `up` that runs `name` (`nats` for nats-server, else `pocket <name> --nats`). */
function childPid(up: number, name: string): number | undefined {
  for (const d of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(d) || parentOf(Number(d)) !== up) continue;
    const a = argv(Number(d));
    if (name === 'nats' ? a.some((x) => x.endsWith('nats-server')) : a[a.indexOf('--nats') - 1] === name) return Number(d);
  }
  return undefined;
}

function rssKb(pids: number[]): number {
  let kb = 0;
  for (const p of pids) {
    try { kb += Number(/VmRSS:\s+(\d+)/.exec(fs.readFileSync(`/proc/${p}/status`, 'utf8'))?.[1] ?? 0); } catch { /* gone */ }
  }
  return kb;
}

/** Requests through the router every 25 ms; counts the failures and when they happened. */
class Traffic {
  ok = 0;
  failed: number[] = [];
  private running = true;
  private done: Promise<void>;
  constructor(router: string) {
    this.done = (async () => {
      while (this.running) {
        const r = await httpRequest(`${router}/`, { host: `${app}.localhost` }).catch(() => null);
        if (r?.status === 200) this.ok++; else this.failed.push(Date.now());
        await sleep(25);
      }
    })();
  }
  reset(): void { this.ok = 0; this.failed = []; }
  /** ms from the first failure to the last one (0 when none). */
  gapMs(): number { return this.failed.length ? this.failed[this.failed.length - 1] - this.failed[0] + 25 : 0; }
  async stop(): Promise<void> { this.running = false; await this.done; }
}

describe('platform supervisor: pocket up restarts nats-server and every component', function () {
  this.timeout(240_000);
  let h: CliHarness;
  let dataDir: string;
  let up: RunningUp;
  let ep: Endpoint;
  let client: CloudControllerClient;
  let traffic: Traffic;
  const figures: string[] = [];
  const upPid = (): number => up.child.pid as number;

  const running = async (n: number): Promise<boolean> => {
    const list = await client.instances(app, { timeoutMs: 1000 });
    return list.filter((i) => i.state === 'RUNNING').length === n;
  };
  /** kill -9 of `name`'s process; resolves with the pid that replaces it and the ms until it appeared. */
  const kill = async (name: string): Promise<{ t0: number; pid: number }> => {
    const pid = childPid(upPid(), name);
    assert.ok(pid, `no ${name} process under pocket up`);
    traffic.reset();
    const t0 = Date.now();
    process.kill(pid, 'SIGKILL');
    const next = await waitFor(`a new ${name} process`, () => { const p = childPid(upPid(), name); return p !== undefined && p !== pid ? p : undefined; }, { timeoutMs: 15_000, everyMs: 20 });
    return { t0, pid: next };
  };
  const push = async (dir = fixture): Promise<number> => {
    const t = Date.now();
    const r = await h.run(['--data', dataDir, 'push', dir, '--name', app], {}, 90_000);
    assert.equal(r.code, 0, r.stderr);
    return Date.now() - t;
  };
  const note = (s: string): void => { figures.push(s); process.stdout.write(`      ${s}\n`); };

  before(async () => {
    h = await buildCli();
    dataDir = path.join(h.outDir, 'data');
    up = await h.up(dataDir);
    ep = readEndpoint(dataDir) as Endpoint;
    client = new CloudControllerClient({ api: ep.api, token: ep.token });
    await push();
    traffic = new Traffic(ep.router as string);
  });

  after(async () => {
    await traffic?.stop();
    client?.close();
    if (up && up.child.exitCode === null) { up.child.kill('SIGINT'); await up.exited; }
    if (figures.length) process.stdout.write(`      figures:\n${figures.map((f) => `        ${f}`).join('\n')}\n`);
    h?.cleanup();
  });

  it('runs nats-server and each component as its own process; measures their memory', () => {
    const names = ['nats', 'controller', 'stager', 'dea', 'health', 'router'];
    const pids = names.map((n) => childPid(upPid(), n));
    assert.ok(pids.every((p) => p !== undefined), `processes: ${JSON.stringify(Object.fromEntries(names.map((n, i) => [n, pids[i]])))}`);
    note(`RSS: pocket up ${rssKb([upPid()]) >> 10} MB, with nats-server and components ${rssKb([upPid(), ...pids as number[]]) >> 10} MB`);
  });

  it('nats-server: back on the same port, control plane within 2 s, no routed request fails', async () => {
    const { t0 } = await kill('nats');
    await waitFor('instances RUNNING', () => running(1), { timeoutMs: 10_000, everyMs: 25 });
    const controlMs = Date.now() - t0;
    const scaled = Date.now();
    await client.updateApp(app, { instances: 2 });
    await waitFor('2 instances RUNNING', () => running(2), { timeoutMs: 30_000, everyMs: 50 });
    note(`nats-server kill -9: control plane back in ${controlMs} ms; scale to 2 then took ${Date.now() - scaled} ms; routed requests failed ${traffic.failed.length} of ${traffic.ok + traffic.failed.length}`);
    assert.ok(controlMs < 2000, `control plane took ${controlMs} ms`);
    assert.equal(traffic.failed.length, 0);
    assert.equal((readEndpoint(dataDir) as Endpoint).nats, ep.nats);
  });

  it('dea: back; its instances run again (restarted by the health manager); pushes work after', async () => {
    const { t0 } = await kill('dea');
    const backMs = Date.now() - t0;
    await waitFor('instances RUNNING again', () => running(2), { timeoutMs: 45_000, everyMs: 100 });
    const appMs = Date.now() - t0;
    await waitFor('routed 200', async () => (await httpRequest(`${ep.router as string}/`, { host: `${app}.localhost` })).status === 200, { timeoutMs: 20_000, everyMs: 50 });
    const failed = traffic.failed.length;
    const gap = traffic.gapMs();
    const ms = await push(); // the manifest's 1 instance from here on
    note(`dea kill -9: process back in ${backMs} ms; instances RUNNING again after ${appMs} ms; routed requests failed ${failed} over ${gap} ms; push after ${ms} ms`);
  });

  it('controller: back on the same port; the app keeps answering', async () => {
    const { t0 } = await kill('controller');
    await waitFor('GET /info', async () => (await client.info()).name !== undefined, { timeoutMs: 20_000, everyMs: 25 });
    const backMs = Date.now() - t0;
    await waitFor('instances RUNNING', () => running(1), { timeoutMs: 10_000, everyMs: 50 });
    note(`controller kill -9: API back in ${backMs} ms; routed requests failed ${traffic.failed.length}`);
    assert.equal(traffic.failed.length, 0);
  });

  it('router: back on the same port; measures the gap in routed requests', async () => {
    const { t0 } = await kill('router');
    await waitFor('routed 200', async () => (await httpRequest(`${ep.router as string}/`, { host: `${app}.localhost` })).status === 200, { timeoutMs: 20_000, everyMs: 20 });
    note(`router kill -9: routing back in ${Date.now() - t0} ms; failed requests ${traffic.failed.length} over ${traffic.gapMs()} ms`);
  });

  it('health manager: back; it restarts a crashed instance again; the app keeps answering', async () => {
    const { t0 } = await kill('health');
    const backMs = Date.now() - t0;
    await sleep(1500);
    const victim = liveInstances(instanceFolders(dataDir, app))[0];
    assert.ok(victim?.pid);
    process.kill(victim.pid, 'SIGKILL');
    await waitFor('instance restarted', async () => liveInstances(instanceFolders(dataDir, app)).some((f) => f.pid !== victim.pid) && running(1), { timeoutMs: 30_000, everyMs: 100 });
    note(`health manager kill -9: process back in ${backMs} ms; a crashed instance running again ${Date.now() - t0} ms after the kill; routed requests failed ${traffic.failed.length}`);
  });

  it('stager: back; a push that stages works', async () => {
    const { t0 } = await kill('stager');
    const backMs = Date.now() - t0;
    // A changed file, so the push stages.
    const dir = path.join(h.outDir, 'changed');
    fs.cpSync(fixture, dir, { recursive: true });
    fs.appendFileSync(path.join(dir, 'server.js'), `\n// ${Date.now()}\n`);
    const ms = await push(dir);
    note(`stager kill -9: process back in ${backMs} ms; a push right after took ${ms} ms; routed requests failed ${traffic.failed.length}`);
  });

  it('stops everything on SIGINT after the restarts: no process left, endpoint.json and the lock gone', async () => {
    const all: number[] = [];
    const walk = (p: number): void => { for (const d of fs.readdirSync('/proc')) if (/^\d+$/.test(d) && parentOf(Number(d)) === p) { all.push(Number(d)); walk(Number(d)); } };
    walk(upPid());
    up.child.kill('SIGINT');
    assert.equal(await up.exited, 0, up.stderr());
    const left = all.filter((p) => argv(p).length > 1 && fs.existsSync(`/proc/${p}`) && !/\) Z/.test(fs.readFileSync(`/proc/${p}/stat`, 'utf8')));
    assert.deepEqual(left, []);
    assert.equal(readEndpoint(dataDir), null);
    assert.equal(fs.existsSync(path.join(dataDir, 'pocket.lock')), false);
  });
});
