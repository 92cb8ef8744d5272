// The app service: desired state (create, update, upload, delete) and everything it sets in motion:
// staging, placement, scaling, zero-downtime replacement, the health manager's requests, and
// bringing STARTED apps back after a restart.
import {
  Subjects,
  type Bus, type BulkApp, type CcAppChanged, type DeaFindDropletReply, type DeaStart, type DropletExited, type HmRequest, type InstanceState,
} from '../bus';
import type { App as AppView, InstanceRestart } from '../contract';
import { describeError, type Log } from '../log';
import type { ActualState } from './actual-state';
import { parseAppInput, type AppInput } from './app-input';
import { AppLocks } from './app-locks';
import type { ContentStore } from './content-store';
import { CcError, ErrorCodes } from './errors';
import type { EventHub } from './event-stream';
import type { PackageResult } from './packager';
import type { Placement, PlacementResult } from './placement';
import type { RuntimeCatalog } from './runtimes';
import type { StagingCoordinator, StagingOutcome, StagingTask } from './staging';
import type { AppPatch, AppRecord, Store } from './store';

export interface ControllerTimings {
  /** How long `dea.discover` waits for a DEA's answer. */
  discoverWaitMs: number;
  /** How long `dea.find.droplet` collects answers. */
  findWaitMs: number;
  /** Time limit of a `healthmanager.status` request. */
  hmStatusWaitMs: number;
  /** How long `router.status` collects answers. */
  routerStatusWaitMs: number;
  /** After a restart, how long to let heartbeats arrive before re-placing missing instances. */
  restoreSettleMs: number;
  /** Zero-downtime replacement: the longest wait for the new instances to be RUNNING and routed. */
  rolloutTimeoutMs: number;
  rolloutPollMs: number;
  /** A START the controller just sent covers its index this long, so HM does not start it twice. */
  startGraceMs: number;
  /** A DEA silent this long (before its heartbeat interval is known) loses its instances. */
  instanceLostMs: number;
  /** Beyond the staging time limit, how long the stager may take to report its own timeout. */
  stagingReplyGraceMs: number;
}

export const defaultControllerTimings: ControllerTimings = {
  discoverWaitMs: 1000,
  findWaitMs: 400,
  hmStatusWaitMs: 400,
  routerStatusWaitMs: 300,
  restoreSettleMs: 1500,
  rolloutTimeoutMs: 120_000,
  rolloutPollMs: 250,
  startGraceMs: 8000,
  instanceLostMs: 10_000,
  stagingReplyGraceMs: 10_000,
};

/** Version of an app with no package at all (SHA-1 of nothing). */
const NO_PACKAGE = 'da39a3ee5e6b4b0d3255bfef95601890afd80709';

export function versionOf(app: Pick<AppRecord, 'stagedHash' | 'packageHash' | 'runCount'>): string {
  return `${app.stagedHash ?? app.packageHash ?? NO_PACKAGE}-${app.runCount}`;
}

export interface AppServiceOptions {
  store: Store;
  bus: Bus;
  log: Log;
  runtimes: RuntimeCatalog;
  events: EventHub;
  actual: ActualState;
  placement: Placement;
  staging: StagingCoordinator;
  packages: ContentStore;
  droplets: ContentStore;
  url: () => string;
  domain: string;
  memoryLimitMb: number;
  appLimit: number;
  uriLimit: number;
  timings: ControllerTimings;
}

const range = (from: number, to: number): number[] => Array.from({ length: Math.max(0, to - from) }, (_, i) => from + i);
const sleep = (ms: number): Promise<void> => new Promise((r) => { setTimeout(r, ms).unref(); });
const live: readonly InstanceState[] = ['STARTING', 'RUNNING'];

function constraintError(e: unknown): string | null {
  const msg = describeError(e);
  return /UNIQUE constraint failed: (\S+)/.exec(msg)?.[1] ?? null;
}

export class AppService {
  private readonly locks = new AppLocks();
  /** `${droplet}/${version}/${index}` -> when the controller sent its start. */
  private readonly pendingStarts = new Map<string, number>();
  private readonly rollouts = new Map<number, { version: string; token: symbol }>();
  /** `${droplet}/${version}/${index}` -> a restart of that index: when, and the instances it stopped. */
  private readonly restarts = new Map<string, { at: number; old: ReadonlySet<string> }>();
  private stopped = false;
  private wake: () => void = () => undefined;
  private readonly closed = new Promise<void>((resolve) => { this.wake = resolve; });

  constructor(private readonly o: AppServiceOptions) {}

  close(): void {
    this.stopped = true;
    this.rollouts.clear();
    this.wake();
  }

  /** Sleeps, but wakes at once when the controller stops. */
  private pause(ms: number): Promise<void> {
    return Promise.race([sleep(ms), this.closed]);
  }

  // ---- reading -------------------------------------------------------------------------

  get(name: string): AppRecord {
    const app = this.o.store.getAppByName(name);
    if (!app) throw new CcError(ErrorCodes.appNotFound, `app ${name} not found`);
    return app;
  }

