// Test side of the staging wire: fixture zips, staging requests for the fake controller
// (support/fake-controller.ts), droplet unpacking, and process inspection helpers.
import { spawn, execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as net from 'node:net';
import * as path from 'node:path';
import JSZip from 'jszip';
import { Subjects, type Bus, type StagingLogLine, type StagingReply, type StagingRequest } from '../../platform/bus';
import { StagingRequestBuilder } from './support/builders';
import type { FakeController } from './support/fake-controller';
import { sleep } from './support/wait';

export const fixturesDir = path.resolve(__dirname, '..', 'fixtures');

/** Zips a folder the way a client would (relative names, unix modes), skipping manifest.yml. */
export async function zipDir(dir: string): Promise<Buffer> {
  const zip = new JSZip();
  const walk = (rel: string): void => {
    for (const e of fs.readdirSync(path.join(dir, rel), { withFileTypes: true })) {
      const r = rel ? `${rel}/${e.name}` : e.name;
      if (e.isDirectory()) walk(r);
      else if (e.isFile() && r !== 'manifest.yml') {
        zip.file(r, fs.readFileSync(path.join(dir, r)), { unixPermissions: fs.statSync(path.join(dir, r)).mode & 0o777 });
      }
    }
  };
  walk('');
  return zip.generateAsync({ type: 'nodebuffer', platform: 'UNIX' });
}

export async function zipFixture(name: string): Promise<Buffer> {
  return zipDir(path.join(fixturesDir, name));
}

/** A zip from literal entries (for hostile packages): name -> content, or {link} for a symlink. */
export async function zipEntries(entries: Record<string, string | { link: string }>): Promise<Buffer> {
  const zip = new JSZip();
  for (const [name, v] of Object.entries(entries)) {
    if (typeof v === 'string') zip.file(name, v, { unixPermissions: 0o644, createFolders: false });
    else zip.file(name, v.link, { unixPermissions: 0o120777, createFolders: false });
  }
  return zip.generateAsync({ type: 'nodebuffer', platform: 'UNIX' });
}

let nextApp = 100;
export function stagingRequestFor(server: FakeController, key: string, extra: {
  framework?: string; command?: string; runtime?: string; timeout?: number; app_id?: number; name?: string; download_uri?: string;
} = {}): StagingRequest {
  const b = new StagingRequestBuilder(extra.app_id ?? nextApp++, key)
    .name(extra.name ?? key)
    .framework(extra.framework ?? null).runtime(extra.runtime ?? null).command(extra.command ?? null)
    .uris(extra.download_uri ?? server.downloadUri(key), server.uploadUri(key));
  if (extra.timeout !== undefined) b.timeout(extra.timeout);
  return b.build();
}

export interface StagingRun {
  reply: StagingReply;
  /** Log messages on `staging.log.<droplet>` in arrival order, with their arrival time. */
  lines: (StagingLogLine & { at: number })[];
  /** Lines that arrived before the reply. */
  linesBeforeReply: number;
  repliedAt: number;
}

/** Sends a staging request and collects the live log until the final `done` message. */
export async function stage(bus: Bus, req: StagingRequest, timeoutMs = 60_000): Promise<StagingRun> {
  const lines: (StagingLogLine & { at: number })[] = [];
  let gotDone: () => void = () => undefined;
  const done = new Promise<void>((r) => { gotDone = r; });
  const sub = bus.subscribe(Subjects.stagingLog(req.app_id), (m) => {
    if (m.task_id !== req.task_id) return;
    lines.push({ ...m, at: Date.now() });
    if (m.done) gotDone();
  });
  await bus.flush();
  try {
    const reply = await bus.request(Subjects.staging, req, timeoutMs);
    const repliedAt = Date.now();
    const linesBeforeReply = lines.length;
    await Promise.race([done, sleep(2000)]);
    return { reply, lines, linesBeforeReply, repliedAt };
  } finally {
    sub.unsubscribe();
  }
}

/** Unpacks a droplet .tgz into `dir` with the system tar; returns the list of entries. */
export function extractDroplet(tgz: Buffer, dir: string): string[] {
  fs.mkdirSync(dir, { recursive: true });
  const file = path.join(dir, '..', `${path.basename(dir)}.tgz`);
  fs.writeFileSync(file, tgz);
  const list = execFileSync('tar', ['-tzf', file], { encoding: 'utf8' }).split('\n').filter(Boolean);
  execFileSync('tar', ['-xzf', file, '-C', dir]);
  fs.rmSync(file);
  return list;
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.on('error', reject);
    s.listen(0, '127.0.0.1', () => { const p = (s.address() as net.AddressInfo).port; s.close(() => resolve(p)); });
  });
}

