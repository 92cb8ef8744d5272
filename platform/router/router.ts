// The router: an HTTP/WebSocket reverse proxy whose RouteTable is fed over NATS
// (`router.register` / `router.unregister`), kept as leases (`router.start` asks everyone to
// re-register; the sweeper drops what was not), and reported on `router.status`. A lost DEA's
// routes go at once (dea-watch.ts).
import { randomBytes } from 'node:crypto';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Subscription } from '@nats-io/transport-node';
import { Subjects, type Bus, type RouterStatusReply } from '../bus';
import type { Log } from '../log';
import { ConnectionGuard, defaultMaxConnections, plainReply, replyAndClose } from './connections';
import { DeaWatch } from './dea-watch';
import { ReverseProxy } from './proxy';
import { RouteTable, type Balancing } from './route-table';

/** Router timings in milliseconds. Local defaults; v1 values in the comments. */
export interface RouterTimings {
  /** A registration not refreshed for this long is dropped (v1: 120 s). */
  leaseMs: number;
  /** How often the sweeper looks for expired registrations (v1: 30 s). */
  sweepIntervalMs: number;
  /** How often `router.start` is published so every participant re-registers (v1: 30 s). */
  startIntervalMs: number;
  /** A backend that has not accepted the connection by then counts as refused (v1: none). */
  connectTimeoutMs: number;
  /**
   * A client must send its whole request head within this, from its first byte (or its connection):
   * silent and slow-loris sockets get 408 and are closed (nginx client_header_timeout: 60 s).
   */
  headerTimeoutMs: number;
  /** An idle keep-alive connection is closed after this (nginx keepalive_timeout: 75 s). */
  keepAliveIdleMs: number;
  /**
   * A request body that stops arriving, or a response the client stops reading, for this long is
   * cut (408); a body that keeps flowing may take as long as it takes (nginx client_body_timeout
   * and send_timeout: 60 s).
   */
  clientIdleMs: number;
  /**
   * A backend that sends nothing for this long, before or during its response, is cut (504 when
   * nothing was answered); an idle WebSocket tunnel too (gorouter endpoint_timeout: 900 s).
   */
  backendIdleMs: number;
  /** How often the router looks for DEAs whose heartbeats stopped, to drop their routes (v1: none). */
  deaCheckIntervalMs: number;
}

// Limits after nginx and gorouter: nginx's client-side timeouts (tightened where every client is
// local), gorouter's 900 s on the backend side since apps written for CF long-poll against it.
export const defaultRouterTimings: RouterTimings = {
  leaseMs: 120_000,
  sweepIntervalMs: 10_000,
  startIntervalMs: 30_000,
  connectTimeoutMs: 5_000,
  headerTimeoutMs: 10_000,
  keepAliveIdleMs: 5_000,
  clientIdleMs: 60_000,
  backendIdleMs: 900_000,
  deaCheckIntervalMs: 250,
};

/** The default cap on a request head (nginx: 4 buffers of 8 KiB; gorouter: 1 MiB; Node: 16 KiB). */
export const defaultMaxHeaderBytes = 32 * 1024;

const HEADER_TIMEOUT_BODY = 'VCAP ROUTER: 408 - REQUEST TIMEOUT (the request head did not arrive in time)';
const HEADER_TOO_LARGE_BODY = 'VCAP ROUTER: 431 - REQUEST HEADER FIELDS TOO LARGE';

export interface RouterOptions {
  bus: Bus;
  /** Listen address; loopback by default. */
  host?: string;
  /** Address announced in `router.start` (default: `host`). */
  advertise?: string;
  /** 0 (the default) picks a free port. */
  port?: number;
  log: Log;
  timings?: Partial<RouterTimings>;
  /** `X-Vcap-Trace` must carry this to get `X-Vcap-Backend`/`X-Vcap-Router`; random when absent. */
  traceKey?: string;
  /** Backend choice when no sticky session applies; round-robin by default. */
  balancing?: Balancing;
  /** Attempts per request when backends refuse connections, the first included (default 3). */
  maxAttempts?: number;
  /**
   * Concurrent client connections; beyond it the oldest idle one is closed, or, when all are busy,
   * the newcomer gets 503. Default: a quarter of the open-file limit (nginx worker_connections: 512).
   */
  maxConnections?: number;
  /** The largest request head accepted, in bytes; a larger one gets 431 (default 32 KiB). */
  maxHeaderBytes?: number;
}

export interface Router {
  /** `http://host:port` */
  url: string;
  port: number;
  /** This router's id in `router.start` and `router.status`. */
  id: string;
  traceKey: string;
  /** The proxy's counters as they stand (requests, retries, 502s, requests cancelled on a DEA's loss...). */
  counters(): Readonly<ReverseProxy['counters']>;
  stop(): Promise<void>;
}

