// A service gateway (v1's service gateway + provisioner): announces its offering to the cloud
// controller every 30 s, and serves the controller's configuration (provision) and handle (bind)
// requests by asking the best node over NATS (most free capacity, from the nodes' announces).
// It remembers which node holds each instance and binding in a small JSON file.
import * as fs from 'node:fs';
import type * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import * as path from 'node:path';
import { timingSafeEqual } from 'node:crypto';
import type { z } from 'zod';
import { writeFileAtomic } from '../atomic-file';
import { ServiceSubjects, type Bus, type ServiceAnnounce, type ServiceCredentials, type ServiceType } from '../bus';
import { describeError, type Log } from '../log';
import { HttpTls, type HttpServer } from '../tls';
import type { Installation } from './driver';
import { ServiceError } from './errors';
import { gatewayBindRequest, gatewayProvisionRequest, serviceTokenHeader, type GatewayCredentials, type GatewayHandle, type ServiceOffering } from './gateway-wire';
import { ServicePlans } from './node';

export interface ServiceGatewayOptions {
  bus: Bus;
  log: Log;
  dataDir: string;
  install: Installation;
  /** The cloud controller's base URL, for offerings; none: the gateway serves without announcing. */
  api?: string;
  serviceToken: string;
  /** Address the gateway listens on (default 127.0.0.1). */
  host?: string;
  /** Address in the offering's URL (default: `host`, or 127.0.0.1 when that is every interface). */
  advertise?: string;
  port?: number;
  /** HTTPS for the gateway, and the CA the controller's certificate is checked against (default: plain). */
  tls?: HttpTls;
  announceIntervalMs?: number;
  /** How long a node may take to provision (a cold server starts first). */
  nodeTimeoutMs?: number;
}

interface GatewayState {
  services: Record<string, { node_id: string; credentials: ServiceCredentials; configuration: GatewayHandle['configuration'] }>;
  bindings: Record<string, { service_id: string; credentials: ServiceCredentials }>;
}

const descriptions: Record<ServiceType, { description: string; tags: string[] }> = {
  postgresql: { description: 'PostgreSQL database', tags: ['postgresql', 'relational'] },
  mysql: { description: 'MySQL database (MariaDB)', tags: ['mysql', 'relational'] },
  redis: { description: 'Redis key-value store', tags: ['redis', 'key-value'] },
};
const freshMs = 90_000;
const maxBody = 64 * 1024;

export class ServiceGateway {
  readonly label: string;
  private readonly type: ServiceType;
  private readonly nodes = new Map<string, { a: ServiceAnnounce; seen: number }>();
  private readonly file: string;
  private readonly state: GatewayState;
  private server: HttpServer | undefined;
  private timer: NodeJS.Timeout | undefined;
  url = '';
  private get tls(): HttpTls { return this.opts.tls ?? HttpTls.plain; }

  private constructor(private readonly opts: ServiceGatewayOptions) {
    this.type = opts.install.type;
    this.label = `${this.type}-${opts.install.version}`;
    const dir = path.join(opts.dataDir, 'services', this.type);
    fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
    this.file = path.join(dir, 'gateway.json');
    this.state = fs.existsSync(this.file) ? JSON.parse(fs.readFileSync(this.file, 'utf8')) as GatewayState : { services: {}, bindings: {} };
  }

  static async start(opts: ServiceGatewayOptions): Promise<ServiceGateway> {
    const g = new ServiceGateway(opts);
    opts.bus.subscribe(ServiceSubjects.announce(g.type), (a) => { g.seen(a); });
    const server = g.tls.createServer((req, res) => { void g.handle(req, res); });
    await new Promise<void>((resolve, reject) => { server.once('error', reject); server.listen(opts.port ?? 0, opts.host ?? '127.0.0.1', resolve); });
    g.server = server;
    const addr = server.address() as AddressInfo;
    const named = opts.advertise ?? addr.address;
    g.url = g.tls.origin(named === '0.0.0.0' || named === '::' ? '127.0.0.1' : named, addr.port);
    if (opts.api) {
      void g.announce();
      g.timer = setInterval(() => { void g.announce(); }, opts.announceIntervalMs ?? 30_000);
      g.timer.unref();
    }
    opts.log.info(`${g.label} gateway at ${g.url}`);
    return g;
  }

  offering(): ServiceOffering {
    const v = this.opts.install.version;
    return { label: this.label, url: this.url, plans: [...ServicePlans], ...descriptions[this.type], supported_versions: [v], version_aliases: { current: v } };
  }

