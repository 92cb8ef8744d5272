// What runs where, as the DEAs report it: every heartbeat is a DEA's complete list of instances,
// `droplet.exited` removes one at once, and a DEA that stops heartbeating loses its instances.
import type { DeaHeartbeat, DropletExited, HeartbeatDroplet, InstanceState } from '../bus';

export interface ActualInstance {
  droplet: number;
  version: string;
  instance: string;
  index: number;
  state: InstanceState;
  stateTimestamp: number;
  dea: string;
}

interface DeaEntry {
  lastSeen: number;
  /** Observed time between heartbeats. */
  intervalMs: number;
  instances: Map<string, ActualInstance>;
}

export class ActualState {
  private readonly deas = new Map<string, DeaEntry>();

  /** `onChange(droplet)` is called for each droplet whose instances appeared, changed state or went. */
  constructor(private readonly onChange: (droplet: number) => void, private readonly lostAfterMs = 10_000, private readonly now: () => number = Date.now) {}

  heartbeat(hb: DeaHeartbeat): void {
    const t = this.now();
    const prev = this.deas.get(hb.dea);
    const next = new Map<string, ActualInstance>();
    for (const d of hb.droplets) next.set(d.instance, toActual(d, hb.dea));
    const changed = new Set<number>();
    for (const [id, inst] of next) {
      const old = prev?.instances.get(id);
      if (!old || old.state !== inst.state || old.version !== inst.version) changed.add(inst.droplet);
    }
    for (const [id, old] of prev?.instances ?? []) if (!next.has(id)) changed.add(old.droplet);
    const interval = prev ? Math.min(Math.max(t - prev.lastSeen, 250), 60_000) : 0;
    this.deas.set(hb.dea, { lastSeen: t, intervalMs: prev?.intervalMs && interval ? Math.max(prev.intervalMs * 0.5 + interval * 0.5, 250) : interval, instances: next });
    for (const d of changed) this.onChange(d);
  }

  exited(m: DropletExited): void {
    for (const e of this.deas.values()) {
      const inst = e.instances.get(m.instance);
      if (inst) e.instances.delete(m.instance);
    }
    this.onChange(m.droplet);
  }

  /** Drops DEAs silent for longer than three heartbeat intervals (or `lostAfterMs` before an interval is known). */
  sweep(): void {
    const t = this.now();
    for (const [id, e] of this.deas) {
      const limit = e.intervalMs ? Math.max(3 * e.intervalMs, 3000) : this.lostAfterMs;
      if (t - e.lastSeen > limit) {
        this.deas.delete(id);
        for (const d of new Set([...e.instances.values()].map((i) => i.droplet))) this.onChange(d);
      }
    }
  }

  /** Forgets a DEA at once (it announced its shutdown). */
  forgetDea(id: string): void {
    const e = this.deas.get(id);
    if (!e) return;
    this.deas.delete(id);
    for (const d of new Set([...e.instances.values()].map((i) => i.droplet))) this.onChange(d);
  }

  instancesOf(droplet: number): ActualInstance[] {
    const out: ActualInstance[] = [];
    for (const e of this.deas.values()) for (const i of e.instances.values()) if (i.droplet === droplet) out.push(i);
    return out;
  }

  /** Distinct indices below `instances` with a RUNNING instance of `version`. */
  runningCount(droplet: number, version: string, instances: number): number {
    const idx = new Set<number>();
    for (const i of this.instancesOf(droplet)) if (i.version === version && i.state === 'RUNNING' && i.index < instances) idx.add(i.index);
    return idx.size;
  }

  /** True when an instance of `version` at `index` is STARTING or RUNNING. */
  isUp(droplet: number, version: string, index: number): boolean {
    return this.instancesOf(droplet).some((i) => i.version === version && i.index === index && (i.state === 'RUNNING' || i.state === 'STARTING'));
  }

  /** Versions with a live (STARTING or RUNNING) instance. */
  liveVersions(droplet: number): Set<string> {
    return new Set(this.instancesOf(droplet).filter((i) => i.state === 'RUNNING' || i.state === 'STARTING').map((i) => i.version));
  }
}

function toActual(d: HeartbeatDroplet, dea: string): ActualInstance {
  return { droplet: d.droplet, version: d.version, instance: d.instance, index: d.index, state: d.state, stateTimestamp: d.state_timestamp, dea };
}
