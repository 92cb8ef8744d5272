// Push-to-first-response benchmark (`npm run bench:first-response`): the node sample
// (test/fixtures/node-hello) pushed with the client's `push()` to a fresh platform (`pocket up` in its
// own process), timed from the call to the first 200 through the router (polled every 10 ms), beside
// the floor measured in the same run: plain `node server.js` of the same app, from spawn to its first
// 200 (polled every 10 ms). Also, on the same platform: a restart (stop, then start with the staged
// droplet) to first response, and an unchanged re-push with requests kept going during it.
// Floor and push alternate run by run, so the shared machine's load hits both alike.
//   npm run bench:first-response -- [--runs 5] [--settle 2000] [--write docs/benchmarks.md]
// --settle: milliseconds between the platform being ready (endpoint.json written) and the push.
import { spawn } from 'node:child_process';
import * as path from 'node:path';
import { parseArgs } from 'node:util';
import * as fs from 'node:fs';
import { Bus, Subjects } from '../platform/bus';
import { push, readManifest, startApp, type PushSummary } from '../platform/client';
import { silentLog } from '../platform/log';
import { writeSection } from './support/doc-section';
import { loadAverage, machineLines } from './support/machine';
import { startBenchPlatform, type BenchPlatform } from './support/platform';
import { freePort, get, pollUntil, stopChild } from './support/processes';
import { fmtMs, max, median, min, msSince, sleep, table } from './support/stats';

const root = path.resolve(__dirname, '..');
const appDir = path.join(root, 'test/fixtures/node-hello');
const expectedBody = /^Hello from node-hello/;
const pollMs = 10;
const targetMs = 1500;

interface Options {
  runs: number;
  /** Idle time between `pocket up` being ready and the push, as a user would leave. */
  settleMs: number;
  write?: string;
}

function parseOptions(): Options {
  const { values } = parseArgs({
    options: { runs: { type: 'string', default: '5' }, settle: { type: 'string', default: '2000' }, write: { type: 'string' } },
    strict: true,
  });
  const runs = Number(values.runs);
  if (!Number.isInteger(runs) || runs < 1) throw new Error(`--runs must be an integer >= 1, got ${values.runs}`);
  const settleMs = Number(values.settle);
  if (!Number.isInteger(settleMs) || settleMs < 0) throw new Error(`--settle must be milliseconds >= 0, got ${values.settle}`);
  return { runs, settleMs, write: values.write };
}

const ok200 = (a: { status: number; body: string }): boolean => a.status === 200 && expectedBody.test(a.body);

/** The floor: `node server.js` started directly, spawn to first 200. */
async function floorRun(): Promise<number> {
  const port = await freePort();
  const t0 = process.hrtime.bigint();
  const child = spawn(process.execPath, ['server.js'], {
    cwd: appDir,
    env: { PATH: process.env.PATH ?? '', PORT: String(port), VCAP_APP_PORT: String(port) },
    stdio: 'ignore',
  });
  try {
    const first = await pollUntil(`http://127.0.0.1:${port}/`, { everyMs: pollMs, limitMs: 30_000, accept: ok200 });
    return Number(first.at - t0) / 1e6;
  } finally {
    await stopChild(child);
  }
}

/** When the benchmark saw each step of a push on the platform's NATS, ms after push() was called. */
type Timeline = Map<string, number>;

/**
 * Listens on the platform's NATS while a push runs: staging log lines (keyed by their sequence number,
 * labelled with their text), the DEA start request, the RUNNING heartbeat and the route registration.
 */
