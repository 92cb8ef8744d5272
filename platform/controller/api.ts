// The v1 REST API (PROTOCOL.md §1) on node:http, plus `/events` (SSE) and the staging/droplet
// transfer endpoints. Every request: loopback Host, then the route; then the token, unless the route
// is public (`GET /info`, login, a gateway's offering with its own header).
import * as fs from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { pipeline } from 'node:stream/promises';
import type { AppCreated, AppEvents, DropletReceived, Info, StagingCancelled, UploadResultBody } from '../contract';
import type { Log } from '../log';
import type { ContentStore } from './content-store';
import type { DesiredState } from './desired-state';
import { CcError, ErrorCodes, diskFullError, isDiskFull } from './errors';
import type { EventHub } from './event-stream';
import { isLoopbackHost, readJson, sendError, sendJson, tokenMatches, tokenOf } from './http-util';
import { serviceRoutes } from './service-routes';
import type { ServiceInstances } from './service-instances';
import type { ServiceOfferings } from './service-offerings';
import { userRoutes } from './user-routes';
import type { User, Users } from './users';
import type { InstanceViews } from './instances';
import { parseDelta, parseResources, staleBase } from './package-request';
import type { Packager } from './packager';
import type { ResourcePool } from './resource-pool';
import type { RuntimeCatalog } from './runtimes';
import type { InstanceScheduler } from './scheduler';
import type { StagingCoordinator } from './staging';
import type { Store } from './store';
import { receiveUpload } from './upload';

export interface ApiOptions {
  token: string;
  /** Extra Host values accepted besides loopback names (the configured listen address). */
  extraHosts: readonly string[];
  store: Store;
  apps: DesiredState;
  restarts: Pick<InstanceScheduler, 'restartInstance'>;
  views: InstanceViews;
  staging: StagingCoordinator;
  packager: Packager;
  pool: ResourcePool;
  packages: ContentStore;
  droplets: ContentStore;
  runtimes: RuntimeCatalog;
  events: EventHub;
  log: Log;
  url: () => string;
  tmpDir: string;
  maxPackageBytes: number;
  memoryLimitMb: number;
  appLimit: number;
  uriLimit: number;
  serviceLimit: number;
  users: Users;
  services: ServiceInstances;
  offerings: ServiceOfferings;
  /** The controller's data dir (the owner's generated password lives there). */
  dataDir: string;
}

export interface Ctx {
  req: IncomingMessage;
  res: ServerResponse;
  method: string;
  query: URLSearchParams;
  params: string[];
  /** Whose token came with the request; a stand-in on public routes, which must not read it. */
  user: User;
}

export type RouteHandler = (c: Ctx) => Promise<void> | void;

/** Who may call a route: any user, no one in particular (public), or the platform's own parts (its token). */
export type Access = 'user' | 'public' | 'platform';
export type Register = (method: string, path: string, handler: RouteHandler, access?: Access) => void;

interface Route {
  method: string;
  pattern: RegExp;
  handler: RouteHandler;
  /** The last parameter is a path whose segments the handler decodes itself. */
  rawTail: boolean;
  access: Access;
  /** The first parameter names an app, which the user must own (admins: any). */
  app: boolean;
}

const seg = '([^/]+)';
const nobody: User = { id: -1, email: '', admin: false };
const MiB = 1024 * 1024;

export class Api {
  private readonly routes: Route[] = [];

