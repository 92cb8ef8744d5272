// The platform supervisor's core, without vscode: finds a running platform through
// <dataDir>/endpoint.json or starts `pocket up` under a leash, restarts it with backoff when it dies,
// stops it on request. Every state change goes through a transition table.
import { spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { ExitCodes } from '../platform/cli/exit-codes';
import { UserFacingError } from '../platform/log';
import {
  checkNode as realCheckNode, findRunningPlatform, isAlive, leashScript, LogTail, platformEnv, PrerequisiteError, safeRead, sleep,
  sweepGroup, waitForEndpoint, type RunningEndpoint, type EndpointProbe,
} from './platformProcess';

export type PlatformState =
  | { kind: 'stopped' }
  | { kind: 'starting'; detail: string }
  | { kind: 'running'; endpoint: RunningEndpoint; owned: boolean }
  | { kind: 'failed'; reason: string };

export type PlatformStateKind = PlatformState['kind'];

// starting -> starting is a new detail (looking, spawning, restarting in N s); x -> stopped is "stop" from anywhere.
const allowed: Readonly<Record<PlatformStateKind, readonly PlatformStateKind[]>> = {
  stopped: ['starting', 'stopped'],
  starting: ['starting', 'running', 'failed', 'stopped'],
  running: ['starting', 'failed', 'stopped'],
  failed: ['starting', 'failed', 'stopped'],
};

export class IllegalSupervisorTransition extends Error {
  override name = 'IllegalSupervisorTransition';
  constructor(readonly from: PlatformStateKind, readonly to: PlatformStateKind) {
    super(`illegal platform state transition ${from} -> ${to}`);
  }
}

export function canTransition(from: PlatformStateKind, to: PlatformStateKind): boolean {
  return allowed[from].includes(to);
}

/** Time and timers, injectable so backoff can be reasoned about in tests. */
export interface SupervisorClock {
  now(): number;
  setTimeout(fn: () => void, ms: number): NodeJS.Timeout;
  clearTimeout(t: NodeJS.Timeout): void;
}

const systemClock: SupervisorClock = {
  now: () => Date.now(),
  setTimeout: (fn, ms) => setTimeout(fn, ms),
  clearTimeout: (t) => clearTimeout(t),
};

/** The supervisor's state and when it was entered; a move the table forbids throws. */
export class SupervisorLifecycle {
  private current: PlatformState = { kind: 'stopped' };
  private enteredAt: number;

  constructor(private readonly clock: Pick<SupervisorClock, 'now'> = systemClock) {
    this.enteredAt = clock.now();
  }

  get state(): PlatformState { return this.current; }

  /** Milliseconds since the epoch at which the current state was entered. */
  get since(): number { return this.enteredAt; }

  transition(to: PlatformState): void {
    if (!canTransition(this.current.kind, to.kind)) throw new IllegalSupervisorTransition(this.current.kind, to.kind);
    this.current = to;
    this.enteredAt = this.clock.now();
  }
}

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

export const defaultTimings: SupervisorTimings = {
  startTimeoutMs: 60_000, restartBaseMs: 1000, restartMaxMs: 30_000, stableAfterMs: 30_000,
  maxQuickFailures: 5, stopGraceMs: 8000,
};

/** The restart delay after `quickFailures` quick failures in a row. */
export function backoffDelay(t: SupervisorTimings, quickFailures: number): number {
  return Math.min(t.restartMaxMs, t.restartBaseMs * 2 ** Math.max(0, quickFailures - 1));
}

/** The settings the supervisor reads at each start. */
export interface LaunchConfig {
  nodePath: string;
  dataDir: string;
  routerPort: number;
  keepPlatformRunning: boolean;
}

/** What the supervisor writes to; the extension's log, or a test's. */
export interface SupervisorLog {
  info(msg: string): void;
  warn(msg: string): void;
  error(msg: string, err?: unknown): void;
  /** A line of platform.log. */
  platformLine(line: string): void;
}

export interface SupervisorCoreOptions {
  log: SupervisorLog;
  /** dist/pocket.js (or any script taking `up --data DIR`). */
  pocketJs: string;
  config: () => LaunchConfig;
  /** Whether the platform's API answers (a real request through platform/client in the extension). */
  answers: EndpointProbe;
  timings?: Partial<SupervisorTimings>;
  clock?: SupervisorClock;
  checkNode?: (nodePath: string) => Promise<void>;
  /** A missing prerequisite (Node, nats-server): called once per supervisor, never retried in a loop. */
  onPrerequisiteMissing?: (reason: string) => void;
}

export interface Subscription { dispose(): void }

interface ChildExit { why: string; code: number | null }

export class SupervisorCore {
  private readonly lifecycle: SupervisorLifecycle;
  private readonly listeners = new Set<(s: PlatformState) => void>();
  private child: ChildProcess | undefined;
  private childStartedAt = 0;
  private pending: Promise<RunningEndpoint> | undefined;
  private stopping: Promise<void> | undefined;
  private restartTimer: NodeJS.Timeout | undefined;
  private quickFailures = 0;
  private tail: LogTail | undefined;
  private prerequisiteShown = false;
  private readonly timings: SupervisorTimings;
  private readonly clock: SupervisorClock;

  constructor(private readonly opts: SupervisorCoreOptions) {
    this.timings = { ...defaultTimings, ...opts.timings };
    this.clock = opts.clock ?? systemClock;
    this.lifecycle = new SupervisorLifecycle(this.clock);
  }

  get state(): PlatformState { return this.lifecycle.state; }

  onDidChangeState(listener: (s: PlatformState) => void): Subscription {
    this.listeners.add(listener);
    return { dispose: () => { this.listeners.delete(listener); } };
  }

  /** pid of the platform process this supervisor started (the one in endpoint.json), if any. */
  get ownedPid(): number | undefined {
    const s = this.state;
    return this.child && s.kind === 'running' && s.owned ? s.endpoint.pid : undefined;
  }

  /** The running platform's endpoint, starting the platform when none runs (the lazy "first need"). */
  ensureRunning(): Promise<RunningEndpoint> {
    const s = this.state;
    if (s.kind === 'running') return Promise.resolve(s.endpoint);
    if (!this.pending) {
      this.pending = this.bringUp().finally(() => { this.pending = undefined; });
    }
    return this.pending;
  }

  /** Called when the event stream drops: a platform started elsewhere may have died. */
  async checkAlive(): Promise<void> {
    const s = this.state;
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

  async restart(): Promise<RunningEndpoint> {
    await this.stop();
    this.quickFailures = 0;
    return this.ensureRunning();
  }

  /** On deactivate: stop what this supervisor started, unless the user wants it kept running. */
  async shutdown(keepRunning: boolean): Promise<void> {
    this.cancelRestart();
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
    this.cancelRestart();
    this.tail?.dispose();
    this.listeners.clear();
  }

  // ---- internals -------------------------------------------------------------------------------

  private setState(s: PlatformState): void {
    this.lifecycle.transition(s);
    for (const l of [...this.listeners]) l(s);
  }

  private cancelRestart(): void {
    if (this.restartTimer) { this.clock.clearTimeout(this.restartTimer); this.restartTimer = undefined; }
  }

  private async bringUp(): Promise<RunningEndpoint> {
    if (this.stopping) await this.stopping;
    this.cancelRestart();
    const cfg = this.opts.config();
    this.setState({ kind: 'starting', detail: 'looking for a running platform' });
    try {
      const found = await findRunningPlatform(cfg.dataDir, this.opts.answers);
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
      const reason = err instanceof Error ? err.message : String(err);
      this.setState({ kind: 'failed', reason });
      if (err instanceof PrerequisiteError) {
        if (!this.prerequisiteShown) {
          this.prerequisiteShown = true;
          this.opts.onPrerequisiteMissing?.(reason);
        }
      } else {
        this.opts.log.error('The platform did not start', err);
      }
      throw err;
    }
  }

  private async spawnPlatform(cfg: LaunchConfig): Promise<RunningEndpoint> {
    if (!fs.existsSync(this.opts.pocketJs)) {
      throw new UserFacingError(`The platform program is missing (${this.opts.pocketJs}); reinstall the extension or run \`npm run build\`.`);
    }
    await (this.opts.checkNode ?? realCheckNode)(cfg.nodePath);
    fs.mkdirSync(cfg.dataDir, { recursive: true, mode: 0o700 });
    this.setState({ kind: 'starting', detail: 'starting pocket up' });
    const logFile = path.join(cfg.dataDir, 'platform.log');
    const fd = fs.openSync(logFile, 'w', 0o600);
    const args = [this.opts.pocketJs, 'up', '--data', cfg.dataDir];
    if (cfg.routerPort > 0) args.push('--router-port', String(cfg.routerPort));
    this.opts.log.info(`Starting the platform: ${cfg.nodePath} ${args.join(' ')}`);
    let child: ChildProcess;
    const spawnedAt = this.clock.now();
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
    const exited = new Promise<ChildExit>((resolve) => {
      child.once('error', (e) => resolve({ why: `could not run ${cfg.nodePath}: ${e.message}`, code: null }));
      child.once('exit', (code, signal) => resolve({ why: signal ? `exited on ${signal}` : `exited with code ${code}`, code }));
    });
    child.once('exit', (code, signal) => this.onChildExit(child, code, signal));
    const gaveUp = new AbortController();
    try {
      const endpoint = await Promise.race([
        waitForEndpoint(cfg.dataDir, spawnedAt, this.timings.startTimeoutMs, this.opts.answers, gaveUp.signal),
        exited.then((exit) => { throw this.startFailure(logFile, exit); }),
      ]);
      this.opts.log.info(`Platform running (pid ${endpoint.pid}): api ${endpoint.api}, router ${endpoint.router}`);
      return endpoint;
    } finally {
      gaveUp.abort();
    }
  }

  /** Turns an early exit into a missing prerequisite (by exit code) or the platform's own words (its last error line). */
  private startFailure(logFile: string, exit: ChildExit): Error {
    if (exit.code === ExitCodes.natsServerNotFound) {
      return new PrerequisiteError('Pocket Foundry needs nats-server to run its platform. Install it (Debian/Ubuntu: `apt-get install nats-server`, macOS: `brew install nats-server`) and try again.');
    }
    const text = safeRead(logFile);
    const errorLine = text.split('\n').reverse().find((l) => /\berror\b/i.test(l));
    const said = errorLine ? errorLine.replace(/^\S+Z\s+error\s+/, '').trim() : '';
    return new UserFacingError(`The platform ${exit.why}${said ? `: ${said}` : ''}`);
  }

  private onChildExit(child: ChildProcess, code: number | null, signal: NodeJS.Signals | null): void {
    if (this.child !== child) return;
    this.child = undefined;
    sweepGroup(child.pid);
    if (this.stopping) return;
    const ranMs = this.clock.now() - this.childStartedAt;
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
    const delay = backoffDelay(this.timings, this.quickFailures);
    this.setState({ kind: 'starting', detail: `restarting in ${Math.round(delay / 1000)} s` });
    this.restartTimer = this.clock.setTimeout(() => {
      this.restartTimer = undefined;
      this.ensureRunning().catch((err: unknown) => {
        if (err instanceof PrerequisiteError || this.stopping) return;
        this.quickFailures++;
        this.scheduleRestart();
      });
    }, delay);
  }

  private async doStop(): Promise<void> {
    this.cancelRestart();
    if (this.pending) await this.pending.catch(() => undefined);
    const child = this.child;
    const s = this.state;
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