async function watchPush(p: BenchPlatform, host: string): Promise<{ start(t0: bigint): void; timeline: Timeline; labels: Map<string, string>; close(): Promise<void> }> {
  const ep = JSON.parse(fs.readFileSync(path.join(p.dataDir, 'endpoint.json'), 'utf8')) as { nats: string; token: string };
  const bus = await Bus.connect({ url: ep.nats, token: ep.token, name: 'bench-first-response', log: silentLog });
  const timeline: Timeline = new Map();
  const labels = new Map<string, string>();
  let t0: bigint | null = null;
  const mark = (key: string, label: string): void => {
    if (t0 === null || timeline.has(key)) return;
    timeline.set(key, Number(process.hrtime.bigint() - t0) / 1e6);
    labels.set(key, label);
  };
  bus.subscribe(Subjects.stagingLogAll, (m) => {
    if (m.line !== undefined) mark(`stage-${String(m.seq).padStart(3, '0')}`, `stager: ${m.line.replace(/^\[[^\]]*\]\s*/, '').replace(/task [0-9a-f]{8,}/, 'task …').replace(/sha1 [0-9a-f]{40}/, 'sha1 …').slice(0, 60)}`);
    if (m.done) mark('stage-done', 'stager: task done');
  });
  bus.subscribe(Subjects.deaStartAll, () => mark('dea-start', 'controller: `dea.<id>.start` sent to the DEA'));
  bus.subscribe(Subjects.deaHeartbeat, (m) => { if (m.droplets.some((d) => d.state === 'RUNNING')) mark('running', 'DEA: instance RUNNING (`dea.heartbeat`)'); });
  bus.subscribe(Subjects.routerRegister, (m) => { if (m.uris.includes(host)) mark('registered', 'DEA: `router.register` for the app'); });
  await bus.flush();
  return { start: (t) => { t0 = t; }, timeline, labels, close: () => bus.close() };
}

interface PushRun {
  timeline: Timeline;
  timelineLabels: Map<string, string>;
  floorMs: number;
  platformUpMs: number;
  /** push() called -> first 200 through the router. */
  firstResponseMs: number;
  /** push() called -> push() returned. */
  pushReturnedMs: number;
  timings: PushSummary['timingsMs'];
  /** stop done; start called -> first 200 through the router. */
  restartMs: number;
  /** Unchanged re-push of the running app: push() duration, and requests that failed meanwhile. */
  repushMs: number;
  repushRequests: number;
  repushFailures: number;
}

/** Keeps GETting `url` every `everyMs` until stopped; counts answers that are not the app's 200. */
function steadyRequests(url: string, host: string, everyMs: number): { stop(): Promise<{ requests: number; failures: number }> } {
  let running = true;
  let requests = 0;
  let failures = 0;
  const loop = (async () => {
    while (running) {
      const t = Date.now();
      requests++;
      try { if (!ok200(await get(url, { host, timeoutMs: 5000 }))) failures++; } catch { failures++; }
      const wait = everyMs - (Date.now() - t);
      if (wait > 0) await sleep(wait);
    }
  })();
  return { stop: async () => { running = false; await loop; return { requests, failures }; } };
}

