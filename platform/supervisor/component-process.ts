// One component of `pocket up` as its own process (`pocket <component> --nats URL`), started again
// with backoff whenever it ends without being asked to; the others keep running meanwhile.
import { spawn, type ChildProcess } from 'node:child_process';
import { Restarter, type BackoffOptions } from '../backoff';
import { UserFacingError, type Log } from '../log';
import type { PlatformComponent } from '../platform';
import { isReadyMessage, supervisedEnv, type ReadyMessage, type StopMessage } from './protocol';

export interface ComponentProcessOptions {
  component: PlatformComponent;
  /** The command that runs `pocket` (node and the CLI script). */
  command: string;
  /** Arguments of a start, asked anew each time (the first start learns the ports later ones reuse). */
  args: () => string[];
  env: NodeJS.ProcessEnv;
  log: Log;
  backoff?: BackoffOptions;
  /** A start that has not said ready by then is killed and counts as a failed start. */
  readyTimeoutMs?: number;
  /** After a stop request, the time before SIGKILL. */
  stopGraceMs?: number;
  /** Each time it is ready (first start and restarts). */
  onReady?: (m: ReadyMessage) => void;
}

export class ComponentProcess {
  private child: ChildProcess | undefined;
  private readonly restarter: Restarter;

  constructor(private readonly opts: ComponentProcessOptions) {
    this.restarter = new Restarter(opts.log, () => this.start(), () => `${this.name} is back (pid ${this.pid}, restart ${this.restarts})`, opts.backoff);
  }

  /** How many times it was started again after ending unasked. */
  get restarts(): number { return this.restarter.restarts; }

  get name(): PlatformComponent { return this.opts.component; }
  get pid(): number | undefined { return this.child?.pid; }

  /** Resolves with its ready message; rejects when it ends or stays silent before. */
  start(): Promise<ReadyMessage> {
    const o = this.opts;
    return new Promise((resolve, reject) => {
      const child = spawn(o.command, o.args(), {
        env: { ...o.env, [supervisedEnv]: '1' }, stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
      });
      this.child = child;
      let ready = false;
      const timeout = setTimeout(() => {
        if (!ready) { o.log.warn(`${o.component} did not start within ${o.readyTimeoutMs ?? 60_000} ms`); child.kill('SIGKILL'); }
      }, o.readyTimeoutMs ?? 60_000);
      child.on('message', (m: unknown) => {
        if (ready || !isReadyMessage(m)) return;
        ready = true;
        clearTimeout(timeout);
        this.restarter.started();
        o.onReady?.(m);
        resolve(m);
      });
      child.once('error', (e) => { o.log.error(`${o.component} process`, e); });
      child.once('exit', (code, signal) => {
        clearTimeout(timeout);
        if (this.child === child) this.child = undefined;
        const how = signal ?? `exit code ${code}`;
        if (!ready) { reject(new UserFacingError(`The ${o.component} did not start (${how}); its messages are above.`)); return; }
        if (!this.restarter.stopping) this.restarter.later(`${o.component} (pid ${child.pid}) ended unexpectedly (${how})`);
      });
    });
  }

  /** Asks it to stop (it stops its own work cleanly), SIGKILL after the grace time. */
  async stop(): Promise<void> {
    this.restarter.stop();
    const child = this.child;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    await new Promise<void>((resolve) => {
      const kill = setTimeout(() => { this.opts.log.warn(`${this.name} did not stop in time; killing it`); child.kill('SIGKILL'); }, this.opts.stopGraceMs ?? 20_000);
      child.once('exit', () => { clearTimeout(kill); resolve(); });
      const stop: StopMessage = { type: 'stop' };
      if (child.connected) child.send(stop, (e) => { if (e) child.kill('SIGTERM'); });
      else child.kill('SIGTERM');
    });
  }
}
