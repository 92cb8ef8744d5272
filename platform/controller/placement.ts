// Placement over advertising DEAs: `dea.discover` to every DEA, then `dea.<id>.start` to one that
// answered. Among those that answer, one app's instances go to the host (advertised address) that
// runs fewest of them, so they spread over hosts before they stack on one; then the DEA with fewest,
// then the quickest to answer (DEAs delay their answer by load). The DEAs decide what fits.
import type { DeaAdvertise, DeaDiscoverReply, DeaStart } from '../bus';
import type { Log } from '../log';
import type { DeaClient } from './dea-client';

interface Advertised {
  ad: DeaAdvertise;
  at: number;
}

/** DEAs that advertised recently (`dea.advertise`). */
export class DeaDirectory {
  private readonly deas = new Map<string, Advertised>();
  constructor(private readonly staleAfterMs = 30_000, private readonly now: () => number = Date.now) {}

  advertise(ad: DeaAdvertise): void {
    this.deas.set(ad.id, { ad, at: this.now() });
  }

  forget(id: string): void {
    this.deas.delete(id);
  }

  fresh(): DeaAdvertise[] {
    const t = this.now();
    return [...this.deas.values()].filter((d) => t - d.at <= this.staleAfterMs).map((d) => d.ad);
  }

  /** A start sent to `deaId`: counted until its next advertisement says the truth. */
  started(deaId: string, droplet: number): void {
    const d = this.deas.get(deaId);
    if (!d) return;
    const key = String(droplet);
    d.ad = { ...d.ad, app_id_to_count: { ...d.ad.app_id_to_count, [key]: (d.ad.app_id_to_count[key] ?? 0) + 1 } };
  }

  /** Instances of `droplet` on DEA `deaId`, and on every fresh DEA that advertises address `ip`. */
  countOf(droplet: number, deaId: string, ip: string): { host: number; dea: number } {
    const key = String(droplet);
    let host = 0;
    let dea = 0;
    for (const ad of this.fresh()) {
      const n = ad.app_id_to_count[key] ?? 0;
      if (ad.ip === ip) host += n;
      if (ad.id === deaId) dea = n;
    }
    return { host, dea };
  }

  /** Why nothing may fit, in words, from what the DEAs last said. */
  explain(memMb: number, runtime: string): string {
    const deas = this.fresh();
    if (deas.length === 0) return 'no DEA is running (none advertised itself)';
    const family = runtime.replace(/[\d.]+$/, '');
    const withRuntime = runtime ? deas.filter((d) => d.runtimes.some((r) => r === runtime || r.replace(/[\d.]+$/, '') === family)) : deas;
    if (withRuntime.length === 0) return `no DEA offers the runtime ${runtime}`;
    const best = Math.max(...withRuntime.map((d) => d.available_memory));
    if (best < memMb) return `no DEA has ${memMb} MB free (the most any DEA has is ${Math.max(0, best)} MB)`;
    return 'no DEA answered the placement request';
  }
}

export type PlacementResult = { ok: true; dea: string } | { ok: false; reason: string };

export class Placement {
  constructor(private readonly dea: DeaClient, private readonly deas: DeaDirectory, private readonly log: Log) {}

  /** Finds a DEA for one instance and sends it the start message. */
  async place(start: DeaStart): Promise<PlacementResult> {
    const req = { droplet: start.droplet, name: start.name, runtime: start.runtime, sha: start.sha1, limits: start.limits };
    // With one DEA known there is nothing to spread over: the first answer will do.
    const chosen = this.dea.discoverAll && this.deas.fresh().length > 1
      ? this.spread(start.droplet, await this.dea.discoverAll(req))
      : await this.dea.discover(req);
    if (!chosen) {
      const reason = this.deas.explain(start.limits.mem, start.runtime);
      this.log.warn(`placement of ${start.name}[${start.index}] failed: ${reason}`);
      return { ok: false, reason };
    }
    this.dea.start(chosen.id, start);
    this.deas.started(chosen.id, start.droplet);
    this.log.info(`${start.name}[${start.index}] version ${start.version} -> dea ${chosen.id} (${chosen.ip})`);
    return { ok: true, dea: chosen.id };
  }

  /** The answer on the host with fewest of the app's instances, then the DEA with fewest; else the first. */
  private spread(droplet: number, replies: DeaDiscoverReply[]): DeaDiscoverReply | undefined {
    let best: { r: DeaDiscoverReply; host: number; dea: number } | undefined;
    for (const r of replies) {
      const c = this.deas.countOf(droplet, r.id, r.ip);
      if (!best || c.host < best.host || (c.host === best.host && c.dea < best.dea)) best = { r, ...c };
    }
    return best?.r;
  }
}
