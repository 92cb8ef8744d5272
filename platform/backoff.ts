// Restart delays of a supervised process: doubling from `initialMs` to `maxMs`, back to the start
// once a run has lasted `stableMs` (a process that crashes once a day restarts at once each time).
import { describeError, type Log } from './log';

export interface BackoffOptions {
  initialMs?: number;
  maxMs?: number;
  stableMs?: number;
}

export class Backoff {
  private readonly initialMs: number;
  private readonly maxMs: number;
  private readonly stableMs: number;
  private delay: number;
  private startedAt = 0;

  constructor(opts: BackoffOptions = {}, private readonly now: () => number = Date.now) {
    this.initialMs = opts.initialMs ?? 100;
    this.maxMs = opts.maxMs ?? 5000;
    this.stableMs = opts.stableMs ?? 60_000;
    this.delay = this.initialMs;
  }

  /** The process (re)started now. */
  started(): void {
    this.startedAt = this.now();
  }

  /** It ended: how long to wait before starting it again. */
  next(): number {
    if (this.startedAt && this.now() - this.startedAt >= this.stableMs) this.delay = this.initialMs;
    const d = this.delay;
    this.delay = Math.min(this.maxMs, this.delay * 2);
    return d;
  }
}

/**
 * Starts a supervised process again each time it ends unasked, after the backoff's delay; a restart
 * that fails is tried again the same way. Once stopped, nothing more is started.
 */
export class Restarter {
  private readonly backoff: Backoff;
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;
  /** Restarts done after an unasked end. */
  restarts = 0;

  /** `start` starts the process again; `back` is the line logged once it is. */
  constructor(private readonly log: Log, private readonly start: () => Promise<unknown>, private readonly back: () => string, opts?: BackoffOptions) {
    this.backoff = new Backoff(opts);
  }

  /** Whether `stop` was called: an end is then asked for. */
  get stopping(): boolean { return this.stopped; }

  /** The process is ready (first start or restart). */
  started(): void {
    this.backoff.started();
  }

  /** It ended unasked (`why` says how): start it again after the next delay. */
  later(why: string): void {
    const delay = this.backoff.next();
    this.log.warn(`${why}; starting it again in ${delay} ms`);
    this.timer = setTimeout(() => {
      this.timer = undefined;
      if (this.stopped) return;
      this.restarts++;
      this.start().then(
        () => { this.log.info(this.back()); },
        (e: unknown) => { if (!this.stopped) this.later(describeError(e)); },
      );
    }, delay);
  }

  /** No restart from now on, and none that was due. */
  stop(): void {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
  }
}
