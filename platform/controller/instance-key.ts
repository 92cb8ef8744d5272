// What names one instance slot of an app: droplet, version and index. Maps keyed by it encode the
// key in one place, so no caller builds key strings by hand.
import type { AppRecord } from './store';

export interface InstanceKey {
  droplet: number;
  version: string;
  index: number;
}

/** Version of an app with no package at all (SHA-1 of nothing). */
const NO_PACKAGE = 'da39a3ee5e6b4b0d3255bfef95601890afd80709';

/** The version instances of this app run: the staged content and how often it was (re)started. */
export function versionOf(app: Pick<AppRecord, 'stagedHash' | 'packageHash' | 'runCount'>): string {
  return `${app.stagedHash ?? app.packageHash ?? NO_PACKAGE}-${app.runCount}`;
}

export class InstanceKeyMap<V> {
  private readonly byDroplet = new Map<number, Map<string, V>>();

  get(k: InstanceKey): V | undefined {
    return this.byDroplet.get(k.droplet)?.get(slot(k));
  }

  set(k: InstanceKey, v: V): void {
    let m = this.byDroplet.get(k.droplet);
    if (!m) { m = new Map(); this.byDroplet.set(k.droplet, m); }
    m.set(slot(k), v);
  }

  delete(k: InstanceKey): void {
    const m = this.byDroplet.get(k.droplet);
    m?.delete(slot(k));
    if (m?.size === 0) this.byDroplet.delete(k.droplet);
  }

  deleteDroplet(droplet: number): void {
    this.byDroplet.delete(droplet);
  }

  /** Removes every entry the predicate holds for. */
  deleteWhere(pred: (v: V) => boolean): void {
    for (const [d, m] of this.byDroplet) {
      for (const [k, v] of m) if (pred(v)) m.delete(k);
      if (m.size === 0) this.byDroplet.delete(d);
    }
  }
}

/** The key within one droplet; JSON, so no version text can collide with another version and index. */
function slot(k: InstanceKey): string {
  return JSON.stringify([k.version, k.index]);
}
