// One database or cache server as a supervised child process: started and waited for until it
// answers, restarted with backoff when it dies on its own, stopped with SIGTERM then SIGKILL.
import { spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import type { Log } from '../log';
import { describeError } from '../log';
import type { NodeState } from './node-state';
import { killStale, sleep, type RunAs } from './system';

export interface ServerSpec {
  /** For the log: `postgresql`, `redis d1a2b...`. */
  name: string;
  command: string;
  args: readonly string[];
  runAs?: RunAs;
  /** stdout and stderr are appended here. */
  logFile: string;
  /** A pid file the server writes: a live server it names (left by a killed platform) is stopped first. */
  pidFile?: string;
  /** Resolves once the server answers; called repeatedly until it does or `readyTimeoutMs` passes. */
  ready(): Promise<boolean>;
  readyTimeoutMs?: number;
}

const backoffMs = [250, 1000, 2000, 5000, 10_000, 30_000];
/** A server that ran this long before dying starts its backoff over. */
const stableMs = 60_000;

export class ServerProcess {
  private child: ChildProcess | undefined;
  private stopping = false;
  private failures = 0;
  private restartTimer: NodeJS.Timeout | undefined;
  /** Restarts done after a crash (for tests and status). */
  restarts = 0;

  constructor(private readonly spec: ServerSpec, private readonly log: Log) {}

  get pid(): number | undefined { return this.child?.pid; }
  get running(): boolean { return this.child !== undefined && this.child.exitCode === null && this.child.signalCode === null; }

  /** Starts the server and waits until it answers. */
  async start(): Promise<void> {
    this.stopping = false;
    if (this.spec.pidFile) await killStale(this.spec.pidFile, this.spec.command);
    const out = fs.openSync(this.spec.logFile, 'a', 0o600);
    const child = spawn(this.spec.command, this.spec.args, {
      stdio: ['ignore', out, out], uid: this.spec.runAs?.uid, gid: this.spec.runAs?.gid, cwd: '/', env: { ...process.env, LC_ALL: 'C' },
    });
    fs.closeSync(out);
    this.child = child;
    const started = Date.now();
    let exited = false;
    child.once('error', (e) => { this.log.warn(`${this.spec.name}: ${describeError(e)}`); });
    child.once('exit', (code, signal) => {
      exited = true;
      if (this.child === child) this.child = undefined;
      if (this.stopping) return;
      if (Date.now() - started > stableMs) this.failures = 0;
      const delay = backoffMs[Math.min(this.failures++, backoffMs.length - 1)];
      this.log.warn(`${this.spec.name} exited (${signal ?? code}); restarting in ${delay} ms`);
      this.restartTimer = setTimeout(() => {
        this.restartTimer = undefined;
        if (this.stopping) return;
        this.restarts++;
        this.start().catch((e) => { this.log.error(`${this.spec.name} restart failed`, e); });
      }, delay);
    });
    const deadline = Date.now() + (this.spec.readyTimeoutMs ?? 30_000);
    for (;;) {
      if (exited) throw new Error(`${this.spec.name} exited while starting (see ${this.spec.logFile})`);
      if (await this.spec.ready().catch(() => false)) break;
      if (Date.now() > deadline) throw new Error(`${this.spec.name} did not answer within ${this.spec.readyTimeoutMs ?? 30_000} ms`);
      await sleep(50);
    }
    this.log.info(`${this.spec.name} running (pid ${child.pid})`);
  }

  /** Stops the server (SIGTERM, then SIGKILL after `graceMs`) and any restart that was due. */
  async stop(graceMs = 10_000): Promise<void> {
    this.stopping = true;
    if (this.restartTimer) clearTimeout(this.restartTimer);
    const child = this.child;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    const gone = new Promise<void>((r) => child.once('exit', () => r()));
    child.kill('SIGTERM');
    const t = setTimeout(() => child.kill('SIGKILL'), graceMs);
    await gone;
    clearTimeout(t);
  }
}

/**
 * The one server a node's instances share (postgresql, mysql): its process, and its port and admin
 * password as the node's state keeps them.
 */
export class SharedServer {
  private process: ServerProcess | undefined;

  constructor(private readonly state: NodeState, private readonly name: string) {}

  get started(): boolean { return this.process !== undefined; }

  /** Port and admin password; throws before the server's data was initialised. */
  settings(): { port: number; adminPassword: string } {
    const s = this.state.data.server;
    if (!s) throw new Error(`${this.name} server not initialised`);
    return s;
  }

  /** Starts it and waits until it answers; one that does not come up is stopped and forgotten. */
  async start(server: ServerProcess): Promise<void> {
    this.process = server;
    try {
      await server.start();
    } catch (e) {
      this.process = undefined;
      await server.stop();
      throw e;
    }
  }

  servers(): ServerProcess[] {
    return this.process ? [this.process] : [];
  }

  async stop(): Promise<void> {
    await this.process?.stop();
    this.process = undefined;
  }
}
