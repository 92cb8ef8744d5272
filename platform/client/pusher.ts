// `push`: fingerprint the app folder, ask the controller which files it already holds, upload a zip
// of the rest with the list of held ones, then start the app and follow staging and the instances
// through the controller's event stream.
import * as fs from 'node:fs';
import type { CallOptions, CloudControllerClient } from './cloud-controller';
import { CloudControllerError, PushCancelledError, PushError } from './errors';
import { fingerprintFiles, listAppFiles, type AppFile } from './fingerprint';
import { packFiles } from './package';
import { asFingerprintCache, defaultPushCacheDir, loadPushRecord, sameFiles, savePushRecord, type PushRecord } from './push-cache';
import { ErrorCodes, type App, type AppUpdateRequest, type InstanceInfo, type PackageState, type PlatformEvent, type Resource } from '../contract';

export interface PushOptions {
  client: CloudControllerClient;
  /** The app folder. */
  path: string;
  name: string;
  /** MB. */
  memory?: number;
  instances?: number;
  /** Start command; null resets to the framework's default. */
  command?: string | null;
  env?: Record<string, string>;
  /** Host label; the app's uri becomes `<host>.<domain>`. Default on create: the controller's (`<name>.localhost`). */
  host?: string;
  domain?: string;
  framework?: string;
  /** Upload and stop there: no staging, no start. */
  noStart?: boolean;
  /** Router base URL (`http://127.0.0.1:PORT`), to print the app's URL with the right port. */
  routerUrl?: string | null;
  /**
   * Where to remember what was pushed (default: the user's cache folder; false: nowhere). With it,
   * unchanged files are not read again and an unchanged app is not uploaded again.
   */
  cacheDir?: string | false;
  /** Deflate the upload (default: only when the API is not on this machine). */
  compress?: boolean;
  /** How long to wait for staging plus instances to be RUNNING. Default 180 s. */
  startTimeoutMs?: number;
  signal?: AbortSignal;
  onProgress?: (p: PushProgress) => void;
  /** Each staging log line as the stager writes it. */
  onStagingLog?: (line: string) => void;
}

/** Typed steps, in order, for a progress notification. */
export type PushProgress =
  | { step: 'scanning' }
  | { step: 'fingerprinting'; files: number; totalFiles: number; bytes: number }
  | { step: 'matching'; files: number }
  | { step: 'packing'; files: number; bytes: number }
  | { step: 'uploading'; bytes: number }
  | { step: 'uploaded'; summary: PushSummary }
  | { step: 'staging' }
  | { step: 'starting'; running: number; expected: number }
  | { step: 'done'; summary: PushSummary };

export interface PushSummary {
  app: string;
  created: boolean;
  /** Files in the app after ignores. */
  files: number;
  /** Files the controller already held (left out of the zip). */
  matched: number;
  /** Files sent in the zip. */
  uploaded: number;
  /** Size of every file in the app. */
  totalBytes: number;
  /** Size of the files sent (before compression). */
  uploadedBytes: number;
  /** Request body bytes of the push on the wire: the resource list, the multipart upload, app updates. */
  bytesSent: number;
  /** Nothing changed since the last push of this folder and the controller still holds that package: no upload. */
  reusedPackage: boolean;
  /**
   * The upload described only what changed since the last push of this folder (a delta on the
   * app's current package); false for a whole upload, also when a delta was refused and redone whole.
   */
  delta: boolean;
  /** SHA-1 of the package the controller assembled. */
  packageHash: string | null;
  packageState: PackageState | null;
  /** The package differs from what was staged last: staging runs on start. */
  stagingNeeded: boolean;
  started: boolean;
  /** RUNNING instances when the push returned (0 with noStart). */
  running: number;
  instances: number;
  uris: string[];
  /** `http://<uri>:<routerPort>/` of the first uri, when the app has one. */
  url: string | null;
  timingsMs: { fingerprint: number; match: number; upload: number; staging: number; start: number };
}

