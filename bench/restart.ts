// Restart benchmark (`npm run bench:restart`): `kill -9` of a running instance's app process (the
// node sample, test/fixtures/node-hello), then the time until the app serves again through the
// router from a new instance (GET /env polled every 20 ms until it answers 200 with another
// instance_id). The platform's own messages, read on its NATS, split that time: the DEA noticing
// the exit (`droplet.exited`), the health manager asking for a START, the new instance RUNNING
// (`dea.heartbeat`) and routed (`router.register`).
// Each run pushes its own app, so every first kill is a first crash (the health manager marks an
// index FLAPPING from the second crash within flappingTimeoutMs and restarts it after a back-off);
// with --kills 2 (the default) each app is killed a second time to show that designed delay too.
//   npm run bench:restart -- [--runs 7] [--kills 2] [--write docs/benchmarks.md]
import * as fs from 'node:fs';
import * as path from 'node:path';
import { parseArgs } from 'node:util';
import { Bus, Subjects } from '../platform/bus';
import { push } from '../platform/client';
import { silentLog } from '../platform/log';
import { writeSection } from './support/doc-section';
import { loadAverage, machineLines } from './support/machine';
import { startBenchPlatform, type BenchPlatform } from './support/platform';
import { get, pollUntil } from './support/processes';
import { fmtMs, max, median, min, sleep, table } from './support/stats';

const root = path.resolve(__dirname, '..');
const appDir = path.join(root, 'test/fixtures/node-hello');
const pollMs = 20;
const targetMs = 3000;

interface Options {
  runs: number;
  kills: number;
  write?: string;
}

function parseOptions(): Options {
  const { values } = parseArgs({
    options: { runs: { type: 'string', default: '7' }, kills: { type: 'string', default: '2' }, write: { type: 'string' } },
    strict: true,
  });
  const int = (name: string, v: string | undefined, lo: number, hi: number): number => {
    const n = Number(v);
    if (!Number.isInteger(n) || n < lo || n > hi) throw new Error(`--${name} must be an integer in ${lo}..${hi}, got ${v}`);
    return n;
  };
  return { runs: int('runs', values.runs, 1, 100), kills: int('kills', values.kills, 1, 2), write: values.write };
}

/** Platform messages seen on NATS, with the time they arrived here. */
interface Seen {
  at: bigint;
  kind: 'exited' | 'start' | 'running' | 'registered';
  droplet?: number;
  instance?: string;
  port?: number;
  uris?: string[];
}

function watchPlatform(bus: Bus, seen: Seen[]): void {
  const now = (): bigint => process.hrtime.bigint();
  bus.subscribe(Subjects.dropletExited, (m) => { seen.push({ at: now(), kind: 'exited', droplet: m.droplet, instance: m.instance }); });
  bus.subscribe(Subjects.hmRequests, (m) => { if (m.op === 'START') seen.push({ at: now(), kind: 'start', droplet: m.droplet }); });
  bus.subscribe(Subjects.deaHeartbeat, (m) => {
    for (const d of m.droplets) if (d.state === 'RUNNING') seen.push({ at: now(), kind: 'running', droplet: d.droplet, instance: d.instance });
  });
  bus.subscribe(Subjects.routerRegister, (m) => { seen.push({ at: now(), kind: 'registered', port: m.port, uris: m.uris }); });
}

interface Kill {
  /** 1: first crash of the index; 2: second crash within the flapping window. */
  nth: number;
  servedMs: number;
  exitedMs: number;
  startRequestedMs: number;
  runningMs: number;
  registeredMs: number;
  failedPolls: number;
}

async function instanceId(url: string, host: string): Promise<string> {
  const a = await get(`${url}/env`, { host });
  if (a.status !== 200) throw new Error(`GET /env through the router answered ${a.status}`);
  const id = (JSON.parse(a.body) as { VCAP_APPLICATION?: { instance_id?: string } }).VCAP_APPLICATION?.instance_id;
  if (!id) throw new Error(`GET /env has no VCAP_APPLICATION.instance_id: ${a.body.slice(0, 200)}`);
  return id;
}

async function killOnce(p: BenchPlatform, seen: Seen[], name: string, nth: number): Promise<Kill> {
  const host = `${name}.localhost`;
  const oldId = await instanceId(p.router, host);
  const pid = Number((await p.client.files(name, 0, 'run.pid')).toString('utf8').trim());
  const cmdline = fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').join(' ');
  if (!/server\.js/.test(cmdline)) throw new Error(`run.pid of ${name} names pid ${pid} (${cmdline}), not the app`);
  const from = seen.length;
  process.kill(pid, 'SIGKILL');
  const t0 = process.hrtime.bigint();
  let failedPolls = 0;
  const served = await pollUntil(`${p.router}/env`, {
    host, everyMs: pollMs, limitMs: 120_000,
    accept: (a) => {
      if (a.status !== 200) { failedPolls++; return false; }
      try { return (JSON.parse(a.body) as { VCAP_APPLICATION?: { instance_id?: string } }).VCAP_APPLICATION?.instance_id !== oldId; } catch { return false; }
    },
  });
  await sleep(200); // let the last messages of the restart arrive
  const after = seen.slice(from);
  const ms = (s: Seen | undefined): number => (s ? Number(s.at - t0) / 1e6 : NaN);
  // The droplet id (the app's id) is learnt from the exit of the killed instance.
  const exited = after.find((s) => s.kind === 'exited' && s.instance === oldId);
  const droplet = exited?.droplet;
  const running = after.find((s) => s.kind === 'running' && s.droplet === droplet && s.instance !== oldId);
  return {
    nth,
    servedMs: Number(served.at - t0) / 1e6,
    exitedMs: ms(exited),
    startRequestedMs: ms(after.find((s) => s.kind === 'start' && s.droplet === droplet)),
    runningMs: ms(running),
    // The first registration of the uri after the exit is the new instance's (the DEA sends it just before the heartbeat).
    registeredMs: ms(after.find((s) => s.kind === 'registered' && (s.uris ?? []).includes(host) && exited !== undefined && s.at >= exited.at)),
    failedPolls,
  };
}