  view(app: AppRecord): AppView {
    const version = versionOf(app);
    const command = app.command ?? app.detectedCommand;
    const detected = app.detectedFramework || app.detectedRuntime || app.detectedCommand
      ? { framework: app.detectedFramework, runtime: app.detectedRuntime, command: app.detectedCommand } : null;
    return {
      name: app.name,
      staging: { model: app.framework ?? app.detectedFramework, stack: app.runtime ?? app.detectedRuntime, ...(command ? { command } : {}) },
      uris: this.o.store.urisOf(app.id),
      instances: app.instances,
      runningInstances: app.state === 'STARTED' ? this.o.actual.runningCount(app.id, version, app.instances) : 0,
      resources: { memory: app.memory, disk: app.disk, fds: app.fds },
      state: app.state,
      services: [],
      version,
      env: app.env,
      meta: { debug: app.debug, console: app.console, version: app.lockVersion, created: app.createdAt },
      package_state: app.packageState,
      package_hash: app.packageHash,
      staged_hash: app.stagedHash,
      staging_task_id: this.o.staging.current(app.id)?.taskId ?? null,
      staging_error: app.stagingError ? { code: app.stagingErrorCode ?? ErrorCodes.stagingFailed, description: app.stagingError } : null,
      placement_error: app.placementError,
      detected,
    };
  }

  list(): AppView[] {
    return this.o.store.listApps().map((a) => this.view(a));
  }

  usage(): { memory: number; apps: number; services: number } {
    return { memory: this.o.store.startedMemory(), apps: this.o.store.countApps(), services: 0 };
  }

  // ---- desired state -------------------------------------------------------------------

  async create(body: unknown): Promise<AppRecord> {
    const input = parseAppInput(body, this.o.runtimes, { memoryLimitMb: this.o.memoryLimitMb });
    if (!input.name) throw new CcError(ErrorCodes.appInvalid, 'name is required');
    const name = input.name;
    const instances = input.instances ?? 1;
    const memory = input.memory ?? 256;
    const state = input.state ?? 'STOPPED';
    this.checkMemory(memory, instances, state, undefined);
    if (this.o.store.countApps() >= this.o.appLimit) throw new CcError(ErrorCodes.tooManyApps, `too many apps: the limit is ${this.o.appLimit}`);
    if (this.o.store.getAppByName(name)) throw new CcError(ErrorCodes.appInvalid, `an app named ${name} already exists`);
    // No uris given: the app gets `<name>.<domain>`; an explicit [] means no route.
    const uris = input.uris ?? [`${name.toLowerCase().replace(/_/g, '-')}.${this.o.domain}`];
    this.checkUris(uris, undefined);
    let app: AppRecord;
    try {
      app = this.o.store.tx(() => {
        const a = this.o.store.createApp({
          name, framework: input.framework ?? null, runtime: input.runtime ?? null, command: input.command ?? null,
          instances, memory, disk: input.disk ?? 2048, fds: input.fds ?? 256, state, env: input.env ?? [],
          debug: input.debug ?? null, console: input.console ?? null,
        });
        this.o.store.setUris(a.id, uris);
        this.o.store.recordEvent(a.id, name, 'created', { state, instances, memory, uris });
        return state === 'STARTED' ? this.o.store.updateApp(a.id, { runCount: 1 }) : a;
      });
    } catch (e) {
      throw this.translateConstraint(e);
    }
    this.changed(app, 'created');
    if (app.state === 'STARTED') await this.locks.run(app.id, () => this.applyDesired(null, app));
    return this.o.store.getApp(app.id) ?? app;
  }

  async update(name: string, body: unknown): Promise<AppRecord> {
    const input = parseAppInput(body, this.o.runtimes, { memoryLimitMb: this.o.memoryLimitMb });
    const id = this.get(name).id;
    return this.locks.run(id, async () => {
      const app = this.o.store.getApp(id);
      if (!app) throw new CcError(ErrorCodes.appNotFound, `app ${name} not found`);
      if (input.lockVersion !== undefined && input.lockVersion !== app.lockVersion) {
        throw new CcError(ErrorCodes.lockConflict, `app ${name} was changed by someone else (meta.version ${input.lockVersion}, now ${app.lockVersion}); read it again and retry`);
      }
      const { patch, urisChanged } = this.diff(app, input);
      if (Object.keys(patch).length === 0 && !urisChanged) {
        // Nothing to change; a STARTED app is still brought in line (staged if pending, missing instances started).
        if (app.state === 'STARTED') await this.applyDesired(app, app);
        return this.o.store.getApp(id) ?? app;
      }
      const after0 = { ...app, ...patch };
      this.checkMemory(after0.memory, after0.instances, after0.state, app.id);
      if (urisChanged) this.checkUris(input.uris as string[], app.id);
      if (patch.name !== undefined && this.o.store.getAppByName(patch.name)) throw new CcError(ErrorCodes.appInvalid, `an app named ${patch.name} already exists`);
      if (app.state === 'STOPPED' && after0.state === 'STARTED') { patch.runCount = app.runCount + 1; patch.placementError = null; }
      else if (app.state === 'STARTED' && after0.state === 'STARTED' && (after0.memory !== app.memory || after0.disk !== app.disk || after0.fds !== app.fds)) {
        // New limits mean new instances: a new version, replaced without downtime.
        patch.runCount = app.runCount + 1;
      }
      patch.lockVersion = app.lockVersion + 1;
      patch.updatedAt = this.o.store.stamp();
      let after: AppRecord;
      try {
        after = this.o.store.tx(() => {
          const a = this.o.store.updateApp(id, patch);
          if (urisChanged) this.o.store.setUris(id, input.uris as string[]);
          this.o.store.recordEvent(id, a.name, eventOf(app, a), summarize(patch, urisChanged ? input.uris : undefined));
          return a;
        });
      } catch (e) {
        throw this.translateConstraint(e);
      }
      this.changed(after, eventOf(app, after));
      await this.applyDesired(app, after, urisChanged);
      return this.o.store.getApp(id) ?? after;
    });
  }