export async function push(opts: PushOptions): Promise<PushSummary> {
  const { client, name } = opts;
  const signal = opts.signal;
  const progress = opts.onProgress ?? ((): void => undefined);
  let stage = 'scanning';
  const meter = { bytesSent: 0 };
  const call = { signal, meter };
  const checkAbort = (): void => { if (signal?.aborted) throw new PushCancelledError(stage); };
  const t0 = Date.now();

  try {
    progress({ step: 'scanning' });
    const entries = await listAppFiles(opts.path, { signal });
    stage = 'fingerprinting';
    const cacheDir = opts.cacheDir === false ? null : opts.cacheDir ?? defaultPushCacheDir();
    const root = await fs.promises.realpath(opts.path);
    const record = cacheDir ? loadPushRecord(cacheDir, client.api, name, root) : null;
    const takenAt = Date.now();
    const files = await fingerprintFiles(entries, {
      signal, cache: record ? asFingerprintCache(record) : undefined, onProgress: (p) => progress({ step: 'fingerprinting', ...p }),
    });
    const totalBytes = files.reduce((n, f) => n + f.size, 0);
    const tFingerprint = Date.now();
    checkAbort();

    stage = 'updating the app';
    // An existing app is changed only after the upload, with the start: a cancelled upload changes nothing.
    const existing = await client.app(name, call);
    const created = existing === null;
    const app = existing ?? await createApp(opts, call);

    // The controller's packages are deterministic: the same files give the same package hash, so
    // when it still holds the package of this folder's last push, there is nothing to send.
    const reusedPackage = record !== null && existing !== null && existing.package_hash === record.packageHash && sameFiles(files, record.files);
    // What to upload: everything not held (v1), or, when the app still runs this folder's last
    // package, only what changed since (a delta on that package).
    const planUpload = async (base: PushRecord | null): Promise<UploadPlan> => {
      stage = 'matching resources';
      const plan = base ? deltaOf(files, base) : { changed: files, deleted: [], basePackage: null };
      progress({ step: 'matching', files: plan.changed.length });
      const matchedList = plan.changed.length > 0 ? await client.matchResources(plan.changed.map(toResource), call) : [];
      const held = new Set(matchedList.map((r) => `${r.sha1}:${r.size}`));
      const matched: Resource[] = [];
      const missing: AppFile[] = [];
      for (const f of plan.changed) {
        if (held.has(`${f.sha1}:${f.size}`)) matched.push(toUploadResource(f)); else missing.push(f);
      }
      checkAbort();
      stage = 'packing';
      progress({ step: 'packing', files: missing.length, bytes: missing.reduce((n, f) => n + f.size, 0) });
      const zip = await packFiles(missing, { compress: opts.compress ?? !isLocalApi(client.api), signal });
      checkAbort();
      return { matched, missing, zip, basePackage: plan.basePackage, deleted: plan.deleted };
    };
    let upload: UploadPlan | null = null;
    if (!reusedPackage) {
      const deltaBase = record !== null && existing !== null && existing.package_hash === record.packageHash && await takesDelta(client, call) ? record : null;
      upload = await planUpload(deltaBase);
    }
    const tMatch = Date.now();
    checkAbort();

    // Listen before the upload: a started app may begin staging as soon as the package lands.
    const watch = opts.noStart ? null : watchApp(client, name, opts.onStagingLog);
    try {
      // Staging tasks already under way belong to someone else's push (this upload cancels them).
      watch?.follow();
      let uploadedHash: string | null = null;
      if (upload) {
        stage = 'uploading';
        progress({ step: 'uploading', bytes: upload.zip.length });
        try {
          uploadedHash = (await client.uploadPackage(name, upload.zip, upload.matched, {
            ...call, ...(upload.basePackage ? { basePackage: upload.basePackage, deleted: upload.deleted } : {}),
          })).packageHash;
        } catch (e) {
          // Another push replaced the package this delta was based on (or its lists no longer fit it): send it whole, once.
          if (!upload.basePackage || !(e instanceof CloudControllerError) || !(e.code === ErrorCodes.staleBasePackage || e.code === ErrorCodes.badResources)) throw e;
          upload = await planUpload(null);
          stage = 'uploading';
          progress({ step: 'uploading', bytes: upload.zip.length });
          uploadedHash = (await client.uploadPackage(name, upload.zip, upload.matched, call)).packageHash;
        }
      }
      const tUpload = Date.now();
      checkAbort();

      let after = upload ? await client.app(name, call) ?? app : app;
      // The hash the upload answered, not the app's: another push may land in between, and a later
      // delta must be based on the package these files made.
      const pushedHash = upload ? uploadedHash ?? after.package_hash : after.package_hash;
      if (cacheDir && pushedHash) {
        savePushRecord(cacheDir, { api: client.api, app: name, root, packageHash: pushedHash, takenAt, files });
      }
      const missing = upload?.missing ?? [];
      const uploadedBytes = missing.reduce((n, f) => n + f.size, 0);
      const changes = created ? {} : appChanges(opts, after);
      if (opts.noStart && Object.keys(changes).length > 0) {
        await client.updateApp(name, { ...changes, meta: { version: after.meta.version } }, call);
        after = await client.app(name, call) ?? after;
      }
      const packageState = after.package_state ?? null;
      const summary: PushSummary = {
        app: name,
        created,
        files: files.length,
        matched: files.length - missing.length,
        uploaded: missing.length,
        totalBytes,
        uploadedBytes,
        bytesSent: meter.bytesSent,
        reusedPackage,
        delta: upload?.basePackage != null,
        packageHash: after.package_hash ?? hashFromVersion(after.version),
        packageState,
        // PENDING, or already staged by a quick stager since the upload: either way not what ran before.
        stagingNeeded: packageState === 'PENDING' || (after.package_hash != null && after.package_hash !== (existing?.staged_hash ?? null)),
        started: false,
        running: 0,
        instances: after.instances,
        uris: after.uris,
        url: appUrl(after.uris, opts.routerUrl),
        timingsMs: { fingerprint: tFingerprint - t0, match: tMatch - tFingerprint, upload: tUpload - tMatch, staging: 0, start: 0 },
      };
      progress({ step: 'uploaded', summary: { ...summary } });
      if (!watch) {
        progress({ step: 'done', summary });
        return summary;
      }

      stage = 'staging';
      const started = await startWithWatch({
        client, name, changes, lockVersion: after.meta.version, stagingNeeded: summary.stagingNeeded, routerUrl: opts.routerUrl, packageHash: after.package_hash ?? null,
        timeoutMs: opts.startTimeoutMs, signal, onStagingLog: opts.onStagingLog,
        onProgress: (p) => { if (p.step === 'starting') stage = 'starting'; progress(p); },
      }, watch, call);
      summary.timingsMs.staging = started.stagingMs;
      summary.timingsMs.start = started.startMs;
      summary.packageState = started.app.package_state ?? summary.packageState;
      summary.packageHash = started.app.package_hash ?? summary.packageHash;
      summary.instances = started.app.instances;
      summary.uris = started.app.uris;
      summary.url = started.url;
      summary.started = true;
      summary.running = started.running;
      summary.bytesSent = meter.bytesSent;
      progress({ step: 'done', summary });
      return summary;
    } catch (e) {
      if (signal?.aborted && stage === 'staging') await stopStaging(client, name);
      throw e;
    } finally {
      watch?.close();
    }
  } catch (e) {
    // Whatever the abort reason was, say where the push stopped.
    if (signal?.aborted) throw e instanceof PushCancelledError && e.stage === stage ? e : new PushCancelledError(stage);
    throw e;
  }
}