async function pushRun(run: number, floorMs: number, settleMs: number): Promise<PushRun> {
  const manifest = await readManifest(path.join(appDir, 'manifest.yml'));
  const m = manifest.applications[0];
  const name = m.name ?? 'node-hello';
  const host = `${name}.localhost`;
  let platform: BenchPlatform | undefined;
  try {
    platform = await startBenchPlatform();
    await sleep(settleMs);
    const { client, router } = platform;
    const routerUrl = `${router}/`;

    // First push: the poller starts with the call.
    const watch = await watchPush(platform, host);
    const t0 = process.hrtime.bigint();
    watch.start(t0);
    const first = pollUntil(routerUrl, { host, everyMs: pollMs, limitMs: 180_000, accept: ok200 });
    const summary = await push({ client, path: appDir, name, memory: m.memory, instances: m.instances, routerUrl: router });
    const pushReturnedMs = msSince(t0);
    const firstResponseMs = Number((await first).at - t0) / 1e6;
    await sleep(100);
    await watch.close();
    const upload = summary.timingsMs.fingerprint + summary.timingsMs.match + summary.timingsMs.upload;
    watch.timeline.set('uploaded', upload);
    watch.labels.set('uploaded', 'client: package uploaded (fingerprint, match, create, upload)');
    watch.timeline.set('first-200', firstResponseMs);
    watch.labels.set('first-200', '**first 200 through the router**');
    if (!summary.started || summary.running < 1) throw new Error(`run ${run}: push did not start the app: ${JSON.stringify(summary)}`);

    // Unchanged re-push while requests keep coming: nothing to stage, nothing may fail.
    const steady = steadyRequests(routerUrl, host, pollMs);
    const t1 = process.hrtime.bigint();
    const again = await push({ client, path: appDir, name, memory: m.memory, instances: m.instances, routerUrl: router });
    const repushMs = msSince(t1);
    const during = await steady.stop();
    if (again.uploaded !== 0 || again.stagingNeeded) throw new Error(`run ${run}: the unchanged re-push uploaded ${again.uploaded} files / needed staging`);

    // Restart: stop, wait until the router no longer routes it, then start with the staged droplet.
    await client.updateApp(name, { state: 'STOPPED' });
    await pollUntil(routerUrl, { host, everyMs: pollMs, limitMs: 30_000, accept: (a) => a.status === 404 });
    const t2 = process.hrtime.bigint();
    const restarted = pollUntil(routerUrl, { host, everyMs: pollMs, limitMs: 60_000, accept: ok200 });
    await startApp({ client, name, routerUrl: router });
    const restartMs = Number((await restarted).at - t2) / 1e6;

    return {
      timeline: watch.timeline, timelineLabels: watch.labels,
      floorMs, platformUpMs: platform.upMs, firstResponseMs, pushReturnedMs, timings: summary.timingsMs, restartMs,
      repushMs, repushRequests: during.requests, repushFailures: during.failures,
    };
  } finally {
    await platform?.stop();
  }
}

function report(runs: PushRun[], o: Options, loadBefore: string): { markdown: string; ok: boolean } {
  const col = (f: (r: PushRun) => number): number[] => runs.map(f);
  const row = (what: string, xs: number[], note: string): string[] => [what, fmtMs(median(xs)), `${fmtMs(min(xs))} – ${fmtMs(max(xs))}`, note];
  const floor = col((r) => r.floorMs);
  const first = col((r) => r.firstResponseMs);
  const gap = col((r) => r.firstResponseMs - r.floorMs);
  const restartGap = col((r) => r.restartMs - r.floorMs);
  const gapMedian = median(gap);
  const ok = gapMedian <= targetMs;
  const t = (k: keyof PushSummary['timingsMs']): number[] => col((r) => r.timings[k]);
  const failures = runs.reduce((n, r) => n + r.repushFailures, 0);
  const requests = runs.reduce((n, r) => n + r.repushRequests, 0);
  const markdown = [
    machineLines(loadBefore),
    '',
    `${runs.length} runs; each run measures the floor, then starts a fresh platform (\`pocket up\`, its own process, temp data dir) ` +
      `and, ${(o.settleMs / 1000).toFixed(1)} s after it is ready, pushes test/fixtures/node-hello with \`push()\` from the benchmark's process. ` +
      'First responses are polled every 10 ms ' +
      '(a fresh connection per poll; through the router with `Host: node-hello.localhost`). Medians, with the spread over the runs.',
    '',
    table(['what', 'median', 'min – max', 'note'], [
      row('floor: `node server.js`, spawn to first 200', floor, 'the same app started directly'),
      row('push (new app) to first 200 through the router', first, `${fmtMs(median(gap))} over the floor (median of the per-run differences)`),
      row('push() returned', col((r) => r.pushReturnedMs), 'push() also confirms RUNNING through the controller'),
      row('  fingerprint + resource match + upload', col((r) => r.timings.fingerprint + r.timings.match + r.timings.upload), 'inside push()'),
      row('  staging (start request until STAGED)', t('staging'), 'inside push()'),
      row('  STAGED until RUNNING seen by push()', t('start'), 'inside push()'),
      row('restart (stop, then start; no staging) to first 200', col((r) => r.restartMs), `${fmtMs(median(restartGap))} over the floor`),
      row('unchanged re-push of the running app, push() time', col((r) => r.repushMs), `${failures} of ${requests} requests made during it failed`),
      row('`pocket up` until endpoint.json (not counted above)', col((r) => r.platformUpMs), 'process start, tsx, NATS, components'),
    ], 'lrrl'),
    '',
    'Where the time of the first push goes: when the benchmark saw each step (the client\'s own timings, and the platform\'s ' +
      'NATS messages: staging log lines as the stager publishes them, the start request, the RUNNING heartbeat, the route), ' +
      'in ms after push() was called, median over the runs; "step" is the median of the per-run differences from the previous row.',
    '',
    timelineTable(runs),
    '',
    table(['target', 'measured', 'met'], [[
      'push to first response within 1.5 s of the floor',
      `${fmtMs(gapMedian)} over the floor (per run: ${gap.map((g) => fmtMs(g)).join(', ')})`,
      ok ? 'yes' : '**no**',
    ]]),
  ].join('\n');
  return { markdown, ok };
}