  constructor(private readonly o: ApiOptions) {
    const add = (method: string, path: string, handler: RouteHandler, rawTail: boolean, access: Access): void => {
      this.routes.push({ method, pattern: new RegExp(`^${path}$`), handler, rawTail, access, app: path.startsWith(`/apps/${seg}`) });
    };
    const r = (method: string, path: string, handler: RouteHandler, rawTail = false): void => add(method, path, handler, rawTail, 'user');
    const reg: Register = (method, path, handler, access = 'user') => add(method, path, handler, false, access);
    add('GET', '/info', (c) => this.info(c), false, 'public');
    r('GET', '/info/runtimes', (c) => sendJson(c.res, 200, this.o.runtimes.toInfo()));
    r('GET', '/info/services', (c) => sendJson(c.res, 200, this.o.offerings.info()));
    r('GET', '/apps', (c) => {
      const mine = new Set(this.o.users.appsOf(c.user.id).map((a) => a.name));
      sendJson(c.res, 200, this.o.apps.list().filter((a) => mine.has(a.name)));
    });
    r('POST', '/apps', (c) => this.create(c));
    r('GET', `/apps/${seg}`, (c) => sendJson(c.res, 200, this.o.apps.view(this.o.apps.get(c.params[0]))));
    r('PUT', `/apps/${seg}`, (c) => this.update(c));
    r('DELETE', `/apps/${seg}`, (c) => this.remove(c));
    r('PUT', `/apps/${seg}/application`, (c) => this.upload(c));
    r('POST', `/apps/${seg}/application`, (c) => this.upload(c));
    r('GET', `/apps/${seg}/application`, (c) => this.download(c));
    r('DELETE', `/apps/${seg}/staging`, (c) => this.cancelStaging(c));
    r('GET', `/apps/${seg}/instances`, async (c) => sendJson(c.res, 200, await this.o.views.instances(this.o.apps.get(c.params[0]))));
    r('GET', `/apps/${seg}/stats`, async (c) => sendJson(c.res, 200, await this.o.views.stats(this.o.apps.get(c.params[0]))));
    r('GET', `/apps/${seg}/crashes`, async (c) => sendJson(c.res, 200, await this.o.views.crashes(this.o.apps.get(c.params[0]))));
    r('GET', `/apps/${seg}/events`, (c) => sendJson(c.res, 200, { events: this.o.store.eventsOf(this.o.apps.get(c.params[0]).id) } satisfies AppEvents));
    r('GET', `/apps/${seg}/instances/${seg}/files(?:/(.*))?`, (c) => this.files(c), true);
    r('DELETE', `/apps/${seg}/instances/${seg}`, async (c) => sendJson(c.res, 200, await this.o.restarts.restartInstance(c.params[0], c.params[1])));
    r('POST', '/resources', (c) => this.resources(c));
    r('GET', '/events', (c) => this.eventStream(c));
    reg('GET', `/staging/(\\d+)/${seg}/package`, (c) => this.stagingPackage(c), 'platform');
    reg('PUT', `/staging/(\\d+)/${seg}/droplet`, (c) => this.stagingDroplet(c), 'platform');
    reg('GET', `/droplets/(\\d+)/([0-9a-f]{40})`, (c) => this.droplet(c), 'platform');
    serviceRoutes(reg, { services: this.o.services, offerings: this.o.offerings, apps: this.o.apps, token: this.o.token, store: this.o.store });
    userRoutes(reg, { users: this.o.users, dataDir: this.o.dataDir });
  }

  /** The node:http request listener. */
  handle = (req: IncomingMessage, res: ServerResponse): void => {
    void this.dispatch(req, res).catch((e: unknown) => this.fail(req, res, e));
  };