export interface StartAppOptions {
  client: CloudControllerClient;
  name: string;
  /** Other changes sent with `state: STARTED` in the same PUT. */
  changes?: AppUpdateRequest;
  routerUrl?: string | null;
  /** Staging plus instances RUNNING. Default 180 s. */
  timeoutMs?: number;
  signal?: AbortSignal;
  onStagingLog?: (line: string) => void;
  onProgress?: (p: Extract<PushProgress, { step: 'staging' | 'starting' }>) => void;
}

export interface StartResult {
  app: App;
  running: number;
  /** The package was staged on this start. */
  staged: boolean;
  url: string | null;
  stagingMs: number;
  startMs: number;
}

/**
 * Starts an app (`PUT state: STARTED`), printing staging lines as they arrive when the package
 * needs staging, and waits until its instances are RUNNING.
 */
export async function startApp(opts: StartAppOptions): Promise<StartResult> {
  const app = await opts.client.app(opts.name, { signal: opts.signal });
  if (!app) throw new CloudControllerError(ErrorCodes.appNotFound, 404, `App ${opts.name} not found`);
  const watch = watchApp(opts.client, opts.name, opts.onStagingLog);
  try {
    return await startWithWatch({ ...opts, lockVersion: app.meta.version, stagingNeeded: app.package_state === 'PENDING' }, watch, { signal: opts.signal });
  } catch (e) {
    if (opts.signal?.aborted) await stopStaging(opts.client, opts.name);
    throw e;
  } finally {
    watch.close();
  }
}