  /** What an update changes, compared with the app as it is (so an echoed GET changes nothing). */
  private diff(app: AppRecord, input: AppInput): { patch: AppPatch; urisChanged: boolean } {
    const patch: AppPatch = {};
    if (input.name !== undefined && input.name !== app.name) patch.name = input.name;
    let restage = false;
    const effFramework = app.framework ?? app.detectedFramework;
    const effRuntime = app.runtime ?? app.detectedRuntime;
    const effCommand = app.command ?? app.detectedCommand;
    if (input.framework !== undefined && input.framework !== effFramework && !(input.framework === null && app.framework === null)) { patch.framework = input.framework; restage = true; }
    if (input.runtime !== undefined && input.runtime !== effRuntime && !(input.runtime === null && app.runtime === null)) {
      const same = input.runtime !== null && effRuntime !== null && this.o.runtimes.resolve(input.runtime)?.name === this.o.runtimes.resolve(effRuntime)?.name;
      patch.runtime = input.runtime;
      if (!same) restage = true;
    }
    if (input.command !== undefined && input.command !== effCommand && !(input.command === null && app.command === null)) { patch.command = input.command; restage = true; }
    if (restage && app.packageHash) { patch.packageState = 'PENDING'; patch.stagingError = null; patch.stagingErrorCode = null; }
    for (const k of ['instances', 'memory', 'disk', 'fds', 'state', 'debug', 'console'] as const) {
      if (input[k] !== undefined && input[k] !== app[k]) (patch as Record<string, unknown>)[k] = input[k];
    }
    if (input.env !== undefined && JSON.stringify(input.env) !== JSON.stringify(app.env)) patch.env = input.env;
    const urisChanged = input.uris !== undefined && JSON.stringify(input.uris) !== JSON.stringify(this.o.store.urisOf(app.id));
    return { patch, urisChanged };
  }

  private checkMemory(memory: number, instances: number, state: string, appId: number | undefined): void {
    const need = memory * instances;
    if (need > this.o.memoryLimitMb) {
      throw new CcError(ErrorCodes.notEnoughMemory, `not enough memory: ${instances} x ${memory} MB = ${need} MB, the account limit is ${this.o.memoryLimitMb} MB`);
    }
    if (state === 'STARTED') {
      const others = this.o.store.startedMemory(appId);
      if (others + need > this.o.memoryLimitMb) {
        throw new CcError(ErrorCodes.notEnoughMemory, `not enough memory: started apps use ${others} MB, this app needs ${need} MB, the account limit is ${this.o.memoryLimitMb} MB`);
      }
    }
  }

  private checkUris(uris: readonly string[], appId: number | undefined): void {
    if (uris.length > this.o.uriLimit) throw new CcError(ErrorCodes.tooManyUris, `too many uris: ${uris.length}, the limit is ${this.o.uriLimit} per app`);
    for (const u of uris) {
      const owner = this.o.store.uriOwner(u);
      if (owner !== undefined && owner !== appId) throw new CcError(ErrorCodes.uriTaken, `the uri ${u} is taken by another app`);
    }
  }

  private translateConstraint(e: unknown): unknown {
    const c = constraintError(e);
    if (c === 'uris.uri') return new CcError(ErrorCodes.uriTaken, 'a uri is taken by another app');
    if (c === 'apps.name') return new CcError(ErrorCodes.appInvalid, 'an app with that name already exists');
    return e;
  }

  async remove(name: string): Promise<void> {
    const id = this.get(name).id;
    await this.locks.run(id, async () => {
      const app = this.o.store.getApp(id);
      if (!app) throw new CcError(ErrorCodes.appNotFound, `app ${name} not found`);
      this.o.staging.cancel(id, 'the app was deleted');
      this.rollouts.delete(id);
      this.o.bus.publish(Subjects.deaStop, { droplet: id });
      const droplets = this.o.store.dropletsOf(id);
      this.o.store.tx(() => {
        this.o.store.deleteApp(id);
        this.o.store.recordEvent(id, app.name, 'deleted');
      });
      this.clearPendingStarts(id);
      const hashes = new Set([app.packageHash, app.stagedHash, ...droplets.map((d) => d.packageHash)].filter((h): h is string => !!h));
      for (const h of hashes) await this.gcPackage(h);
      for (const d of droplets) await this.gcDropletFile(d.sha1);
      this.changed(app, 'deleted');
      this.o.log.info(`deleted ${app.name}`);
    });
  }

