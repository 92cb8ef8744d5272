// The desired state of every app: create, update, upload, delete, cancel staging, and what each
// change sets in motion (staging, starting, scaling, replacing, stopping), plus staging outcomes.
import type { ActualState } from '../bus';
import { diffApp, eventOf, summarize } from './app-changes';
import type { AppNotifier } from './app-events';
import { parseAppInput } from './app-input';
import { translateConstraint, type AppLimits } from './app-limits';
import { appView, type AppView } from './app-view';
import type { ContentGc } from './content-gc';
import type { ContentStore } from './content-store';
import type { DeaClient } from './dea-client';
import { CcError, ErrorCodes } from './errors';
import { versionOf } from './instance-key';
import type { PartContext } from './lifetime';
import type { PackageResult } from './packager';
import type { RuntimeCatalog } from './runtimes';
import { range, type InstanceScheduler } from './scheduler';
import type { StagingCoordinator, StagingOutcome, StagingRecord } from './staging';
import type { AppPatch, AppRecord, Store } from './store';

export interface DesiredStateOptions extends PartContext {
  store: Store;
  limits: AppLimits;
  runtimes: RuntimeCatalog;
  staging: StagingCoordinator;
  scheduler: InstanceScheduler;
  dea: DeaClient;
  actual: ActualState;
  gc: ContentGc;
  packages: Pick<ContentStore, 'has'>;
  droplets: Pick<ContentStore, 'has'>;
  notify: AppNotifier;
  /** Default uri domain: an app gets `<name>.<domain>`. */
  domain: string;
  /** Names of the services bound to an app (its `services`). */
  boundServices?: (appId: number) => string[];
}

export class DesiredState {
  constructor(private readonly o: DesiredStateOptions) {}

  // ---- reading -------------------------------------------------------------------------

  get(name: string): AppRecord {
    const app = this.o.store.getAppByName(name);
    if (!app) throw new CcError(ErrorCodes.appNotFound, `app ${name} not found`);
    return app;
  }

  view(app: AppRecord): AppView {
    return appView(app, this.o);
  }

  list(): AppView[] {
    return this.o.store.listApps().map((a) => this.view(a));
  }

  usage(): { memory: number; apps: number; services: number } {
    return { memory: this.o.store.startedMemory(), apps: this.o.store.countApps(), services: 0 };
  }

  /** The app's bindings changed: a STARTED app gets a new version, so its instances restart with the new services. */
  async bindingsChanged(id: number): Promise<void> {
    await this.o.locks.run(id, async () => {
      const app = this.o.store.getApp(id);
      if (!app || app.state !== 'STARTED') return;
      const after = this.o.store.tx(() => {
        const a = this.o.store.updateApp(id, { runCount: app.runCount + 1, lockVersion: app.lockVersion + 1, updatedAt: this.o.store.stamp() });
        this.o.store.recordEvent(id, a.name, 'services_changed', { services: this.o.boundServices?.(id) ?? [] });
        return a;
      });
      this.o.notify.changed(after, 'updated');
      await this.applyDesired(app, after);
    });
  }

  // ---- changes -------------------------------------------------------------------------

  async create(body: unknown): Promise<AppRecord> {
    const { store, limits } = this.o;
    const input = parseAppInput(body, this.o.runtimes, { memoryLimitMb: limits.limits.memoryLimitMb });
    if (!input.name) throw new CcError(ErrorCodes.appInvalid, 'name is required');
    const name = input.name;
    const instances = input.instances ?? 1;
    const memory = input.memory ?? 256;
    const state = input.state ?? 'STOPPED';
    limits.checkMemory(memory, instances, state, undefined);
    limits.checkAppCount();
    if (store.getAppByName(name)) throw new CcError(ErrorCodes.appInvalid, `an app named ${name} already exists`);
    // No uris given: the app gets `<name>.<domain>`; an explicit [] means no route.
    const uris = input.uris ?? [`${name.toLowerCase().replace(/_/g, '-')}.${this.o.domain}`];
    limits.checkUris(uris, undefined);
    let app: AppRecord;
    try {
      app = store.tx(() => {
        const a = store.createApp({
          name, framework: input.framework ?? null, runtime: input.runtime ?? null, command: input.command ?? null,
          instances, memory, disk: input.disk ?? 2048, fds: input.fds ?? 256, state, env: input.env ?? [],
          debug: input.debug ?? null, console: input.console ?? null,
        });
        store.setUris(a.id, uris);
        store.recordEvent(a.id, name, 'created', { state, instances, memory, uris });
        return state === 'STARTED' ? store.updateApp(a.id, { runCount: 1 }) : a;
      });
    } catch (e) {
      throw translateConstraint(e);
    }
    this.o.notify.changed(app, 'created');
    if (app.state === 'STARTED') await this.o.locks.run(app.id, () => this.applyDesired(null, app));
    return store.getApp(app.id) ?? app;
  }

