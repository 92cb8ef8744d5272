// Typed v1 REST client for the cloud controller, over node:http. The raw token goes in
// `Authorization` (no "Bearer"), as v1 clients sent it. Pure JS: the editor uses it in-process.
import type { Readable } from 'node:stream';
import {
  ErrorCodes, appCreated, appList, app as appSchema, appStats, crashList, empty, info, instanceList, instanceRestart, resourceList,
  runtimesInfo, serviceInstance, serviceInstanceList, servicesInfo, stagingCancelled, tokenIssued, uploadResult, userInfo, userList,
  type App, type AppCreateRequest, type AppStats, type AppUpdateRequest, type CrashInfo, type Info, type InstanceInfo, type InstanceRestart,
  type PlatformEvent, type Resource, type RuntimesInfo, type ServiceCreateRequest, type ServiceInstance, type ServicesInfo, type UserInfo,
} from '../contract';
import { CloudControllerError } from './errors';
import { openEventStream, type EventStreamOptions, type EventSubscription } from './events';
import { HttpTransport, isLocal, jsonBody, type CallOptions } from './http-transport';

export type { CallOptions } from './http-transport';

export interface CloudControllerClientOptions {
  /** Base URL, e.g. `http://127.0.0.1:9022`. */
  api: string;
  token: string;
  /** Time limit for ordinary requests (not uploads, staging or streams). Default 30 s. */
  timeoutMs?: number;
  /** A CA (PEM file) to trust besides the system's, for an https API with a private CA. */
  ca?: string;
}

/** Options of an upload; `basePackage` makes it a delta on the app's current package. */
export interface UploadOptions extends CallOptions {
  /**
   * The app's current package hash: the upload then carries only what changed (controllers that
   * list `base_package` in `/info` `features`). Refused with `staleBasePackage` (403, HTTP 409) when it is stale.
   */
  basePackage?: string;
  /** With `basePackage`: the files of that package to leave out. */
  deleted?: string[];
}

export interface UploadResult {
  /** Request body bytes on the wire. */
  bytesSent: number;
  /** The package the controller assembled (null when it did not say). */
  packageHash: string | null;
}

const longTimeoutMs = 15 * 60_000;

export class CloudControllerClient {
  readonly api: string;
  private readonly http: HttpTransport;

  constructor(opts: CloudControllerClientOptions) {
    this.http = new HttpTransport(opts.api, opts.token, opts.timeoutMs ?? 30_000, opts.ca);
    this.api = this.http.api;
  }

  /** Closes idle keep-alive sockets so a short-lived process can exit at once. */
  close(): void {
    this.http.close();
  }

  // ---- info ----------------------------------------------------------------------------------

  async info(opts: CallOptions = {}): Promise<Info> {
    return this.http.json(info, { method: 'GET', path: '/info', ...opts });
  }

  async runtimes(opts: CallOptions = {}): Promise<RuntimesInfo> {
    return this.http.json(runtimesInfo, { method: 'GET', path: '/info/runtimes', ...opts });
  }

  /** The offerings (`GET /info/services`): `{type: {vendor: {version: offering}}}`. */
  async services(opts: CallOptions = {}): Promise<ServicesInfo> {
    return this.http.json(servicesInfo, { method: 'GET', path: '/info/services', ...opts });
  }

  // ---- services ------------------------------------------------------------------------------

  /** The provisioned services the token's user sees (`GET /services`). */
  async serviceInstances(opts: CallOptions = {}): Promise<ServiceInstance[]> {
    return this.http.json(serviceInstanceList, { method: 'GET', path: '/services', ...opts });
  }

  /** One service with its credentials, or null when the controller answers `serviceNotFound` (500). */
  async serviceInstance(name: string, opts: CallOptions = {}): Promise<ServiceInstance | null> {
    try {
      return await this.http.json(serviceInstance, { method: 'GET', path: servicePath(name), route: 'GET /services/:name', ...opts });
    } catch (e) {
      if (e instanceof CloudControllerError && e.code === ErrorCodes.serviceNotFound) return null;
      throw e;
    }
  }

