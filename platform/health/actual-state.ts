// The actual state: what the DEAs say runs, from `dea.heartbeat` and `droplet.exited`.
// droplet -> instance id -> the latest report. An instance whose reports stop is DOWN after
// `droplet_lost` and is forgotten.
import type { DeaHeartbeat, InstanceState } from '../bus';

export interface InstanceReport {
  droplet: number;
  version: string;
  instance: string;
  index: number;
  state: InstanceState;
  /** Seconds since the epoch, from the DEA. */
  stateTimestamp: number;
  dea: string;
  /** When the last heartbeat naming it arrived (ms since the epoch, this clock). */
  seenAt: number;
}

/** States that count as an instance being there (v1: running_state?). */
export function isLive(state: InstanceState): boolean {
  return state === 'STARTING' || state === 'RUNNING';
}

export class ActualState {
  private readonly droplets = new Map<number, Map<string, InstanceReport>>();
  /** Instances that exited: a heartbeat sent before the exit must not bring them back. */
  private readonly exited = new Map<string, number>();

  constructor(private readonly dropletLostMs: number) {}

  heartbeat(hb: DeaHeartbeat, now: number): void {
    for (const d of hb.droplets) {
      if (this.exited.has(d.instance)) continue;
      let byId = this.droplets.get(d.droplet);
      if (!isLive(d.state)) {
        // CRASHED / STOPPED / DELETED: not there (crash retention keeps them in DEA heartbeats for an hour)
        byId?.delete(d.instance);
        if (byId && byId.size === 0) this.droplets.delete(d.droplet);
        continue;
      }
      if (!byId) { byId = new Map(); this.droplets.set(d.droplet, byId); }
      byId.set(d.instance, {
        droplet: d.droplet, version: d.version, instance: d.instance, index: d.index,
        state: d.state, stateTimestamp: d.state_timestamp, dea: hb.dea, seenAt: now,
      });
    }
  }

  /** The instance is gone (`droplet.exited`). Returns false when this exit was already seen. */
  exit(droplet: number, instance: string, now: number): boolean {
    const fresh = !this.exited.has(instance);
    this.exited.set(instance, now);
    const byId = this.droplets.get(droplet);
    byId?.delete(instance);
    if (byId && byId.size === 0) this.droplets.delete(droplet);
    return fresh;
  }

  /** Live (STARTING/RUNNING) instances of a droplet with a heartbeat younger than droplet_lost. */
  live(droplet: number, now: number): InstanceReport[] {
    const byId = this.droplets.get(droplet);
    if (!byId) return [];
    const out: InstanceReport[] = [];
    for (const r of byId.values()) if (now - r.seenAt < this.dropletLostMs) out.push(r);
    return out;
  }

  hasLive(droplet: number, version: string, index: number, now: number): boolean {
    return this.live(droplet, now).some((r) => r.version === version && r.index === index);
  }

  dropletIds(): number[] {
    return [...this.droplets.keys()];
  }

  /** Forgets DOWN instances and old exits. */
  prune(now: number, exitMemoryMs: number): void {
    for (const [droplet, byId] of this.droplets) {
      for (const [id, r] of byId) if (now - r.seenAt >= this.dropletLostMs) byId.delete(id);
      if (byId.size === 0) this.droplets.delete(droplet);
    }
    for (const [id, at] of this.exited) if (now - at >= exitMemoryMs) this.exited.delete(id);
  }

  forget(droplet: number): void {
    this.droplets.delete(droplet);
  }
}