async function startWithWatch(
  opts: StartAppOptions & { lockVersion: number; stagingNeeded: boolean; packageHash?: string | null }, watch: AppWatch, call: { signal?: AbortSignal; meter?: { bytesSent: number } },
): Promise<StartResult> {
  const { client, name, signal } = opts;
  const t0 = Date.now();
  const deadline = t0 + (opts.timeoutMs ?? 180_000);
  await watch.ready;
  if (opts.stagingNeeded) opts.onProgress?.({ step: 'staging' });
  const putStarted = client.updateApp(name, { ...opts.changes, state: 'STARTED', meta: { version: opts.lockVersion } }, { ...call, timeoutMs: 0 });
  // The app's own state decides success or failure (with the controller's error code), not the event stream.
  await putStarted;
  const staged = await waitForStaged(client, name, watch, opts.stagingNeeded, deadline, signal, opts.packageHash ?? null);
  const tStaged = Date.now();
  const running = await waitForRunning(client, staged, watch, deadline, signal, (r, expected) => opts.onProgress?.({ step: 'starting', running: r, expected }));
  return {
    app: staged, running, staged: opts.stagingNeeded, url: appUrl(staged.uris, opts.routerUrl),
    stagingMs: tStaged - t0, startMs: Date.now() - tStaged,
  };
}

function toResource(f: AppFile): Resource {
  return { fn: f.fn, size: f.size, sha1: f.sha1 };
}

/** A pooled file in the upload's `resources`, with its mode unless it is the default 0644 (as a zipped file keeps its mode). */
function toUploadResource(f: AppFile): Resource {
  const mode = (f.mode & 0o777) | 0o400;
  return mode === 0o644 ? toResource(f) : { ...toResource(f), mode };
}

interface UploadPlan {
  /** Pooled files the upload lists in `resources`. */
  matched: Resource[];
  /** Files sent in the zip. */
  missing: AppFile[];
  zip: Buffer;
  /** Set for a delta upload: the package it changes. */
  basePackage: string | null;
  deleted: string[];
}

/** What changed since the pushed record: new or changed files (content or mode), and files gone. */
function deltaOf(files: AppFile[], base: PushRecord): { changed: AppFile[]; deleted: string[]; basePackage: string } {
  const before = new Map(base.files.map((f) => [f.fn, f]));
  const changed = files.filter((f) => {
    const b = before.get(f.fn);
    return !b || b.size !== f.size || b.sha1 !== f.sha1 || b.mode !== f.mode;
  });
  const now = new Set(files.map((f) => f.fn));
  const deleted = base.files.filter((f) => !now.has(f.fn)).map((f) => f.fn);
  return { changed, deleted, basePackage: base.packageHash };
}

/** Whether the controller assembles delta uploads (`/info` lists `base_package` in `features`). */
async function takesDelta(client: CloudControllerClient, call: CallOptions): Promise<boolean> {
  try {
    const info = await client.info(call);
    return Array.isArray(info.features) && info.features.includes('base_package');
  } catch {
    return false;
  }
}

function uriFor(opts: PushOptions): string[] | undefined {
  return opts.host ? [`${opts.host}.${opts.domain ?? 'localhost'}`] : undefined;
}

function envList(env: Record<string, string>): string[] {
  return Object.entries(env).map(([k, v]) => `${k}=${v}`);
}

async function createApp(opts: PushOptions, call: { signal?: AbortSignal; meter: { bytesSent: number } }): Promise<App> {
  return opts.client.createApp({
    name: opts.name,
    staging: { framework: opts.framework ?? null, runtime: null, command: opts.command ?? null },
    uris: uriFor(opts) ?? [`${opts.name}.${opts.domain ?? 'localhost'}`],
    instances: opts.instances ?? 1,
    resources: opts.memory ? { memory: opts.memory } : {},
    env: opts.env ? envList(opts.env) : [],
  }, call);
}

