// `GET /events[?app=NAME]`: Server-Sent Events for editors and CLIs, so they never poll.
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { PlatformEvent } from '../contract';

export type { PlatformEvent };

interface Listener {
  app: string | null;
  res: ServerResponse;
}

export class EventHub {
  private readonly listeners = new Set<Listener>();
  private readonly internal = new Set<(e: PlatformEvent) => void>();
  private readonly keepAlive: NodeJS.Timeout;

  constructor(keepAliveMs = 15_000) {
    // A comment line now and then keeps proxies and idle timeouts from closing the stream.
    this.keepAlive = setInterval(() => { for (const l of this.listeners) l.res.write(': keep-alive\n\n'); }, keepAliveMs);
    this.keepAlive.unref();
  }

  get size(): number {
    return this.listeners.size;
  }

  open(req: IncomingMessage, res: ServerResponse, app: string | null): void {
    res.writeHead(200, {
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-store',
      connection: 'keep-alive',
      'x-accel-buffering': 'no',
    });
    res.write(': connected\n\n');
    const l: Listener = { app, res };
    this.listeners.add(l);
    req.socket.setTimeout(0);
    const close = (): void => { this.listeners.delete(l); };
    res.on('close', close);
    req.on('close', close);
  }

  /** An in-process listener (e.g. a followed staging log); returns the function that removes it. */
  listen(fn: (e: PlatformEvent) => void): () => void {
    this.internal.add(fn);
    return () => { this.internal.delete(fn); };
  }

  emit(e: PlatformEvent): void {
    for (const fn of [...this.internal]) fn(e);
    if (this.listeners.size === 0) return;
    const frame = `data: ${JSON.stringify(e)}\n\n`;
    for (const l of this.listeners) if (l.app === null || l.app === e.name) l.res.write(frame);
  }

  close(): void {
    clearInterval(this.keepAlive);
    for (const l of this.listeners) l.res.end();
    this.listeners.clear();
    this.internal.clear();
  }
}