  async update(name: string, body: unknown): Promise<AppRecord> {
    const { store, limits } = this.o;
    const input = parseAppInput(body, this.o.runtimes, { memoryLimitMb: limits.limits.memoryLimitMb });
    const id = this.get(name).id;
    return this.o.locks.run(id, async () => {
      const app = store.getApp(id);
      if (!app) throw new CcError(ErrorCodes.appNotFound, `app ${name} not found`);
      if (input.lockVersion !== undefined && input.lockVersion !== app.lockVersion) {
        throw new CcError(ErrorCodes.lockConflict, `app ${name} was changed by someone else (meta.version ${input.lockVersion}, now ${app.lockVersion}); read it again and retry`);
      }
      const { patch, urisChanged } = diffApp(app, input, store.urisOf(app.id), this.o.runtimes);
      if (Object.keys(patch).length === 0 && !urisChanged) {
        // Nothing to change; a STARTED app is still brought in line (staged if pending, missing instances started).
        if (app.state === 'STARTED') await this.applyDesired(app, app);
        return store.getApp(id) ?? app;
      }
      const after0 = { ...app, ...patch };
      limits.checkMemory(after0.memory, after0.instances, after0.state, app.id);
      if (urisChanged) limits.checkUris(input.uris as string[], app.id);
      if (patch.name !== undefined && store.getAppByName(patch.name)) throw new CcError(ErrorCodes.appInvalid, `an app named ${patch.name} already exists`);
      if (app.state === 'STOPPED' && after0.state === 'STARTED') { patch.runCount = app.runCount + 1; patch.placementError = null; }
      else if (app.state === 'STARTED' && after0.state === 'STARTED' && (after0.memory !== app.memory || after0.disk !== app.disk || after0.fds !== app.fds)) {
        // New limits mean new instances: a new version, replaced without downtime.
        patch.runCount = app.runCount + 1;
      }
      patch.lockVersion = app.lockVersion + 1;
      patch.updatedAt = store.stamp();
      let after: AppRecord;
      try {
        after = store.tx(() => {
          const a = store.updateApp(id, patch);
          if (urisChanged) store.setUris(id, input.uris as string[]);
          store.recordEvent(id, a.name, eventOf(app, a), summarize(patch, urisChanged ? input.uris : undefined));
          return a;
        });
      } catch (e) {
        throw translateConstraint(e);
      }
      this.o.notify.changed(after, eventOf(app, after));
      await this.applyDesired(app, after, urisChanged);
      return store.getApp(id) ?? after;
    });
  }

  async remove(name: string): Promise<void> {
    const id = this.get(name).id;
    await this.o.locks.run(id, async () => {
      const app = this.o.store.getApp(id);
      if (!app) throw new CcError(ErrorCodes.appNotFound, `app ${name} not found`);
      this.o.staging.cancel(id, 'the app was deleted');
      this.o.scheduler.cancelRollout(id);
      this.o.dea.stop({ droplet: id });
      const droplets = this.o.store.dropletsOf(id);
      this.o.store.tx(() => {
        this.o.store.deleteApp(id);
        this.o.store.recordEvent(id, app.name, 'deleted');
      });
      this.o.scheduler.forget(id);
      const hashes = new Set([app.packageHash, app.stagedHash, ...droplets.map((d) => d.packageHash)].filter((h): h is string => !!h));
      await this.o.gc.app(hashes, droplets.map((d) => d.sha1));
      this.o.notify.changed(app, 'deleted');
      this.o.log.info(`deleted ${app.name}`);
    });
  }