/** What the options change on an existing app (sent with `meta.version`, so a concurrent change is refused, not lost). */
function appChanges(opts: PushOptions, app: App): AppUpdateRequest {
  const changes: AppUpdateRequest = {};
  if (opts.memory !== undefined && opts.memory !== app.resources.memory) changes.resources = { memory: opts.memory };
  if (opts.instances !== undefined && opts.instances !== app.instances) changes.instances = opts.instances;
  const staging: AppUpdateRequest['staging'] = {};
  if (opts.command !== undefined && opts.command !== (app.staging.command ?? null)) staging.command = opts.command;
  if (opts.framework !== undefined && opts.framework !== app.staging.model) staging.framework = opts.framework;
  if (Object.keys(staging).length > 0) changes.staging = staging;
  if (opts.env !== undefined) {
    const env = envList(opts.env);
    if (env.join('\n') !== app.env.join('\n')) changes.env = env;
  }
  const uris = uriFor(opts);
  if (uris && uris.join(' ') !== app.uris.join(' ')) changes.uris = uris;
  return changes;
}

// ---- following staging and start ---------------------------------------------------------------

interface AppWatch {
  ready: Promise<void>;
  /** From now on, ignore the staging tasks seen so far (another push's, cancelled by this one's upload). */
  follow(): void;
  /** Resolves when this push's staging task reported done (ok or not). */
  stagingDone: Promise<{ ok: boolean; error?: string | null }>;
  /** Resolves on the next app/instances event (re-armed by `nextChange`). */
  nextChange(): Promise<void>;
  live: boolean;
  close(): void;
}

function watchApp(client: CloudControllerClient, name: string, onLine?: (line: string) => void): AppWatch {
  let taskId: string | null = null;
  let nextSeq = 0;
  let resolveDone!: (v: { ok: boolean; error?: string | null }) => void;
  const stagingDone = new Promise<{ ok: boolean; error?: string | null }>((r) => { resolveDone = r; });
  const seenTasks = new Set<string>();
  let foreignTasks = new Set<string>();
  let waiters: (() => void)[] = [];
  const w: AppWatch = {
    ready: Promise.resolve(),
    follow: () => { foreignTasks = new Set(seenTasks); },
    stagingDone,
    live: false,
    nextChange: () => new Promise<void>((r) => { waiters.push(r); }),
    close: () => sub.close(),
  };
  const wake = (): void => { const ws = waiters; waiters = []; for (const f of ws) f(); };
  const onEvent = (e: PlatformEvent): void => {
    if (e.name !== name) return;
    if (e.type === 'staging' && !foreignTasks.has(e.task_id)) {
      seenTasks.add(e.task_id);
      if (taskId !== e.task_id) { taskId = e.task_id; nextSeq = 0; }
      if (e.line !== undefined && e.seq >= nextSeq) { nextSeq = e.seq + 1; onLine?.(e.line); }
      if (e.done) resolveDone({ ok: e.ok === true, error: e.error });
    }
    wake();
  };
  const sub = client.events({ app: name }, onEvent, { onOpen: () => { w.live = true; wake(); }, onError: () => { w.live = false; } });
  // Without an event stream (an older controller) the push still works, by polling.
  w.ready = Promise.race([sub.ready, new Promise<void>((r) => setTimeout(r, 3000).unref())]).catch(() => undefined);
  return w;
}

const pollMs = 1000;

async function waitForStaged(
  client: CloudControllerClient, name: string, watch: AppWatch, stagingNeeded: boolean, deadline: number, signal: AbortSignal | undefined, packageHash: string | null,
): Promise<App> {
  let doneSeen = false;
  void watch.stagingDone.then(() => { doneSeen = true; });
  let stagedSince: number | null = null;
  for (;;) {
    const app = await client.app(name, { signal });
    if (!app) throw new CloudControllerError(ErrorCodes.appNotFound, 404, `App ${name} was deleted while it was being pushed`);
    if (packageHash && app.package_hash && app.package_hash !== packageHash) {
      throw new PushError(`${name} was pushed again (or its staging cancelled) while this push was staging; this push's package does not run`);
    }
    const state = app.package_state;
    if (state === 'FAILED') {
      const r = doneSeen ? await watch.stagingDone : null;
      const why = app.staging_error?.description ?? r?.error;
      throw new CloudControllerError(app.staging_error?.code ?? ErrorCodes.stagingFailed, 500, `Staging failed${why ? `: ${why}` : ''}. See \`pocket logs ${name} --staging\`.`);
    }
    if (state === 'STAGED' || state === undefined) {
      // Let the last log lines arrive before reporting: the done event closes the log.
      if (!stagingNeeded || doneSeen || !watch.live) return app;
      stagedSince ??= Date.now();
      if (Date.now() - stagedSince > 1500) return app;
    }
    if (Date.now() > deadline) throw new PushError(`Staging of ${name} did not finish in time; it may still be running. See \`pocket logs ${name} --staging\`.`);
    await sleepUntil(Promise.race([watch.nextChange(), watch.stagingDone.then(() => undefined)]), pollMs, signal);
  }
}

