// The forwarding half of the router: HTTP requests and upgrades (WebSocket) streamed to a backend
// chosen from the RouteTable. Bodies are piped both ways (back-pressure, never buffered whole); a
// client that goes away aborts the upstream request; a backend that refuses the connection is
// dropped from the table and the request is tried on another. When a DEA is lost (the table drops
// its backends), the requests in flight to them are cancelled at once: retried on another backend
// when the lost one cannot have acted on them (or acting twice means the same), 502 otherwise, and
// a response already streaming, or an open WebSocket tunnel, is cut.
import * as http from 'node:http';
import type { Socket } from 'node:net';
import { pipeline, type Duplex } from 'node:stream';
import { describeError, type Log } from '../log';
import { destroyAfterLinger, plainReply, replyAndClose } from './connections';
import { addStickyCookie, forwardedHeaders, rawHeaderLines, responseHeaders, statusLine, stickyId } from './headers';
import { normalizeHost, type Backend, type RouteTable } from './route-table';

export const NOT_FOUND_BODY = 'VCAP ROUTER: 404 - DESTINATION NOT FOUND';
const BAD_REQUEST_BODY = 'VCAP ROUTER: 400 - BAD REQUEST (missing or empty Host header)';
const BAD_GATEWAY_BODY = 'VCAP ROUTER: 502 - BAD GATEWAY (no backend answered)';
const GATEWAY_TIMEOUT_BODY = 'VCAP ROUTER: 504 - GATEWAY TIMEOUT (the backend stopped answering)';
const CLIENT_TIMEOUT_BODY = 'VCAP ROUTER: 408 - REQUEST TIMEOUT (the request body stopped arriving)';
/** The error code an upstream request is destroyed with when its backend goes quiet. */
const BACKEND_IDLE = 'ERR_ROUTER_BACKEND_IDLE';
/** The error code an upstream request is destroyed with when its backend's DEA is lost. */
const BACKEND_LOST = 'ERR_ROUTER_BACKEND_LOST';

export interface ProxyOptions {
  table: RouteTable;
  log: Log;
  traceKey: string;
  /** `host:port` of this router, for `X-Vcap-Router`. */
  routerAddress(): string;
  connectTimeoutMs: number;
  /**
   * Attempts per request, the first included. A refused connection delivered nothing, so it may go
   * on to further backends up to this bound; a reset is retried once, for idempotent requests only.
   */
  maxAttempts: number;
  /** A client that stops sending its body, or stops reading the response, this long is cut (408). */
  clientIdleMs: number;
  /** A backend (or a tunnel) with no byte either way this long is cut (504 if nothing was answered). */
  backendIdleMs: number;
}

/** RFC 9110 9.2.2: the same request twice has the effect of one. */
const idempotentMethods = new Set(['GET', 'HEAD', 'OPTIONS', 'TRACE', 'PUT', 'DELETE']);

type ErrnoError = Error & { code?: string };

export class ReverseProxy {
  /** Keep-alive connections to backends, shared by every request. */
  readonly agent = new http.Agent({ keepAlive: true, maxFreeSockets: 256, scheduling: 'lifo', noDelay: true });
  /** Upgraded (WebSocket) connection pairs, closed on stop. */
  private readonly tunnels = new Set<Duplex>();
  /** `cancelledOnLoss`: attempts in flight cut because their backend's DEA was lost (each is then retried, answered 502, or its response cut). */
  readonly counters = { requests: 0, notFound: 0, badGateway: 0, retries: 0, dropped: 0, upgrades: 0, clientStalls: 0, backendStalls: 0, cancelledOnLoss: 0 };
  /** Attempts in flight by the table entry they went to, each with what to do if that entry's host is lost. */
  private readonly inFlight = new Map<Backend, Set<() => void>>();

  constructor(private readonly o: ProxyOptions) {
    o.table.onLost((backends) => { this.backendsLost(backends); });
  }

  handleRequest(req: http.IncomingMessage, res: http.ServerResponse): void {
    this.counters.requests++;
    req.on('error', () => undefined); // a client reset surfaces through res 'close'
    const target = requestTarget(req);
    if (!target.uri) { this.plain(res, 400, BAD_REQUEST_BODY); return; }
    if (this.o.table.lookup(target.uri).length === 0) { this.counters.notFound++; this.plain(res, 404, NOT_FOUND_BODY); return; }
    new HttpExchange(this, this.o, req, res, target.uri, target.path).attempt();
  }

