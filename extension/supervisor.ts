// The platform supervisor: finds a running platform through <dataDir>/endpoint.json or starts
// `pocket up` with the system Node, restarts it with backoff when it dies, stops it on request.
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as vscode from 'vscode';
import { decodeEndpoint, type Endpoint as EndpointFile } from '../platform/contract/endpoint';
import { clientLib } from './clientLib';
import type { PocketConfig } from './config';
import { describe, type ExtensionLog } from './log';

/** `<dataDir>/endpoint.json` of a running platform: every field present (`''` for an unknown address). */
export type Endpoint = { [K in keyof EndpointFile]-?: NonNullable<EndpointFile[K]> };

export type PlatformState =
  | { kind: 'stopped' }
  | { kind: 'starting'; detail: string }
  | { kind: 'running'; endpoint: Endpoint; owned: boolean }
  | { kind: 'failed'; reason: string };

export interface SupervisorTimings {
  /** How long `pocket up` may take to write a working endpoint.json. */
  startTimeoutMs: number;
  /** First restart delay after an unexpected exit; doubles per quick failure. */
  restartBaseMs: number;
  restartMaxMs: number;
  /** A platform that ran at least this long resets the backoff. */
  stableAfterMs: number;
  /** Quick failures in a row before giving up. */
  maxQuickFailures: number;
  /** Time between SIGTERM and SIGKILL when stopping. */
  stopGraceMs: number;
}

const defaultTimings: SupervisorTimings = {
  startTimeoutMs: 60_000, restartBaseMs: 1000, restartMaxMs: 30_000, stableAfterMs: 30_000,
  maxQuickFailures: 5, stopGraceMs: 8000,
};

export interface SupervisorOptions {
  log: ExtensionLog;
  /** dist/pocket.js of this extension. */
  pocketJs: string;
  config: () => PocketConfig;
  timings?: Partial<SupervisorTimings>;
}

/** A missing prerequisite: shown once, never retried in a loop. */
class PrerequisiteError extends Error {
  override name = 'PrerequisiteError';
}

export class PlatformSupervisor implements vscode.Disposable {
  private readonly emitter = new vscode.EventEmitter<PlatformState>();
  readonly onDidChangeState = this.emitter.event;
  private current: PlatformState = { kind: 'stopped' };
  private child: ChildProcess | undefined;
  private childStartedAt = 0;
  private pending: Promise<Endpoint> | undefined;
  private stopping: Promise<void> | undefined;
  private restartTimer: NodeJS.Timeout | undefined;
  private quickFailures = 0;
  private tail: LogTail | undefined;
  private prerequisiteShown = false;
  private readonly timings: SupervisorTimings;

  constructor(private readonly opts: SupervisorOptions) {
    this.timings = { ...defaultTimings, ...opts.timings };
  }

  get state(): PlatformState { return this.current; }

  /** pid of the platform process this supervisor started (the one in endpoint.json), if any. */
  get ownedPid(): number | undefined {
    return this.child && this.current.kind === 'running' && this.current.owned ? this.current.endpoint.pid : undefined;
  }

  /** The running platform's endpoint, starting the platform when none runs (the lazy "first need"). */
  ensureRunning(): Promise<Endpoint> {
    if (this.current.kind === 'running') return Promise.resolve(this.current.endpoint);
    if (!this.pending) {
      this.pending = this.bringUp().finally(() => { this.pending = undefined; });
    }
    return this.pending;
  }

  /** Called when the event stream drops: a platform started elsewhere may have died. */
  async checkAlive(): Promise<void> {
    const s = this.current;
    if (s.kind !== 'running' || s.owned || this.pending || this.stopping) return;
    if (isAlive(s.endpoint.pid)) return;
    this.opts.log.warn(`The platform (pid ${s.endpoint.pid}) is gone; starting a new one.`);
    this.setState({ kind: 'stopped' });
    try { await this.ensureRunning(); } catch { /* state and message already say why */ }
  }

