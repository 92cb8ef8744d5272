// One queue per app: desired-state changes of the same app run one at a time, in arrival order.
export class AppLocks {
  private readonly tails = new Map<number, Promise<unknown>>();

  async run<T>(appId: number, fn: () => Promise<T> | T): Promise<T> {
    const prev = this.tails.get(appId) ?? Promise.resolve();
    const next = prev.then(() => fn(), () => fn());
    const tail = next.catch(() => undefined);
    this.tails.set(appId, tail);
    try {
      return await next;
    } finally {
      if (this.tails.get(appId) === tail) this.tails.delete(appId);
    }
  }
}
