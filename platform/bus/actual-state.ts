// The actual state: what the DEAs say runs, from `dea.heartbeat` and `droplet.exited`. One model for
// the controller and the health manager; they differ only in how reports expire (the options).
// It lives in platform/bus because it is built from bus messages alone and every component may import the bus.
import type { DeaHeartbeat, HeartbeatDroplet, InstanceState } from './messages';

/** States that count as an instance being there (v1: running_state?). */
export function isLive(state: InstanceState): boolean {
  return state === 'STARTING' || state === 'RUNNING';
}

/** The live states as a list, for DEA filters (`dea.find.droplet`, `dea.stop`). */
export const liveStates: readonly InstanceState[] = ['STARTING', 'RUNNING'];

export interface ActualInstance {
  droplet: number;
  version: string;
  instance: string;
  index: number;
  state: InstanceState;
  /** Seconds since the epoch, from the DEA. */
  stateTimestamp: number;
  dea: string;
  /** When the last heartbeat naming it arrived (ms, this clock). */
  seenAt: number;
}

export interface ActualStateOptions {
  /**
   * 'dea': a heartbeat is its DEA's complete list, and a DEA silent for 2.5 of the heartbeat periods
   * it declares (`interval_ms`; else three observed intervals, else `lostAfterMs`) is lost: its
   * instances are no longer reported at once, and go at the next sweep.
   * 'instance': heartbeats add to what is known, and an instance not named for `lostAfterMs` is DOWN.
   */
  expiry: 'dea' | 'instance';
  lostAfterMs: number;
  /** Keep only STARTING/RUNNING instances (a crashed one stays in DEA heartbeats for an hour). */
  liveOnly?: boolean;
  /** How long an exit is remembered, so a heartbeat sent before it cannot bring the instance back; 0: not at all. */
  exitMemoryMs?: number;
  /** Called for each droplet whose instances appeared, changed state or went. */
  onChange?: (droplet: number) => void;
  /** Called when a sweep finds a DEA silent past its limit, with the droplets it had instances of. */
  onDeaLost?: (dea: string, droplets: ReadonlySet<number>) => void;
  now?: () => number;
}

/** Missed heartbeat periods after which a DEA that declares its period is lost (a bound, not a guess). */
export const missedBeatsLost = 2.5;
/** Floor of that limit, so a very short period does not turn a brief stall into a loss. */
const minLostMs = 1000;

interface DeaEntry {
  lastSeen: number;
  /** Observed time between heartbeats. */
  intervalMs: number;
  /** The period the DEA declares, when it does. */
  declaredMs?: number;
  instances: Map<string, ActualInstance>;
}

export class ActualState {
  private readonly deas = new Map<string, DeaEntry>();
  /** Instance id -> when its exit arrived. */
  private readonly exits = new Map<string, number>();
  private readonly now: () => number;
  private readonly onChange: (droplet: number) => void;

  constructor(private readonly o: ActualStateOptions) {
    this.now = o.now ?? Date.now;
    this.onChange = o.onChange ?? ((): void => undefined);
  }

  heartbeat(hb: DeaHeartbeat): void {
    const t = this.now();
    const prev = this.deas.get(hb.dea);
    const next = this.o.expiry === 'dea' ? new Map<string, ActualInstance>() : new Map(prev?.instances);
    for (const d of hb.droplets) {
      if (this.exits.has(d.instance)) continue;
      if (this.o.liveOnly && !isLive(d.state)) next.delete(d.instance);
      else next.set(d.instance, toActual(d, hb.dea, t));
    }
    const changed = new Set<number>();
    for (const [id, inst] of next) {
      const old = prev?.instances.get(id);
      if (!old || old.state !== inst.state || old.version !== inst.version) changed.add(inst.droplet);
    }
    for (const [id, old] of prev?.instances ?? []) if (!next.has(id)) changed.add(old.droplet);
    const interval = prev ? Math.min(Math.max(t - prev.lastSeen, 250), 60_000) : 0;
    this.deas.set(hb.dea, {
      lastSeen: t, intervalMs: prev?.intervalMs && interval ? Math.max(prev.intervalMs * 0.5 + interval * 0.5, 250) : interval,
      ...(hb.interval_ms ? { declaredMs: hb.interval_ms } : {}), instances: next,
    });
    for (const d of changed) this.onChange(d);
  }

