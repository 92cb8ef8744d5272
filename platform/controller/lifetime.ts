// The controller's running/stopping flag, shared by the parts that wait: a stop wakes every pause.
import type { Log } from '../log';
import type { AppLocks } from './app-locks';

const sleep = (ms: number): Promise<void> => new Promise((r) => { setTimeout(r, ms).unref(); });

export class Lifetime {
  private closed = false;
  private wake: () => void = () => undefined;
  private readonly ended = new Promise<void>((resolve) => { this.wake = resolve; });

  get stopped(): boolean {
    return this.closed;
  }

  close(): void {
    this.closed = true;
    this.wake();
  }

  /** Sleeps, but wakes at once when the controller stops. */
  pause(ms: number): Promise<void> {
    return Promise.race([sleep(ms), this.ended]);
  }
}

/** What the parts acting on apps share: the per-app lock, the controller's lifetime, the log. */
export interface PartContext {
  locks: AppLocks;
  lifetime: Lifetime;
  log: Log;
}