  /**
   * After an upload: a new package hash makes the app PENDING (and stages it if STARTED). A delta
   * upload names its `basePackage`: refused (403) when another upload replaced it meanwhile.
   */
  async commitPackage(name: string, pkg: PackageResult, basePackage?: string): Promise<{ app: AppRecord; changed: boolean }> {
    const known = this.o.store.getAppByName(name);
    if (!known) { await this.gcPackage(pkg.hash); throw new CcError(ErrorCodes.appNotFound, `app ${name} not found`); }
    return this.locks.run(known.id, async () => {
      const app = this.o.store.getApp(known.id);
      if (!app) { await this.gcPackage(pkg.hash); throw new CcError(ErrorCodes.appNotFound, `app ${name} not found`); }
      if (app.packageHash === pkg.hash) return { app, changed: false };
      if (basePackage !== undefined && app.packageHash !== basePackage) {
        await this.gcPackage(pkg.hash);
        throw new CcError(ErrorCodes.staleBasePackage, `base package is stale: ${basePackage} was replaced while this upload was assembled; push every file again`);
      }
      // Back to the content of the droplet already built: nothing to stage.
      const backToStaged = pkg.hash === app.stagedHash && app.dropletSha1 !== null && this.o.droplets.has(app.dropletSha1);
      const patch: AppPatch = {
        packageHash: pkg.hash, packageState: backToStaged ? 'STAGED' : 'PENDING', stagingError: null, stagingErrorCode: null,
        lockVersion: app.lockVersion + 1, updatedAt: this.o.store.stamp(),
      };
      const after = this.o.store.tx(() => {
        const a = this.o.store.updateApp(app.id, patch);
        this.o.store.recordEvent(app.id, app.name, 'uploaded', { package_hash: pkg.hash, size: pkg.size, files: pkg.files });
        return a;
      });
      const task = this.o.staging.current(app.id);
      if (task && task.packageHash !== pkg.hash) this.o.staging.cancel(app.id, 'a newer package was uploaded');
      if (app.packageHash) await this.gcPackage(app.packageHash);
      this.changed(after, 'uploaded');
      if (after.state === 'STARTED') await this.applyDesired(app, after);
      return { app: this.o.store.getApp(app.id) ?? after, changed: true };
    });
  }

  /** `DELETE /apps/:name/staging`: stops the running staging task; the droplet already running stays. */
  async cancelStaging(name: string): Promise<{ cancelled: boolean; app: AppRecord }> {
    const id = this.get(name).id;
    return this.locks.run(id, async () => {
      const app = this.o.store.getApp(id);
      if (!app) throw new CcError(ErrorCodes.appNotFound, `app ${name} not found`);
      const task = this.o.staging.cancel(id, 'cancelled by the user');
      if (!task) return { cancelled: false, app };
      let after = app;
      if (app.stagedHash && app.dropletSha1 && this.o.packages.has(app.stagedHash) && this.o.droplets.has(app.dropletSha1)) {
        // Back to the package of the droplet that runs, so the app reads as it did before the push.
        after = this.o.store.updateApp(id, { packageHash: app.stagedHash, packageState: 'STAGED', lockVersion: app.lockVersion + 1 });
        if (app.packageHash && app.packageHash !== app.stagedHash) await this.gcPackage(app.packageHash);
      }
      this.o.store.recordEvent(id, app.name, 'staging_cancelled', { task_id: task.taskId });
      this.changed(after, 'updated');
      return { cancelled: true, app: after };
    });
  }

  /** Brings the instances in line with a change from `before` (null: just created) to `after`. */
  private async applyDesired(before: AppRecord | null, after: AppRecord, urisChanged = false): Promise<void> {
    const id = after.id;
    if (after.state === 'STOPPED') {
      this.o.staging.cancel(id, 'the app was stopped');
      this.rollouts.delete(id);
      if (before?.state === 'STARTED' || this.o.actual.instancesOf(id).length > 0) this.o.bus.publish(Subjects.deaStop, { droplet: id });
      this.clearPendingStarts(id);
      this.instancesChanged(after);
      return;
    }
    if (!after.packageHash) return; // STARTED, waiting for its first upload
    if (after.packageState !== 'STAGED') {
      const task = this.o.staging.current(id);
      if (!task || task.packageHash !== after.packageHash) this.stage(after);
      if (urisChanged && before?.state === 'STARTED') this.o.bus.publish(Subjects.deaUpdate, { droplet: id, uris: this.o.store.urisOf(id) });
      return;
    }
    const version = versionOf(after);
    const wasRunning = before !== null && before.state === 'STARTED' && before.stagedHash !== null;
    if (!wasRunning) {
      await this.startIndices(after, range(0, after.instances));
    } else if (versionOf(before) !== version) {
      void this.rollout(after);
    } else {
      if (urisChanged) this.o.bus.publish(Subjects.deaUpdate, { droplet: id, uris: this.o.store.urisOf(id) });
      if (after.instances < before.instances) {
        const seen = Math.max(before.instances, ...this.o.actual.instancesOf(id).map((i) => i.index + 1));
        this.o.bus.publish(Subjects.deaStop, { droplet: id, indices: range(after.instances, seen) });
        this.instancesChanged(after);
      }
      const missing = range(0, after.instances).filter((i) => !this.isCovered(id, version, i));
      if (missing.length) await this.startIndices(after, missing);
    }
  }