  /** The instance is gone (`droplet.exited`). Returns false when this exit was already seen (only with exit memory). */
  exited(m: { droplet: number; instance: string }): boolean {
    const fresh = !this.exits.has(m.instance);
    if (this.o.exitMemoryMs) this.exits.set(m.instance, this.now());
    for (const e of this.deas.values()) e.instances.delete(m.instance);
    this.onChange(m.droplet);
    return fresh;
  }

  /** Drops what expired (silent DEAs or unreported instances, by `expiry`) and old exits. */
  sweep(): void {
    const t = this.now();
    for (const [id, e] of this.deas) {
      if (this.o.expiry === 'dea') {
        if (this.silent(e, t)) this.lose(id, e);
        continue;
      }
      for (const [i, r] of e.instances) if (!this.fresh(r, t)) e.instances.delete(i);
      if (e.instances.size === 0) this.deas.delete(id);
    }
    for (const [id, at] of this.exits) if (t - at >= (this.o.exitMemoryMs ?? 0)) this.exits.delete(id);
  }

  /** Forgets a DEA at once (it announced its shutdown). */
  forgetDea(id: string): void {
    const e = this.deas.get(id);
    if (e) this.drop(id, e);
  }

  /** The observer could not hear for a while (its bus connection dropped): that silence says nothing, so every DEA counts as seen now. */
  excuseSilence(): void {
    const t = this.now();
    for (const e of this.deas.values()) e.lastSeen = t;
  }

  /** True while at least one known DEA is within its limit (the observer evidently hears the bus). */
  hearsAny(): boolean {
    const t = this.now();
    for (const e of this.deas.values()) if (!this.silent(e, t)) return true;
    return false;
  }

  /** What is known of a droplet's instances (not yet expired; a silent DEA's count as gone before the sweep). */
  instancesOf(droplet: number): ActualInstance[] {
    const t = this.now();
    const out: ActualInstance[] = [];
    for (const e of this.deas.values()) {
      if (this.o.expiry === 'dea' && this.silent(e, t)) continue;
      for (const i of e.instances.values()) if (i.droplet === droplet && this.fresh(i, t)) out.push(i);
    }
    return out;
  }

  private limitOf(e: DeaEntry): number {
    if (e.declaredMs) return Math.max(missedBeatsLost * e.declaredMs, minLostMs);
    return e.intervalMs ? Math.max(3 * e.intervalMs, Math.min(3000, this.o.lostAfterMs)) : this.o.lostAfterMs;
  }

  private silent(e: DeaEntry, t: number): boolean {
    return t - e.lastSeen > this.limitOf(e);
  }

  private lose(id: string, e: DeaEntry): void {
    const droplets = new Set([...e.instances.values()].map((i) => i.droplet));
    this.drop(id, e);
    this.o.onDeaLost?.(id, droplets);
  }

  /** STARTING or RUNNING instances of a droplet. */
  live(droplet: number): ActualInstance[] {
    return this.instancesOf(droplet).filter((i) => isLive(i.state));
  }

  /** Distinct indices below `instances` with a RUNNING instance of `version`. */
  runningCount(droplet: number, version: string, instances: number): number {
    const idx = new Set<number>();
    for (const i of this.instancesOf(droplet)) if (i.version === version && i.state === 'RUNNING' && i.index < instances) idx.add(i.index);
    return idx.size;
  }

  /** True when an instance of `version` at `index` is STARTING or RUNNING. */
  isUp(droplet: number, version: string, index: number): boolean {
    return this.live(droplet).some((i) => i.version === version && i.index === index);
  }

  /** Versions with a live (STARTING or RUNNING) instance. */
  liveVersions(droplet: number): Set<string> {
    return new Set(this.live(droplet).map((i) => i.version));
  }

  private fresh(i: ActualInstance, t: number): boolean {
    return this.o.expiry === 'dea' || t - i.seenAt < this.o.lostAfterMs;
  }

  private drop(id: string, e: DeaEntry): void {
    this.deas.delete(id);
    for (const d of new Set([...e.instances.values()].map((i) => i.droplet))) this.onChange(d);
  }
}

function toActual(d: HeartbeatDroplet, dea: string, seenAt: number): ActualInstance {
  return { droplet: d.droplet, version: d.version, instance: d.instance, index: d.index, state: d.state, stateTimestamp: d.state_timestamp, dea, seenAt };
}