  /** Posts the offering to the controller; a failure is logged and retried at the next tick. */
  async announce(): Promise<boolean> {
    try {
      const res = await this.tls.send(`${this.opts.api}/services/v1/offerings`, {
        method: 'POST', headers: { 'Content-Type': 'application/json', [serviceTokenHeader]: this.opts.serviceToken }, body: JSON.stringify(this.offering()),
        timeoutMs: 10_000,
      });
      const ok = res.status >= 200 && res.status < 300;
      if (!ok) this.opts.log.warn(`${this.label}: offering refused (${res.status})`);
      return ok;
    } catch (e) {
      this.opts.log.warn(`${this.label}: cannot announce the offering: ${describeError(e)}`);
      return false;
    }
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    const server = this.server;
    if (!server) return;
    const closed = new Promise<void>((r) => server.close(() => r()));
    server.closeAllConnections();
    await closed;
  }

  private seen(a: ServiceAnnounce): void {
    this.nodes.set(a.id, { a, seen: Date.now() });
  }

  private save(): void {
    writeFileAtomic(this.file, JSON.stringify(this.state, null, 2) + '\n');
  }

  private async handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const send = (status: number, body: unknown): void => {
      res.writeHead(status, { 'Content-Type': 'application/json' }).end(JSON.stringify(body));
    };
    try {
      if (!this.authorized(req.headers[serviceTokenHeader.toLowerCase()])) throw new ServiceError('notAuthorized');
      const url = new URL(req.url ?? '/', 'http://gateway');
      const parts = url.pathname.split('/').filter(Boolean).map(decodeSegment);
      if (parts[0] !== 'gateway' || parts[1] !== 'v1' || parts[2] !== 'configurations' || parts.length > 6) throw new ServiceError('notFound', url.pathname);
      const [, , , id, handles, handleId] = parts;
      if (req.method === 'POST' && parts.length === 3) return send(200, await this.provision(await readJson(req, gatewayProvisionRequest)));
      if (req.method === 'DELETE' && parts.length === 4) return send(200, await this.unprovision(id));
      if (handles === 'handles' && req.method === 'POST' && parts.length === 5) return send(200, await this.bind(id, await readJson(req, gatewayBindRequest)));
      if (handles === 'handles' && req.method === 'DELETE' && parts.length === 6) return send(200, await this.unbind(id, handleId));
      throw new ServiceError('notFound', `${req.method} ${url.pathname}`);
    } catch (e) {
      const err = e instanceof ServiceError ? e : new ServiceError('internalError');
      if (!(e instanceof ServiceError)) this.opts.log.error(`${this.label} gateway`, e);
      send(err.status, { code: err.code, description: err.message });
    }
  }

  private authorized(header: string | string[] | undefined): boolean {
    const a = Buffer.from(typeof header === 'string' ? header : '');
    const b = Buffer.from(this.opts.serviceToken);
    return a.length === b.length && timingSafeEqual(a, b);
  }

  private async provision(r: z.infer<typeof gatewayProvisionRequest>): Promise<GatewayHandle> {
    if (r.label !== this.label) throw new ServiceError('unknownLabel');
    if (!(ServicePlans as readonly string[]).includes(r.plan)) throw new ServiceError('unknownPlan', r.plan);
    const node = await this.bestNode(r.plan);
    const reply = await this.nodeRequest(() => this.opts.bus.request(ServiceSubjects.provision(this.type, node.id), { plan: r.plan, version: this.opts.install.version }, this.timeout));
    const creds = checked(reply).credentials;
    if (!creds) throw new ServiceError('internalError', 'node gave no credentials');
    node.available_capacity = Math.max(0, node.available_capacity - 1);
    const configuration = { plan: r.plan, version: this.opts.install.version, name: r.name };
    this.state.services[creds.name] = { node_id: creds.node_id, credentials: creds, configuration };
    this.save();
    return { service_id: creds.name, configuration, credentials: forApp(creds) };
  }

  private async unprovision(id: string): Promise<Record<string, never>> {
    const svc = this.service(id);
    const bindings = Object.entries(this.state.bindings).filter(([, b]) => b.service_id === id);
    const reply = await this.nodeRequest(() => this.opts.bus.request(ServiceSubjects.unprovision(this.type, svc.node_id),
      { name: id, bindings: bindings.map(([, b]) => ({ name: b.credentials.name, username: b.credentials.username })) }, this.timeout));
    checked(reply, true);
    for (const [h] of bindings) delete this.state.bindings[h];
    delete this.state.services[id];
    this.save();
    return {};
  }

  private async bind(id: string, r: z.infer<typeof gatewayBindRequest>): Promise<GatewayHandle> {
    const svc = this.service(id);
    if (r.label !== this.label) throw new ServiceError('unknownLabel');
    if (r.service_id !== id) throw new ServiceError('malformattedRequest', 'service_id does not match the path');
    const reply = await this.nodeRequest(() => this.opts.bus.request(ServiceSubjects.bind(this.type, svc.node_id), { name: id, bind_opts: {} }, this.timeout));
    const creds = checked(reply).credentials;
    if (!creds) throw new ServiceError('internalError', 'node gave no credentials');
    this.state.bindings[creds.username] = { service_id: id, credentials: creds };
    this.save();
    return { service_id: creds.username, configuration: svc.configuration, credentials: forApp(creds) };
  }

  private async unbind(id: string, handleId: string): Promise<Record<string, never>> {
    const svc = this.service(id);
    const b = Object.hasOwn(this.state.bindings, handleId) ? this.state.bindings[handleId] : undefined;
    if (!b || b.service_id !== id) throw new ServiceError('notFound', `binding ${handleId}`);
    const reply = await this.nodeRequest(() => this.opts.bus.request(ServiceSubjects.unbind(this.type, svc.node_id),
      { credentials: { name: b.credentials.name, username: b.credentials.username } }, this.timeout));
    checked(reply, true);
    delete this.state.bindings[handleId];
    this.save();
    return {};
  }

  private get timeout(): number { return this.opts.nodeTimeoutMs ?? 120_000; }

  private service(id: string): GatewayState['services'][string] {
    const svc = Object.hasOwn(this.state.services, id) ? this.state.services[id] : undefined;
    if (!svc) throw new ServiceError('notFound', `service ${id}`);
    return svc;
  }

  /** The fresh node with the most free capacity; asks `<svc>.discover` when none is known. */
  private async bestNode(plan: string): Promise<ServiceAnnounce> {
    const pick = (): ServiceAnnounce | undefined => [...this.nodes.values()]
      .filter((n) => Date.now() - n.seen < freshMs && n.a.plans.includes(plan) && n.a.available_capacity > 0)
      .sort((x, y) => y.a.available_capacity - x.a.available_capacity)[0]?.a;
    let best = pick();
    if (!best) {
      for (const a of await this.opts.bus.requestMany(ServiceSubjects.discover(this.type), { plan }, { maxWait: 1000 })) this.seen(a);
      best = pick();
    }
    if (!best) throw new ServiceError('serviceUnavailable', `no ${this.type} node has room`);
    return best;
  }

  private async nodeRequest<T>(fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (e) {
      const msg = describeError(e);
      if (/timeout/i.test(msg)) throw new ServiceError('gatewayTimeout', undefined, { cause: e });
      if (/no responders/i.test(msg)) throw new ServiceError('serviceUnavailable', 'the node does not answer', { cause: e });
      throw new ServiceError('internalError', undefined, { cause: e });
    }
  }
}