  async stop(): Promise<void> {
    if (this.stopping) return this.stopping;
    this.stopping = this.doStop().finally(() => { this.stopping = undefined; });
    return this.stopping;
  }

  async restart(): Promise<Endpoint> {
    await this.stop();
    this.quickFailures = 0;
    return this.ensureRunning();
  }

  /** On deactivate: stop what this supervisor started, unless the user wants it kept running. */
  async shutdown(keepRunning: boolean): Promise<void> {
    if (this.restartTimer) clearTimeout(this.restartTimer);
    if (keepRunning) {
      // Tell the leash to let the platform outlive this window.
      if (this.child?.pid) { try { process.kill(this.child.pid, 'SIGUSR2'); } catch { /* gone */ } }
      (this.child?.stdin as { unref?: () => void } | null | undefined)?.unref?.();
      this.child?.unref();
      this.child = undefined;
      this.tail?.dispose();
      return;
    }
    if (this.child) await this.stop();
  }

  dispose(): void {
    if (this.restartTimer) clearTimeout(this.restartTimer);
    this.tail?.dispose();
    this.emitter.dispose();
  }

  // ---- internals -------------------------------------------------------------------------------

  private setState(s: PlatformState): void {
    this.current = s;
    this.emitter.fire(s);
  }

  private async bringUp(): Promise<Endpoint> {
    if (this.stopping) await this.stopping;
    if (this.restartTimer) { clearTimeout(this.restartTimer); this.restartTimer = undefined; }
    const cfg = this.opts.config();
    this.setState({ kind: 'starting', detail: 'looking for a running platform' });
    try {
      const found = await findRunningPlatform(cfg.dataDir);
      if (found) {
        this.opts.log.info(`Using the platform already running in ${cfg.dataDir} (pid ${found.pid}, api ${found.api}).`);
        this.tailLog(cfg.dataDir, false);
        this.setState({ kind: 'running', endpoint: found, owned: false });
        return found;
      }
      const endpoint = await this.spawnPlatform(cfg);
      this.setState({ kind: 'running', endpoint, owned: true });
      return endpoint;
    } catch (err) {
      const reason = describe(err);
      this.setState({ kind: 'failed', reason });
      if (err instanceof PrerequisiteError) {
        if (!this.prerequisiteShown) {
          this.prerequisiteShown = true;
          void vscode.window.showErrorMessage(reason, 'Open Settings').then((a) => {
            if (a) void vscode.commands.executeCommand('workbench.action.openSettings', 'pocketFoundry.nodePath');
          });
        }
      } else {
        this.opts.log.error('The platform did not start', err);
      }
      throw err;
    }
  }

