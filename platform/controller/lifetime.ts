// The controller's running/stopping flag, shared by the parts that wait: a stop wakes every pause.
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