  handleUpgrade(req: http.IncomingMessage, socket: Duplex, head: Buffer): void {
    this.counters.upgrades++;
    socket.on('error', () => undefined);
    const target = requestTarget(req);
    if (!target.uri) { rawReply(socket, 400, BAD_REQUEST_BODY); return; }
    if (this.o.table.lookup(target.uri).length === 0) { this.counters.notFound++; rawReply(socket, 404, NOT_FOUND_BODY); return; }
    new UpgradeExchange(this, this.o, req, socket, head, target.uri, target.path).attempt();
  }

  /** A backend refused: out of the table until it registers again. */
  dropBackend(b: Backend, err: ErrnoError): void {
    const n = this.o.table.dropBackend(b.key);
    if (n > 0) {
      this.counters.dropped++;
      this.o.log.warn(`backend ${b.key} (app ${b.app || '?'}) failed (${err.code ?? err.message}); dropped from ${n} route(s) until it registers again`);
    }
  }

  /**
   * Follows an attempt on `b`: `lost` runs if b's host is lost before the returned release is
   * called. Keyed by the table entry itself, so the same host:port under a live DEA is not touched.
   */
  follow(b: Backend, lost: () => void): () => void {
    let attempts = this.inFlight.get(b);
    if (!attempts) { attempts = new Set(); this.inFlight.set(b, attempts); }
    attempts.add(lost);
    return () => {
      const now = this.inFlight.get(b);
      if (!now?.delete(lost)) return;
      if (now.size === 0) this.inFlight.delete(b);
    };
  }

  private backendsLost(backends: readonly Backend[]): void {
    let n = 0;
    for (const b of backends) {
      const attempts = this.inFlight.get(b);
      if (!attempts) continue;
      this.inFlight.delete(b);
      for (const lost of attempts) { n++; this.counters.cancelledOnLoss++; lost(); }
    }
    if (n > 0) this.o.log.warn(`cancelled ${n} request(s) in flight to the lost backends (retried elsewhere where safe)`);
  }

  trackTunnel(a: Duplex, b: Duplex): void {
    this.tunnels.add(a); this.tunnels.add(b);
    const close = (): void => { this.tunnels.delete(a); this.tunnels.delete(b); a.destroy(); b.destroy(); };
    a.once('close', close); b.once('close', close);
    // A tunnel silent both ways holds a connection slot; gorouter ends idle WebSockets the same way.
    for (const s of [a, b] as Socket[]) { s.setTimeout?.(this.o.backendIdleMs); s.once('timeout', close); }
  }

  plain(res: http.ServerResponse, status: number, body: string, close = false): void {
    if (status === 502) this.counters.badGateway++;
    if (res.headersSent) { res.destroy(); return; }
    const headers: http.OutgoingHttpHeaders = { 'content-type': 'text/plain; charset=utf-8', 'content-length': Buffer.byteLength(body) };
    if (close) headers.connection = 'close';
    res.writeHead(status, headers);
    res.end(body);
  }

  close(): void {
    for (const s of this.tunnels) s.destroy();
    this.tunnels.clear();
    this.agent.destroy();
  }
}

/** What an HTTP exchange and an upgrade share: the request, its route, the backends tried so far. */
abstract class Exchange {
  protected readonly tried = new Set<string>();
  protected readonly trace: boolean;
  protected attempts = 0;
  protected clientGone = false;
  protected upstream: http.ClientRequest | undefined;

  constructor(
    protected readonly proxy: ReverseProxy,
    protected readonly o: ProxyOptions,
    protected readonly req: http.IncomingMessage,
    protected readonly uri: string,
    protected readonly path: string,
  ) {
    this.trace = req.headers['x-vcap-trace'] === o.traceKey;
  }

  /** The client left: nothing more is tried, and the backend request in flight is dropped. */
  protected clientLeft(): void {
    this.clientGone = true;
    this.upstream?.destroy();
  }
}

/** The state of one proxied HTTP request across its attempts. */
class HttpExchange extends Exchange {
  private readonly sticky: string | undefined;
  private readonly hasBody: boolean;
  /** Resets retried so far: an idempotent request is retried after a reset once. */
  private resets = 0;
  private bodyStarted = false;

  constructor(proxy: ReverseProxy, o: ProxyOptions, req: http.IncomingMessage, private readonly res: http.ServerResponse, uri: string, path: string) {
    super(proxy, o, req, uri, path);
    this.sticky = stickyId(req.headers.cookie);
    this.hasBody = requestHasBody(req);
    res.on('close', () => {
      if (res.writableFinished) return;
      this.clientLeft();
    });
    this.watchClient();
  }

