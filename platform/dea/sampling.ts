// Usage sampling: cpu and memory of every live instance's process group (v1: every 2 s), disk less
// often; an instance far over its memory quota for two samples in a row is crashed.
import { describeError } from '../log';
import type { DeaContext } from './context';
import type { Instance } from './instance';
import type { InstanceEnds } from './stop-path';
import { directoryBytes, sampleGroup } from './usage';

/** An instance whose memory stays above this multiple of its quota for two samples is killed. */
const MEMORY_KILL_FACTOR = 1.5;
const MEMORY_KILL_SAMPLES = 2;

export class UsageSampler {
  private sampling = false;

  constructor(private readonly dea: DeaContext, private readonly ends: InstanceEnds) {}

  async sampleAll(): Promise<void> {
    if (this.sampling || this.dea.shuttingDown) return;
    this.sampling = true;
    try {
      for (const inst of [...this.dea.instances.values()]) {
        if (inst.live && inst.pgid !== null) await this.sample(inst, false);
      }
    } catch (e) {
      this.dea.log.warn(`usage sampling: ${describeError(e)}`);
    } finally {
      this.sampling = false;
    }
  }

  /** Samples one instance now, disk included; errors go to the debug log. */
  sampleNow(inst: Instance): void {
    this.sample(inst, true).catch((e: unknown) => this.dea.log.debug(`sampling ${inst.label}: ${describeError(e)}`));
  }

  private async sample(inst: Instance, withDisk: boolean): Promise<void> {
    if (inst.pgid === null) return;
    const { statsMs, diskMs } = this.dea.timings;
    const u = await sampleGroup(inst.pgid, Math.max(5000, statsMs * 3));
    const now = Date.now();
    inst.recordUsage(u.cpu, u.memBytes, now);
    if (withDisk || now - inst.usage.diskSampledAt >= diskMs) inst.recordDisk(await directoryBytes(inst.dir), now);
    const limit = inst.memMb * 1024 * 1024 * MEMORY_KILL_FACTOR;
    if (inst.countOverMemory(u.memBytes > limit && inst.live) >= MEMORY_KILL_SAMPLES) {
      const usedMb = Math.round(u.memBytes / 1024 / 1024);
      await this.ends.crash(inst, `out of memory: using ${usedMb} MB with a quota of ${inst.memMb} MB`);
    }
  }
}
