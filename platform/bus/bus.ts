// The NATS connection every component uses. Payloads are JSON; every inbound payload is decoded and
// validated once here, and a bad one is logged and dropped. A handler that throws never takes the
// component down: the error is logged, counted, and (for a request) answered with `{error}`.
// Every call takes a descriptor (subjects.ts), so a payload of the wrong type does not compile; with
// `checkPayloads` (on when POCKET_BUS_CHECK=1, as in the test suites) outbound payloads and replies
// are also validated against their schema, and a bad one throws `BusEncodeError` instead of leaving.
import { checkServerIdentity, type PeerCertificate } from 'node:tls';
import { connect, type Msg, type NatsConnection, type Subscription } from '@nats-io/transport-node';
import type { ZodType } from 'zod';
import { describeError, type Log } from '../log';
import type { TlsFiles } from '../tls';
import { isRequestSubject, type Message, type Payload, type Reply, type ReplyPayload, type RequestSubject, type Subject } from './descriptor';

export interface BusOptions {
  /** One NATS URL, or several separated by commas (cluster nodes): the connection fails over between them. */
  url: string;
  token?: string;
  /** TLS files for a server that requires TLS (the CA also checks the server's certificate). */
  tls?: TlsFiles;
  /** Connection name, shown by the server (`pocket-dea-1a2b`). */
  name: string;
  log: Log;
  /** Validate outbound payloads and replies against their schema; default: POCKET_BUS_CHECK=1. */
  checkPayloads?: boolean;
}

export type { TlsFiles } from '../tls';

/**
 * The client upgrades to TLS on a socket it already opened, so Node would check the certificate
 * against "localhost". Instead it must name one of the cluster nodes this connection was given.
 */
function nodeIdentityCheck(url: string): (host: string, cert: PeerCertificate) => Error | undefined {
  const hosts = natsServers(url).map((u) => new URL(u.includes('://') ? u : `nats://${u}`).hostname.replace(/^\[|\]$/g, ''));
  return (_host, cert) => {
    let last: Error | undefined;
    for (const h of hosts) {
      last = checkServerIdentity(h, cert);
      if (!last) return undefined;
    }
    return last ?? new Error('no NATS server to check the certificate against');
  };
}

/** `nats://a:4222, nats://b:4222` -> the list of servers, in order. */
export function natsServers(url: string): string[] {
  return url.split(',').map((u) => u.trim()).filter((u) => u.length > 0);
}

export interface HandlerContext<R = unknown> {
  subject: string;
  /** Present for requests. */
  reply?: string;
  /** Send one reply (a handler may send several, e.g. one per instance). */
  respond(payload: R): void;
}

/** A subscriber: for a request subject it may return (or `respond` with) replies of the reply schema. */
export type Handler<D extends Subject> = D extends RequestSubject
  ? (msg: Message<D>, ctx: HandlerContext<ReplyPayload<D>>) => ReplyPayload<D> | void | Promise<ReplyPayload<D> | void>
  : (msg: Message<D>, ctx: HandlerContext) => unknown;

export interface SubscribeOptions {
  queue?: string;
}

export class BusDecodeError extends Error {
  override name = 'BusDecodeError';
  constructor(readonly subject: string, message: string, options?: { cause?: unknown }) {
    super(`bad payload on ${subject}: ${message}`, options);
  }
}

/** An outbound payload or reply that does not match its schema: a bug in the sender, caught before it leaves. */
export class BusEncodeError extends Error {
  override name = 'BusEncodeError';
  constructor(readonly subject: string, message: string) {
    super(`refusing to send a bad payload on ${subject}: ${message}`);
  }
}

export class Bus {
  /** Messages dropped because they did not decode; handler failures. Exposed for tests and status. */
  readonly counters = { dropped: 0, handlerErrors: 0 };
  private closed = false;
  private readonly reconnectListeners: (() => void)[] = [];

  private constructor(readonly nc: NatsConnection, private readonly log: Log, readonly url: string, private readonly checkPayloads: boolean) {}

  static async connect(opts: BusOptions): Promise<Bus> {
    const tls = opts.tls && (opts.tls.certFile || opts.tls.caFile) ? { ...opts.tls, checkServerIdentity: nodeIdentityCheck(opts.url) } : undefined;
    const nc = await connect({
      servers: natsServers(opts.url),
      token: opts.token,
      name: opts.name,
      ...(tls ? { tls } : {}),
      // A restarted nats-server is back within a few hundred ms: retry often, forever.
      maxReconnectAttempts: -1,
      reconnectTimeWait: 100,
      reconnectJitter: 50,
      // Only the URLs we were given, in their order (the first, usually this host's node, preferred):
      // a cluster's gossip of node addresses may name dead or unreachable ones.
      ignoreClusterUpdates: true,
      noRandomize: true,
      // A node whose link is cut sends no FIN: pings find it within about 3 s, then we fail over.
      pingInterval: 1000,
      maxPingOut: 2,
    });
    const bus = new Bus(nc, opts.log, opts.url, opts.checkPayloads ?? process.env.POCKET_BUS_CHECK === '1');
    void (async () => {
      for await (const s of nc.status()) {
        if (s.type === 'disconnect' || s.type === 'reconnect') opts.log.info(`nats ${s.type}`);
        if (s.type === 'reconnect') bus.reconnected();
      }
    })().catch(() => undefined);
    return bus;
  }

