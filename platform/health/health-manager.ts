// The health manager: compares the expected state (the controller's apps, via
// `cloudcontrollers.bulk.apps`) with the actual state (DEA heartbeats and exits) and asks the
// controller, on `cloudcontrollers.hm.requests`, to START what is missing and STOP what is extra.
// Crashes restart at once, then with backoff while FLAPPING, then not at all (given up).
import type { Subscription } from '@nats-io/transport-node';
import {
  Subjects, ActualState, type ActualInstance, type BulkApp, type Bus, type DropletExited, type HealthmanagerHealthReply,
  type HealthmanagerStatus, type HealthmanagerStatusReply, type HmRequest,
} from '../bus';
import { describeError, type Log } from '../log';
import { CrashHistory } from './crash-history';
import { defaultHealthTimings, type HealthTimings } from './timings';

export interface HealthManagerOptions {
  bus: Bus;
  log: Log;
  timings?: Partial<HealthTimings>;
}

export interface HealthManager {
  stop(): Promise<void>;
}

/** Exit reasons after which the instance should come back (STOPPED was asked for). */
const restartReasons = new Set<DropletExited['reason']>(['CRASHED', 'DEA_SHUTDOWN', 'DEA_EVACUATION']);

export async function startHealthManager(opts: HealthManagerOptions): Promise<HealthManager> {
  const hm = new HealthManagerService(opts.bus, opts.log, { ...defaultHealthTimings, ...opts.timings });
  await hm.start();
  return { stop: () => hm.stop() };
}

class HealthManagerService {
  private readonly expected = new Map<number, BulkApp>();
  /** When a single app was last re-read (ms): a full read sent before that must not undo it. */
  private readonly readAt = new Map<number, number>();
  private expectedLoaded = false;
  private readonly actual: ActualState;
  private readonly history: CrashHistory;
  /** Instance id -> when a STOP for it was last sent (ms). */
  private readonly stopSentAt = new Map<string, number>();
  private readonly subs: Subscription[] = [];
  private readonly timers: NodeJS.Timeout[] = [];
  private startedAt = 0;
  private stopped = false;
  private fullReadInFlight = false;

  constructor(private readonly bus: Bus, private readonly log: Log, private readonly t: HealthTimings) {
    // The controller's rule (expiry by DEA), so both see a silent DEA lost at the same moment.
    this.actual = new ActualState({
      expiry: 'dea', lostAfterMs: t.dropletLostMs, liveOnly: true, exitMemoryMs: Math.max(60_000, 3 * t.dropletLostMs),
      onDeaLost: (dea, droplets) => this.onDeaLost(dea, droplets),
    });
    this.history = new CrashHistory(t);
  }