async function appRun(p: BenchPlatform, seen: Seen[], run: number, kills: number): Promise<Kill[]> {
  const name = `restart-${run}`;
  const host = `${name}.localhost`;
  await push({ client: p.client, path: appDir, name, memory: 64, instances: 1, routerUrl: p.router });
  await pollUntil(`${p.router}/`, { host, everyMs: pollMs, limitMs: 30_000 });
  // Let the health manager see the app as stable before the first crash, as after any real push.
  await sleep(6000);
  const out: Kill[] = [];
  for (let k = 1; k <= kills; k++) out.push(await killOnce(p, seen, name, k));
  await p.client.deleteApp(name);
  return out;
}

function report(kills: Kill[], o: Options, loadBefore: string, upMs: number): { markdown: string; ok: boolean } {
  const first = kills.filter((k) => k.nth === 1);
  const second = kills.filter((k) => k.nth === 2);
  const row = (what: string, xs: number[]): string[] => {
    const ys = xs.filter(Number.isFinite);
    return [what, fmtMs(median(ys)), fmtMs(min(ys)), fmtMs(max(ys)), `${ys.length}`];
  };
  const rows = (ks: Kill[], label: string): string[][] => [
    row(`${label}: serving again through the router`, ks.map((k) => k.servedMs)),
    row('  DEA reported the exit (`droplet.exited`)', ks.map((k) => k.exitedMs)),
    row('  health manager asked for a START', ks.map((k) => k.startRequestedMs)),
    row('  new instance RUNNING (`dea.heartbeat`)', ks.map((k) => k.runningMs)),
    row('  new instance routed (`router.register`)', ks.map((k) => k.registeredMs)),
  ];
  const worst = max(first.map((k) => Math.max(k.servedMs, k.runningMs)));
  const ok = worst <= targetMs;
  const markdown = [
    machineLines(loadBefore),
    '',
    `${first.length} runs on one fresh platform (\`pocket up\`, its own process; up in ${fmtMs(upMs)}), default timings. Each run pushes ` +
      'its own copy of test/fixtures/node-hello, waits 6 s, then sends SIGKILL to the app\'s process (the pid in the instance\'s ' +
      '`run.pid`); times are from the kill. "Serving again" is the first 200 from a new instance (GET /env through the router, ' +
      'polled every 20 ms, new `instance_id`); the other rows are when the benchmark saw the platform\'s NATS messages.' +
      (second.length > 0 ? ' The second kill follows right after the first restart: the index is then FLAPPING and restarts after ' +
        'the health manager\'s back-off (minRestartDelayMs, 1 s by default), by design.' : ''),
    '',
    table(['from kill -9 until', 'median', 'min', 'max', 'runs'], [...rows(first, 'first crash'), ...(second.length > 0 ? rows(second, 'second crash (FLAPPING back-off)') : [])], 'lrrrr'),
    '',
    `Requests that failed through the router meanwhile (502 or 404 while no instance was routed): median ${median(first.map((k) => k.failedPolls))} polls per first crash.`,
    '',
    table(['target', 'measured', 'met'], [[
      'a killed instance RUNNING again (and serving) within 3 s',
      `worst of ${first.length} first crashes: ${fmtMs(worst)} (median serving ${fmtMs(median(first.map((k) => k.servedMs)))})`,
      ok ? 'yes' : '**no**',
    ]]),
  ].join('\n');
  return { markdown, ok };
}

async function main(): Promise<void> {
  const o = parseOptions();
  const loadBefore = loadAverage();
  const platform = await startBenchPlatform();
  let bus: Bus | undefined;
  try {
    const ep = JSON.parse(fs.readFileSync(path.join(platform.dataDir, 'endpoint.json'), 'utf8')) as { nats: string; token: string };
    bus = await Bus.connect({ url: ep.nats, token: ep.token, name: 'bench-restart', log: silentLog });
    const seen: Seen[] = [];
    watchPlatform(bus, seen);
    await bus.flush();
    const kills: Kill[] = [];
    for (let i = 0; i < o.runs; i++) {
      const ks = await appRun(platform, seen, i, o.kills);
      kills.push(...ks);
      process.stderr.write(`run ${i + 1}/${o.runs}: ${ks.map((k) => `kill ${k.nth}: serving after ${fmtMs(k.servedMs)} ` +
        `(exited ${fmtMs(k.exitedMs)}, START ${fmtMs(k.startRequestedMs)}, RUNNING ${fmtMs(k.runningMs)}, routed ${fmtMs(k.registeredMs)})`).join('; ')} ` +
        `(load ${loadAverage()})\n`);
      seen.length = 0;
    }
    const { markdown, ok } = report(kills, o, loadBefore, platform.upMs);
    process.stdout.write(`${markdown}\n`);
    if (o.write) {
      writeSection(o.write, 'restart', markdown);
      process.stderr.write(`wrote the figures into ${o.write}\n`);
    }
    if (!ok) process.exitCode = 2;
  } finally {
    await bus?.close();
    await platform.stop();
  }
}

main().catch((e: unknown) => {
  process.stderr.write(`bench:restart failed: ${e instanceof Error ? e.stack ?? e.message : String(e)}\n`);
  process.exitCode = 1;
});