  async createService(req: ServiceCreateRequest, opts: CallOptions = {}): Promise<ServiceInstance> {
    return this.http.json(serviceInstance, { method: 'POST', path: '/services', ...jsonBody(req), timeoutMs: 120_000, ...opts });
  }

  /** Unprovisions the service; its bindings go with it and the bound apps restart without it. */
  async deleteService(name: string, opts: CallOptions = {}): Promise<void> {
    await this.http.json(empty, { method: 'DELETE', path: servicePath(name), route: 'DELETE /services/:name', timeoutMs: 120_000, ...opts });
  }

  /** Binds the v1 way: the app's `services` list, sent back with `PUT /apps/:name`. */
  async bindService(service: string, appName: string, opts: CallOptions = {}): Promise<App> {
    return this.changeBindings(appName, (have) => (have.includes(service) ? have : [...have, service]), opts);
  }

  async unbindService(service: string, appName: string, opts: CallOptions = {}): Promise<App> {
    return this.changeBindings(appName, (have) => have.filter((s) => s !== service), opts);
  }

  private async changeBindings(appName: string, change: (have: string[]) => string[], opts: CallOptions): Promise<App> {
    const app = await this.app(appName, opts);
    if (!app) throw new CloudControllerError(ErrorCodes.appNotFound, 404, `App ${appName} not found`);
    return this.updateApp(appName, { services: change(app.services), meta: { version: app.meta.version } }, opts);
  }

  // ---- users ---------------------------------------------------------------------------------

  /** v1 login: a new token for the email and password (`POST /users/:email/tokens`). */
  async login(email: string, password: string, opts: CallOptions = {}): Promise<string> {
    return (await this.http.json(tokenIssued, { method: 'POST', path: `${userPath(email)}/tokens`, route: 'POST /users/:email/tokens', ...jsonBody({ password }), ...opts })).token;
  }

  /** Revokes every login token of the user. */
  async revokeTokens(email: string, opts: CallOptions = {}): Promise<void> {
    await this.http.json(empty, { method: 'DELETE', path: `${userPath(email)}/tokens`, route: 'DELETE /users/:email/tokens', ...opts });
  }

  async user(email: string, opts: CallOptions = {}): Promise<UserInfo> {
    return this.http.json(userInfo, { method: 'GET', path: userPath(email), route: 'GET /users/:email', ...opts });
  }

  async users(opts: CallOptions = {}): Promise<UserInfo[]> {
    return this.http.json(userList, { method: 'GET', path: '/users', ...opts });
  }

  async createUser(email: string, password: string, opts: CallOptions & { admin?: boolean } = {}): Promise<void> {
    const { admin, ...call } = opts;
    await this.http.json(empty, { method: 'POST', path: '/users', ...jsonBody({ email, password, ...(admin ? { admin } : {}) }), ...call });
  }

  /** A new password; every login token of the user is revoked. */
  async changePassword(email: string, password: string, opts: CallOptions = {}): Promise<void> {
    await this.http.json(empty, { method: 'PUT', path: userPath(email), route: 'PUT /users/:email', ...jsonBody({ password }), ...opts });
  }

  async deleteUser(email: string, opts: CallOptions = {}): Promise<void> {
    await this.http.json(empty, { method: 'DELETE', path: userPath(email), route: 'DELETE /users/:email', ...opts });
  }

  // ---- apps ----------------------------------------------------------------------------------

  async apps(opts: CallOptions = {}): Promise<App[]> {
    return this.http.json(appList, { method: 'GET', path: '/apps', ...opts });
  }

  /** The app, or null when the controller answers `appNotFound` (301). */
  async app(name: string, opts: CallOptions = {}): Promise<App | null> {
    try {
      return await this.http.json(appSchema, { method: 'GET', path: appPath(name), route: 'GET /apps/:name', ...opts });
    } catch (e) {
      if (e instanceof CloudControllerError && e.code === ErrorCodes.appNotFound) return null;
      throw e;
    }
  }