  /**
   * After an upload: a new package hash makes the app PENDING (and stages it if STARTED). A delta
   * upload names its `basePackage`: refused (403) when another upload replaced it meanwhile.
   */
  async commitPackage(name: string, pkg: PackageResult, basePackage?: string): Promise<{ app: AppRecord; changed: boolean }> {
    const { store, gc } = this.o;
    const known = store.getAppByName(name);
    if (!known) { await gc.package(pkg.hash); throw new CcError(ErrorCodes.appNotFound, `app ${name} not found`); }
    return this.o.locks.run(known.id, async () => {
      const app = store.getApp(known.id);
      if (!app) { await gc.package(pkg.hash); throw new CcError(ErrorCodes.appNotFound, `app ${name} not found`); }
      if (app.packageHash === pkg.hash) return { app, changed: false };
      if (basePackage !== undefined && app.packageHash !== basePackage) {
        await gc.package(pkg.hash);
        throw new CcError(ErrorCodes.staleBasePackage, `base package is stale: ${basePackage} was replaced while this upload was assembled; push every file again`);
      }
      // Back to the content of the droplet already built: nothing to stage.
      const backToStaged = pkg.hash === app.stagedHash && app.dropletSha1 !== null && this.o.droplets.has(app.dropletSha1);
      const patch: AppPatch = {
        packageHash: pkg.hash, packageState: backToStaged ? 'STAGED' : 'PENDING', stagingError: null, stagingErrorCode: null,
        lockVersion: app.lockVersion + 1, updatedAt: store.stamp(),
      };
      const after = store.tx(() => {
        const a = store.updateApp(app.id, patch);
        store.recordEvent(app.id, app.name, 'uploaded', { package_hash: pkg.hash, size: pkg.size, files: pkg.files });
        return a;
      });
      const task = this.o.staging.current(app.id);
      if (task && task.packageHash !== pkg.hash) this.o.staging.cancel(app.id, 'a newer package was uploaded');
      if (app.packageHash) await gc.package(app.packageHash);
      this.o.notify.changed(after, 'uploaded');
      if (after.state === 'STARTED') await this.applyDesired(app, after);
      return { app: store.getApp(app.id) ?? after, changed: true };
    });
  }

  /** `DELETE /apps/:name/staging`: stops the running staging task; the droplet already running stays. */
  async cancelStaging(name: string): Promise<{ cancelled: boolean; app: AppRecord }> {
    const id = this.get(name).id;
    return this.o.locks.run(id, async () => {
      const app = this.o.store.getApp(id);
      if (!app) throw new CcError(ErrorCodes.appNotFound, `app ${name} not found`);
      const task = this.o.staging.cancel(id, 'cancelled by the user');
      if (!task) return { cancelled: false, app };
      let after = app;
      if (app.stagedHash && app.dropletSha1 && this.o.packages.has(app.stagedHash) && this.o.droplets.has(app.dropletSha1)) {
        // Back to the package of the droplet that runs, so the app reads as it did before the push.
        after = this.o.store.updateApp(id, { packageHash: app.stagedHash, packageState: 'STAGED', lockVersion: app.lockVersion + 1 });
        if (app.packageHash && app.packageHash !== app.stagedHash) await this.o.gc.package(app.packageHash);
      }
      this.o.store.recordEvent(id, app.name, 'staging_cancelled', { task_id: task.taskId });
      this.o.notify.changed(after, 'updated');
      return { cancelled: true, app: after };
    });
  }

  /** Brings the instances in line with a change from `before` (null: just created) to `after`. */
  private async applyDesired(before: AppRecord | null, after: AppRecord, urisChanged = false): Promise<void> {
    const { scheduler, dea } = this.o;
    const id = after.id;
    if (after.state === 'STOPPED') {
      this.o.staging.cancel(id, 'the app was stopped');
      scheduler.cancelRollout(id);
      if (before?.state === 'STARTED' || this.o.actual.instancesOf(id).length > 0) dea.stop({ droplet: id });
      scheduler.forget(id);
      this.o.notify.instancesChanged(after);
      return;
    }
    if (!after.packageHash) return; // STARTED, waiting for its first upload
    // A scale or a route change of an app whose last push failed to stage acts on the version that
    // runs; only a new upload (or a start) stages again.
    const keepsRunningVersion = after.packageState === 'FAILED' && before?.state === 'STARTED'
      && before.packageHash === after.packageHash && after.stagedHash !== null && after.dropletSha1 !== null;
    if (after.packageState !== 'STAGED' && !keepsRunningVersion) {
      const task = this.o.staging.current(id);
      if (!task || task.packageHash !== after.packageHash) this.stage(after);
      if (urisChanged && before?.state === 'STARTED') dea.update({ droplet: id, uris: this.o.store.urisOf(id) });
      return;
    }
    const wasRunning = before !== null && before.state === 'STARTED' && before.stagedHash !== null;
    if (!wasRunning) {
      await scheduler.startAll(after);
    } else if (versionOf(before) !== versionOf(after)) {
      void scheduler.rollout(after);
    } else {
      if (urisChanged) dea.update({ droplet: id, uris: this.o.store.urisOf(id) });
      if (after.instances < before.instances) {
        const seen = Math.max(before.instances, ...this.o.actual.instancesOf(id).map((i) => i.index + 1));
        dea.stop({ droplet: id, indices: range(after.instances, seen) });
        this.o.notify.instancesChanged(after);
      }
      const missing = scheduler.missing(after);
      if (missing.length) await scheduler.start(after, missing);
    }
  }