  private async dispatch(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const host = req.headers.host;
    if (!isLoopbackHost(host) && !(host && this.o.extraHosts.includes(host.toLowerCase()))) {
      throw new CcError(ErrorCodes.forbidden, `requests must be addressed to a loopback name (localhost, 127.0.0.1, [::1]), not ${JSON.stringify(host ?? '')}`);
    }
    let url: URL;
    try { url = new URL(req.url ?? '/', 'http://localhost'); } catch { throw new CcError(ErrorCodes.badRequest, 'bad request target'); }
    const path = url.pathname.length > 1 ? url.pathname.replace(/\/+$/, '') : url.pathname;
    const method = (req.method ?? 'GET').toUpperCase();
    for (const route of this.routes) {
      if (route.method !== method && !(method === 'HEAD' && route.method === 'GET')) continue;
      const m = route.pattern.exec(route.rawTail ? url.pathname : path);
      if (!m) continue;
      let params: string[];
      try {
        const raw = m.slice(1).map((p) => p ?? '');
        params = raw.map((p, i) => (route.rawTail && i === raw.length - 1 ? p : decodeURIComponent(p)));
      } catch {
        throw new CcError(ErrorCodes.badRequest, 'bad percent-encoding in the path');
      }
      const user = route.access === 'public' ? nobody : this.authenticate(req, route.access);
      if (route.app && !user.admin) this.mustOwnApp(user, params[0]);
      await route.handler({ req, res, method, query: url.searchParams, params, user });
      return;
    }
    // An unknown route answers 404 to a client with a token only, so the API's shape is not shown to strangers.
    this.authenticate(req, 'user');
    throw new CcError(ErrorCodes.notFound, `unknown route: ${method} ${path}`, { status: 404 });
  }

  /** The user whose token came with the request; the platform's own routes take only the platform token. */
  private authenticate(req: IncomingMessage, access: Access): User {
    const token = tokenOf(req);
    const user = access === 'platform' ? (tokenMatches(token, this.o.token) ? this.o.users.owner() : undefined) : this.o.users.authenticate(token);
    if (!user) throw new CcError(ErrorCodes.forbidden, req.headers.authorization ? 'the token is not valid' : 'a token is required in the Authorization header');
    return user;
  }

  /** Another user's app is answered as not found, as if it did not exist. */
  private mustOwnApp(user: User, name: string): void {
    const app = this.o.store.getAppByName(name);
    if (app && this.o.users.ownerOfApp(app.id) !== user.id) throw new CcError(ErrorCodes.appNotFound, `app ${name} not found`);
  }

  private fail(req: IncomingMessage, res: ServerResponse, e: unknown): void {
    const full = !(e instanceof CcError) && isDiskFull(e);
    const err = e instanceof CcError ? e : full ? diskFullError(e) : new CcError(ErrorCodes.internal, 'internal error; see the platform log', { cause: e });
    if (full) this.o.log.error(`${req.method} ${req.url}: the disk of the data folder is full`);
    else if (!(e instanceof CcError)) this.o.log.error(`${req.method} ${req.url}`, e);
    else this.o.log.debug(`${req.method} ${req.url} -> ${err.status} ${err.code} ${err.message}`);
    if (res.headersSent) { res.destroy(); return; }
    // A body we did not read to the end: close the connection rather than parse leftovers as a request.
    const unread = !req.readableEnded;
    sendError(res, err, unread ? { connection: 'close' } : {});
    if (unread) {
      req.resume();
      const t = setTimeout(() => req.socket.destroy(), 2000);
      t.unref();
      res.on('finish', () => { if (req.readableEnded) clearTimeout(t); });
    }
  }

  // ---- handlers ------------------------------------------------------------------------

  private info(c: Ctx): void {
    const body: Info = {
      name: 'pocket-foundry',
      build: '0.1.0',
      support: 'https://github.com/pocket-foundry/pocket-foundry/issues',
      version: '0.999',
      description: 'Pocket Foundry: a small Cloud Foundry v1 on this machine',
      allow_debug: false,
      frameworks: this.o.runtimes.frameworksInfo(),
      // Beyond v1: uploads may be a delta on the app's current package (`base_package`, `deleted`).
      features: ['base_package'],
    };
    const user = this.o.users.authenticate(tokenOf(c.req));
    if (user) {
      body.user = user.email;
      body.limits = { memory: this.o.memoryLimitMb, app_uris: this.o.uriLimit, services: this.o.serviceLimit, apps: this.o.appLimit };
      body.usage = { ...this.o.apps.usage(), services: this.o.services.count(user.id) };
    }
    sendJson(c.res, 200, body);
  }