async function waitForRunning(
  client: CloudControllerClient, app: App, watch: AppWatch, deadline: number, signal: AbortSignal | undefined,
  report: (running: number, expected: number) => void,
): Promise<number> {
  const expected = app.instances;
  if (expected === 0) return 0;
  let lastRunning = -1;
  for (;;) {
    const current = await client.app(app.name, { signal });
    if (!current) throw new CloudControllerError(ErrorCodes.appNotFound, 404, `App ${app.name} was deleted while it was starting`);
    const list: InstanceInfo[] = await client.instances(app.name, { signal }).catch((e: unknown) => {
      if (e instanceof CloudControllerError && e.httpStatus < 500) return [];
      throw e;
    });
    // Only the live version: `/instances` leaves out an older version still running during a replacement.
    const live = list;
    const running = live.filter((i) => i.state === 'RUNNING').length;
    if (running !== lastRunning) { lastRunning = running; report(running, current.instances); }
    if (running >= current.instances) return running;
    if (current.state === 'STOPPED') throw new PushError(`App ${app.name} was stopped while it was starting`);
    if (live.some((i) => i.state === 'FLAPPING')) {
      throw new PushError(`App ${app.name} is crashing (FLAPPING) instead of starting. See \`pocket crashes ${app.name}\` and \`pocket logs ${app.name}\`.`);
    }
    if (Date.now() > deadline) {
      if (current.placement_error) throw new PushError(`${app.name} cannot start: ${current.placement_error}`);
      throw new PushError(`Only ${running} of ${current.instances} instances of ${app.name} are RUNNING after waiting; see \`pocket instances ${app.name}\` and \`pocket logs ${app.name}\`.`);
    }
    await sleepUntil(watch.nextChange(), pollMs, signal);
  }
}

/** Waits for `p` or `ms`, whichever first; rejects when the signal aborts. */
async function sleepUntil(p: Promise<void>, ms: number, signal?: AbortSignal): Promise<void> {
  if (signal?.aborted) throw signal.reason instanceof Error ? signal.reason : new Error('aborted');
  let timer: NodeJS.Timeout | undefined;
  let onAbort: (() => void) | undefined;
  try {
    await Promise.race([
      p,
      new Promise<void>((r) => { timer = setTimeout(r, ms); }),
      new Promise<void>((_r, rej) => {
        onAbort = () => rej(signal?.reason instanceof Error ? signal.reason : new Error('aborted'));
        signal?.addEventListener('abort', onAbort, { once: true });
      }),
    ]);
  } finally {
    if (timer) clearTimeout(timer);
    if (onAbort) signal?.removeEventListener('abort', onAbort);
  }
}

/** Tells the controller to cancel this app's staging task; the running droplet stays. */
async function stopStaging(client: CloudControllerClient, name: string): Promise<void> {
  try {
    await client.cancelStaging(name, { timeoutMs: 5000 });
  } catch { /* best effort: the push is reported as cancelled either way */ }
}

function hashFromVersion(version: string | undefined): string | null {
  const m = version ? /^([0-9a-f]{40})-\d+$/.exec(version) : null;
  return m ? m[1] : null;
}

export function appUrl(uris: string[], routerUrl?: string | null): string | null {
  if (uris.length === 0) return null;
  let port = '';
  if (routerUrl) {
    try { const u = new URL(routerUrl); port = u.port ? `:${u.port}` : ''; } catch { /* no port */ }
  }
  return `http://${uris[0]}${port}/`;
}

function isLocalApi(api: string): boolean {
  try {
    const h = new URL(api).hostname;
    return h === 'localhost' || h.endsWith('.localhost') || h.startsWith('127.') || h === '[::1]';
  } catch { return false; }
}
