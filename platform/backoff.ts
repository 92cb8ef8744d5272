// Restart delays of a supervised process: doubling from `initialMs` to `maxMs`, back to the start
// once a run has lasted `stableMs` (a process that crashes once a day restarts at once each time).

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
