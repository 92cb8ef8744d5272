// The v1 REST API (PROTOCOL.md §1) on node:http, plus `/events` (SSE) and the staging/droplet
// transfer endpoints. Every request: loopback Host, then the token (all but `GET /info`), then the route.
import * as fs from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import * as os from 'node:os';
import { pipeline } from 'node:stream/promises';
import type { AppCreated, AppEvents, DropletReceived, Info, StagingCancelled, UploadResultBody } from '../contract';
import type { Log } from '../log';
import type { ContentStore } from './content-store';
import type { DesiredState } from './desired-state';
import { CcError, ErrorCodes, diskFullError, isDiskFull } from './errors';
import type { EventHub } from './event-stream';
import { isLoopbackHost, readJson, sendError, sendJson, tokenMatches, tokenOf } from './http-util';
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
}

interface Ctx {
  req: IncomingMessage;
  res: ServerResponse;
  method: string;
  query: URLSearchParams;
  params: string[];
}

type RouteHandler = (c: Ctx) => Promise<void> | void;

interface Route {
  method: string;
  pattern: RegExp;
  handler: RouteHandler;
  /** The last parameter is a path whose segments the handler decodes itself. */
  rawTail: boolean;
}

const seg = '([^/]+)';

/** The local account name; some containers have no passwd entry for the uid. */
function userName(): string {
  try { return os.userInfo().username; } catch { return process.env.USER ?? 'developer'; }
}
const MiB = 1024 * 1024;

export class Api {
  private readonly routes: Route[] = [];

  constructor(private readonly o: ApiOptions) {
    const r = (method: string, path: string, handler: RouteHandler, rawTail = false): void => {
      this.routes.push({ method, pattern: new RegExp(`^${path}$`), handler, rawTail });
    };
    r('GET', '/info', (c) => this.info(c));
    r('GET', '/info/runtimes', (c) => sendJson(c.res, 200, this.o.runtimes.toInfo()));
    r('GET', '/info/services', (c) => sendJson(c.res, 200, {}));
    r('GET', '/apps', (c) => sendJson(c.res, 200, this.o.apps.list()));
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
    r('GET', `/staging/(\\d+)/${seg}/package`, (c) => this.stagingPackage(c));
    r('PUT', `/staging/(\\d+)/${seg}/droplet`, (c) => this.stagingDroplet(c));
    r('GET', `/droplets/(\\d+)/([0-9a-f]{40})`, (c) => this.droplet(c));
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
    const isPublic = method === 'GET' && path === '/info';
    if (!isPublic && !tokenMatches(tokenOf(req), this.o.token)) {
      throw new CcError(ErrorCodes.forbidden, req.headers.authorization ? 'the token is not valid' : 'a token is required in the Authorization header');
    }
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
      await route.handler({ req, res, method, query: url.searchParams, params });
      return;
    }
    throw new CcError(ErrorCodes.notFound, `unknown route: ${method} ${path}`, { status: 404 });
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
    if (tokenMatches(tokenOf(c.req), this.o.token)) {
      body.user = userName();
      body.limits = { memory: this.o.memoryLimitMb, app_uris: this.o.uriLimit, services: 0, apps: this.o.appLimit };
      body.usage = this.o.apps.usage();
    }
    sendJson(c.res, 200, body);
  }

  private async create(c: Ctx): Promise<void> {
    const body = await readJson(c.req);
    const app = await this.o.apps.create(body);
    const location = `${this.o.url()}/apps/${encodeURIComponent(app.name)}`;
    sendJson(c.res, 302, { result: 'success', redirect: location } satisfies AppCreated, { location });
  }

  private async update(c: Ctx): Promise<void> {
    const body = await readJson(c.req);
    const app = await this.o.apps.update(c.params[0], body);
    sendJson(c.res, 200, this.o.apps.view(app));
  }

  private async remove(c: Ctx): Promise<void> {
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
    if (app !== null) this.o.apps.get(app);
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
