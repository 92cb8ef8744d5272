// Placement over advertising DEAs: `dea.discover` to every DEA, the first fitting reply wins, then
// `dea.<id>.start`. The advertise table only explains a failure in words; the DEAs decide.
import type { DeaAdvertise, DeaStart } from '../bus';
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
    const chosen = await this.dea.discover({ droplet: start.droplet, name: start.name, runtime: start.runtime, sha: start.sha1, limits: start.limits });
    if (!chosen) {
      const reason = this.deas.explain(start.limits.mem, start.runtime);
      this.log.warn(`placement of ${start.name}[${start.index}] failed: ${reason}`);
      return { ok: false, reason };
    }
    this.dea.start(chosen.id, start);
    this.log.info(`${start.name}[${start.index}] version ${start.version} -> dea ${chosen.id}`);
    return { ok: true, dea: chosen.id };
  }
}