  private async spawnPlatform(cfg: PocketConfig): Promise<Endpoint> {
    if (!fs.existsSync(this.opts.pocketJs)) {
      throw new Error(`The platform program is missing (${this.opts.pocketJs}); reinstall the extension or run \`npm run build\`.`);
    }
    await checkNode(cfg.nodePath);
    fs.mkdirSync(cfg.dataDir, { recursive: true, mode: 0o700 });
    this.setState({ kind: 'starting', detail: 'starting pocket up' });
    const logFile = path.join(cfg.dataDir, 'platform.log');
    const fd = fs.openSync(logFile, 'w', 0o600);
    const args = [this.opts.pocketJs, 'up', '--data', cfg.dataDir];
    if (cfg.routerPort > 0) args.push('--router-port', String(cfg.routerPort));
    this.opts.log.info(`Starting the platform: ${cfg.nodePath} ${args.join(' ')}`);
    let child: ChildProcess;
    const spawnedAt = Date.now();
    try {
      // Own process group, output to a file, under a leash that stops it when this editor goes away
      // without deactivating (its stdin closes). A group kill after an unexpected exit sweeps
      // what it left (nats-server, app instances).
      child = spawn(cfg.nodePath, ['-e', leashScript, ...args], {
        cwd: cfg.dataDir, detached: true, stdio: ['pipe', fd, fd],
        env: { ...platformEnv(), POCKET_LEASH_KEEP: cfg.keepPlatformRunning ? '1' : '' },
      });
      child.stdin?.on('error', () => undefined);
    } finally {
      fs.closeSync(fd);
    }
    this.child = child;
    this.childStartedAt = spawnedAt;
    this.tailLog(cfg.dataDir, true);
    const exited = new Promise<string>((resolve) => {
      child.once('error', (e) => resolve(`could not run ${cfg.nodePath}: ${e.message}`));
      child.once('exit', (code, signal) => resolve(signal ? `exited on ${signal}` : `exited with code ${code}`));
    });
    child.once('exit', (code, signal) => this.onChildExit(child, code, signal));
    const endpoint = await Promise.race([
      waitForEndpoint(cfg.dataDir, spawnedAt, this.timings.startTimeoutMs),
      exited.then((why) => { throw this.startFailure(logFile, why); }),
    ]);
    this.opts.log.info(`Platform running (pid ${endpoint.pid}): api ${endpoint.api}, router ${endpoint.router}`);
    return endpoint;
  }

  /** Turns an early exit into the platform's own words (its last error line) or a missing prerequisite. */
  private startFailure(logFile: string, why: string): Error {
    const text = safeRead(logFile);
    if (/nats-server was not found/i.test(text)) {
      return new PrerequisiteError('Pocket Foundry needs nats-server to run its platform. Install it (Debian/Ubuntu: `apt-get install nats-server`, macOS: `brew install nats-server`) and try again.');
    }
    const errorLine = text.split('\n').reverse().find((l) => /\berror\b/i.test(l));
    const said = errorLine ? errorLine.replace(/^\S+Z\s+error\s+/, '').trim() : '';
    return new Error(`The platform ${why}${said ? `: ${said}` : ''}`);
  }

  private onChildExit(child: ChildProcess, code: number | null, signal: NodeJS.Signals | null): void {
    if (this.child !== child) return;
    this.child = undefined;
    sweepGroup(child.pid);
    if (this.stopping) return;
    const ranMs = Date.now() - this.childStartedAt;
    this.opts.log.warn(`The platform exited unexpectedly (${signal ?? `code ${code}`}) after ${Math.round(ranMs / 1000)} s.`);
    if (this.pending) return; // still starting: bringUp reports the failure
    this.quickFailures = ranMs >= this.timings.stableAfterMs ? 0 : this.quickFailures + 1;
    this.scheduleRestart();
  }

  private scheduleRestart(): void {
    if (this.quickFailures > this.timings.maxQuickFailures) {
      const reason = `The platform keeps exiting (${this.quickFailures} times in a row); see the log.`;
      this.setState({ kind: 'failed', reason });
      this.opts.log.error(reason);
      return;
    }
    const delay = Math.min(this.timings.restartMaxMs, this.timings.restartBaseMs * 2 ** Math.max(0, this.quickFailures - 1));
    this.setState({ kind: 'starting', detail: `restarting in ${Math.round(delay / 1000)} s` });
    this.restartTimer = setTimeout(() => {
      this.restartTimer = undefined;
      this.ensureRunning().catch((err: unknown) => {
        if (err instanceof PrerequisiteError || this.stopping) return;
        this.quickFailures++;
        this.scheduleRestart();
      });
    }, delay);
  }