export async function startRouter(opts: RouterOptions): Promise<Router> {
  const timings: RouterTimings = { ...defaultRouterTimings, ...opts.timings };
  const log = opts.log;
  const bus = opts.bus;
  const host = opts.host ?? '127.0.0.1';
  const id = randomBytes(8).toString('hex');
  const traceKey = opts.traceKey ?? randomBytes(16).toString('hex');
  const table = new RouteTable(opts.balancing ?? 'round-robin');
  let address = `${host}:0`;

  const proxy = new ReverseProxy({
    table, log, traceKey,
    routerAddress: () => address,
    connectTimeoutMs: timings.connectTimeoutMs,
    maxAttempts: Math.max(1, opts.maxAttempts ?? 3),
    clientIdleMs: timings.clientIdleMs,
    backendIdleMs: timings.backendIdleMs,
  });
  const guard = new ConnectionGuard(Math.max(1, opts.maxConnections ?? defaultMaxConnections()));

  // Host checks are ours (400 with a router body); no whole-request timeout, so uploads may take as
  // long as they take; the head has headerTimeoutMs, checked often enough to be that precise.
  const server = http.createServer({
    requireHostHeader: false, requestTimeout: 0, headersTimeout: timings.headerTimeoutMs,
    connectionsCheckingInterval: Math.max(50, Math.min(1_000, timings.headerTimeoutMs / 4)),
    keepAliveTimeout: timings.keepAliveIdleMs, maxHeaderSize: opts.maxHeaderBytes ?? defaultMaxHeaderBytes,
  });
  guard.attach(server);
  server.on('request', (req, res) => {
    if (guard.isRefused(req.socket)) return; // its 503 is on the way
    guard.requestStarted(req.socket, res);
    try { proxy.handleRequest(req, res); } catch (e) { log.error('request handling failed', e); proxy.plain(res, 500, 'VCAP ROUTER: 500 - INTERNAL ERROR', true); }
  });
  server.on('upgrade', (req: http.IncomingMessage, socket, head: Buffer) => {
    if (guard.isRefused(socket)) return;
    guard.upgraded(socket);
    try { proxy.handleUpgrade(req, socket, head); } catch (e) { log.error('upgrade handling failed', e); socket.destroy(); }
  });
  server.on('clientError', (err: Error & { code?: string }, socket) => {
    if (guard.isRefused(socket) || socket.writableEnded) return;
    if (err.code === 'ECONNRESET' || !socket.writable) { socket.destroy(); return; }
    if (err.code === 'ERR_HTTP_REQUEST_TIMEOUT') { replyAndClose(socket, plainReply(408, HEADER_TIMEOUT_BODY)); return; }
    if (err.code === 'HPE_HEADER_OVERFLOW') { replyAndClose(socket, plainReply(431, HEADER_TOO_LARGE_BODY)); return; }
    replyAndClose(socket, 'HTTP/1.1 400 Bad Request\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
  });

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port ?? 0, host, () => { server.off('error', reject); resolve(); });
  });
  const port = (server.address() as AddressInfo).port;
  address = `${host.includes(':') ? `[${host}]` : host}:${port}`;

  const subs: Subscription[] = [];
  subs.push(bus.subscribe(Subjects.routerRegister, (m) => {
    const r = table.register({ host: m.host, port: m.port, uris: m.uris, app: m.app, private_instance_id: m.private_instance_id, dea: m.dea, tags: m.tags });
    if (r.rejected.length > 0) log.warn(`router.register from ${m.dea ?? '?'}: unusable uris ${JSON.stringify(r.rejected)} ignored`);
    if (r.added > 0) log.debug(`registered ${m.host}:${m.port} for ${m.uris.join(', ')}`);
  }));
  subs.push(bus.subscribe(Subjects.routerUnregister, (m) => {
    const n = table.unregister({ host: m.host, port: m.port, uris: m.uris });
    if (n > 0) log.debug(`unregistered ${m.host}:${m.port} from ${m.uris.join(', ')}`);
  }));
  subs.push(bus.subscribe(Subjects.routerStatus, (): RouterStatusReply => ({ id, routes: table.snapshot() })));
  const announce = (): void => {
    bus.publish(Subjects.routerStart, { id, hosts: [opts.advertise ?? host], minimumRegisterIntervalInSeconds: timings.startIntervalMs / 1000 });
  };
  const deas = new DeaWatch({
    bus, checkIntervalMs: timings.deaCheckIntervalMs, rememberMs: timings.leaseMs,
    onLost: (dea) => { log.warn(`DEA ${dea} lost (heartbeats stopped): dropped ${table.dropDea(dea)} route entries`); },
    // Its registrations come back with the next router.start; ask now rather than in startIntervalMs.
    onBack: (dea) => { log.info(`DEA ${dea} heard again: asking for registrations`); announce(); },
  });
  // Every subscription, heartbeats included, is in place at the server before the router says it is up.
  await bus.flush();
  announce();
  const startTimer = setInterval(announce, timings.startIntervalMs);
  const sweepTimer = setInterval(() => {
    const n = table.sweep(Date.now() - timings.leaseMs);
    if (n > 0) log.info(`lease expired for ${n} route entr${n === 1 ? 'y' : 'ies'}`);
  }, timings.sweepIntervalMs);
  startTimer.unref(); sweepTimer.unref();

  log.info(`router ${id} listening on http://${address}`);
  let stopped: Promise<void> | undefined;
  return {
    url: `http://${address}`,
    port,
    id,
    traceKey,
    counters: () => ({ ...proxy.counters }),
    stop(): Promise<void> {
      stopped ??= (async () => {
        clearInterval(startTimer); clearInterval(sweepTimer); deas.stop();
        for (const s of subs) s.unsubscribe();
        const closed = new Promise<void>((resolve) => server.close(() => resolve()));
        server.closeAllConnections();
        proxy.close();
        await closed;
        log.info(`router ${id} stopped`);
      })();
      return stopped;
    },
  };
}