  /** POST /apps (answered 302 + `{result, redirect}`), then the created app. */
  async createApp(req: AppCreateRequest, opts: CallOptions = {}): Promise<App> {
    await this.http.json(appCreated, { method: 'POST', path: '/apps', ...jsonBody(req), ...opts });
    const app = await this.app(req.name, opts);
    if (!app) throw new CloudControllerError(ErrorCodes.appNotFound, 404, `App ${req.name} was created but cannot be read back`);
    return app;
  }

  /** PUT /apps/:name with any subset of fields; put `meta.version` in to lock against concurrent changes (`lockConflict`, 102). */
  async updateApp(name: string, changes: AppUpdateRequest, opts: CallOptions = {}): Promise<App> {
    // Starting may stage first (v1 blocked until staging ended), so this call may take long.
    return this.http.json(appSchema, { method: 'PUT', path: appPath(name), route: 'PUT /apps/:name', ...jsonBody(changes), timeoutMs: longTimeoutMs, ...opts });
  }

  async deleteApp(name: string, opts: CallOptions = {}): Promise<void> {
    await this.http.json(empty, { method: 'DELETE', path: appPath(name), route: 'DELETE /apps/:name', timeoutMs: 120_000, ...opts });
  }

  /** Cancels the app's staging task, if one runs; the droplet already running stays. Answers whether one ran. */
  async cancelStaging(name: string, opts: CallOptions = {}): Promise<boolean> {
    const r = await this.http.json(stagingCancelled, { method: 'DELETE', path: `${appPath(name)}/staging`, route: 'DELETE /apps/:name/staging', ...opts });
    return r.cancelled;
  }

  // ---- bits ----------------------------------------------------------------------------------

  /** POST /resources: the subset of `resources` the controller's pool already holds. */
  async matchResources(resources: Resource[], opts: CallOptions = {}): Promise<Resource[]> {
    return this.http.json(resourceList, { method: 'POST', path: '/resources', ...jsonBody(resources), compressible: true, timeoutMs: 120_000, ...opts });
  }

  /**
   * PUT /apps/:name/application, multipart: `resources` (JSON list of pooled files to take) and
   * `application` (a zip of the rest; an empty zip when nothing is left). Returns the bytes sent.
   */
  async uploadApplication(name: string, zip: Uint8Array, resources: Resource[], opts: CallOptions = {}): Promise<number> {
    return (await this.uploadPackage(name, zip, resources, opts)).bytesSent;
  }

  /** Like `uploadApplication`, optionally as a delta (see UploadOptions), answering what the controller assembled. */
  async uploadPackage(name: string, zip: Uint8Array, resources: Resource[], options: UploadOptions = {}): Promise<UploadResult> {
    const { basePackage, deleted, ...opts } = options;
    const form = new FormData();
    if (basePackage !== undefined) {
      form.append('base_package', basePackage);
      form.append('deleted', JSON.stringify(deleted ?? []));
    }
    form.append('resources', JSON.stringify(resources));
    form.append('application', new Blob([zip as Uint8Array<ArrayBuffer>], { type: 'application/zip' }), 'application.zip');
    // Response serialises a FormData into a multipart body with its own boundary.
    const encoded = new Response(form);
    const body = Buffer.from(await encoded.arrayBuffer());
    const contentType = encoded.headers.get('content-type') ?? 'multipart/form-data';
    // A small upload is mostly the resources list, which compresses well; a big zip is not worth the time locally.
    const meter = { bytesSent: 0 };
    // A v1 controller answers with no body: every field of the result is optional.
    const answer = await this.http.json(uploadResult, {
      method: 'PUT', path: `${appPath(name)}/application`, route: 'PUT /apps/:name/application', body, contentType,
      compressible: body.length <= 8 * 1024 * 1024 || !isLocal(this.api), timeoutMs: longTimeoutMs, ...opts, meter,
    });
    if (opts.meter) opts.meter.bytesSent += meter.bytesSent;
    return { bytesSent: meter.bytesSent, packageHash: answer.package_hash ?? null };
  }