  private async doStop(): Promise<void> {
    if (this.restartTimer) { clearTimeout(this.restartTimer); this.restartTimer = undefined; }
    if (this.pending) await this.pending.catch(() => undefined);
    const child = this.child;
    const s = this.current;
    if (child?.pid) {
      this.opts.log.info(`Stopping the platform (pid ${child.pid}).`);
      const gone = new Promise<void>((resolve) => child.once('exit', () => resolve()));
      try { process.kill(child.pid, 'SIGTERM'); } catch { /* already gone */ }
      const timer = setTimeout(() => { sweepGroup(child.pid, 'SIGKILL'); }, this.timings.stopGraceMs);
      await gone;
      clearTimeout(timer);
      sweepGroup(child.pid, 'SIGKILL');
      this.child = undefined;
    } else if (s.kind === 'running') {
      const pid = s.endpoint.pid;
      this.opts.log.info(`Stopping the platform started elsewhere (pid ${pid}).`);
      try { process.kill(pid, 'SIGTERM'); } catch { /* already gone */ }
      const deadline = Date.now() + this.timings.stopGraceMs;
      while (isAlive(pid) && Date.now() < deadline) await sleep(100);
      if (isAlive(pid)) { try { process.kill(pid, 'SIGKILL'); } catch { /* gone */ } }
    }
    this.tail?.dispose();
    this.tail = undefined;
    this.setState({ kind: 'stopped' });
  }

  private tailLog(dataDir: string, fromStart: boolean): void {
    this.tail?.dispose();
    this.tail = new LogTail(path.join(dataDir, 'platform.log'), fromStart, (line) => this.opts.log.platformLine(line));
  }
}

/** endpoint.json of a live platform whose API answers, or undefined. */
export async function findRunningPlatform(dataDir: string): Promise<Endpoint | undefined> {
  const ep = readEndpoint(dataDir);
  if (!ep || !isAlive(ep.pid)) return undefined;
  return (await answers(ep)) ? ep : undefined;
}

export function readEndpoint(dataDir: string): Endpoint | undefined {
  let raw: unknown;
  try { raw = JSON.parse(fs.readFileSync(path.join(dataDir, 'endpoint.json'), 'utf8')); } catch { return undefined; }
  const o = decodeEndpoint(raw);
  if (!o || o.pid === undefined) return undefined;
  return { api: o.api, token: o.token, pid: o.pid, router: o.router ?? '', nats: o.nats ?? '' };
}

async function answers(ep: Endpoint): Promise<boolean> {
  const client = new (clientLib().CloudControllerClient)({ api: ep.api, token: ep.token, timeoutMs: 3000 });
  try { await client.apps(); return true; } catch { return false; } finally { client.close(); }
}

/** Waits for an endpoint.json written since `since` by a live platform that answers. */
async function waitForEndpoint(dataDir: string, since: number, timeoutMs: number): Promise<Endpoint> {
  const deadline = Date.now() + timeoutMs;
  const file = path.join(dataDir, 'endpoint.json');
  while (Date.now() < deadline) {
    const ep = readEndpoint(dataDir);
    let fresh = false;
    try { fresh = fs.statSync(file).mtimeMs >= since - 1000; } catch { /* not written yet */ }
    if (ep && fresh && isAlive(ep.pid) && (await answers(ep))) return ep;
    await sleep(100);
  }
  throw new Error(`The platform did not become ready within ${Math.round(timeoutMs / 1000)} s; see the Pocket Foundry log.`);
}

/** The platform's Node must exist and be 20 or later (better-sqlite3 is built for it). */
function checkNode(nodePath: string): Promise<void> {
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
 * Signals are passed on; the leash exits with the platform.
 */
const leashScript = `
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

function platformEnv(): NodeJS.ProcessEnv {
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

function sweepGroup(pid: number | undefined, signal: NodeJS.Signals = 'SIGKILL'): void {
  if (!pid) return;
  try { process.kill(-pid, signal); } catch { /* group already empty */ }
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

function safeRead(file: string): string {
  try { return fs.readFileSync(file, 'utf8'); } catch { return ''; }
}

/** Follows a growing file with fs.watch (no timers) and hands over complete lines. */
class LogTail implements vscode.Disposable {
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