  // ---- staging -------------------------------------------------------------------------

  /** Asks a stager for a droplet of the app's package. */
  stage(app: AppRecord): void {
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
    this.o.notify.announce(app, 'staging');
  }

  /** The stager answered (or the task timed out). A result for a package no longer current is dropped. */
  onStagingDone(task: StagingRecord, outcome: StagingOutcome): void {
    const { store } = this.o;
    void this.o.locks.run(task.appId, async () => {
      const app = store.getApp(task.appId);
      if (!app || this.o.lifetime.stopped) return;
      if (app.packageHash !== task.packageHash) return;
      if (outcome.ok) {
        const dropletChanged = app.dropletSha1 !== outcome.dropletSha1;
        const stagedChanged = app.stagedHash !== task.packageHash;
        const patch: AppPatch = {
          packageState: 'STAGED', stagedHash: task.packageHash, dropletSha1: outcome.dropletSha1,
          // New staged content starts counting again; a rebuilt droplet of the same content still needs a new version.
          runCount: stagedChanged ? 0 : dropletChanged ? app.runCount + 1 : app.runCount,
          stagingError: null, stagingErrorCode: null, updatedAt: store.stamp(),
          detectedFramework: outcome.detected?.framework ?? app.detectedFramework,
          detectedRuntime: outcome.detected?.runtime ?? app.detectedRuntime,
          detectedCommand: outcome.detected?.command ?? app.detectedCommand,
        };
        const after = store.tx(() => {
          const a = store.updateApp(app.id, patch);
          store.recordEvent(app.id, app.name, 'staged', { task_id: task.taskId, droplet: outcome.dropletSha1, version: versionOf(a) });
          return a;
        });
        await this.o.gc.droplets(app.id);
        this.o.notify.changed(after, 'staged');
        if (after.state !== 'STARTED') return;
        // Something of another version serving: replace it without downtime; else just start.
        const others = [...this.o.actual.liveVersions(app.id)].filter((v) => v !== versionOf(after));
        if (others.length > 0) void this.o.scheduler.rollout(after);
        else await this.o.scheduler.startAll(after);
      } else {
        const wasStarted = app.state === 'STARTED';
        // A failed deploy leaves the last good version serving: the droplet that runs stays, the app STARTED.
        const serving = wasStarted && app.stagedHash !== null && app.dropletSha1 !== null && this.o.droplets.has(app.dropletSha1);
        const after = store.tx(() => {
          const a = store.updateApp(app.id, {
            packageState: 'FAILED', ...(serving ? {} : { state: 'STOPPED' as const }), stagingError: outcome.error, stagingErrorCode: outcome.code, updatedAt: store.stamp(),
          });
          store.recordEvent(app.id, app.name, 'staging_failed', {
            task_id: task.taskId, code: outcome.code, error: outcome.error, ...(serving ? { still_running: versionOf(a) } : {}),
          });
          return a;
        });
        if (serving) {
          this.o.log.info(`${app.name}: staging failed; version ${versionOf(after)} keeps running`);
        } else {
          if (wasStarted) this.o.dea.stop({ droplet: app.id });
          this.o.scheduler.forget(app.id);
        }
        this.o.notify.changed(after, 'staging_failed');
      }
    }).catch((e: unknown) => this.o.log.error(`after staging ${task.appName}`, e));
  }
}