  // ---- staging -------------------------------------------------------------------------

  private stage(app: AppRecord): void {
    if (!app.packageHash) return;
    const framework = app.framework ? this.o.runtimes.framework(app.framework)?.name ?? app.framework : null;
    const runtime = app.runtime ? this.o.runtimes.resolve(app.runtime)?.name ?? app.runtime : null;
    this.o.staging.begin(app, app.packageHash, {
      framework, runtime, command: app.command,
      resources: { memory: app.memory, disk: app.disk, fds: app.fds },
      environment: app.env,
      meta: { debug: app.debug, console: app.console },
    });
    if (app.stagingError) this.o.store.updateApp(app.id, { stagingError: null, stagingErrorCode: null });
    this.publishChanged(app, 'staging');
  }

  /** The stager answered (or the task timed out). A result for a package no longer current is dropped. */
  onStagingDone(task: StagingTask, outcome: StagingOutcome): void {
    void this.locks.run(task.appId, async () => {
      const app = this.o.store.getApp(task.appId);
      if (!app || this.stopped) return;
      if (app.packageHash !== task.packageHash) return;
      if (outcome.ok) {
        const dropletChanged = app.dropletSha1 !== outcome.dropletSha1;
        const stagedChanged = app.stagedHash !== task.packageHash;
        const patch: AppPatch = {
          packageState: 'STAGED', stagedHash: task.packageHash, dropletSha1: outcome.dropletSha1,
          // New staged content starts counting again; a rebuilt droplet of the same content still needs a new version.
          runCount: stagedChanged ? 0 : dropletChanged ? app.runCount + 1 : app.runCount,
          stagingError: null, stagingErrorCode: null, updatedAt: this.o.store.stamp(),
          detectedFramework: outcome.detected?.framework ?? app.detectedFramework,
          detectedRuntime: outcome.detected?.runtime ?? app.detectedRuntime,
          detectedCommand: outcome.detected?.command ?? app.detectedCommand,
        };
        const after = this.o.store.tx(() => {
          const a = this.o.store.updateApp(app.id, patch);
          this.o.store.recordEvent(app.id, app.name, 'staged', { task_id: task.taskId, droplet: outcome.dropletSha1, version: versionOf(a) });
          return a;
        });
        await this.gcDroplets(app.id);
        this.changed(after, 'staged');
        if (after.state !== 'STARTED') return;
        // Something of another version serving: replace it without downtime; else just start.
        const others = [...this.o.actual.liveVersions(app.id)].filter((v) => v !== versionOf(after));
        if (others.length > 0) void this.rollout(after);
        else await this.startIndices(after, range(0, after.instances));
      } else {
        const wasStarted = app.state === 'STARTED';
        const after = this.o.store.tx(() => {
          const a = this.o.store.updateApp(app.id, {
            packageState: 'FAILED', state: 'STOPPED', stagingError: outcome.error, stagingErrorCode: outcome.code, updatedAt: this.o.store.stamp(),
          });
          this.o.store.recordEvent(app.id, app.name, 'staging_failed', { task_id: task.taskId, code: outcome.code, error: outcome.error });
          return a;
        });
        if (wasStarted) this.o.bus.publish(Subjects.deaStop, { droplet: app.id });
        this.clearPendingStarts(app.id);
        this.changed(after, 'staging_failed');
      }
    }).catch((e: unknown) => this.o.log.error(`after staging ${task.appName}`, e));
  }

  // ---- instances -----------------------------------------------------------------------

  private isCovered(droplet: number, version: string, index: number): boolean {
    if (this.o.actual.isUp(droplet, version, index)) return true;
    const t = this.pendingStarts.get(`${droplet}/${version}/${index}`);
    return t !== undefined && Date.now() - t < this.o.timings.startGraceMs;
  }

  private clearPendingStarts(droplet: number): void {
    for (const k of this.pendingStarts.keys()) if (k.startsWith(`${droplet}/`)) this.pendingStarts.delete(k);
    for (const k of this.restarts.keys()) if (k.startsWith(`${droplet}/`)) this.restarts.delete(k);
  }

  /** Places and starts instances at `indices` of the app's current version. */
  private async startIndices(app: AppRecord, indices: readonly number[], flapping?: boolean): Promise<PlacementResult[]> {
    if (indices.length === 0 || !app.dropletSha1 || this.stopped) return [];
    const version = versionOf(app);
    const runtimeName = app.runtime ?? app.detectedRuntime ?? '';
    const start: Omit<DeaStart, 'index'> = {
      droplet: app.id, name: app.name, uris: this.o.store.urisOf(app.id),
      runtime: this.o.runtimes.resolve(runtimeName)?.name ?? runtimeName,
      framework: app.framework ?? app.detectedFramework ?? '',
      sha1: app.dropletSha1, executableFile: '', executableUri: `${this.o.url()}/droplets/${app.id}/${app.dropletSha1}`,
      version, limits: { mem: app.memory, disk: app.disk, fds: app.fds }, env: app.env,
      debug: app.debug, console: app.console, ...(flapping ? { flapping: true } : {}),
    };
    for (const index of indices) this.pendingStarts.set(`${app.id}/${version}/${index}`, Date.now());
    // One at a time: a DEA reserves memory when the start arrives, so discovers sent together would
    // all be answered by the same DEA, which then refuses (silently) what no longer fits.
    const results: PlacementResult[] = [];
    for (const index of indices) {
      const r = await this.o.placement.place({ ...start, index });
      if (!r.ok) this.pendingStarts.delete(`${app.id}/${version}/${index}`);
      results.push(r);
    }
    const reasons = [...new Set(results.flatMap((r) => (r.ok ? [] : [r.reason])))];
    const placementError = reasons.length ? `${results.every((r) => !r.ok) ? 'no' : 'not every'} instance could be placed: ${reasons.join('; ')}` : null;
    const cur = this.o.store.getApp(app.id);
    if (cur && cur.placementError !== placementError) this.o.store.updateApp(app.id, { placementError });
    if (placementError) this.o.store.recordEvent(app.id, app.name, 'placement_failed', { indices, reason: placementError });
    this.instancesChanged(app);
    return results;
  }