  /** Runs `fn` each time the connection is back after a loss (subscriptions are already restored). */
  onReconnect(fn: () => void): void {
    this.reconnectListeners.push(fn);
  }

  private reconnected(): void {
    for (const fn of this.reconnectListeners) {
      try { fn(); } catch (e) { this.log.error('reconnect listener failed', e); }
    }
  }

  publish<D extends Subject>(d: D, payload: Payload<D>): void {
    if (this.closed) return;
    this.check(d.subject, d.schema, payload);
    this.nc.publish(d.subject, JSON.stringify(payload ?? {}));
  }

  subscribe<D extends Subject>(d: D, handler: Handler<D>, opts: SubscribeOptions = {}): Subscription {
    return this.nc.subscribe(d.subject, {
      queue: opts.queue,
      callback: (err, m) => {
        if (err) { this.log.warn(`subscription ${d.subject}: ${err.message}`); return; }
        this.dispatch(m, d, handler as (msg: unknown, ctx: HandlerContext) => unknown);
      },
    });
  }

  /** With `checkPayloads`, throws `BusEncodeError` for a payload its schema rejects; what is sent is the payload as given. */
  private check(subject: string, schema: ZodType, payload: unknown): void {
    if (!this.checkPayloads) return;
    const r = schema.safeParse(payload ?? {});
    if (!r.success) throw new BusEncodeError(subject, describeIssue(r.error.issues[0]));
  }

  private dispatch(m: Msg, d: Subject, handler: (msg: unknown, ctx: HandlerContext) => unknown): void {
    const replySchema = isRequestSubject(d) ? d.reply : undefined;
    let msg: unknown;
    try {
      msg = decode(m.subject, m.data, d.schema);
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
      respond: (payload) => {
        if (replySchema) this.check(m.subject, replySchema, payload);
        responded = true;
        this.safeRespond(m, payload);
      },
    };
    const reply = (v: unknown): void => {
      if (v === undefined || !m.reply || responded) return;
      try { ctx.respond(v); } catch (e) { onError(e); }
    };
    const onError = (e: unknown): void => {
      this.counters.handlerErrors++;
      this.log.error(`handler for ${m.subject} failed`, e);
      if (m.reply && !responded) this.safeRespond(m, { error: describeError(e) });
    };
    try {
      const out = handler(msg, ctx);
      if (out instanceof Promise) {
        out.then(reply, onError);
      } else {
        reply(out);
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
  async request<D extends RequestSubject>(d: D, payload: Payload<D>, timeoutMs: number): Promise<Reply<D>> {
    this.check(d.subject, d.schema, payload);
    const m = await this.nc.request(d.subject, JSON.stringify(payload ?? {}), { timeout: timeoutMs });
    return decode(d.subject, m.data, d.reply as ZodType<Reply<D>>);
  }

  /**
   * Collect replies for up to `maxWait` ms (or until `maxMessages`, or a `stallMs` pause after a reply). Replies that do not decode are
   * logged and skipped; no responders gives an empty list.
   */
  async requestMany<D extends RequestSubject>(d: D, payload: Payload<D>, opts: { maxWait: number; maxMessages?: number; stallMs?: number }): Promise<Reply<D>[]> {
    const { subject } = d;
    const schema = d.reply as ZodType<Reply<D>>;
    this.check(subject, d.schema, payload);
    const out: Reply<D>[] = [];
    let it: AsyncIterable<Msg>;
    try {
      it = await this.nc.requestMany(subject, JSON.stringify(payload ?? {}), {
        // stall: after the first reply, stop once none came for stallMs (or at maxMessages)
        strategy: opts.stallMs ? 'stall' : opts.maxMessages ? 'count' : 'timer', maxWait: opts.maxWait, maxMessages: opts.maxMessages, stall: opts.stallMs,
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
  if (!r.success) throw new BusDecodeError(subject, describeIssue(r.error.issues[0]));
  return r.data;
}

function describeIssue(issue: { path: PropertyKey[]; message: string }): string {
  return `${issue.path.map(String).join('.') || '(root)'}: ${issue.message}`;
}
