// The instance scheduler: places instances of an app's current version on DEAs, remembers the
// starts it sent (so an index is not started twice), replaces versions without downtime and
// restarts single instances.
import { liveStates, type ActualState, type BoundService, type DeaFindDropletReply, type DeaStart, type DropletExited, type RouterStatusReply } from '../bus';
import type { AppNotifier } from './app-events';
import type { InstanceRestart } from './app-view';
import type { DeaClient } from './dea-client';
import { CcError, ErrorCodes } from './errors';
import { InstanceKeyMap, versionOf, type InstanceKey } from './instance-key';
import type { PartContext } from './lifetime';
import type { Placement, PlacementResult } from './placement';
import type { RuntimeCatalog } from './runtimes';
import type { AppRecord, Store } from './store';
import type { ControllerTimings } from './timings';

export interface SchedulerOptions extends PartContext {
  store: Store;
  dea: DeaClient;
  placement: Pick<Placement, 'place'>;
  actual: ActualState;
  runtimes: Pick<RuntimeCatalog, 'resolve'>;
  notify: Pick<AppNotifier, 'instancesChanged'>;
  /** Base URL the DEAs download droplets from. */
  url: () => string;
  /** `router.status`: every router's table. */
  routers: () => Promise<RouterStatusReply[]>;
  timings: Pick<ControllerTimings, 'startGraceMs' | 'rolloutTimeoutMs' | 'rolloutPollMs'>;
  now?: () => number;
  /** The services bound to an app, with each binding's credentials, for `dea.<id>.start`. */
  services?: (appId: number) => BoundService[];
}

export const range = (from: number, to: number): number[] => Array.from({ length: Math.max(0, to - from) }, (_, i) => from + i);

interface Restart {
  key: InstanceKey;
  at: number;
  /** The instances it stopped. */
  old: ReadonlySet<string>;
}

export class InstanceScheduler {
  /** When the controller sent the start of each slot. */
  private readonly pendingStarts = new InstanceKeyMap<number>();
  private readonly rollouts = new Map<number, { version: string; token: symbol }>();
  private readonly restarts = new InstanceKeyMap<Restart>();
  private readonly now: () => number;

  constructor(private readonly o: SchedulerOptions) {
    this.now = o.now ?? Date.now;
  }

  close(): void {
    this.rollouts.clear();
  }

  /** An instance of the slot is up, or the start just sent is still within its grace. */
  isCovered(k: InstanceKey): boolean {
    if (this.o.actual.isUp(k.droplet, k.version, k.index)) return true;
    const t = this.pendingStarts.get(k);
    return t !== undefined && this.now() - t < this.o.timings.startGraceMs;
  }

  /** Forgets the pending starts and restarts of an app (stopped, deleted, failed to stage). */
  forget(droplet: number): void {
    this.pendingStarts.deleteDroplet(droplet);
    this.restarts.deleteDroplet(droplet);
  }

  isRollingOut(droplet: number): boolean {
    return this.rollouts.has(droplet);
  }

  /** Ends the rollout in flight; its start loop ends too, as the app no longer wants that version (see `wants`). */
  cancelRollout(droplet: number): void {
    this.rollouts.delete(droplet);
  }

  /** A newer version replaces the rollout in flight: the instances it started go, they never were the serving version. */
  private supersedeRollout(droplet: number, by: string): void {
    const r = this.rollouts.get(droplet);
    if (!r) return;
    this.rollouts.delete(droplet);
    if (r.version === by) return;
    this.o.dea.stop({ droplet, version: r.version });
    this.o.log.info(`droplet ${droplet}: rollout of version ${r.version} superseded; its instances are stopped`);
  }

  /** The app still wants instances of `version`: STARTED at that version (a stop or newer update ends a start loop). */
  private wants(droplet: number, version: string): boolean {
    const cur = this.o.store.getApp(droplet);
    return cur !== undefined && cur.state === 'STARTED' && versionOf(cur) === version && !this.o.lifetime.stopped;
  }

  /** An instance appeared in a heartbeat: its start is no longer pending. */
  onInstanceSeen(k: InstanceKey): void {
    this.pendingStarts.delete(k);
  }

