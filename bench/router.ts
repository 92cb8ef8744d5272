// Router benchmark (`npm run bench:router`): requests/s and latency with `wrk` against the node sample
// app (test/fixtures/node-hello) reached (a) directly, (b) through the router (`pocket router`, its own
// process, the app registered over NATS `router.register`), (c) through Debian nginx as a reverse
// proxy (keep-alive upstream, one worker), all in the same run, interleaved a,b,c,a,b,c,... so that
// the shared machine's drifting load hits all three alike. Prints a markdown table of medians.
//   npm run bench:router -- [--rounds 7] [--duration 5] [--connections 32] [--threads 1]
//                           [--profile] [--no-bare] [--app-work-kib N] [--write docs/benchmarks.md]
// A fourth target, a bare 20-line Node proxy (bench/support/bare-proxy.ts), shows what Node's own HTTP
// stack costs on the same machine (--no-bare leaves it out). --profile adds one extra router run
// under `node --cpu-prof` and prints where its CPU time went. --app-work-kib N swaps the sample app for a
// lookalike that hashes N KiB per request (a handler doing real work); --write then fills the
// `router-work` block instead of `router`.
import { spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { parseArgs } from 'node:util';
import { Bus, Subjects, startEmbeddedNats, type EmbeddedNats } from '../platform/bus';
import { silentLog } from '../platform/log';
import { summarizeProfile } from './support/cpuprofile';
import { writeSection } from './support/doc-section';
import { loadAverage, machineLines } from './support/machine';
import { cpuSecondsOf, freePort, get, pollUntil, stopChild, waitForPort, withChildren } from './support/processes';
import { fmtInt, fmtMs, fmtPct, max, median, min, table } from './support/stats';
import { runWrk, type WrkResult } from './support/wrk';

const root = path.resolve(__dirname, '..');
const appDir = path.join(root, 'test/fixtures/node-hello');
const appHost = 'app.localhost';
const expectedBody = /^Hello from node-hello/;

interface Options {
  rounds: number;
  durationSec: number;
  connections: number;
  threads: number;
  warmupSec: number;
  profile: boolean;
  /** Also measure the bare Node proxy of bench/support/bare-proxy.ts. */
  bare: boolean;
  /** > 0: the app hashes this many KiB per request (bench/support/work-app.ts) instead of answering at once. */
  appWorkKib: number;
  write?: string;
}

function parseOptions(): Options {
  const { values } = parseArgs({
    options: {
      rounds: { type: 'string', default: '7' },
      duration: { type: 'string', default: '5' },
      connections: { type: 'string', default: '32' },
      threads: { type: 'string', default: '1' },
      warmup: { type: 'string', default: '2' },
      profile: { type: 'boolean', default: false },
      'no-bare': { type: 'boolean', default: false },
      'app-work-kib': { type: 'string', default: '0' },
      write: { type: 'string' },
    },
    strict: true,
  });
  const int = (name: string, v: string | undefined, lo: number): number => {
    const n = Number(v);
    if (!Number.isInteger(n) || n < lo) throw new Error(`--${name} must be an integer >= ${lo}, got ${v}`);
    return n;
  };
  return {
    rounds: int('rounds', values.rounds, 1),
    durationSec: int('duration', values.duration, 1),
    connections: int('connections', values.connections, 1),
    threads: int('threads', values.threads, 1),
    warmupSec: int('warmup', values.warmup, 0),
    profile: values.profile ?? false,
    bare: !(values['no-bare'] ?? false),
    appWorkKib: int('app-work-kib', values['app-work-kib'], 0),
    write: values.write,
  };
}

// ---- the three targets ------------------------------------------------------------------------

interface Target {
  name: 'direct' | 'router' | 'nginx' | 'bare';
  label: string;
  url: string;
  /** Processes doing the proxying (none for direct). */
  proxyPids(): number[];
}

async function startBackend(workKib: number): Promise<{ child: ChildProcess; port: number }> {
  const port = await freePort();
  const env = { PATH: process.env.PATH ?? '', PORT: String(port), VCAP_APP_PORT: String(port), WORK_KIB: String(workKib) };
  // The sample app itself, or its lookalike that does some CPU work per request.
  const child = workKib > 0
    ? spawn(process.execPath, ['--import', 'tsx', path.join(__dirname, 'support/work-app.ts')], { cwd: root, env, stdio: ['ignore', 'ignore', 'inherit'] })
    : spawn(process.execPath, ['server.js'], { cwd: appDir, env, stdio: ['ignore', 'ignore', 'inherit'] });
  await waitForPort(port, 10_000);
  return { child, port };
}

/** `pocket router` alone, joined to the bench's NATS, as a user runs a router on its own. */
async function startRouterProcess(nats: EmbeddedNats, dataDir: string, profileDir?: string): Promise<{ child: ChildProcess; port: number }> {
  const port = await freePort();
  const nodeArgs = profileDir ? ['--cpu-prof', '--cpu-prof-dir', profileDir] : [];
  const child = spawn(process.execPath, [
    ...nodeArgs, '--import', 'tsx', path.join(root, 'platform/cli.ts'),
    '--data', dataDir, 'router', '--nats', nats.url, '--port', String(port),
  ], {
    cwd: root,
    env: { ...process.env, POCKET_TOKEN: nats.token, POCKET_LOG_LEVEL: 'warn' },
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  await waitForPort(port, 30_000);
  return { child, port };
}

/** The bare Node proxy of bench/support/bare-proxy.ts: Node's HTTP stack alone, as a floor for any Node proxy. */
async function startBareProxy(backendPort: number): Promise<{ child: ChildProcess; port: number }> {
  const port = await freePort();
  const child = spawn(process.execPath, ['--import', 'tsx', path.join(__dirname, 'support/bare-proxy.ts'), String(port), String(backendPort)], {
    cwd: root, stdio: ['ignore', 'ignore', 'inherit'],
  });
  await waitForPort(port, 30_000);
  return { child, port };
}

function nginxConfig(prefix: string, listenPort: number, backendPort: number): string {
  return `# Written by bench/router.ts: nginx as a plain keep-alive reverse proxy, for comparison.
worker_processes 1;
daemon off;
master_process on;
pid ${prefix}/nginx.pid;
error_log ${prefix}/error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  client_body_temp_path ${prefix}/client_body;
  proxy_temp_path ${prefix}/proxy;
  fastcgi_temp_path ${prefix}/fastcgi;
  uwsgi_temp_path ${prefix}/uwsgi;
  scgi_temp_path ${prefix}/scgi;
  keepalive_timeout 65;
  keepalive_requests 1000000;
  upstream app {
    server 127.0.0.1:${backendPort};
    keepalive 64;
    keepalive_requests 1000000;
  }
  server {
    listen 127.0.0.1:${listenPort};
    location / {
      proxy_pass http://app;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_set_header Host $host;
      proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
      proxy_set_header X-Forwarded-Proto $scheme;
      proxy_set_header X-Forwarded-Host $host;
    }
  }
}
`;
}

async function startNginx(prefix: string, backendPort: number): Promise<{ child: ChildProcess; port: number }> {
  const port = await freePort();
  const conf = path.join(prefix, 'nginx.conf');
  fs.writeFileSync(conf, nginxConfig(prefix, port, backendPort));
  const child = spawn('nginx', ['-e', path.join(prefix, 'error.log'), '-p', prefix, '-c', conf], { stdio: ['ignore', 'ignore', 'inherit'] });
  child.on('error', (e) => process.stderr.write(`nginx could not run (${e.message}); install it: apt-get install nginx\n`));
  await waitForPort(port, 10_000);
  return { child, port };
}

// ---- measurement ------------------------------------------------------------------------------

interface Sample {
  wrk: WrkResult;
  /** CPU seconds used during the run. */
  proxyCpu: number;
  backendCpu: number;
  wallSec: number;
}

async function measure(t: Target, backendPid: number, o: Options, durationSec = o.durationSec): Promise<Sample> {
  const proxies = t.proxyPids();
  const p0 = cpuSecondsOf(proxies);
  const b0 = cpuSecondsOf([backendPid]);
  const t0 = process.hrtime.bigint();
  const wrk = await runWrk({ url: t.url, threads: o.threads, connections: o.connections, durationSec, headers: { Host: appHost }, timeoutSec: 10 });
  const wallSec = Number(process.hrtime.bigint() - t0) / 1e9;
  const sample = { wrk, proxyCpu: cpuSecondsOf(proxies) - p0, backendCpu: cpuSecondsOf([backendPid]) - b0, wallSec };
  // A wrong answer is a failure of the proxy; socket errors (timeouts on an overloaded machine) are counted and reported.
  if (wrk.non2xx > 0) throw new Error(`${t.label}: wrk saw ${wrk.non2xx} non-2xx answers:\n${wrk.raw}`);
  return sample;
}

async function check(t: Target): Promise<void> {
  const a = await get(t.url, { host: appHost });
  if (a.status !== 200 || !expectedBody.test(a.body)) throw new Error(`${t.label} answered ${a.status} ${JSON.stringify(a.body.slice(0, 200))}`);
}

// ---- report -----------------------------------------------------------------------------------

function report(targets: Target[], samples: Map<string, Sample[]>, o: Options, loadBefore: string, nginxVersion: string): { markdown: string; ok: boolean } {
  const s = (n: string): Sample[] => samples.get(n) ?? [];
  const rps = (n: string): number => median(s(n).map((x) => x.wrk.requestsPerSec));
  const direct = rps('direct');
  const perRoundRatio = (n: string): number[] => s(n).map((x, i) => x.wrk.requestsPerSec / s('direct')[i].wrk.requestsPerSec);
  const usPerReq = (cpu: (x: Sample) => number, n: string): number => median(s(n).map((x) => (cpu(x) / x.wrk.requests) * 1e6));
  const cores = (cpu: (x: Sample) => number, n: string): number => median(s(n).map((x) => cpu(x) / x.wallSec));
  const total = (x: Sample): number => x.proxyCpu + x.backendCpu + x.wrk.cpuSec;
  const directTotal = usPerReq(total, 'direct');
  const speed = targets.map((t) => {
    const xs = s(t.name).map((x) => x.wrk.requestsPerSec);
    return [
      t.label,
      fmtInt(rps(t.name)),
      `${fmtInt(min(xs))} – ${fmtInt(max(xs))}`,
      fmtMs(median(s(t.name).map((x) => x.wrk.p50Ms))),
      fmtMs(median(s(t.name).map((x) => x.wrk.p99Ms))),
      `${s(t.name).reduce((n, x) => n + x.wrk.socketErrors, 0)}`,
      t.name === 'direct' ? '100%' : `${fmtPct(median(perRoundRatio(t.name)))} (${fmtPct(rps(t.name) / direct)})`,
    ];
  });
  const cpu = targets.map((t) => {
    const proxied = t.name !== 'direct';
    return [
      t.label,
      proxied ? `${usPerReq((x) => x.proxyCpu, t.name).toFixed(0)} µs (${cores((x) => x.proxyCpu, t.name).toFixed(2)} cores)` : '–',
      `${usPerReq((x) => x.backendCpu, t.name).toFixed(0)} µs (${cores((x) => x.backendCpu, t.name).toFixed(2)} cores)`,
      `${usPerReq((x) => x.wrk.cpuSec, t.name).toFixed(0)} µs (${cores((x) => x.wrk.cpuSec, t.name).toFixed(2)} cores)`,
      `${usPerReq(total, t.name).toFixed(0)} µs`,
      proxied ? fmtPct(directTotal / usPerReq(total, t.name)) : '100%',
    ];
  });
  const routerRatio = median(perRoundRatio('router'));
  const ok = routerRatio >= 0.7;
  const perRound = targets.filter((t) => t.name !== 'direct').map((t) =>
    `- ${t.label} / direct, per round: ${perRoundRatio(t.name).map((r) => fmtPct(r)).join(', ')}`);
  const markdown = [
    machineLines(loadBefore, [nginxVersion, 'wrk 4']),
    '',
    `\`wrk -t${o.threads} -c${o.connections} -d${o.durationSec}s --latency --timeout 10s -H 'Host: ${appHost}'\`, GET / of ` +
      (o.appWorkKib > 0 ? `bench/support/work-app.ts (node-hello's answer after SHA-256 over ${o.appWorkKib} KiB per request)` : 'test/fixtures/node-hello') +
      ` (a 34-byte text body); ${o.rounds} rounds, each round runs ${targets.map((t) => t.name).join(', ')} in turn; medians over the rounds ` +
      `(after a ${o.warmupSec} s warm-up of each). The app, the router (\`pocket router\` on its own) and nginx (\`worker_processes 1\`, ` +
      'keep-alive upstream, access log off, the same X-Forwarded-* headers as the router) are separate processes; ' +
      `wrk, app and proxy share the machine's ${os.cpus().length} cores.`,
    '',
    table(['target', 'req/s (median)', 'req/s (min – max)', 'p50', 'p99', 'socket errors', 'vs direct: paired (of medians)'], speed, 'lrrrrrr'),
    '',
    ...perRound,
    '',
    'CPU time per request, read from /proc (proxy, app) and bash\'s `times` (wrk) around each run, medians; in brackets the cores ' +
      'each kept busy on average. When the machine is the limit, throughput goes as 1 / (CPU per request of the whole chain): ' +
      'the last column is that bound relative to direct.',
    '',
    table(['target', 'proxy', 'app', 'wrk', 'chain', 'direct chain / this chain'], cpu, 'lrrrrr'),
    '',
    table(['target', 'measured', 'met'], [[
      'router >= 70% of direct throughput',
      `${fmtPct(routerRatio)} (median of the per-round ratios; ratio of medians ${fmtPct(rps('router') / direct)})`,
      ok ? 'yes' : '**no**',
    ]]),
  ].join('\n');
  return { markdown, ok };
}

function profileReport(dir: string, sample: Sample, window: { fromUs: number; toUs: number }): string {
  const file = fs.readdirSync(dir).filter((f) => f.endsWith('.cpuprofile')).map((f) => path.join(dir, f))[0];
  if (!file) return 'no .cpuprofile was written';
  const p = summarizeProfile(file, root, window);
  const busy = p.busyMs;
  const share = (ms: number): string => fmtPct(ms / busy, 1);
  const lines = [
    `Router CPU profile (\`node --cpu-prof\`, samples taken during one ${sample.wallSec.toFixed(0)} s wrk run at ` +
      `${fmtInt(sample.wrk.requestsPerSec)} req/s: ${(busy / 1000).toFixed(2)} s not idle, ${((busy * 1000) / sample.wrk.requests).toFixed(0)} µs per request; ` +
      `/proc counted ${sample.proxyCpu.toFixed(2)} s of CPU for the process). Self time by where the code lives:`,
    '',
    table(['where', 'self time', 'share'], p.groups.slice(0, 14).map((g) => [g.group, fmtMs(g.selfMs), share(g.selfMs)]), 'lrr'),
    '',
    'Top functions by self time:',
    '',
    table(['function', 'at', 'self time', 'share'], p.functions.slice(0, 20).map((f) => [`\`${f.name}\``, f.where ? `\`${f.where}\`` : '', fmtMs(f.selfMs), share(f.selfMs)]), 'llrr'),
  ];
  return lines.join('\n');
}

// ---- main -------------------------------------------------------------------------------------

async function main(): Promise<void> {
  const o = parseOptions();
  const loadBefore = loadAverage();
  // The embedded nats-server's handle is unref'd: without this, Node may exit while stopping it, and an error would go unreported.
  const keepAlive = setInterval(() => undefined, 1 << 30);
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'pocket-bench-router-'));
  const children: ChildProcess[] = [];
  let nats: EmbeddedNats | undefined;
  let bus: Bus | undefined;
  let keepRegistered: NodeJS.Timeout | undefined;
  try {
    nats = await startEmbeddedNats({ log: silentLog, dir: path.join(tmp, 'nats') });
    bus = await Bus.connect({ url: nats.url, token: nats.token, name: 'bench-router', log: silentLog });
    const backend = await startBackend(o.appWorkKib);
    children.push(backend.child);
    const router = await startRouterProcess(nats, path.join(tmp, 'router-data'));
    children.push(router.child);
    fs.mkdirSync(path.join(tmp, 'nginx'));
    const nginx = await startNginx(path.join(tmp, 'nginx'), backend.port);
    children.push(nginx.child);
    const bare = o.bare ? await startBareProxy(backend.port) : null;
    if (bare) children.push(bare.child);
    const nginxVersion = (await new Promise<string>((resolve) => {
      const c = spawn('nginx', ['-v'], { stdio: ['ignore', 'ignore', 'pipe'] });
      let e = '';
      c.stderr.on('data', (d: Buffer) => { e += d.toString(); });
      c.on('exit', () => resolve(e.trim().replace(/^nginx version: /, '')));
    }));

    // Register the app as a DEA would; re-register well inside the lease while the bench runs.
    const registration = { dea: 'bench', app: 'bench-app', host: '127.0.0.1', port: backend.port, uris: [appHost], tags: { framework: 'node', runtime: 'node' }, private_instance_id: 'bench-0' };
    const register = (): void => bus?.publish(Subjects.routerRegister, registration);
    register();
    keepRegistered = setInterval(register, 10_000);
    await pollUntil(`http://127.0.0.1:${router.port}/`, { host: appHost, everyMs: 100, limitMs: 10_000 });

    const targets: Target[] = [
      { name: 'direct', label: 'app directly', url: `http://127.0.0.1:${backend.port}/`, proxyPids: () => [] },
      { name: 'router', label: 'through the router', url: `http://127.0.0.1:${router.port}/`, proxyPids: () => [router.child.pid ?? 0] },
      { name: 'nginx', label: 'through nginx', url: `http://127.0.0.1:${nginx.port}/`, proxyPids: () => withChildren(nginx.child.pid ?? 0) },
    ];
    if (bare) targets.push({ name: 'bare', label: 'through a bare Node proxy (reference)', url: `http://127.0.0.1:${bare.port}/`, proxyPids: () => [bare.child.pid ?? 0] });
    for (const t of targets) await check(t);
    const backendPid = backend.child.pid ?? 0;

    if (o.warmupSec > 0) for (const t of targets) await measure(t, backendPid, o, o.warmupSec);
    const samples = new Map<string, Sample[]>(targets.map((t) => [t.name, []]));
    for (let r = 0; r < o.rounds; r++) {
      const line: string[] = [];
      for (const t of targets) {
        const x = await measure(t, backendPid, o);
        samples.get(t.name)?.push(x);
        line.push(`${t.name} ${fmtInt(x.wrk.requestsPerSec)} req/s p99 ${fmtMs(x.wrk.p99Ms)}`);
      }
      process.stderr.write(`round ${r + 1}/${o.rounds}: ${line.join(', ')} (load ${loadAverage()})\n`);
    }
    for (const t of targets) await check(t);
    const { markdown, ok } = report(targets, samples, o, loadBefore, nginxVersion);

    let profile = '';
    if (o.profile) {
      // A second router under --cpu-prof, same backend, one run; the profile is written when it exits.
      const profDir = path.join(tmp, 'profile');
      fs.mkdirSync(profDir);
      const prof = await startRouterProcess(nats, path.join(tmp, 'router-prof-data'), profDir);
      children.push(prof.child);
      register();
      await pollUntil(`http://127.0.0.1:${prof.port}/`, { host: appHost, everyMs: 100, limitMs: 10_000 });
      const t: Target = { name: 'router', label: 'profiled router', url: `http://127.0.0.1:${prof.port}/`, proxyPids: () => [prof.child.pid ?? 0] };
      await measure(t, backendPid, o, o.warmupSec || 1);
      const fromUs = Number(process.hrtime.bigint() / 1000n);
      const sample = await measure(t, backendPid, o);
      const toUs = Number(process.hrtime.bigint() / 1000n);
      await stopChild(prof.child, 'SIGINT');
      profile = profileReport(profDir, sample, { fromUs, toUs });
    }

    process.stdout.write(`${markdown}\n${profile ? `\n${profile}\n` : ''}`);
    if (o.write) {
      writeSection(o.write, o.appWorkKib > 0 ? 'router-work' : 'router', markdown);
      process.stderr.write(`wrote the figures into ${o.write}\n`);
    }
    if (!ok) process.exitCode = 2;
  } finally {
    if (keepRegistered) clearInterval(keepRegistered);
    for (const c of children.reverse()) await stopChild(c, c.spawnfile === 'nginx' ? 'SIGQUIT' : 'SIGTERM');
    await bus?.close();
    await nats?.stop();
    fs.rmSync(tmp, { recursive: true, force: true });
    clearInterval(keepAlive);
  }
}

main().catch((e: unknown) => {
  process.stderr.write(`bench:router failed: ${e instanceof Error ? e.stack ?? e.message : String(e)}\n`);
  process.exitCode = 1;
});