  /**
   * `DELETE /apps/:name/instances/:idx` (later CF generations have it): stops that index of the live
   * version and places it again at once. The instance count is the desired state, so an index cannot
   * stay stopped: this is a restart, and its STOPPED exit is no crash.
   */
  async restartInstance(name: string, indexText: string): Promise<InstanceRestart> {
    const id = this.get(name).id;
    if (!/^\d+$/.test(indexText)) throw new CcError(ErrorCodes.instanceNotFound, `instance ${JSON.stringify(indexText.slice(0, 40))} not found: an index is a whole number from 0`);
    const index = Number(indexText);
    return this.locks.run(id, async () => {
      const app = this.o.store.getApp(id);
      if (!app) throw new CcError(ErrorCodes.appNotFound, `app ${name} not found`);
      if (app.state !== 'STARTED') throw new CcError(ErrorCodes.appStopped, `app ${app.name} is stopped`);
      if (index >= app.instances) throw new CcError(ErrorCodes.instanceNotFound, `instance ${index} of ${app.name} not found: it has ${app.instances} instance(s), 0 to ${app.instances - 1}`);
      if (!app.dropletSha1 || app.stagedHash === null) throw new CcError(ErrorCodes.instanceNotFound, `instance ${index} of ${app.name} not found: the app has not been staged yet`);
      const version = versionOf(app);
      const key = `${id}/${version}/${index}`;
      const now = Date.now();
      for (const [k, r] of this.restarts) if (now - r.at > this.o.timings.rolloutTimeoutMs) this.restarts.delete(k);
      const old = this.o.actual.instancesOf(id).filter((i) => i.version === version && i.index === index && live.includes(i.state)).map((i) => i.instance);
      this.restarts.set(key, { at: now, old: new Set(old) });
      // Live ones only: a crashed instance of this index keeps its folder (and crash logs) readable.
      this.o.bus.publish(Subjects.deaStop, { droplet: id, version, indices: [index], states: [...live] });
      this.o.log.info(`restarting ${app.name}[${index}]${old.length ? ` (stopping ${old.map((i) => i.slice(0, 8)).join(', ')})` : ''}`);
      const [placed] = await this.startIndices(app, [index]);
      const placementError = placed && !placed.ok ? placed.reason : placed ? null : 'the controller is stopping';
      this.o.store.recordEvent(id, app.name, 'instance_restarted', { index, version, stopped: old, ...(placementError ? { placement_error: placementError } : {}) });
      return { index, version, stopped: old, started: placed?.ok === true, placement_error: placementError };
    });
  }

  /**
   * While an index restarts, its old instance is stopping and its new one starting; the health
   * manager may see both and stop the new one as a duplicate. The new one is kept: the old one goes.
   */
  private shieldedByRestart(droplet: number, instance: string): boolean {
    const inst = this.o.actual.instancesOf(droplet).find((i) => i.instance === instance);
    if (!inst) return false;
    const key = `${droplet}/${inst.version}/${inst.index}`;
    const r = this.restarts.get(key);
    if (!r || r.old.has(instance)) return false;
    const oldStillThere = this.o.actual.instancesOf(droplet).some((i) => r.old.has(i.instance));
    if (oldStillThere || Date.now() - r.at < this.o.timings.startGraceMs) return true;
    this.restarts.delete(key);
    return false;
  }

