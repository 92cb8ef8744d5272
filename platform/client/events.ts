// Server-Sent Events from the controller's `GET /events`, parsed with eventsource-parser, with
// reconnection (the platform may restart under a long-lived editor session).
import type { IncomingMessage } from 'node:http';
import { createParser } from 'eventsource-parser';
import { CloudControllerError, controllerErrorOf } from './errors';
import { platformEvent, type PlatformEvent } from '../contract';

export interface EventStreamOptions {
  /** Called on every (re)connection, e.g. to re-read state that may have changed while away. */
  onOpen?: () => void;
  /** Called when the stream fails or drops; reconnection follows unless `reconnect` is false. */
  onError?: (err: Error) => void;
  /** Reconnect after a drop, with backoff up to 5 s. Default true. */
  reconnect?: boolean;
  signal?: AbortSignal;
}

export interface EventSubscription {
  /** Resolves when the first connection is open (events from then on are delivered); rejects if it fails. */
  ready: Promise<void>;
  close(): void;
}

interface OpenStreamOptions extends EventStreamOptions {
  open: (signal: AbortSignal) => Promise<IncomingMessage>;
  onEvent: (e: PlatformEvent) => void;
}

export function openEventStream(opts: OpenStreamOptions): EventSubscription {
  const ac = new AbortController();
  const reconnect = opts.reconnect ?? true;
  let closed = false;
  let firstSettled = false;
  let resolveReady!: () => void;
  let rejectReady!: (e: Error) => void;
  const ready = new Promise<void>((res, rej) => { resolveReady = res; rejectReady = rej; });
  ready.catch(() => undefined); // a caller that never awaits `ready` must not see an unhandled rejection
  let retryTimer: NodeJS.Timeout | undefined;

  const close = (): void => {
    if (closed) return;
    closed = true;
    if (retryTimer) clearTimeout(retryTimer);
    ac.abort();
    if (!firstSettled) { firstSettled = true; rejectReady(new Error('event stream closed')); }
  };
  if (opts.signal) {
    if (opts.signal.aborted) close();
    else opts.signal.addEventListener('abort', close, { once: true });
  }

  let delay = 250;
  const connect = async (): Promise<void> => {
    if (closed) return;
    try {
      const res = await opts.open(ac.signal);
      if ((res.statusCode ?? 0) >= 400) {
        const chunks: Buffer[] = [];
        for await (const c of res) chunks.push(c as Buffer);
        throw toError(res.statusCode ?? 0, Buffer.concat(chunks).toString('utf8'));
      }
      delay = 250;
      if (!firstSettled) { firstSettled = true; resolveReady(); }
      opts.onOpen?.();
      const parser = createParser({
        onEvent: (m) => {
          if (closed) return;
          let data: unknown;
          try { data = JSON.parse(m.data); } catch { return; }
          // An event this client does not know (a newer controller's) is skipped.
          const decoded = platformEvent.safeParse(data);
          if (decoded.success) {
            try { opts.onEvent(decoded.data); } catch (e) { opts.onError?.(e instanceof Error ? e : new Error(String(e))); }
          }
        },
      });
      res.setEncoding('utf8');
      for await (const chunk of res) parser.feed(chunk as string);
      if (!closed) throw new Error('event stream ended');
    } catch (e) {
      if (closed) return;
      const err = e instanceof Error ? e : new Error(String(e));
      if (!firstSettled) { firstSettled = true; rejectReady(err); }
      opts.onError?.(err);
      // A refused token or an unknown app will not get better by retrying.
      if (!reconnect || (err instanceof CloudControllerError && err.httpStatus >= 400 && err.httpStatus < 500)) { close(); return; }
      retryTimer = setTimeout(() => { void connect(); }, delay);
      delay = Math.min(delay * 2, 5000);
    }
  };
  void connect();
  return { ready, close };
}

function toError(status: number, text: string): CloudControllerError {
  return controllerErrorOf(status, text, `HTTP ${status} from /events`);
}