export interface RunningDroplet {
  pid: number;
  port: number;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** Output of the startup script itself (the app's goes to logs/). */
  output(): string;
}

/** Starts `bash ./startup` as a DEA would: own process group, instance env (PORT, VCAP_*). */
export async function runDroplet(dir: string, index = 0, extraEnv: Record<string, string> = {}): Promise<RunningDroplet> {
  const port = await freePort();
  const vcap = { instance_id: 'test', instance_index: index, name: 'test', uris: [], version: 'v1', port, host: '127.0.0.1', limits: { mem: 64, disk: 2048, fds: 256 } };
  const env: Record<string, string> = {
    PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: dir, PORT: String(port), VCAP_APP_PORT: String(port), VCAP_APP_HOST: '127.0.0.1',
    VCAP_APPLICATION: JSON.stringify(vcap), VCAP_SERVICES: '{}', ...extraEnv,
  };
  const child = spawn('bash', ['./startup'], { cwd: dir, env, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout.on('data', (c: Buffer) => { out += c.toString(); });
  child.stderr.on('data', (c: Buffer) => { out += c.toString(); });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((r) => child.on('exit', (code, signal) => r({ code, signal })));
  return { pid: child.pid ?? -1, port, exited, output: () => out };
}

/** GET http://127.0.0.1:port/path, retrying connection errors until `timeoutMs`. */
export async function getWhenUp(port: number, urlPath = '/', timeoutMs = 15_000): Promise<{ status: number; body: string; headers: http.IncomingHttpHeaders }> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  while (Date.now() < deadline) {
    try {
      return await new Promise((resolve, reject) => {
        const req = http.get({ host: '127.0.0.1', port, path: urlPath, timeout: 2000 }, (res) => {
          let body = '';
          res.on('data', (c: Buffer) => { body += c.toString(); });
          res.on('end', () => resolve({ status: res.statusCode ?? 0, body, headers: res.headers }));
        });
        req.on('timeout', () => req.destroy(new Error('timeout')));
        req.on('error', reject);
      });
    } catch (e) {
      last = e;
      await sleep(100);
    }
  }
  throw new Error(`nothing answered on port ${port}: ${String(last)}`);
}

export function killGroupQuietly(pgid: number): void {
  try { process.kill(-pgid, 'SIGKILL'); } catch { /* gone */ }
}

export function groupAlive(pgid: number): boolean {
  try { process.kill(-pgid, 0); } catch { return false; }
  // A group of zombies only is not alive
  return procEntries().some((p) => p.pgid === pgid && !p.zombie);
}

interface ProcEntry { pid: number; pgid: number; zombie: boolean }

function procEntries(): ProcEntry[] {
  const out: ProcEntry[] = [];
  for (const name of fs.readdirSync('/proc')) {
    const pid = Number(name);
    if (!Number.isInteger(pid) || pid <= 0) continue;
    try {
      const text = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
      const f = text.slice(text.lastIndexOf(')') + 2).split(' ');
      out.push({ pid, pgid: Number(f[2]), zombie: f[0] === 'Z' || f[0] === 'X' });
    } catch { /* gone */ }
  }
  return out;
}

/** Living processes whose working directory or command line lies under `dir`. */
export function processesUnder(dir: string): { pid: number; pgid: number; cmd: string }[] {
  const out: { pid: number; pgid: number; cmd: string }[] = [];
  for (const p of procEntries()) {
    if (p.zombie || p.pid === process.pid) continue;
    let cwd = '';
    let cmd = '';
    try { cwd = fs.readlinkSync(`/proc/${p.pid}/cwd`); } catch { /* not ours to read */ }
    try { cmd = fs.readFileSync(`/proc/${p.pid}/cmdline`, 'utf8').replace(/\0/g, ' '); } catch { /* gone */ }
    if (cwd === dir || cwd.startsWith(dir + path.sep) || cmd.includes(dir)) out.push({ pid: p.pid, pgid: p.pgid, cmd });
  }
  return out;
}