  attempt(): void {
    if (this.clientGone) return;
    const backend = this.o.table.choose(this.uri, this.sticky, this.tried);
    if (!backend) { this.proxy.plain(this.res, 502, BAD_GATEWAY_BODY, this.bodyStarted); return; }
    this.attempts++;
    const { req, res } = this;
    const up = http.request({
      host: backend.host, port: backend.port, method: req.method, path: this.path,
      headers: forwardedHeaders(req, false), agent: this.proxy.agent, setHost: false,
    });
    this.upstream = up;
    up.setTimeout(this.o.backendIdleMs, () => up.destroy(Object.assign(new Error('backend idle'), { code: BACKEND_IDLE })));
    let connected = false;
    let responded = false;
    // Followed until the upstream request closes, which is after its response ended when it had one.
    up.once('close', this.proxy.follow(backend, () => {
      if (!responded) { up.destroy(Object.assign(new Error('backend lost'), { code: BACKEND_LOST })); return; }
      // Part of a response was relayed: cut the client's connection, as a broken backend would.
      up.destroy();
      res.destroy();
    }));
    up.on('socket', (s: Socket) => {
      if (!s.connecting) { connected = true; this.sendBody(up); return; }
      onConnect(s, up, this.o.connectTimeoutMs, () => { connected = true; this.sendBody(up); });
    });
    // A request without a body is complete now; one with a body waits for the connection, so a
    // refused connection leaves the body unread and the request can go to another backend.
    if (!this.hasBody) up.end();
    up.on('response', (ures) => {
      responded = true;
      const headers = responseHeaders(ures);
      addStickyCookie(headers, ures, backend);
      if (this.trace) { headers['x-vcap-backend'] = backend.key; headers['x-vcap-router'] = this.o.routerAddress(); }
      try {
        res.writeHead(ures.statusCode ?? 502, ures.statusMessage, headers);
      } catch (e) {
        // A head this side of Node refuses to write (a status or header the client parser let through).
        this.o.log.warn(`${req.method} ${this.uri}${this.path} -> ${backend.key}: unusable response head: ${describeError(e)}`);
        up.destroy();
        this.proxy.plain(res, 502, BAD_GATEWAY_BODY, true);
        return;
      }
      // pipe, not pipeline: same back-pressure, without an AbortController per request. A client
      // that leaves is handled by res 'close' (destroys upstream); a backend that cuts the body
      // mid-way must cut the client's response too, or it would look complete.
      ures.on('error', (err) => {
        if (!this.clientGone) this.o.log.debug(`response from ${backend.key} cut: ${describeError(err)}`);
        res.destroy();
      });
      ures.pipe(res);
    });
    up.on('error', (err: ErrnoError) => {
      if (err.code === BACKEND_IDLE) { this.backendStalled(backend, responded); return; }
      if (responded || this.clientGone) return; // the response side already ends both
      req.unpipe(up);
      if (err.code === BACKEND_LOST) { this.backendLost(backend, connected); return; }
      const refused = !connected;
      const staleKeepAlive = connected && up.reusedSocket;
      if (refused || err.code === 'ECONNRESET') {
        if (!staleKeepAlive) { this.tried.add(backend.key); this.proxy.dropBackend(backend, err); }
      }
      // Retry only what the backend cannot have acted on: nothing sent (refused), or an idempotent
      // request whose body was not consumed.
      const retryable = !this.bodyStarted && this.attempts < this.o.maxAttempts &&
        (refused || (err.code === 'ECONNRESET' && idempotentMethods.has(req.method ?? '') && this.resets++ === 0));
      if (retryable) {
        this.proxy.counters.retries++;
        this.o.log.debug(`retrying ${req.method} ${this.uri}${this.path} after ${backend.key}: ${err.code ?? err.message}`);
        this.attempt();
        return;
      }
      this.o.log.warn(`${req.method} ${this.uri}${this.path} -> ${backend.key} failed: ${err.code ?? describeError(err)}`);
      this.proxy.plain(res, 502, BAD_GATEWAY_BODY, this.bodyStarted);
    });
  }