  /** `droplet.exited`: the slot's start is no longer pending (unless a restart stopped it); a crash is recorded. */
  onExited(m: DropletExited): void {
    // The instance a restart stopped: the start already sent for its index still covers it.
    const restarted = m.reason === 'STOPPED' && this.restarts.get(m)?.old.has(m.instance) === true;
    if (!restarted) this.pendingStarts.delete(m);
    const app = this.o.store.getApp(m.droplet);
    if (!app || m.reason !== 'CRASHED') return;
    const since = m.crash_timestamp ?? this.now() / 1000;
    this.o.store.recordCrash({ appId: app.id, instance: m.instance, index: m.index, version: m.version, since, reason: m.reason, description: m.exit_description ?? null });
    this.o.store.recordEvent(app.id, app.name, 'crashed', { instance: m.instance, index: m.index, version: m.version, description: m.exit_description ?? null });
  }

  /** Places and starts instances at `indices` of the app's current version. */
  async start(app: AppRecord, indices: readonly number[], flapping?: boolean): Promise<PlacementResult[]> {
    if (indices.length === 0 || !app.dropletSha1 || this.o.lifetime.stopped) return [];
    const version = versionOf(app);
    const runtimeName = app.runtime ?? app.detectedRuntime ?? '';
    const start: Omit<DeaStart, 'index'> = {
      droplet: app.id, name: app.name, uris: this.o.store.urisOf(app.id),
      runtime: this.o.runtimes.resolve(runtimeName)?.name ?? runtimeName,
      framework: app.framework ?? app.detectedFramework ?? '',
      sha1: app.dropletSha1, executableFile: '', executableUri: `${this.o.url()}/droplets/${app.id}/${app.dropletSha1}`,
      version, limits: { mem: app.memory, disk: app.disk, fds: app.fds }, env: app.env,
      debug: app.debug, console: app.console, ...(flapping ? { flapping: true } : {}),
      ...(this.o.services ? { services: this.o.services(app.id) } : {}),
    };
    for (const index of indices) this.pendingStarts.set({ droplet: app.id, version, index }, this.now());
    // One at a time: a DEA reserves memory when the start arrives, so discovers sent together would
    // all be answered by the same DEA, which then refuses (silently) what no longer fits.
    const results: PlacementResult[] = [];
    for (const index of indices) {
      const key = { droplet: app.id, version, index };
      if (!this.wants(app.id, version)) { this.pendingStarts.delete(key); continue; }
      const r = await this.o.placement.place({ ...start, index });
      if (!r.ok) this.pendingStarts.delete(key);
      else if (!this.wants(app.id, version)) {
        // Stopped or replaced while this start was placed: the DEA gets the stop after the start.
        this.pendingStarts.delete(key);
        this.o.dea.stop({ droplet: app.id, version, indices: [index] });
      }
      results.push(r);
    }
    const reasons = [...new Set(results.flatMap((r) => (r.ok ? [] : [r.reason])))];
    const placementError = reasons.length ? `${results.every((r) => !r.ok) ? 'no' : 'not every'} instance could be placed: ${reasons.join('; ')}` : null;
    const cur = this.o.store.getApp(app.id);
    if (cur && cur.placementError !== placementError) this.o.store.updateApp(app.id, { placementError });
    if (placementError) this.o.store.recordEvent(app.id, app.name, 'placement_failed', { indices, reason: placementError });
    this.o.notify.instancesChanged(app);
    return results;
  }

  /** Every index of the app's current version. */
  startAll(app: AppRecord): Promise<PlacementResult[]> {
    return this.start(app, range(0, app.instances));
  }

  /** The indices below the app's count that are neither up nor covered by a recent start. */
  missing(app: AppRecord): number[] {
    const version = versionOf(app);
    return range(0, app.instances).filter((index) => !this.isCovered({ droplet: app.id, version, index }));
  }