/** A node's reply as its result, or its error as a ServiceError; `goneIsDone`: not found counts as done. */
function checked<R extends { success: boolean; error?: { status: number; msg: { code: number; description: string } } }>(reply: R, goneIsDone = false): R {
  if (reply.success) return reply;
  if (goneIsDone && reply.error?.status === 404) return reply;
  throw reply.error ? ServiceError.fromHash(reply.error) : new ServiceError('internalError');
}

function decodeSegment(p: string): string {
  try { return decodeURIComponent(p); } catch { throw new ServiceError('notFound', p); }
}

function forApp(c: ServiceCredentials): GatewayCredentials {
  const { node_id: _n, ...rest } = c;
  return rest;
}

async function readJson<S extends z.ZodType>(req: http.IncomingMessage, schema: S): Promise<z.output<S>> {
  const ct = req.headers['content-type'];
  if (ct && !/^application\/json\b/i.test(ct)) throw new ServiceError('invalidContent');
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const c of req) {
    size += (c as Buffer).length;
    if (size > maxBody) throw new ServiceError('malformattedRequest', 'body too large');
    chunks.push(c as Buffer);
  }
  let raw: unknown;
  try { raw = JSON.parse(Buffer.concat(chunks).toString('utf8')); } catch { throw new ServiceError('malformattedRequest', 'not JSON'); }
  const r = schema.safeParse(raw);
  if (!r.success) throw new ServiceError('malformattedRequest', `${r.error.issues[0].path.join('.') || '(root)'}: ${r.error.issues[0].message}`);
  return r.data;
}