  /** The unstaged package zip. */
  async downloadApplication(name: string, opts: CallOptions = {}): Promise<Buffer> {
    const r = await this.http.request({ method: 'GET', path: `${appPath(name)}/application`, timeoutMs: longTimeoutMs, ...opts });
    return r.body;
  }

  // ---- instances -----------------------------------------------------------------------------

  async instances(name: string, opts: CallOptions = {}): Promise<InstanceInfo[]> {
    const r = await this.http.json(instanceList, { method: 'GET', path: `${appPath(name)}/instances`, route: 'GET /apps/:name/instances', ...opts });
    return r.instances ?? [];
  }

  /**
   * Restarts one instance: DELETE /apps/:name/instances/:index stops it and starts the index again
   * at once. (The instance count is the desired state: a single index cannot stay stopped.)
   */
  async restartInstance(name: string, index: number, opts: CallOptions = {}): Promise<InstanceRestart> {
    if (!Number.isInteger(index) || index < 0) throw new CloudControllerError(ErrorCodes.instanceNotFound, 0, `Not an instance index: ${index} (a whole number from 0)`);
    return this.http.json(instanceRestart, { method: 'DELETE', path: `${appPath(name)}/instances/${index}`, route: 'DELETE /apps/:name/instances/:index', ...opts });
  }

  async stats(name: string, opts: CallOptions = {}): Promise<AppStats> {
    return this.http.json(appStats, { method: 'GET', path: `${appPath(name)}/stats`, route: 'GET /apps/:name/stats', ...opts });
  }

  async crashes(name: string, opts: CallOptions = {}): Promise<CrashInfo[]> {
    const r = await this.http.json(crashList, { method: 'GET', path: `${appPath(name)}/crashes`, route: 'GET /apps/:name/crashes', ...opts });
    return r.crashes ?? [];
  }

  /** A directory listing (lines `name  size`, dirs end in `/`) or a file's raw bytes. */
  async files(name: string, index: number, filePath: string, opts: CallOptions = {}): Promise<Buffer> {
    const r = await this.http.request({ method: 'GET', path: filesPath(name, index, filePath), timeoutMs: 120_000, ...opts });
    return r.body;
  }

  /**
   * A file as a stream; with `tail`, the response stays open and carries bytes appended later
   * (for `logs --follow`) until the signal aborts or the instance goes away.
   */
  async streamFile(name: string, index: number, filePath: string, opts: CallOptions & { tail?: boolean } = {}): Promise<Readable> {
    const p = filesPath(name, index, filePath) + (opts.tail ? '?tail=1' : '');
    return this.http.stream({ method: 'GET', path: p, signal: opts.signal, timeoutMs: 0 });
  }

  // ---- events --------------------------------------------------------------------------------

  /** Server-Sent Events from `GET /events[?app=NAME]`: app changes, instance changes, staging log lines. */
  events(filter: { app?: string }, onEvent: (e: PlatformEvent) => void, opts: EventStreamOptions = {}): EventSubscription {
    const q = filter.app ? `?app=${encodeURIComponent(filter.app)}` : '';
    return openEventStream({
      open: (signal) => this.http.send({ method: 'GET', path: `/events${q}`, signal, timeoutMs: 0, headers: { Accept: 'text/event-stream' } }),
      onEvent,
      ...opts,
    });
  }
}

function appPath(name: string): string {
  return `/apps/${encodeURIComponent(name)}`;
}

function servicePath(name: string): string {
  return `/services/${encodeURIComponent(name)}`;
}

function userPath(email: string): string {
  return `/users/${encodeURIComponent(email)}`;
}

function filesPath(name: string, index: number, filePath: string): string {
  const rel = filePath.replace(/^\/+/, '').split('/').map(encodeURIComponent).join('/');
  return `${appPath(name)}/instances/${index}/files/${rel}`;
}