  /**
   * Zero-downtime replacement: start the new version everywhere, wait until its instances are
   * RUNNING and every router routes them, then stop every other version.
   */
  private async rollout(app: AppRecord): Promise<void> {
    const id = app.id;
    const version = versionOf(app);
    const token = Symbol(version);
    this.rollouts.set(id, { version, token });
    const current = (): boolean => this.rollouts.get(id)?.token === token && !this.stopped;
    try {
      this.o.log.info(`replacing ${app.name} with version ${version}`);
      await this.startIndices(app, range(0, app.instances));
      const deadline = Date.now() + this.o.timings.rolloutTimeoutMs;
      let ready = false;
      while (Date.now() < deadline) {
        await this.pause(this.o.timings.rolloutPollMs);
        if (!current()) return;
        const cur = this.o.store.getApp(id);
        if (!cur || cur.state !== 'STARTED' || versionOf(cur) !== version) return;
        const running = (await this.find({ droplet: id, version, states: ['RUNNING'] }, cur.instances))
          .filter((r) => r.state === 'RUNNING' && r.version === version && r.index < cur.instances);
        if (new Set(running.map((r) => r.index)).size < cur.instances) continue;
        if (!(await this.routed(cur, running))) continue;
        ready = true;
        break;
      }
      if (!current()) return;
      if (!ready && this.o.actual.runningCount(id, version, app.instances) === 0) {
        this.o.log.warn(`${app.name}: version ${version} did not come up within ${this.o.timings.rolloutTimeoutMs} ms; the previous version keeps running`);
        return;
      }
      const all = await this.find({ droplet: id, states: ['STARTING', 'RUNNING'] });
      const old = new Set([...all.map((r) => r.version), ...this.o.actual.liveVersions(id)].filter((v) => v !== version));
      for (const v of old) this.o.bus.publish(Subjects.deaStop, { droplet: id, version: v });
      if (old.size) this.o.log.info(`${app.name}: version ${version} is serving; stopped ${[...old].join(', ')}`);
      this.instancesChanged(app);
    } catch (e) {
      this.o.log.error(`replacing ${app.name}`, e);
    } finally {
      if (this.rollouts.get(id)?.token === token) this.rollouts.delete(id);
    }
  }

  /** True when every router that answers routes every uri of the app to each of these instances. */
  private async routed(app: AppRecord, running: readonly DeaFindDropletReply[]): Promise<boolean> {
    const uris = this.o.store.urisOf(app.id);
    const backends = running.filter((r) => r.port).map((r) => `${r.host ?? '127.0.0.1'}:${r.port}`);
    if (uris.length === 0 || backends.length === 0) return true;
    const routers = await this.o.bus.requestMany(Subjects.routerStatus, {}, { maxWait: this.o.timings.routerStatusWaitMs });
    return routers.every((r) => uris.every((u) => backends.every((b) => (r.routes[u] ?? []).includes(b))));
  }

  async find(filter: { droplet: number; version?: string; indices?: number[]; states?: InstanceState[]; include_stats?: boolean }, expected?: number): Promise<DeaFindDropletReply[]> {
    const replies = await this.o.bus.requestMany(Subjects.deaFindDroplet, filter, {
      maxWait: this.o.timings.findWaitMs, ...(expected ? { maxMessages: expected } : {}),
    });
    return replies.filter((r) => r.droplet === filter.droplet && (!filter.version || r.version === filter.version)
      && (!filter.states || filter.states.includes(r.state)) && (!filter.indices || filter.indices.includes(r.index)));
  }

  // ---- bus: health manager, DEAs -------------------------------------------------------

  bulk(droplet?: number): BulkApp[] {
    const apps = droplet === undefined ? this.o.store.listApps() : [this.o.store.getApp(droplet)].filter((a): a is AppRecord => a !== undefined);
    return apps.map((a) => ({
      droplet: a.id, name: a.name, state: a.state, package_state: a.packageState, instances: a.instances,
      version: versionOf(a), memory: a.memory, last_updated: a.updatedAt,
    }));
  }

  /** `cloudcontrollers.hm.requests`, with v1's guards. */
  async hmRequest(req: HmRequest): Promise<void> {
    const app = this.o.store.getApp(req.droplet);
    if (req.op === 'START') {
      if (!app) return;
      await this.locks.run(app.id, async () => {
        const cur = this.o.store.getApp(app.id);
        // The live version may be an older droplet while a new package stages: it still gets restarted.
        if (!cur || cur.state !== 'STARTED' || !cur.dropletSha1 || cur.stagedHash === null || versionOf(cur) !== req.version) {
          this.o.log.debug(`hm START for ${req.droplet} ignored: the app is not STARTED at version ${req.version}`);
          return;
        }
        const indices = req.indices.filter((i) => i < cur.instances && !this.isCovered(cur.id, req.version, i));
        if (indices.length) await this.startIndices(cur, [...new Set(indices)], req.flapping);
      });
      return;
    }
    if (app && app.updatedAt !== req.last_updated) {
      this.o.log.debug(`hm STOP for ${req.droplet} ignored: the app changed since ${req.last_updated}`);
      return;
    }
    if (app && this.rollouts.has(app.id)) {
      this.o.log.debug(`hm STOP for ${req.droplet} ignored: a new version is being rolled out`);
      return;
    }
    const instances = app ? req.instances.filter((i) => !this.shieldedByRestart(app.id, i)) : req.instances;
    if (instances.length < req.instances.length) this.o.log.debug(`hm STOP for ${req.droplet}: kept ${req.instances.length - instances.length} instance(s) that replace a restarted one`);
    if (instances.length === 0) return;
    this.o.bus.publish(Subjects.deaStop, { droplet: req.droplet, instances });
    if (app) this.instancesChanged(app);
  }