  /**
   * The attempt on `backend` was cancelled because its DEA is lost. Still connecting, nothing was
   * sent: tried elsewhere, as a refusal is. Sent without a response: tried elsewhere only when the
   * method is idempotent and no body byte was read (bodies are streamed, never kept, so a body
   * started cannot be sent again); otherwise 502, since the lost backend may have acted on it.
   */
  private backendLost(backend: Backend, connected: boolean): void {
    const { req } = this;
    this.tried.add(backend.key);
    const safe = !this.bodyStarted && (!connected || idempotentMethods.has(req.method ?? ''));
    if (safe && this.attempts < this.o.maxAttempts) {
      this.proxy.counters.retries++;
      this.o.log.debug(`retrying ${req.method} ${this.uri}${this.path} after ${backend.key}: its DEA is lost`);
      this.attempt();
      return;
    }
    this.o.log.warn(`${req.method} ${this.uri}${this.path} -> ${backend.key}: its DEA is lost; ${safe ? 'no attempt left' : 'not replayed'}, 502`);
    this.proxy.plain(this.res, 502, BAD_GATEWAY_BODY, this.bodyStarted);
  }

  private sendBody(up: http.ClientRequest): void {
    if (!this.hasBody || this.bodyStarted || up.destroyed) return;
    this.bodyStarted = true;
    this.req.pipe(up);
  }

  /**
   * Every clientIdleMs: if no byte moved on the client's socket and the exchange waits on the client
   * (its body, with the backend ready for more; or its reading of the response), cut it. A body that
   * keeps flowing is never cut, however long it takes.
   */
  private watchClient(): void {
    const socket = this.req.socket;
    let read = socket.bytesRead;
    let written = socket.bytesWritten;
    const timer = setInterval(() => {
      const moved = socket.bytesRead !== read || socket.bytesWritten !== written;
      read = socket.bytesRead; written = socket.bytesWritten;
      const sending = this.bodyStarted && !this.req.complete && !(this.upstream?.writableNeedDrain ?? false);
      if (moved || !(sending || this.res.writableNeedDrain)) return;
      clearInterval(timer);
      this.clientStalled();
    }, this.o.clientIdleMs);
    timer.unref();
    this.res.once('close', () => clearInterval(timer));
  }

  private clientStalled(): void {
    this.proxy.counters.clientStalls++;
    this.o.log.debug(`${this.req.method} ${this.uri}${this.path}: client idle for ${this.o.clientIdleMs} ms; cut`);
    this.clientGone = true;
    this.upstream?.destroy();
    if (this.res.headersSent) { this.res.destroy(); return; }
    this.proxy.plain(this.res, 408, CLIENT_TIMEOUT_BODY, true);
    destroyAfterLinger(this.req.socket);
  }

  private backendStalled(backend: Backend, responded: boolean): void {
    this.proxy.counters.backendStalls++;
    this.o.log.warn(`${this.req.method} ${this.uri}${this.path} -> ${backend.key}: no byte for ${this.o.backendIdleMs} ms; cut`);
    if (this.clientGone) return;
    if (responded) { this.res.destroy(); return; }
    this.proxy.plain(this.res, 504, GATEWAY_TIMEOUT_BODY, this.bodyStarted);
  }
}

/** One upgrade request (WebSocket): once the backend answers 101, bytes flow both ways untouched. */
class UpgradeExchange extends Exchange {
  /** Stops following the current attempt's backend. */
  private release: () => void = () => undefined;

  constructor(proxy: ReverseProxy, o: ProxyOptions, req: http.IncomingMessage, private readonly socket: Duplex, private readonly head: Buffer, uri: string, path: string) {
    super(proxy, o, req, uri, path);
    socket.once('close', () => { this.release(); this.clientLeft(); });
  }