  private async create(c: Ctx): Promise<void> {
    const body = await readJson(c.req);
    const wanted = this.wantedServices(c.user, body);
    const app = await this.o.apps.create(body);
    this.o.users.setAppOwner(app.id, c.user.id);
    if (wanted && await this.o.services.sync(c.user, app.id, wanted)) await this.o.apps.bindingsChanged(app.id);
    const location = `${this.o.url()}/apps/${encodeURIComponent(app.name)}`;
    sendJson(c.res, 302, { result: 'success', redirect: location } satisfies AppCreated, { location });
  }

  private async update(c: Ctx): Promise<void> {
    const body = await readJson(c.req);
    const wanted = this.wantedServices(c.user, body);
    let app = await this.o.apps.update(c.params[0], body);
    // After the change, so a refused change binds nothing; new bindings restart a STARTED app.
    if (wanted && await this.o.services.sync(c.user, app.id, wanted)) {
      await this.o.apps.bindingsChanged(app.id);
      app = this.o.store.getApp(app.id) ?? app;
    }
    sendJson(c.res, 200, this.o.apps.view(app));
  }

  /** The services an app body names, every one checked to exist before anything changes; undefined when it names none. */
  private wantedServices(user: User, body: unknown): ReturnType<ServiceInstances['resolve']> | undefined {
    const list = body && typeof body === 'object' ? (body as { services?: unknown }).services : undefined;
    if (list === undefined || list === null) return undefined;
    if (!Array.isArray(list)) throw new CcError(ErrorCodes.badRequest, 'services must be an array');
    return this.o.services.resolve(user, list);
  }

  private async remove(c: Ctx): Promise<void> {
    await this.o.services.unbindAll(this.o.apps.get(c.params[0]).id);
    await this.o.apps.remove(c.params[0]);
    sendJson(c.res, 200, {});
  }

  private async cancelStaging(c: Ctx): Promise<void> {
    const r = await this.o.apps.cancelStaging(c.params[0]);
    sendJson(c.res, 200, { cancelled: r.cancelled, app: this.o.apps.view(r.app) } satisfies StagingCancelled);
  }

  private async upload(c: Ctx): Promise<void> {
    const name = c.params[0];
    this.o.apps.get(name);
    const up = await receiveUpload(c.req, this.o.tmpDir, {
      // Room for zip headers and the resources list on top of the package itself.
      maxBodyBytes: this.o.maxPackageBytes + Math.min(64 * MiB, Math.max(MiB, Math.ceil(this.o.maxPackageBytes / 4))),
      maxResourcesBytes: 64 * 1024 * 1024,
    });
    let body: UploadResultBody;
    try {
      if (c.method === 'POST' && (up.fields._method ?? c.query.get('_method') ?? '').toLowerCase() !== 'put') {
        throw new CcError(ErrorCodes.notFound, 'POST /apps/:name/application needs _method=put (or use PUT)', { status: 404 });
      }
      const resources = parseResources(up.resources);
      // A delta upload (`base_package` + `deleted`) sends only what changed since the app's current package.
      const delta = parseDelta(up.fields);
      if (delta && this.o.apps.get(name).packageHash !== delta.basePackage) throw staleBase(delta.basePackage);
      // The package stays pinned until the commit is over: another upload's commit cannot collect it.
      const { pkg, r } = await this.o.packager.assembleAndCommit(up.zipPath, resources, delta,
        async (p) => ({ pkg: p, r: await this.o.apps.commitPackage(name, p, delta?.basePackage) }));
      body = {
        result: 'success', package_hash: pkg.hash, package_state: r.app.packageState, changed: r.changed,
        files: pkg.files, size: pkg.size, uploaded_bytes: up.zipBytes,
        // The task this upload started (a STARTED app stages at once), so a client can tell its events apart.
        staging_task_id: this.o.staging.current(r.app.id)?.taskId ?? null,
      };
    } finally {
      // Before answering, so a client never sees the upload's temp file.
      await up.discard();
    }
    sendJson(c.res, 200, body);
  }