  async start(): Promise<void> {
    const b = this.bus;
    this.subs.push(b.subscribe(Subjects.deaHeartbeat, (m) => { this.actual.heartbeat(m); }));
    this.subs.push(b.subscribe(Subjects.dropletExited, (m) => this.onExited(m)));
    this.subs.push(b.subscribe(Subjects.dropletUpdated, (m) => this.readOne(m.droplet)));
    this.subs.push(b.subscribe(Subjects.healthmanagerHealth, (m, ctx) => {
      for (const d of m.droplets) {
        const healthy = this.actual.live(d.droplet).filter((r) => r.state === 'RUNNING' && r.version === d.version).length;
        const reply: HealthmanagerHealthReply = { droplet: d.droplet, version: d.version, healthy };
        ctx.respond(reply);
      }
    }));
    this.subs.push(b.subscribe(Subjects.healthmanagerStatus, (m) => this.status(m)));
    await b.flush();
    this.startedAt = Date.now();
    // DEAs answer with a heartbeat at once, so the actual state fills before the first analysis.
    b.publish(Subjects.healthmanagerStart, {});
    void this.readAll(); // not awaited: a slow controller must not hold up the platform's start
    this.every(this.t.analysisIntervalMs, () => this.analyze());
    this.every(this.t.lostSweepMs, () => { if (!this.stopped) this.actual.sweep(); });
    this.every(this.t.expectedStateIntervalMs, () => this.readAll());
    this.every(this.t.expectedStateRetryMs, () => { if (!this.expectedLoaded) return this.readAll(); });
    this.log.info('health manager started');
  }

  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    for (const t of this.timers) clearInterval(t);
    for (const s of this.subs) s.unsubscribe();
    this.history.stop();
    this.log.info('health manager stopped');
  }

  private every(ms: number, fn: () => unknown): void {
    const timer = setInterval(() => {
      try {
        const out = fn();
        if (out instanceof Promise) out.catch((e: unknown) => this.log.error('health manager task failed', e));
      } catch (e) {
        this.log.error('health manager task failed', e);
      }
    }, ms);
    timer.unref();
    this.timers.push(timer);
  }

  // ---- expected state ------------------------------------------------------------------------

  private async readAll(): Promise<void> {
    if (this.stopped || this.fullReadInFlight) return;
    this.fullReadInFlight = true;
    const sentAt = Date.now();
    try {
      const reply = await this.bus.request(Subjects.ccBulkApps, {}, this.t.requestTimeoutMs);
      if (this.stopped) return;
      const next = new Map(reply.apps.map((a) => [a.droplet, a] as const));
      for (const droplet of new Set([...this.expected.keys(), ...next.keys()])) {
        if ((this.readAt.get(droplet) ?? 0) >= sentAt) continue; // a newer single read already answered
        this.apply(droplet, next.get(droplet));
      }
      if (!this.expectedLoaded) this.log.info(`expected state: ${next.size} app(s)`);
      this.expectedLoaded = true;
    } catch (e) {
      this.log[this.expectedLoaded ? 'warn' : 'debug'](`cloudcontrollers.bulk.apps: ${describeError(e)}`);
    } finally {
      this.fullReadInFlight = false;
    }
  }

  /** Re-reads one app (on `droplet.updated`, or before acting on an exit the cache cannot judge). */
  private async readOne(droplet: number): Promise<BulkApp | undefined> {
    this.readAt.set(droplet, Date.now());
    try {
      const reply = await this.bus.request(Subjects.ccBulkApps, { droplet }, this.t.requestTimeoutMs);
      if (this.stopped) return undefined;
      this.apply(droplet, reply.apps.find((a) => a.droplet === droplet));
    } catch (e) {
      this.log.warn(`cloudcontrollers.bulk.apps for droplet ${droplet}: ${describeError(e)}`);
    }
    return this.expected.get(droplet);
  }

  private apply(droplet: number, app: BulkApp | undefined): void {
    const before = this.expected.get(droplet);
    if (!app) {
      if (before) {
        this.expected.delete(droplet);
        this.history.forgetDroplet(droplet);
        this.log.debug(`droplet ${droplet} is gone from the expected state`);
      }
      return;
    }
    this.expected.set(droplet, app);
    // A new desired state (new version, or any change the controller stamped) lifts a give-up and
    // starts the crash counters again.
    if (before && (before.version !== app.version || before.last_updated !== app.last_updated)) this.history.resetDroplet(droplet);
  }

  // ---- exits and restarts --------------------------------------------------------------------

  private async onExited(m: DropletExited): Promise<void> {
    const now = Date.now();
    if (!this.actual.exited(m)) { this.log.debug(`duplicate exit of ${m.instance} ignored`); return; }
    if (m.reason === 'CRASHED') {
      this.history.record(m.droplet, {
        instance: m.instance, index: m.index, version: m.version,
        since: m.crash_timestamp ?? now / 1000, reason: m.exit_description ?? m.reason,
      });
    }
    if (!restartReasons.has(m.reason)) return;
    let app = this.expected.get(m.droplet);
    // The cache may trail a change the controller just made: ask before deciding not to restart.
    if (!app || !this.wants(app, m.version, m.index)) app = await this.readOne(m.droplet);
    if (this.stopped || !app || !this.wants(app, m.version, m.index)) {
      this.log.debug(`exit of ${m.instance} (droplet ${m.droplet} v ${m.version} #${m.index}, ${m.reason}): not a live instance, no restart`);
      return;
    }
    const index = m.index;
    const h = this.history.health(app.droplet, app.version, index);
    if (m.reason !== 'CRASHED') {
      // The DEA went away, the app did not fail: back at once, no crash counted.
      if (h.delayed || h.givenUp) return;
      this.sendStart(app, [index], this.history.isFlapping(h, now));
      return;
    }
    const verdict = this.history.crashed(app.droplet, app.version, index, now);
    switch (verdict.action) {
      case 'restart':
        this.sendStart(app, [index], false);
        break;
      case 'delay':
        this.log.info(`${app.name} #${index} is FLAPPING (${verdict.crashes} crashes): restart in ${verdict.delayMs} ms`);
        this.history.cancelDelayed(h);
        h.delayed = setTimeout(() => { h.delayed = undefined; this.delayedRestart(app.droplet, app.version, index); }, verdict.delayMs);
        h.delayed.unref();
        break;
      case 'give-up':
        this.log.warn(`${app.name} #${index} crashed ${verdict.crashes} times: giving up until the app changes`);
        break;
      case 'none':
        break;
    }
  }

  private delayedRestart(droplet: number, version: string, index: number): void {
    if (this.stopped) return;
    const app = this.expected.get(droplet);
    if (!app || !this.wants(app, version, index)) return;
    const h = this.history.peek(droplet, version, index);
    if (!h || h.givenUp) return;
    if (this.actual.isUp(droplet, version, index)) return;
    this.sendStart(app, [index], true);
  }

  /** The app should run instance `index` of `version` (the controller's own guards decide the rest). */
  private wants(app: BulkApp, version: string, index: number): boolean {
    return app.state === 'STARTED' && app.version === version && index < app.instances;
  }

  private sendStart(app: BulkApp, indices: number[], flapping: boolean): void {
    if (indices.length === 0) return;
    const now = Date.now();
    for (const i of indices) this.history.health(app.droplet, app.version, i).lastStartAt = now;
    const msg: HmRequest = { droplet: app.droplet, op: 'START', last_updated: app.last_updated, version: app.version, indices };
    if (flapping) msg.flapping = true;
    this.log.info(`START ${app.name} (droplet ${app.droplet}) indices ${indices.join(',')}${flapping ? ' (flapping)' : ''}`);
    this.bus.publish(Subjects.hmRequests, msg);
  }

  private sendStop(app: BulkApp, instances: ActualInstance[], why: string): void {
    if (instances.length === 0) return;
    const now = Date.now();
    for (const r of instances) this.stopSentAt.set(r.instance, now);
    const msg: HmRequest = { droplet: app.droplet, op: 'STOP', last_updated: app.last_updated, instances: instances.map((r) => r.instance) };
    this.log.info(`STOP ${app.name} (droplet ${app.droplet}) ${instances.length} extra instance(s): ${why}`);
    this.bus.publish(Subjects.hmRequests, msg);
  }

  /**
   * A DEA went silent: the missing indices of its apps are started now, not at the next period, once
   * the controller saw the loss too. Even for a just-changed app: the controller's own pending starts
   * cover what it is starting, and nothing is stopped here.
   */
  private onDeaLost(dea: string, droplets: ReadonlySet<number>): void {
    this.log.warn(`DEA ${dea} is lost (no heartbeat): re-placing the instances of ${droplets.size} app(s)`);
    const timer = setTimeout(() => {
      if (this.stopped || !this.expectedLoaded) return;
      const now = Date.now();
      for (const d of droplets) {
        const app = this.expected.get(d);
        if (app && app.state === 'STARTED' && app.package_state !== 'PENDING') this.startMissing(app, this.liveByIndex(app), now);
      }
    }, this.t.lostSweepMs);
    timer.unref();
  }

  /** The live instances of the app's version by index (below its count). */
  private liveByIndex(app: BulkApp): Set<number> {
    return new Set(this.actual.live(app.droplet).filter((r) => r.version === app.version && r.index < app.instances).map((r) => r.index));
  }

  // ---- analysis ------------------------------------------------------------------------------

  private analyze(): void {
    if (this.stopped) return;
    const now = Date.now();
    this.actual.sweep();
    this.history.prune(now);
    for (const [id, at] of this.stopSentAt) if (now - at >= this.t.restartTimeoutMs) this.stopSentAt.delete(id);
    if (!this.expectedLoaded || now - this.startedAt < this.t.startupGraceMs) return;
    for (const app of this.expected.values()) {
      // A recent change is the controller's to carry out (v1: stable_state).
      if (now - app.last_updated * 1000 < this.t.stableStateMs) continue;
      this.analyzeApp(app, now);
    }
  }

  private analyzeApp(app: BulkApp, now: number): void {
    const live = this.actual.live(app.droplet);
    const running = app.state === 'STARTED';
    // Staging: nothing to judge yet; a FAILED re-push still has its last good version to keep up.
    if (running && app.package_state === 'PENDING') return;

    // Extra: app stopped, old version, index out of range, or a second instance of an index.
    const extra: ActualInstance[] = [];
    const why = new Set<string>();
    const keep = new Map<number, ActualInstance>();
    for (const r of live) {
      if (!running) { extra.push(r); why.add('app stopped'); continue; }
      if (r.version !== app.version) { extra.push(r); why.add('old version'); continue; }
      if (r.index >= app.instances) { extra.push(r); why.add('index beyond instances'); continue; }
      const other = keep.get(r.index);
      if (!other) { keep.set(r.index, r); continue; }
      // Two of one index: keep the RUNNING one, else the older.
      const [winner, loser] = prefer(other, r);
      keep.set(r.index, winner);
      extra.push(loser);
      why.add('duplicate index');
    }
    const toStop = extra.filter((r) => now - (this.stopSentAt.get(r.instance) ?? 0) >= this.t.restartTimeoutMs);
    this.sendStop(app, toStop, [...why].join(', '));
    if (running) this.startMissing(app, new Set(keep.keys()), now);
  }

  /** Missing: an index with no live instance, not already being restarted, not given up. */
  private startMissing(app: BulkApp, up: ReadonlySet<number>, now: number): void {
    const missing: number[] = [];
    const missingFlapping: number[] = [];
    for (let i = 0; i < app.instances; i++) {
      if (up.has(i)) continue;
      const h = this.history.peek(app.droplet, app.version, i);
      if (h && (h.givenUp || h.delayed || now - h.lastStartAt < this.t.restartTimeoutMs)) continue;
      (this.history.isFlapping(h, now) ? missingFlapping : missing).push(i);
    }
    this.sendStart(app, missing, false);
    this.sendStart(app, missingFlapping, true);
  }

  // ---- questions -----------------------------------------------------------------------------

  private status(m: HealthmanagerStatus): HealthmanagerStatusReply {
    const now = Date.now();
    if (m.state === 'FLAPPING') {
      const version = m.version ?? this.expected.get(m.droplet)?.version;
      return { indices: this.history.flapping(m.droplet, version, now) };
    }
    return {
      instances: this.history.crashes(m.droplet, m.version).map((r) => ({ instance: r.instance, since: r.since, index: r.index, reason: r.reason })),
    };
  }
}

function prefer(a: ActualInstance, b: ActualInstance): [ActualInstance, ActualInstance] {
  if (a.state !== b.state) return a.state === 'RUNNING' ? [a, b] : [b, a];
  return a.stateTimestamp <= b.stateTimestamp ? [a, b] : [b, a];
}