  attempt(): void {
    if (this.clientGone) return;
    const backend = this.o.table.choose(this.uri, stickyId(this.req.headers.cookie), this.tried);
    if (!backend) { this.proxy.counters.badGateway++; rawReply(this.socket, 502, BAD_GATEWAY_BODY); return; }
    this.attempts++;
    const { req, socket } = this;
    // No agent: an upgraded connection is never returned to a pool.
    const up = http.request({
      host: backend.host, port: backend.port, method: req.method, path: this.path,
      headers: forwardedHeaders(req, true), setHost: false, agent: false,
    });
    this.upstream = up;
    up.setTimeout(this.o.backendIdleMs, () => up.destroy(Object.assign(new Error('backend idle'), { code: BACKEND_IDLE })));
    let connected = false;
    let answered = false;
    // Followed until the client's socket closes: a tunnel, or a declined upgrade's reply, included.
    this.release = this.proxy.follow(backend, () => {
      if (!answered) { up.destroy(Object.assign(new Error('backend lost'), { code: BACKEND_LOST })); return; }
      up.destroy();
      socket.destroy(); // closes the tunnel's other side too
    });
    up.on('socket', (s: Socket) => {
      if (!s.connecting) { connected = true; return; }
      onConnect(s, up, this.o.connectTimeoutMs, () => { connected = true; });
    });
    up.end();
    up.on('upgrade', (ures, usocket, uhead) => {
      answered = true;
      if (this.clientGone) { usocket.destroy(); return; }
      const extra: [string, string][] = this.trace ? [['X-Vcap-Backend', backend.key], ['X-Vcap-Router', this.o.routerAddress()]] : [];
      socket.write(statusLine(ures) + rawHeaderLines(ures.rawHeaders, extra) + '\r\n');
      if (uhead.length > 0) socket.write(uhead);
      if (this.head.length > 0) usocket.write(this.head);
      (usocket as Socket).setNoDelay?.(true);
      (usocket as Socket).setTimeout?.(0);
      this.proxy.trackTunnel(socket, usocket);
      usocket.on('error', () => undefined);
      socket.pipe(usocket).pipe(socket);
    });
    up.on('response', (ures) => {
      // The backend declined the upgrade: relay its answer, then close.
      answered = true;
      const headers = responseHeaders(ures);
      const pairs: [string, string][] = [];
      for (const [k, v] of Object.entries(headers)) {
        if (v === undefined) continue;
        for (const one of Array.isArray(v) ? v : [String(v)]) pairs.push([k, one]);
      }
      if (this.trace) pairs.push(['x-vcap-backend', backend.key], ['x-vcap-router', this.o.routerAddress()]);
      pairs.push(['connection', 'close']);
      socket.write(statusLine(ures) + rawHeaderLines([], pairs) + '\r\n');
      pipeline(ures, socket, () => undefined);
    });
    up.on('error', (err: ErrnoError) => {
      if (answered || this.clientGone) return;
      this.release();
      if (err.code === BACKEND_IDLE) { this.proxy.counters.backendStalls++; rawReply(socket, 504, GATEWAY_TIMEOUT_BODY); return; }
      if (err.code === BACKEND_LOST) {
        // Nothing of the client's but the head was sent (its early bytes wait for the 101).
        this.tried.add(backend.key);
        if ((!connected || idempotentMethods.has(req.method ?? '')) && this.attempts < this.o.maxAttempts) {
          this.proxy.counters.retries++;
          this.attempt();
          return;
        }
        this.proxy.counters.badGateway++;
        rawReply(socket, 502, BAD_GATEWAY_BODY);
        return;
      }
      const refused = !connected;
      if (refused || (err.code === 'ECONNRESET' && !up.reusedSocket)) { this.tried.add(backend.key); this.proxy.dropBackend(backend, err); }
      if ((refused || err.code === 'ECONNRESET') && this.attempts < this.o.maxAttempts) {
        this.proxy.counters.retries++;
        this.attempt();
        return;
      }
      this.proxy.counters.badGateway++;
      rawReply(socket, 502, BAD_GATEWAY_BODY);
    });
  }
}

/** Calls `connected` once a fresh backend connection is up; one that takes too long is aborted as ETIMEDOUT. */
function onConnect(s: Socket, up: http.ClientRequest, timeoutMs: number, connected: () => void): void {
  const timer = setTimeout(() => up.destroy(Object.assign(new Error('connect timeout'), { code: 'ETIMEDOUT' })), timeoutMs);
  const onClose = (): void => clearTimeout(timer);
  s.once('close', onClose);
  s.once('connect', () => { clearTimeout(timer); s.off('close', onClose); connected(); });
}

/** The uri to route by and the path to send upstream; absolute-form targets name the host themselves. */
function requestTarget(req: http.IncomingMessage): { uri: string; path: string } {
  const url = req.url ?? '/';
  if (url.startsWith('/') || url === '*') return { uri: normalizeHost(req.headers.host), path: url };
  try {
    const u = new URL(url);
    return { uri: normalizeHost(u.host), path: u.pathname + u.search };
  } catch {
    return { uri: normalizeHost(req.headers.host), path: url };
  }
}

function requestHasBody(req: http.IncomingMessage): boolean {
  if (req.headers['transfer-encoding'] !== undefined) return true;
  const len = req.headers['content-length'];
  return len !== undefined && len !== '0';
}

function rawReply(socket: Duplex, status: number, body: string): void {
  replyAndClose(socket, plainReply(status, body));
}
