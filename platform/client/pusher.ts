// `push`: fingerprint the app folder, ask the controller which files it already holds, upload a zip
// of the rest with the list of held ones, then start the app and follow staging and the instances
// through the controller's event stream.
import * as fs from 'node:fs';
import { ErrorCodes, type App, type AppUpdateRequest, type PackageState, type Resource } from '../contract';
import { appUrl, startWithWatch, stopStaging, watchApp } from './app-start';
import type { CloudControllerClient } from './cloud-controller';
import { CloudControllerError, PushCancelledError } from './errors';
import { fingerprintFiles, listAppFiles, type AppFile } from './fingerprint';
import { packFiles } from './package';
import { asFingerprintCache, defaultPushCacheDir, loadPushRecord, sameFiles, savePushRecord, type PushRecord } from './push-cache';
import { deltaOf, takesDelta, toResource, toUploadResource, type UploadPlan } from './upload-plan';

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

function hashFromVersion(version: string | undefined): string | null {
  const m = version ? /^([0-9a-f]{40})-\d+$/.exec(version) : null;
  return m ? m[1] : null;
}

function isLocalApi(api: string): boolean {
  try {
    const h = new URL(api).hostname;
    return h === 'localhost' || h.endsWith('.localhost') || h.startsWith('127.') || h === '[::1]';
  } catch { return false; }
}