function timelineTable(runs: PushRun[]): string {
  const keys = [...new Set(runs.flatMap((r) => [...r.timeline.keys()]))];
  const at = (r: PushRun, k: string): number => r.timeline.get(k) ?? NaN;
  // Order by the median time each step was seen.
  keys.sort((a, b) => median(runs.map((r) => at(r, a)).filter(Number.isFinite)) - median(runs.map((r) => at(r, b)).filter(Number.isFinite)));
  const rows = keys.map((k, i) => {
    const label = runs.map((r) => r.timelineLabels.get(k)).find((l) => l !== undefined) ?? k;
    const ats = runs.map((r) => at(r, k)).filter(Number.isFinite);
    const steps = i === 0 ? ats : runs.map((r) => at(r, k) - at(r, keys[i - 1])).filter(Number.isFinite);
    return [label, fmtMs(median(ats)), fmtMs(median(steps)), `${ats.length}`];
  });
  return table(['step', 'at', 'step', 'runs'], rows, 'lrrr');
}

async function main(): Promise<void> {
  const o = parseOptions();
  const loadBefore = loadAverage();
  // One unmeasured floor run: the first spawn of node pays for cold disk caches.
  await floorRun();
  const runs: PushRun[] = [];
  for (let i = 0; i < o.runs; i++) {
    const floorMs = await floorRun();
    const r = await pushRun(i, floorMs, o.settleMs);
    runs.push(r);
    process.stderr.write(`run ${i + 1}/${o.runs}: floor ${fmtMs(r.floorMs)}, push -> first 200 ${fmtMs(r.firstResponseMs)} ` +
      `(push() returned ${fmtMs(r.pushReturnedMs)}; staging ${fmtMs(r.timings.staging)}, start ${fmtMs(r.timings.start)}), ` +
      `restart ${fmtMs(r.restartMs)}, unchanged re-push ${fmtMs(r.repushMs)} (${r.repushFailures}/${r.repushRequests} failed) (load ${loadAverage()})\n`);
  }
  const { markdown, ok } = report(runs, o, loadBefore);
  process.stdout.write(`${markdown}\n`);
  if (o.write) {
    writeSection(o.write, 'first-response', markdown);
    process.stderr.write(`wrote the figures into ${o.write}\n`);
  }
  if (!ok) process.exitCode = 2;
}

main().catch((e: unknown) => {
  process.stderr.write(`bench:first-response failed: ${e instanceof Error ? e.stack ?? e.message : String(e)}\n`);
  process.exitCode = 1;
});
