// The process side of the platform supervisor, without vscode: endpoint.json, the leash around
// `pocket up`, the Node check, process groups, and following platform.log.
import { execFile } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { decodeEndpoint, type Endpoint as EndpointFile } from '../platform/contract/endpoint';
import { UserFacingError } from '../platform/log';

/** `<dataDir>/endpoint.json` of a running platform (the contract's Endpoint): every field present (`''` for an unknown address). */
// The owner's email and password are for `pocket login`, not for connecting: left out.
export type RunningEndpoint = { [K in Exclude<keyof EndpointFile, 'user' | 'password' | 'ca'>]-?: NonNullable<EndpointFile[K]> } & Pick<EndpointFile, 'ca'>;

/** Whether the platform's API answers at an endpoint (a real request; injected so tests need no bundle). */
export type EndpointProbe = (ep: RunningEndpoint) => Promise<boolean>;

/** A missing prerequisite: shown once, never retried in a loop. */
export class PrerequisiteError extends UserFacingError {
  override name = 'PrerequisiteError';
}

/** endpoint.json of a live platform whose API answers, or undefined. */
export async function findRunningPlatform(dataDir: string, answers: EndpointProbe): Promise<RunningEndpoint | undefined> {
  const ep = readRunningEndpoint(dataDir);
  if (!ep || !isAlive(ep.pid)) return undefined;
  return (await answers(ep)) ? ep : undefined;
}

export function readRunningEndpoint(dataDir: string): RunningEndpoint | undefined {
  let raw: unknown;
  try { raw = JSON.parse(fs.readFileSync(path.join(dataDir, 'endpoint.json'), 'utf8')); } catch { return undefined; }
  const o = decodeEndpoint(raw);
  if (!o || o.pid === undefined) return undefined;
  return { api: o.api, token: o.token, pid: o.pid, router: o.router ?? '', nats: o.nats ?? '', ...(o.ca ? { ca: o.ca } : {}) };
}

/** Waits for an endpoint.json written since `since` by a live platform that answers. */
export async function waitForEndpoint(dataDir: string, since: number, timeoutMs: number, answers: EndpointProbe, signal?: AbortSignal): Promise<RunningEndpoint> {
  const deadline = Date.now() + timeoutMs;
  const file = path.join(dataDir, 'endpoint.json');
  while (Date.now() < deadline && !signal?.aborted) {
    const ep = readRunningEndpoint(dataDir);
    let fresh = false;
    try { fresh = fs.statSync(file).mtimeMs >= since - 1000; } catch { /* not written yet */ }
    if (ep && fresh && isAlive(ep.pid) && (await answers(ep))) return ep;
    await sleep(100);
  }
  throw new UserFacingError(`The platform did not become ready within ${Math.round(timeoutMs / 1000)} s; see the Pocket Foundry log.`);
}

/** The platform's Node must exist and be 20 or later (better-sqlite3 is built for it). */
export function checkNode(nodePath: string): Promise<void> {
  return new Promise((resolve, reject) => {
    execFile(nodePath, ['-p', 'process.versions.node'], { timeout: 10_000, env: platformEnv() }, (err, stdout) => {
      if (err) {
        const missing = (err as NodeJS.ErrnoException).code === 'ENOENT';
        reject(new PrerequisiteError(missing
          ? `Pocket Foundry needs Node.js 20 or later to run its platform, and "${nodePath}" was not found. Install Node.js (Debian/Ubuntu: \`apt-get install nodejs\`; or from nodejs.org) or set pocketFoundry.nodePath to its path.`
          : `Pocket Foundry could not run "${nodePath}" to start its platform: ${err.message}. Set pocketFoundry.nodePath to a working Node.js 20 or later.`));
        return;
      }
      const major = Number(stdout.trim().split('.')[0]);
      if (!(major >= 20)) {
        reject(new PrerequisiteError(`Pocket Foundry needs Node.js 20 or later to run its platform; "${nodePath}" is ${stdout.trim()}. Install a newer Node.js or set pocketFoundry.nodePath.`));
        return;
      }
      resolve();
    });
  });
}

/**
 * Runs `pocket up` as its child and stops it (SIGTERM, a clean shutdown) when stdin closes, i.e.
 * when the editor that started it is gone; SIGUSR2 or POCKET_LEASH_KEEP=1 let it outlive the editor.
 * Signals are passed on; the leash exits with the platform (and its exit code).
 */
export const leashScript = `
const { spawn } = require('child_process');
const child = spawn(process.execPath, process.argv.slice(1), { stdio: ['ignore', 'inherit', 'inherit'] });
let keep = process.env.POCKET_LEASH_KEEP === '1';
const stop = (sig) => { if (child.exitCode === null && child.signalCode === null) child.kill(sig); };
process.stdin.on('end', () => { if (!keep) stop('SIGTERM'); });
process.stdin.on('error', () => { if (!keep) stop('SIGTERM'); });
process.stdin.resume();
process.on('SIGUSR2', () => { keep = true; process.stdin.pause(); });
for (const s of ['SIGTERM', 'SIGINT', 'SIGHUP']) process.on(s, () => stop(s));
child.on('exit', (code, sig) => process.exit(code === null ? 1 : code));
`;

export function platformEnv(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) {
    // The editor's own variables mean nothing to the platform or the apps it runs.
    if (k === 'ELECTRON_RUN_AS_NODE' || k.startsWith('VSCODE_') || k === 'NODE_OPTIONS') continue;
    env[k] = v;
  }
  return env;
}

export function isAlive(pid: number): boolean {
  if (!(pid > 0)) return false;
  try { process.kill(pid, 0); return true; } catch (e) { return (e as NodeJS.ErrnoException).code === 'EPERM'; }
}

export function sweepGroup(pid: number | undefined, signal: NodeJS.Signals = 'SIGKILL'): void {
  if (!pid) return;
  try { process.kill(-pid, signal); } catch { /* group already empty */ }
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

export function safeRead(file: string): string {
  try { return fs.readFileSync(file, 'utf8'); } catch { return ''; }
}

/** Follows a growing file with fs.watch (no timers) and hands over complete lines. */
export class LogTail {
  private offset = 0;
  private partial = '';
  private watcher: fs.FSWatcher | undefined;
  private reading = false;
  private again = false;

  constructor(private readonly file: string, fromStart: boolean, private readonly onLine: (line: string) => void) {
    try { this.offset = fromStart ? 0 : fs.statSync(file).size; } catch { this.offset = 0; }
    try {
      this.watcher = fs.watch(file, () => this.read());
      this.watcher.on('error', () => this.dispose());
    } catch { /* no log file: nothing to follow */ }
    this.read();
  }

  private read(): void {
    if (this.reading) { this.again = true; return; }
    this.reading = true;
    try {
      const size = fs.statSync(this.file).size;
      if (size < this.offset) { this.offset = 0; this.partial = ''; }
      if (size > this.offset) {
        const fd = fs.openSync(this.file, 'r');
        try {
          const buf = Buffer.alloc(size - this.offset);
          const n = fs.readSync(fd, buf, 0, buf.length, this.offset);
          this.offset += n;
          const lines = (this.partial + buf.subarray(0, n).toString('utf8')).split('\n');
          this.partial = lines.pop() ?? '';
          for (const l of lines) if (l.trim()) this.onLine(l);
        } finally { fs.closeSync(fd); }
      }
    } catch { /* file gone or unreadable for now */ }
    this.reading = false;
    if (this.again) { this.again = false; this.read(); }
  }

  dispose(): void {
    this.read();
    this.watcher?.close();
    this.watcher = undefined;
  }
}