  private async download(c: Ctx): Promise<void> {
    const app = this.o.apps.get(c.params[0]);
    if (!app.packageHash || !this.o.packages.has(app.packageHash)) throw new CcError(ErrorCodes.notFound, `${app.name} has no package yet`, { status: 404 });
    await this.sendFile(c, this.o.packages.pathOf(app.packageHash), 'application/zip', `${app.name}.zip`);
  }

  private async resources(c: Ctx): Promise<void> {
    const body = await readJson(c.req, 64 * 1024 * 1024);
    if (!Array.isArray(body)) throw new CcError(ErrorCodes.badRequest, 'expected a JSON array of {fn, size, sha1}');
    const list = body.filter((r): r is { fn?: unknown; size: number; sha1: string } =>
      typeof r === 'object' && r !== null && typeof (r as { sha1?: unknown }).sha1 === 'string' && typeof (r as { size?: unknown }).size === 'number');
    if (list.length !== body.length) throw new CcError(ErrorCodes.badRequest, 'every entry needs a sha1 (string) and a size (number)');
    const normalized = list.map((r) => ({ ...r, sha1: r.sha1.toLowerCase() }));
    sendJson(c.res, 200, await this.o.pool.match(normalized));
  }

  private async files(c: Ctx): Promise<void> {
    const app = this.o.apps.get(c.params[0]);
    const tail = ['1', 'true', 'yes'].includes((c.query.get('tail') ?? '').toLowerCase());
    const offset = c.query.get('offset');
    await this.o.views.files(c.req, c.res, app, c.params[1], c.params[2] ?? '', tail, offset !== null && /^\d+$/.test(offset) ? Number(offset) : undefined);
  }

  private eventStream(c: Ctx): void {
    const app = c.query.get('app');
    if (app !== null) { this.o.apps.get(app); if (!c.user.admin) this.mustOwnApp(c.user, app); }
    // Every app's events: admins only; a user follows their own apps one at a time.
    else if (!c.user.admin) throw new CcError(ErrorCodes.forbidden, 'only an admin may follow the events of every app; pass ?app=NAME');
    this.o.events.open(c.req, c.res, app);
  }

  private async stagingPackage(c: Ctx): Promise<void> {
    const task = this.o.staging.task(Number(c.params[0]), c.params[1]);
    if (!task) throw new CcError(ErrorCodes.notFound, 'no such staging task (it may have been cancelled)', { status: 404 });
    if (!this.o.packages.has(task.packageHash)) throw new CcError(ErrorCodes.notFound, 'the package of this task is gone', { status: 404 });
    await this.sendFile(c, this.o.packages.pathOf(task.packageHash), 'application/zip', `${task.appName}.zip`);
  }

  private async stagingDroplet(c: Ctx): Promise<void> {
    const r = await this.o.staging.receiveDroplet(Number(c.params[0]), c.params[1], c.req);
    sendJson(c.res, 200, { sha1: r.sha1, size: r.size } satisfies DropletReceived);
  }

  private async droplet(c: Ctx): Promise<void> {
    const droplet = Number(c.params[0]);
    const sha1 = c.params[1];
    if (!this.o.store.getDroplet(droplet, sha1) || !this.o.droplets.has(sha1)) throw new CcError(ErrorCodes.notFound, `droplet ${sha1} of app ${droplet} not found`, { status: 404 });
    await this.sendFile(c, this.o.droplets.pathOf(sha1), 'application/gzip', `droplet-${droplet}.tgz`);
  }

  private async sendFile(c: Ctx, file: string, type: string, filename: string): Promise<void> {
    const st = await fs.promises.stat(file);
    c.res.writeHead(200, {
      'content-type': type, 'content-length': String(st.size), 'cache-control': 'no-store',
      'content-disposition': `attachment; filename="${filename.replace(/[^\w.-]/g, '_')}"`,
    });
    if (c.method === 'HEAD') { c.res.end(); return; }
    try {
      await pipeline(fs.createReadStream(file), c.res);
    } catch {
      c.res.destroy();
    }
  }
}
