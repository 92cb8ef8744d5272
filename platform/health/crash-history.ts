// Crash bookkeeping: a record per crashed instance (for `healthmanager.status` CRASHED and
// `GET /apps/:name/crashes`), and per app index the crash counter that decides FLAPPING, restart
// backoff and giving up.
import { restartDelayMs, type HealthTimings } from './timings';

export interface CrashRecord {
  instance: string;
  index: number;
  version: string;
  /** Seconds since the epoch. */
  since: number;
  /** Why, in words when the DEA said (exit code, signal, memory), else the exit reason. */
  reason: string;
}

/** The restart state of one index of one version of an app. */
export interface IndexHealth {
  crashes: number;
  /** ms since the epoch of the latest crash. */
  lastCrashAt: number;
  /** Seconds since the epoch when the index became FLAPPING; absent when it is not. */
  flappingSince?: number;
  givenUp: boolean;
  /** ms since the epoch of the latest START sent for it. */
  lastStartAt: number;
  /** A delayed (flapping) restart waiting to fire. */
  delayed?: NodeJS.Timeout;
}

export type CrashVerdict =
  | { action: 'restart'; flapping: boolean }
  | { action: 'delay'; delayMs: number; crashes: number }
  | { action: 'give-up'; crashes: number }
  | { action: 'none' };

const MAX_RECORDS_PER_DROPLET = 100;

export class CrashHistory {
  private readonly records = new Map<number, CrashRecord[]>();
  private readonly indices = new Map<string, IndexHealth>();

  constructor(private readonly t: HealthTimings) {}

  record(droplet: number, r: CrashRecord): void {
    let list = this.records.get(droplet);
    if (!list) { list = []; this.records.set(droplet, list); }
    list.push(r);
    if (list.length > MAX_RECORDS_PER_DROPLET) list.splice(0, list.length - MAX_RECORDS_PER_DROPLET);
  }

  crashes(droplet: number, version?: string): CrashRecord[] {
    const list = this.records.get(droplet) ?? [];
    return version ? list.filter((r) => r.version === version) : [...list];
  }

  health(droplet: number, version: string, index: number): IndexHealth {
    const key = indexKey(droplet, version, index);
    let h = this.indices.get(key);
    if (!h) { h = { crashes: 0, lastCrashAt: 0, givenUp: false, lastStartAt: 0 }; this.indices.set(key, h); }
    return h;
  }

  peek(droplet: number, version: string, index: number): IndexHealth | undefined {
    return this.indices.get(indexKey(droplet, version, index));
  }

  /** A crash of a live index: counts it and says what to do (v1's flapping rules). */
  crashed(droplet: number, version: string, index: number, now: number): CrashVerdict {
    const h = this.health(droplet, version, index);
    if (h.givenUp) { h.crashes++; h.lastCrashAt = now; return { action: 'none' }; }
    this.expire(h, now);
    h.crashes++;
    h.lastCrashAt = now;
    if (h.crashes <= this.t.flappingDeath) return { action: 'restart', flapping: false };
    h.flappingSince ??= now / 1000;
    if (this.t.giveupCrashNumber > 0 && h.crashes > this.t.giveupCrashNumber) {
      h.givenUp = true;
      this.cancelDelayed(h);
      return { action: 'give-up', crashes: h.crashes };
    }
    return { action: 'delay', delayMs: restartDelayMs(this.t, h.crashes), crashes: h.crashes };
  }

  /** FLAPPING now: more than flapping_death crashes, the latest within flapping_timeout, or given up. */
  isFlapping(h: IndexHealth | undefined, now: number): boolean {
    if (!h) return false;
    this.expire(h, now);
    return h.flappingSince !== undefined;
  }

  /** Indices of a version that are FLAPPING, for `healthmanager.status`. */
  flapping(droplet: number, version: string | undefined, now: number): { index: number; since: number }[] {
    const out: { index: number; since: number }[] = [];
    const prefix = `${droplet}/`;
    for (const [key, h] of this.indices) {
      if (!key.startsWith(prefix)) continue;
      const [, v, i] = splitKey(key);
      if (version !== undefined && v !== version) continue;
      if (this.isFlapping(h, now)) out.push({ index: Number(i), since: h.flappingSince! });
    }
    return out.sort((a, b) => a.index - b.index);
  }

  /** The app's desired state changed: counters, give-ups and pending restarts start over. */
  resetDroplet(droplet: number): void {
    const prefix = `${droplet}/`;
    for (const [key, h] of this.indices) {
      if (!key.startsWith(prefix)) continue;
      this.cancelDelayed(h);
      this.indices.delete(key);
    }
  }

  forgetDroplet(droplet: number): void {
    this.resetDroplet(droplet);
    this.records.delete(droplet);
  }

  prune(now: number): void {
    const cutoff = now / 1000 - this.t.crashRecordTtlMs / 1000;
    for (const [droplet, list] of this.records) {
      const kept = list.filter((r) => r.since >= cutoff);
      if (kept.length === 0) this.records.delete(droplet); else this.records.set(droplet, kept);
    }
    for (const [key, h] of this.indices) {
      this.expire(h, now);
      const idle = h.crashes === 0 && !h.givenUp && !h.delayed && now - h.lastStartAt >= this.t.restartTimeoutMs;
      if (idle) this.indices.delete(key);
    }
  }

  cancelDelayed(h: IndexHealth): void {
    if (h.delayed) { clearTimeout(h.delayed); h.delayed = undefined; }
  }

  stop(): void {
    for (const h of this.indices.values()) this.cancelDelayed(h);
  }

  /** A crash counter older than flapping_timeout starts again; a given-up index stays given up. */
  private expire(h: IndexHealth, now: number): void {
    if (h.givenUp || h.crashes === 0) return;
    if (now - h.lastCrashAt > this.t.flappingTimeoutMs) { h.crashes = 0; h.flappingSince = undefined; }
  }
}

function indexKey(droplet: number, version: string, index: number): string {
  return `${droplet}/${version}/${index}`;
}

function splitKey(key: string): [string, string, string] {
  const first = key.indexOf('/');
  const last = key.lastIndexOf('/');
  return [key.slice(0, first), key.slice(first + 1, last), key.slice(last + 1)];
}
