// The NATS connection every component uses. Payloads are JSON; every inbound payload is decoded and
// validated once here, and a bad one is logged and dropped. A handler that throws never takes the
// component down: the error is logged, counted, and (for a request) answered with `{error}`.
import { connect, type Msg, type NatsConnection, type Subscription } from '@nats-io/transport-node';
import type { ZodType } from 'zod';
import { describeError, type Log } from '../log';

export interface BusOptions {
  url: string;
  token?: string;
  /** Connection name, shown by the server (`pocket-dea-1a2b`). */
  name: string;
  log: Log;
}

export interface HandlerContext {
  subject: string;
  /** Present for requests. */
  reply?: string;
  /** Send one reply (a handler may send several, e.g. one per instance). */
  respond(payload: unknown): void;
}

export type Handler<T> = (msg: T, ctx: HandlerContext) => unknown;

export interface SubscribeOptions {
  queue?: string;
}

export class BusDecodeError extends Error {
  override name = 'BusDecodeError';
  constructor(readonly subject: string, message: string, options?: { cause?: unknown }) {
    super(`bad payload on ${subject}: ${message}`, options);
  }
}

export class Bus {
  /** Messages dropped because they did not decode; handler failures. Exposed for tests and status. */
  readonly counters = { dropped: 0, handlerErrors: 0 };
  private closed = false;

  private constructor(readonly nc: NatsConnection, private readonly log: Log, readonly url: string) {}

  static async connect(opts: BusOptions): Promise<Bus> {
    const nc = await connect({
      servers: opts.url,
      token: opts.token,
      name: opts.name,
      maxReconnectAttempts: -1,
      reconnectTimeWait: 250,
    });
    const bus = new Bus(nc, opts.log, opts.url);
    void (async () => {
      for await (const s of nc.status()) {
        if (s.type === 'disconnect' || s.type === 'reconnect') opts.log.info(`nats ${s.type}`);
      }
    })().catch(() => undefined);
    return bus;
  }

  publish(subject: string, payload: unknown): void {
    if (this.closed) return;
    this.nc.publish(subject, JSON.stringify(payload ?? {}));
  }

  subscribe<T>(subject: string, schema: ZodType<T>, handler: Handler<T>, opts: SubscribeOptions = {}): Subscription {
    return this.nc.subscribe(subject, {
      queue: opts.queue,
      callback: (err, m) => {
        if (err) { this.log.warn(`subscription ${subject}: ${err.message}`); return; }
        this.dispatch(m, schema, handler);
      },
    });
  }

  private dispatch<T>(m: Msg, schema: ZodType<T>, handler: Handler<T>): void {
    let msg: T;
    try {
      msg = decode(m.subject, m.data, schema);
    } catch (err) {
      this.counters.dropped++;
      this.log.warn(`dropped: ${describeError(err)}`);
      if (m.reply) this.safeRespond(m, { error: describeError(err) });
      return;
    }
    let responded = false;
    const ctx: HandlerContext = {
      subject: m.subject,
      reply: m.reply,
      respond: (payload) => { responded = true; this.safeRespond(m, payload); },
    };
    const onError = (e: unknown): void => {
      this.counters.handlerErrors++;
      this.log.error(`handler for ${m.subject} failed`, e);
      if (m.reply && !responded) this.safeRespond(m, { error: describeError(e) });
    };
    try {
      const out = handler(msg, ctx);
      if (out instanceof Promise) {
        out.then((v) => { if (v !== undefined && m.reply && !responded) this.safeRespond(m, v); }, onError);
      } else if (out !== undefined && m.reply && !responded) {
        this.safeRespond(m, out);
      }
    } catch (e) {
      onError(e);
    }
  }

  private safeRespond(m: Msg, payload: unknown): void {
    if (!m.reply || this.closed) return;
    try { m.respond(JSON.stringify(payload)); } catch (e) { this.log.warn(`reply on ${m.subject} failed: ${describeError(e)}`); }
  }

  /** One request, one decoded reply. Rejects on timeout, on no responders, or on a reply that does not decode. */
  async request<T>(subject: string, payload: unknown, schema: ZodType<T>, timeoutMs: number): Promise<T> {
    const m = await this.nc.request(subject, JSON.stringify(payload ?? {}), { timeout: timeoutMs });
    return decode(subject, m.data, schema);
  }

  /**
   * Collect replies for up to `maxWait` ms (or until `maxMessages`). Replies that do not decode are
   * logged and skipped; no responders gives an empty list.
   */
  async requestMany<T>(subject: string, payload: unknown, schema: ZodType<T>, opts: { maxWait: number; maxMessages?: number }): Promise<T[]> {
    const out: T[] = [];
    let it: AsyncIterable<Msg>;
    try {
      it = await this.nc.requestMany(subject, JSON.stringify(payload ?? {}), {
        strategy: opts.maxMessages ? 'count' : 'timer', maxWait: opts.maxWait, maxMessages: opts.maxMessages,
      });
    } catch (e) {
      this.log.debug(`requestMany ${subject}: ${describeError(e)}`);
      return out;
    }
    try {
      for await (const m of it) {
        try { out.push(decode(subject, m.data, schema)); } catch (e) { this.counters.dropped++; this.log.warn(`dropped reply: ${describeError(e)}`); }
      }
    } catch (e) {
      // no responders / timeout end the iteration; what arrived so far is the answer
      this.log.debug(`requestMany ${subject} ended: ${describeError(e)}`);
    }
    return out;
  }

  async flush(): Promise<void> {
    if (!this.closed) await this.nc.flush();
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    try { await this.nc.drain(); } catch { await this.nc.close().catch(() => undefined); }
  }
}

export function decode<T>(subject: string, data: Uint8Array, schema: ZodType<T>): T {
  let raw: unknown;
  try {
    raw = data.length === 0 ? {} : JSON.parse(Buffer.from(data).toString('utf8'));
  } catch (e) {
    throw new BusDecodeError(subject, 'not JSON', { cause: e });
  }
  if (raw && typeof raw === 'object' && 'error' in raw && Object.keys(raw).length === 1) {
    throw new BusDecodeError(subject, `remote error: ${String((raw as { error: unknown }).error)}`);
  }
  const r = schema.safeParse(raw);
  if (!r.success) {
    const issue = r.error.issues[0];
    throw new BusDecodeError(subject, `${issue.path.join('.') || '(root)'}: ${issue.message}`);
  }
  return r.data;
}
