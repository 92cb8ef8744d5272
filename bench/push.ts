// Push benchmark (`npm run bench:push`): a generated workspace of 5,000 files / 50 MiB pushed with the
// client's fingerprint-diff `push()` (upload only, no start), beside `rsync -a` and `sha1sum` over the
// same tree, measured in the same run. Prints a markdown table with medians and the targets.
//   npm run bench:push -- [--runs 5] [--files 5000] [--mib 50] [--data DIR | --api URL --token T]
//                         [--in-process] [--verbose] [--write docs/benchmarks.md]
// By default each run gets a fresh platform (`pocket up` in its own process, temp data dir), so the
// first push really is a first push; --in-process runs it in this process with `startPlatform` instead
// (client and controller then share one event loop). With --data/--api an existing platform is used instead, and the
// workspace content is salted per invocation so its resource pool cannot already hold it.
import { spawn, spawnSync, execSync, type ChildProcess } from 'node:child_process';
import * as net from 'node:net';
import { createCipheriv, createHash, randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { parseArgs } from 'node:util';
import {
  CloudControllerClient, push, listAppFiles, fingerprintFiles, readEndpoint, type PushSummary,
} from '../platform/client';
import { silentLog } from '../platform/log';
import { startPlatform } from '../platform/platform';

const root = path.resolve(__dirname, '..');
const KiB = 1024;
const MiB = 1024 * KiB;

interface Options {
  runs: number;
  files: number;
  bytes: number;
  dataDir?: string;
  api?: string;
  token?: string;
  inProcess: boolean;
  /** Let the platform's own log through (info level). */
  verbose: boolean;
  write?: string;
}

function parseOptions(): Options {
  const { values } = parseArgs({
    options: {
      runs: { type: 'string', default: '5' },
      files: { type: 'string', default: '5000' },
      mib: { type: 'string', default: '50' },
      data: { type: 'string' },
      api: { type: 'string' },
      token: { type: 'string' },
      write: { type: 'string' },
      'in-process': { type: 'boolean', default: false },
      verbose: { type: 'boolean', default: false },
    },
    strict: true,
  });
  const int = (name: string, v: string | undefined, min: number): number => {
    const n = Number(v);
    if (!Number.isInteger(n) || n < min) throw new Error(`--${name} must be an integer >= ${min}, got ${v}`);
    return n;
  };
  if (values.api && !values.token) throw new Error('--api needs --token');
  return {
    runs: int('runs', values.runs, 1),
    files: int('files', values.files, 10),
    bytes: int('mib', values.mib, 1) * MiB,
    dataDir: values.data,
    api: values.api,
    token: values.token,
    inProcess: values['in-process'] ?? false,
    verbose: values.verbose ?? false,
    write: values.write,
  };
}

// ---------------------------------------------------------------------------------------------
// The workspace: deterministic sizes (log-normal, scaled to the exact total) and content
// (AES-CTR keystream keyed by the seed and the file index: incompressible, like built assets).
// ---------------------------------------------------------------------------------------------
interface Workspace {
  dir: string;
  files: string[];
  sizes: number[];
  totalBytes: number;
  /** The file the one-file re-push changes, and its original size. */
  changed: { rel: string; size: number };
  seed: string;
}

function prng(seed: string): () => number {
  let s = createHash('sha256').update(seed).digest().readUInt32LE(0) || 1;
  return () => {
    s ^= s << 13; s >>>= 0; s ^= s >>> 17; s ^= s << 5; s >>>= 0;
    return s / 0x1_0000_0000;
  };
}

function content(seed: string, index: number, size: number, variant = 0): Buffer {
  const key = createHash('sha256').update(`${seed}`).digest();
  const iv = Buffer.alloc(16);
  iv.writeUInt32BE(index, 0);
  iv.writeUInt32BE(variant, 4);
  return createCipheriv('aes-256-ctr', key, iv).update(Buffer.alloc(size));
}

function generateWorkspace(dir: string, fileCount: number, totalBytes: number, seed: string): Workspace {
  const rand = prng(seed);
  const weights: number[] = [];
  for (let i = 0; i < fileCount; i++) {
    // Box-Muller normal -> log-normal: many small files, a few large ones, as in a real app tree.
    const n = Math.sqrt(-2 * Math.log(1 - rand())) * Math.cos(2 * Math.PI * rand());
    weights.push(Math.exp(1.3 * n));
  }
  const sum = weights.reduce((a, b) => a + b, 0);
  const sizes = weights.map((w) => Math.max(1, Math.floor((w / sum) * totalBytes)));
  sizes[sizes.length - 1] += totalBytes - sizes.reduce((a, b) => a + b, 0);
  const exts = ['.js', '.json', '.css', '.png', '.txt', '.map'];
  const files: string[] = [];
  for (let i = 0; i < fileCount; i++) {
    const rel = path.join(`pkg${String(i % 50).padStart(2, '0')}`, `mod${Math.floor(i / 50) % 10}`, `file${String(i).padStart(5, '0')}${exts[i % exts.length]}`);
    fs.mkdirSync(path.join(dir, path.dirname(rel)), { recursive: true });
    fs.writeFileSync(path.join(dir, rel), content(seed, i, sizes[i]));
    files.push(rel);
  }
  // The changed file: the one closest to 100 KiB, a typical edited asset.
  let best = 0;
  for (let i = 1; i < fileCount; i++) if (Math.abs(sizes[i] - 100 * KiB) < Math.abs(sizes[best] - 100 * KiB)) best = i;
  return { dir, files, sizes, totalBytes: sizes.reduce((a, b) => a + b, 0), changed: { rel: files[best], size: sizes[best] }, seed };
}

function changeOneFile(ws: Workspace, variant: number): void {
  const i = ws.files.indexOf(ws.changed.rel);
  fs.writeFileSync(path.join(ws.dir, ws.changed.rel), content(ws.seed, i, ws.changed.size, variant));
}

function restoreOneFile(ws: Workspace): void {
  changeOneFile(ws, 0);
}

// ---------------------------------------------------------------------------------------------
// The platform: `pocket up` in its own process (as a user runs it), or an existing one.
// ---------------------------------------------------------------------------------------------
interface PlatformHandle {
  client: CloudControllerClient;
  token: string;
  stop(): Promise<void>;
}

async function startOwnPlatform(verbose: boolean): Promise<PlatformHandle> {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'pocket-bench-data-'));
  const child: ChildProcess = spawn(process.execPath, ['--import', 'tsx', path.join(root, 'platform/cli.ts'), 'up', '--data', dataDir], {
    cwd: root,
    env: { ...process.env, POCKET_HOME: dataDir, POCKET_LOG_LEVEL: verbose ? 'info' : 'warn' },
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const deadline = Date.now() + 60_000;
  for (;;) {
    const ep = readEndpoint(dataDir);
    if (ep && ep.pid === child.pid) {
      const client = new CloudControllerClient({ api: ep.api, token: ep.token });
      return {
        client,
        token: ep.token,
        stop: async () => {
          client.close();
          child.kill('SIGINT');
          const timer = setTimeout(() => child.kill('SIGKILL'), 15_000);
          await exited;
          clearTimeout(timer);
          fs.rmSync(dataDir, { recursive: true, force: true });
        },
      };
    }
    if (child.exitCode !== null || Date.now() > deadline) {
      child.kill('SIGKILL');
      await exited;
      fs.rmSync(dataDir, { recursive: true, force: true });
      throw new Error(`pocket up did not become ready (exit code ${child.exitCode})`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
}

async function startInProcessPlatform(): Promise<PlatformHandle> {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'pocket-bench-data-'));
  const platform = await startPlatform({ dataDir, log: silentLog });
  if (!platform.api) throw new Error('the platform started without a controller');
  const client = new CloudControllerClient({ api: platform.api, token: platform.token });
  return {
    client,
    token: platform.token,
    stop: async () => {
      client.close();
      await platform.stop();
      fs.rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

function existingPlatform(opts: Options): PlatformHandle {
  let api = opts.api;
  let token = opts.token;
  if (!api) {
    const ep = readEndpoint(path.resolve(opts.dataDir ?? ''));
    if (!ep) throw new Error(`no running platform: ${opts.dataDir}/endpoint.json not found`);
    api = ep.api;
    token = ep.token;
  }
  const client = new CloudControllerClient({ api, token: token ?? '' });
  return { client, token: token ?? '', stop: async () => { client.close(); } };
}

// ---------------------------------------------------------------------------------------------
// Measurements
// ---------------------------------------------------------------------------------------------
interface RunResult {
  pushFirst: { ms: number; bytes: number };
  pushUnchanged: { ms: number; bytes: number };
  /** The same unchanged re-push without the client's push cache: every file re-read and matched. */
  pushUnchangedCold: { ms: number; bytes: number };
  pushOneFile: { ms: number; bytes: number };
  rsyncFirst: { ms: number; bytes: number };
  rsyncUnchanged: { ms: number; bytes: number };
  sha1sumMs: number;
  fingerprintMs: number;
}

function msSince(t0: bigint): number {
  return Number(process.hrtime.bigint() - t0) / 1e6;
}

function rsync(src: string, dst: string): { ms: number; bytes: number } {
  const t0 = process.hrtime.bigint();
  const r = spawnSync('rsync', ['-a', '--stats', `${src}/`, `${dst}/`], { encoding: 'utf8' });
  const ms = msSince(t0);
  if (r.error) throw new Error(`rsync could not run (${r.error.message}); run scripts/setup.sh`);
  if (r.status !== 0) throw new Error(`rsync failed: ${r.stderr}`);
  const m = /Total bytes sent: ([\d,.]+)/.exec(r.stdout);
  return { ms, bytes: m ? Number(m[1].replace(/[,.]/g, '')) : NaN };
}

function sha1sumAll(dir: string): number {
  const t0 = process.hrtime.bigint();
  const r = spawnSync('sh', ['-c', 'find . -type f -print0 | xargs -0 sha1sum > /dev/null'], { cwd: dir, stdio: ['ignore', 'ignore', 'inherit'] });
  const ms = msSince(t0);
  if (r.status !== 0) throw new Error('sha1sum over the workspace failed');
  return ms;
}

async function fingerprintAll(dir: string, expectFiles: number): Promise<number> {
  const t0 = process.hrtime.bigint();
  const files = await fingerprintFiles(await listAppFiles(dir));
  const ms = msSince(t0);
  if (files.length !== expectFiles) throw new Error(`fingerprinting found ${files.length} files, expected ${expectFiles}`);
  return ms;
}

/**
 * Counts the bytes the client writes to the controller on the wire (request lines, headers and
 * bodies), independently of what the client reports about itself.
 */
interface WireMeter {
  url: string;
  sent: number;
  close(): Promise<void>;
}

async function startWireMeter(api: string): Promise<WireMeter> {
  const target = new URL(api);
  const sockets = new Set<net.Socket>();
  const meter: WireMeter = { url: '', sent: 0, close: async () => undefined };
  const server = net.createServer((client) => {
    const upstream = net.connect(Number(target.port), target.hostname);
    sockets.add(client); sockets.add(upstream);
    client.on('data', (d: Buffer) => { meter.sent += d.length; });
    client.pipe(upstream); upstream.pipe(client);
    const end = (): void => { client.destroy(); upstream.destroy(); sockets.delete(client); sockets.delete(upstream); };
    client.on('error', end); upstream.on('error', end); client.on('close', end); upstream.on('close', end);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  meter.url = `http://127.0.0.1:${(server.address() as net.AddressInfo).port}`;
  meter.close = async () => {
    for (const sock of sockets) sock.destroy();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  };
  return meter;
}

async function timedPush(client: CloudControllerClient, meter: WireMeter, dir: string, name: string, label: string, cacheDir: string | false): Promise<{ ms: number; bytes: number; summary: PushSummary }> {
  const before = meter.sent;
  const t0 = process.hrtime.bigint();
  let step = 'start';
  try {
    const summary = await push({ client, path: dir, name, noStart: true, cacheDir, onProgress: (p) => { step = p.step; } });
    return { ms: msSince(t0), bytes: meter.sent - before, summary };
  } catch (e) {
    throw new Error(`${label} push failed during '${step}' after ${fmtMs(msSince(t0))}: ${e instanceof Error ? e.message : String(e)}`, { cause: e });
  }
}

async function oneRun(ws: Workspace, run: number, opts: Options, external: boolean): Promise<RunResult> {
  // References first, on the same (page-cached) files.
  const sha1sumMs = sha1sumAll(ws.dir);
  const fingerprintMs = await fingerprintAll(ws.dir, ws.files.length);
  const copy = fs.mkdtempSync(path.join(os.tmpdir(), 'pocket-bench-rsync-'));
  let rsyncFirst: { ms: number; bytes: number };
  let rsyncUnchanged: { ms: number; bytes: number };
  try {
    rsyncFirst = rsync(ws.dir, copy);
    rsyncUnchanged = rsync(ws.dir, copy);
  } finally {
    fs.rmSync(copy, { recursive: true, force: true });
  }

  const platform = external ? existingPlatform(opts) : opts.inProcess ? await startInProcessPlatform() : await startOwnPlatform(opts.verbose);
  const meter = await startWireMeter(platform.client.api);
  const client = new CloudControllerClient({ api: meter.url, token: platform.token });
  // The client's push cache (what a user gets by default), in a folder of this run only.
  const cacheDir = fs.mkdtempSync(path.join(os.tmpdir(), 'pocket-bench-pushcache-'));
  const name = external ? `bench-push-${ws.seed.slice(0, 8)}-${run}` : 'bench-push';
  try {
    const first = await timedPush(client, meter, ws.dir, name, 'first', cacheDir);
    if (first.summary.uploaded !== ws.files.length) {
      throw new Error(`first push uploaded ${first.summary.uploaded} of ${ws.files.length} files: the platform already held some (use a fresh platform)`);
    }
    const unchanged = await timedPush(client, meter, ws.dir, name, 'unchanged', cacheDir);
    const unchangedCold = await timedPush(client, meter, ws.dir, name, 'unchanged (no push cache)', false);
    if (unchangedCold.summary.uploaded !== 0) throw new Error(`unchanged re-push uploaded ${unchangedCold.summary.uploaded} files`);
    changeOneFile(ws, run + 1);
    let oneFile: { ms: number; bytes: number; summary: PushSummary };
    try {
      oneFile = await timedPush(client, meter, ws.dir, name, 'one-file', cacheDir);
    } finally {
      restoreOneFile(ws);
    }
    if (oneFile.summary.uploaded !== 1) throw new Error(`one-file re-push uploaded ${oneFile.summary.uploaded} files`);
    if (external) await client.deleteApp(name);
    return {
      pushFirst: { ms: first.ms, bytes: first.bytes },
      pushUnchanged: { ms: unchanged.ms, bytes: unchanged.bytes },
      pushUnchangedCold: { ms: unchangedCold.ms, bytes: unchangedCold.bytes },
      pushOneFile: { ms: oneFile.ms, bytes: oneFile.bytes },
      rsyncFirst,
      rsyncUnchanged,
      sha1sumMs,
      fingerprintMs,
    };
  } finally {
    client.close();
    await meter.close();
    fs.rmSync(cacheDir, { recursive: true, force: true });
    await platform.stop();
  }
}

// ---------------------------------------------------------------------------------------------
// Report
// ---------------------------------------------------------------------------------------------
function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

function fmtMs(ms: number): string {
  return ms >= 1000 ? `${(ms / 1000).toFixed(2)} s` : `${ms.toFixed(0)} ms`;
}

function fmtBytes(b: number): string {
  if (!Number.isFinite(b)) return 'n/a';
  if (b >= MiB) return `${(b / MiB).toFixed(2)} MiB`;
  if (b >= KiB) return `${(b / KiB).toFixed(1)} KiB`;
  return `${b} B`;
}

function machine(): string {
  const sh = (cmd: string): string => {
    try { return execSync(cmd, { encoding: 'utf8' }).trim(); } catch { return 'n/a'; }
  };
  const mem = sh("free -g | awk '/^Mem:/ {print $2}'");
  const cpu = os.cpus()[0]?.model ?? 'unknown cpu';
  return [
    `- Date: ${sh('date -u')}`,
    `- Machine: ${sh('nproc')} cores (${cpu}), ${mem} GiB RAM (\`free -g\`), Linux ${sh('uname -r')}, Node ${process.version}, ${sh('rsync --version | head -1').replace(/\s+/g, ' ')}`,
    `- Load average when the report was written (1/5/15 min): ${os.loadavg().map((l) => l.toFixed(2)).join(' / ')}`,
  ].join('\n');
}

function report(ws: Workspace, runs: RunResult[], opts: Options): { markdown: string; ok: boolean } {
  const med = (f: (r: RunResult) => number): number => median(runs.map(f));
  const total = ws.totalBytes;
  const row = (what: string, ms: number, bytes: number | null, note = ''): string =>
    `| ${what} | ${fmtMs(ms)} | ${bytes === null ? '' : fmtBytes(bytes)} | ${note} |`;
  const pf = { ms: med((r) => r.pushFirst.ms), bytes: med((r) => r.pushFirst.bytes) };
  const pu = { ms: med((r) => r.pushUnchanged.ms), bytes: med((r) => r.pushUnchanged.bytes) };
  const pc = { ms: med((r) => r.pushUnchangedCold.ms), bytes: med((r) => r.pushUnchangedCold.bytes) };
  const po = { ms: med((r) => r.pushOneFile.ms), bytes: med((r) => r.pushOneFile.bytes) };
  const rf = { ms: med((r) => r.rsyncFirst.ms), bytes: med((r) => r.rsyncFirst.bytes) };
  const ru = { ms: med((r) => r.rsyncUnchanged.ms), bytes: med((r) => r.rsyncUnchanged.bytes) };
  const shaMs = med((r) => r.sha1sumMs);
  const fpMs = med((r) => r.fingerprintMs);
  const mbps = (ms: number): number => (total / MiB) / (ms / 1000);
  const pct = (part: number): string => `${Number(((part / total) * 100).toPrecision(2))}%`;

  const targets: Array<[string, string, boolean]> = [
    ['unchanged re-push sends < 1% of the tree', `${pct(pu.bytes)} (${fmtBytes(pu.bytes)} of ${fmtBytes(total)})`, pu.bytes < total * 0.01],
    ['unchanged re-push takes <= 2x rsync unchanged', `${(pu.ms / ru.ms).toFixed(2)}x (${fmtMs(pu.ms)} vs ${fmtMs(ru.ms)})`, pu.ms <= 2 * ru.ms],
    ['... the same without the push cache: < 1% of the tree', `${pct(pc.bytes)} (${fmtBytes(pc.bytes)})`, pc.bytes < total * 0.01],
    ['... the same without the push cache: <= 2x rsync unchanged', `${(pc.ms / ru.ms).toFixed(2)}x (${fmtMs(pc.ms)} vs ${fmtMs(ru.ms)})`, pc.ms <= 2 * ru.ms],
    ['one-file re-push sends < file size + 64 KiB', `${fmtBytes(po.bytes)} vs ${fmtBytes(ws.changed.size + 64 * KiB)} (file: ${fmtBytes(ws.changed.size)})`, po.bytes < ws.changed.size + 64 * KiB],
    ['fingerprinting >= 70% of sha1sum throughput', `${((shaMs / fpMs) * 100).toFixed(0)}% (${mbps(fpMs).toFixed(0)} vs ${mbps(shaMs).toFixed(0)} MiB/s)`, fpMs <= shaMs / 0.7],
  ];
  const lines = [
    `Workspace: ${ws.files.length} files, ${fmtBytes(total)} (incompressible content); ${runs.length} runs, medians.` +
      (opts.api || opts.dataDir ? ' Platform: an existing one.'
        : opts.inProcess ? ' Platform: a fresh `startPlatform()` per run, in the benchmark\'s process.'
          : ' Platform: a fresh `pocket up` per run, in its own process.'),
    '',
    'Push bytes are counted on the wire (client to controller: request lines, headers and bodies); rsync bytes are its own `Total bytes sent`.',
    '',
    '| what | time | bytes sent | note |',
    '|---|---:|---:|---|',
    row('push, first', pf.ms, pf.bytes, `${(pf.ms / rf.ms).toFixed(2)}x rsync first`),
    row('push, unchanged', pu.ms, pu.bytes, `${(pu.ms / ru.ms).toFixed(2)}x rsync unchanged`),
    row('push, unchanged, without the push cache', pc.ms, pc.bytes, `${(pc.ms / ru.ms).toFixed(2)}x rsync unchanged; every file re-read and matched`),
    row('push, one file changed', po.ms, po.bytes, `changed file ${fmtBytes(ws.changed.size)}`),
    row('rsync -a, first', rf.ms, rf.bytes, 'reference'),
    row('rsync -a, unchanged', ru.ms, ru.bytes, 'reference'),
    row('sha1sum, all files', shaMs, null, `${mbps(shaMs).toFixed(0)} MiB/s (reference)`),
    row('client fingerprinting (walk + SHA-1)', fpMs, null, `${mbps(fpMs).toFixed(0)} MiB/s`),
    '',
    '| target | measured | met |',
    '|---|---|---|',
    ...targets.map(([t, m, ok]) => `| ${t} | ${m} | ${ok ? 'yes' : '**no**'} |`),
  ];
  return { markdown: lines.join('\n'), ok: targets.every((t) => t[2]) };
}

function writeSection(file: string, body: string): void {
  const start = '<!-- bench:push:start -->';
  const end = '<!-- bench:push:end -->';
  const text = fs.readFileSync(file, 'utf8');
  const a = text.indexOf(start);
  const b = text.indexOf(end);
  if (a < 0 || b < a) throw new Error(`${file} has no ${start} ... ${end} section`);
  const next = `${text.slice(0, a + start.length)}\n${body}\n${text.slice(b)}`;
  const tmp = `${file}.${process.pid}.tmp`;
  fs.writeFileSync(tmp, next);
  fs.renameSync(tmp, file);
}

async function main(): Promise<void> {
  const opts = parseOptions();
  const external = Boolean(opts.api || opts.dataDir);
  const seed = external ? randomBytes(8).toString('hex') : 'pocket-foundry-bench-push';
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pocket-bench-ws-'));
  try {
    const t0 = process.hrtime.bigint();
    const ws = generateWorkspace(dir, opts.files, opts.bytes, seed);
    process.stderr.write(`generated ${ws.files.length} files, ${fmtBytes(ws.totalBytes)} in ${fmtMs(msSince(t0))} at ${dir}\n`);
    const runs: RunResult[] = [];
    for (let i = 0; i < opts.runs; i++) {
      const r = await oneRun(ws, i, opts, external);
      runs.push(r);
      process.stderr.write(`run ${i + 1}/${opts.runs}: push first ${fmtMs(r.pushFirst.ms)}, unchanged ${fmtMs(r.pushUnchanged.ms)} ` +
        `(${fmtBytes(r.pushUnchanged.bytes)}), unchanged without cache ${fmtMs(r.pushUnchangedCold.ms)} (${fmtBytes(r.pushUnchangedCold.bytes)}), one file ${fmtMs(r.pushOneFile.ms)} (${fmtBytes(r.pushOneFile.bytes)}); ` +
        `rsync ${fmtMs(r.rsyncFirst.ms)} / ${fmtMs(r.rsyncUnchanged.ms)}; sha1sum ${fmtMs(r.sha1sumMs)}; fingerprint ${fmtMs(r.fingerprintMs)}\n`);
    }
    const { markdown, ok } = report(ws, runs, opts);
    const full = `${machine()}\n\n${markdown}`;
    process.stdout.write(`${full}\n`);
    if (opts.write) {
      writeSection(path.resolve(opts.write), full);
      process.stderr.write(`wrote the figures into ${opts.write}\n`);
    }
    process.stderr.write(ok ? 'all push targets met\n' : 'some push targets were NOT met (see the table)\n');
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((e: unknown) => {
  process.stderr.write(`bench:push failed: ${e instanceof Error ? e.stack ?? e.message : String(e)}\n`);
  process.exit(1);
});
