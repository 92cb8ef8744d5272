// Test side of the staging wire: an HTTP server in the controller's role (serves packages, takes
// droplets, checks the token), fixture zips, droplet unpacking, and process inspection helpers.
import { spawn, execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as net from 'node:net';
import * as path from 'node:path';
import JSZip from 'jszip';
import { Subjects, type Bus, type StagingLogLine, type StagingReply, type StagingRequest } from '../../platform/bus';
import { sleep } from './support/wait';

export const fixturesDir = path.resolve(__dirname, '..', 'fixtures');

export interface Upload {
  key: string;
  body: Buffer;
  sha1: string;
  at: number;
  contentType: string | undefined;
}

export interface PackageServer {
  url: string;
  /** Droplets received, by key. */
  uploads: Map<string, Upload>;
  /** PUTs that started, including ones that broke off. */
  uploadAttempts: string[];
  /** When a PUT for the key first arrived (ms). */
  uploadStarted: Map<string, number>;
  /** Requests refused for a missing or wrong token. */
  refused: number;
  addPackage(key: string, zip: Buffer): void;
  downloadUri(key: string): string;
  uploadUri(key: string): string;
  close(): Promise<void>;
}

export async function startPackageServer(token: string): Promise<PackageServer> {
  const packages = new Map<string, Buffer>();
  const uploads = new Map<string, Upload>();
  const uploadAttempts: string[] = [];
  const uploadStarted = new Map<string, number>();
  const state = { refused: 0 };
  const server = http.createServer((req, res) => {
    if (req.headers.authorization !== token) {
      state.refused++;
      res.writeHead(403, { 'content-type': 'application/json' }).end(JSON.stringify({ code: 200, description: 'forbidden' }));
      return;
    }
    const m = /^\/(pkg|droplet)\/([\w.-]+)$/.exec(req.url ?? '');
    if (m && m[1] === 'pkg' && req.method === 'GET') {
      const zip = packages.get(m[2]);
      if (!zip) { res.writeHead(404, { 'content-type': 'application/json' }).end(JSON.stringify({ code: 303, description: 'package not found' })); return; }
      res.writeHead(200, { 'content-type': 'application/zip', 'content-length': zip.length }).end(zip);
      return;
    }
    if (m && m[1] === 'droplet' && req.method === 'PUT') {
      const key = m[2];
      uploadAttempts.push(key);
      if (!uploadStarted.has(key)) uploadStarted.set(key, Date.now());
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const body = Buffer.concat(chunks);
        uploads.set(key, { key, body, sha1: createHash('sha1').update(body).digest('hex'), at: Date.now(), contentType: req.headers['content-type'] });
        res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
      });
      return;
    }
    res.writeHead(404).end();
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const url = `http://127.0.0.1:${(server.address() as net.AddressInfo).port}`;
  return {
    url, uploads, uploadAttempts, uploadStarted,
    get refused() { return state.refused; },
    addPackage: (key, zip) => { packages.set(key, zip); },
    downloadUri: (key) => `${url}/pkg/${key}`,
    uploadUri: (key) => `${url}/droplet/${key}`,
    close: () => new Promise<void>((r) => { server.closeAllConnections(); server.close(() => r()); }),
  };
}

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
export function stagingRequestFor(server: PackageServer, key: string, extra: {
  framework?: string; command?: string; runtime?: string; timeout?: number; app_id?: number; name?: string; download_uri?: string;
} = {}): StagingRequest {
  const appId = extra.app_id ?? nextApp++;
  return {
    app_id: appId,
    task_id: `task-${appId}-${key}`,
    name: extra.name ?? key,
    properties: {
      framework: extra.framework ?? null,
      runtime: extra.runtime ?? null,
      command: extra.command ?? null,
      resources: { memory: 64, disk: 2048, fds: 256 },
      environment: [],
      meta: {},
    },
    download_uri: extra.download_uri ?? server.downloadUri(key),
    upload_uri: server.uploadUri(key),
    ...(extra.timeout !== undefined ? { timeout: extra.timeout } : {}),
  };
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