  onExited(m: DropletExited): void {
    // The instance a restart stopped: the start already sent for its index still covers it.
    const restarted = m.reason === 'STOPPED' && this.restarts.get(`${m.droplet}/${m.version}/${m.index}`)?.old.has(m.instance) === true;
    if (!restarted) this.clearPendingStartsFor(m.droplet, m.version, m.index);
    const app = this.o.store.getApp(m.droplet);
    if (!app || m.reason !== 'CRASHED') return;
    const since = m.crash_timestamp ?? Date.now() / 1000;
    this.o.store.recordCrash({ appId: app.id, instance: m.instance, index: m.index, version: m.version, since, reason: m.reason, description: m.exit_description ?? null });
    this.o.store.recordEvent(app.id, app.name, 'crashed', { instance: m.instance, index: m.index, version: m.version, description: m.exit_description ?? null });
  }

  private clearPendingStartsFor(droplet: number, version: string, index: number): void {
    this.pendingStarts.delete(`${droplet}/${version}/${index}`);
  }

  /** An instance appeared in a heartbeat: its start is no longer pending. */
  onInstanceSeen(droplet: number, version: string, index: number): void {
    this.clearPendingStartsFor(droplet, version, index);
  }

  /** After a restart: lost staging tasks fail; STARTED apps are staged or get their missing instances. */
  async restore(): Promise<void> {
    for (const l of this.o.store.runningStagingLogs()) {
      this.o.store.appendStagingLog(l.appId, l.taskId, '[controller restarted: staging interrupted]\n');
      this.o.store.finishStagingLog(l.appId, l.taskId, 'FAILED', { error: 'staging interrupted by a controller restart', errorCode: ErrorCodes.stagingAborted });
    }
    await this.pause(this.o.timings.restoreSettleMs);
    for (const a of this.o.store.listApps()) {
      if (this.stopped) return;
      if (a.state !== 'STARTED') continue;
      try {
        await this.locks.run(a.id, async () => {
          const app = this.o.store.getApp(a.id);
          if (!app || app.state !== 'STARTED' || !app.packageHash) return;
          if (app.packageState !== 'STAGED' && !this.o.staging.current(app.id)) this.stage(app);
          // Whatever stages, the droplet that ran before keeps serving.
          if (!app.dropletSha1 || app.stagedHash === null) return;
          const version = versionOf(app);
          const up = new Set((await this.find({ droplet: app.id, version, states: [...live] })).map((r) => r.index));
          const missing = range(0, app.instances).filter((i) => !up.has(i) && !this.isCovered(app.id, version, i));
          if (missing.length) {
            this.o.log.info(`restoring ${app.name}: starting instances ${missing.join(', ')}`);
            await this.startIndices(app, missing);
          }
        });
      } catch (e) {
        this.o.log.error(`restoring ${a.name}`, e);
      }
    }
  }

  // ---- notifications and clean-up ------------------------------------------------------

  private changed(app: AppRecord, event: CcAppChanged['event']): void {
    this.o.bus.publish(Subjects.dropletUpdated, { droplet: app.id });
    this.publishChanged(app, event);
  }

  private publishChanged(app: AppRecord, event: CcAppChanged['event']): void {
    const msg: CcAppChanged = { droplet: app.id, name: app.name, event };
    this.o.bus.publish(Subjects.ccAppChanged, msg);
    this.o.events.emit({ type: 'app', name: app.name, droplet: app.id, event });
  }

  instancesChanged(app: { id: number; name: string }): void {
    this.o.events.emit({ type: 'instances', name: app.name, droplet: app.id });
  }

  private async gcPackage(hash: string): Promise<void> {
    if (this.o.store.packageInUse(hash)) return;
    this.o.store.deletePackage(hash);
    await this.o.packages.remove(hash).catch((e: unknown) => this.o.log.warn(`removing package ${hash}: ${describeError(e)}`));
  }

  private async gcDropletFile(sha1: string): Promise<void> {
    if (this.o.store.dropletInUse(sha1)) return;
    await this.o.droplets.remove(sha1).catch((e: unknown) => this.o.log.warn(`removing droplet ${sha1}: ${describeError(e)}`));
  }

  /** Keeps the current droplet and the one before it (old instances may still be replaced from it). */
  private async gcDroplets(appId: number): Promise<void> {
    const app = this.o.store.getApp(appId);
    const rows = this.o.store.dropletsOf(appId);
    const keep = new Set<string>([app?.dropletSha1 ?? '']);
    for (const d of rows) { if (keep.size >= 2) break; keep.add(d.sha1); }
    const task = this.o.staging.current(appId);
    for (const d of rows) {
      if (keep.has(d.sha1) || (task && d.taskId === task.taskId)) continue;
      this.o.store.deleteDroplet(appId, d.sha1);
      await this.gcDropletFile(d.sha1);
      if (d.packageHash) await this.gcPackage(d.packageHash);
    }
  }
}

function eventOf(before: AppRecord, after: AppRecord): CcAppChanged['event'] {
  if (before.state !== after.state) return after.state === 'STARTED' ? 'started' : 'stopped';
  return 'updated';
}

function summarize(patch: AppPatch, uris: string[] | undefined): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const k of ['name', 'state', 'instances', 'memory', 'disk', 'fds', 'framework', 'runtime', 'command'] as const) if (patch[k] !== undefined) out[k] = patch[k];
  if (patch.env !== undefined) out.env = patch.env.map((e) => e.split('=')[0]);
  if (uris) out.uris = uris;
  return out;
}