  /**
   * `DELETE /apps/:name/instances/:idx` (later CF generations have it): stops that index of the live
   * version and places it again at once. The instance count is the desired state, so an index cannot
   * stay stopped: this is a restart, and its STOPPED exit is no crash.
   */
  async restartInstance(name: string, indexText: string): Promise<InstanceRestart> {
    const known = this.o.store.getAppByName(name);
    if (!known) throw new CcError(ErrorCodes.appNotFound, `app ${name} not found`);
    const id = known.id;
    if (!/^\d+$/.test(indexText)) throw new CcError(ErrorCodes.instanceNotFound, `instance ${JSON.stringify(indexText.slice(0, 40))} not found: an index is a whole number from 0`);
    const index = Number(indexText);
    return this.o.locks.run(id, async () => {
      const app = this.o.store.getApp(id);
      if (!app) throw new CcError(ErrorCodes.appNotFound, `app ${name} not found`);
      if (app.state !== 'STARTED') throw new CcError(ErrorCodes.appStopped, `app ${app.name} is stopped`);
      if (index >= app.instances) throw new CcError(ErrorCodes.instanceNotFound, `instance ${index} of ${app.name} not found: it has ${app.instances} instance(s), 0 to ${app.instances - 1}`);
      if (!app.dropletSha1 || app.stagedHash === null) throw new CcError(ErrorCodes.instanceNotFound, `instance ${index} of ${app.name} not found: the app has not been staged yet`);
      const version = versionOf(app);
      const key: InstanceKey = { droplet: id, version, index };
      const now = this.now();
      this.restarts.deleteWhere((r) => now - r.at > this.o.timings.rolloutTimeoutMs);
      const old = this.o.actual.live(id).filter((i) => i.version === version && i.index === index).map((i) => i.instance);
      this.restarts.set(key, { key, at: now, old: new Set(old) });
      // Live ones only: a crashed instance of this index keeps its folder (and crash logs) readable.
      this.o.dea.stop({ droplet: id, version, indices: [index], states: [...liveStates] });
      this.o.log.info(`restarting ${app.name}[${index}]${old.length ? ` (stopping ${old.map((i) => i.slice(0, 8)).join(', ')})` : ''}`);
      const [placed] = await this.start(app, [index]);
      const placementError = placed && !placed.ok ? placed.reason : placed ? null : 'the controller is stopping';
      this.o.store.recordEvent(id, app.name, 'instance_restarted', { index, version, stopped: old, ...(placementError ? { placement_error: placementError } : {}) });
      return { index, version, stopped: old, started: placed?.ok === true, placement_error: placementError };
    });
  }

  /**
   * While an index restarts, its old instance is stopping and its new one starting; the health
   * manager may see both and stop the new one as a duplicate. The new one is kept: the old one goes.
   */
  shieldedByRestart(droplet: number, instance: string): boolean {
    const all = this.o.actual.instancesOf(droplet);
    const inst = all.find((i) => i.instance === instance);
    if (!inst) return false;
    const r = this.restarts.get(inst);
    if (!r || r.old.has(instance)) return false;
    const oldStillThere = all.some((i) => r.old.has(i.instance));
    if (oldStillThere || this.now() - r.at < this.o.timings.startGraceMs) return true;
    this.restarts.delete(r.key);
    return false;
  }

  /**
   * Zero-downtime replacement: start the new version everywhere, wait until its instances are
   * RUNNING and every router routes them, then stop every other version.
   */
  async rollout(app: AppRecord): Promise<void> {
    const id = app.id;
    const version = versionOf(app);
    const token = Symbol(version);
    // A rollout still in flight is superseded: its new instances go, the serving version stays until this one is up.
    this.supersedeRollout(id, version);
    this.rollouts.set(id, { version, token });
    const current = (): boolean => this.rollouts.get(id)?.token === token && !this.o.lifetime.stopped;
    try {
      this.o.log.info(`replacing ${app.name} with version ${version}`);
      await this.startAll(app);
      const deadline = this.now() + this.o.timings.rolloutTimeoutMs;
      let ready = false;
      while (this.now() < deadline) {
        await this.o.lifetime.pause(this.o.timings.rolloutPollMs);
        if (!current()) return;
        const cur = this.o.store.getApp(id);
        if (!cur || cur.state !== 'STARTED' || versionOf(cur) !== version) return;
        const running = (await this.o.dea.find({ droplet: id, version, states: ['RUNNING'] }, cur.instances))
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
      const all = await this.o.dea.find({ droplet: id, states: [...liveStates] });
      if (!current()) return;
      const old = new Set([...all.map((r) => r.version), ...this.o.actual.liveVersions(id)].filter((v) => v !== version));
      for (const v of old) this.o.dea.stop({ droplet: id, version: v });
      if (old.size) this.o.log.info(`${app.name}: version ${version} is serving; stopped ${[...old].join(', ')}`);
      this.o.notify.instancesChanged(app);
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
    const routers = await this.o.routers();
    return routers.every((r) => uris.every((u) => backends.every((b) => (r.routes[u] ?? []).includes(b))));
  }
}
