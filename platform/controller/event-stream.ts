// `GET /events[?app=NAME]`: Server-Sent Events for editors and CLIs, so they never poll.
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { PlatformEvent } from '../contract';
import { silentLog, type Log } from '../log';

export type { PlatformEvent };

interface Listener {
  app: string | null;
  res: ServerResponse;
  /** When a write was last refused (the socket is full) and no drain has come since; 0 when flowing. */
  stalledSince: number;
}

export interface EventHubOptions {
  keepAliveMs?: number;
  /** A reader with more than this much unsent in its response is dropped. */
  maxBufferedBytes?: number;
  /** A reader whose socket stays full this long is dropped. */
  maxStallMs?: number;
  log?: Log;
}

const KiB = 1024;

export class EventHub {
  private readonly listeners = new Set<Listener>();
  private readonly internal = new Set<(e: PlatformEvent) => void>();
  private readonly keepAlive: NodeJS.Timeout;
  private readonly maxBufferedBytes: number;
  private readonly maxStallMs: number;
  private readonly log: Log;

  constructor(opts: EventHubOptions = {}) {
    this.maxBufferedBytes = opts.maxBufferedBytes ?? 512 * KiB;
    this.maxStallMs = opts.maxStallMs ?? 30_000;
    this.log = opts.log ?? silentLog;
    // A comment line now and then keeps proxies and idle timeouts from closing the stream.
    this.keepAlive = setInterval(() => { for (const l of this.listeners) this.send(l, ': keep-alive\n\n'); }, opts.keepAliveMs ?? 15_000);
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
    const l: Listener = { app, res, stalledSince: 0 };
    this.listeners.add(l);
    res.on('drain', () => { l.stalledSince = 0; });
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
    for (const l of [...this.listeners]) if (l.app === null || l.app === e.name) this.send(l, frame);
  }

  /** Writes unless the reader has stopped reading: then it is dropped, not buffered for without end. */
  private send(l: Listener, frame: string): void {
    const unsent = l.res.writableLength;
    const size = Buffer.byteLength(frame);
    const stalledMs = l.stalledSince ? Date.now() - l.stalledSince : 0;
    if (unsent + size > this.maxBufferedBytes || stalledMs > this.maxStallMs) {
      this.listeners.delete(l);
      this.log.warn(`dropped an event stream reader that stopped reading (${Math.round(unsent / KiB)} KiB unsent, its socket full for ${Math.round(stalledMs / 1000)} s)`);
      l.res.destroy();
      return;
    }
    if (!l.res.write(frame) && !l.stalledSince) l.stalledSince = Date.now();
  }

  close(): void {
    clearInterval(this.keepAlive);
    for (const l of this.listeners) l.res.end();
    this.listeners.clear();
    this.internal.clear();
  }
}
