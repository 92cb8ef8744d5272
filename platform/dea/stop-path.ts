// How instances end: a crash (kept a while for its logs), a stop asked for, and deletion. The bus,
// port and process effects of these ends are attached to the state machine (effectsFor).
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { InstanceState } from '../bus';
import { describeError } from '../log';
import type { DeaContext } from './context';
import type { Instance } from './instance';
import type { InstanceEffects, StopReason } from './lifecycle';
import { describeExit, lastLine, type ProcessExit } from './process-exit';
import { groupMembers, signalGroup, terminateGroup, waitGroupGone } from './process-group';

export class InstanceEnds {
  constructor(private readonly dea: DeaContext, private readonly changed: () => void) {}

  /** What `inst`'s transitions do: bus messages, its port, its leftover processes. */
  effectsFor(inst: Instance): InstanceEffects {
    const { announce, ports, log } = this.dea;
    return {
      registerRoutes: () => announce.registerRoutes(inst),
      unregisterRoutes: () => announce.unregisterRoutes(inst),
      exited: (reason) => announce.exited(inst, reason),
      reap: async () => {
        if (inst.pgid === null) return;
        signalGroup(inst.pgid, 'SIGKILL'); // whatever the crashed app left behind
        await waitGroupGone(inst.pgid, 5000);
      },
      releasePort: () => ports.release(inst.port),
      changed: (from: InstanceState, to: InstanceState) => { log.debug(`${inst.label} ${from} -> ${to}`); this.changed(); },
    };
  }

  onProcessExit(inst: Instance, e: ProcessExit): void {
    if (!inst.can('crashed')) return;
    const logs = path.join(inst.dir, 'logs');
    const said = lastLine(path.join(logs, 'stderr.log')) || lastLine(path.join(logs, 'startup.log'));
    void this.crash(inst, said ? `${describeExit(e)}: ${said}` : describeExit(e));
  }

  /** A live instance ended without being asked to: report it, clean its processes, keep its folder a while. */
  async crash(inst: Instance, description: string): Promise<void> {
    const ended = inst.crashed(description);
    if (!ended) return;
    this.dea.log.warn(`${inst.label} CRASHED: ${description}`);
    await ended;
    if (this.dea.shuttingDown) return;
    inst.retain(this.dea.timings.crashRetentionMs, () => { void this.delete(inst); });
  }

  /** Stops a live instance (or forgets a crashed one), as asked by the controller or on shutdown. */
  stop(inst: Instance, reason: StopReason): Promise<void> {
    if (inst.phase === 'crashed') return this.delete(inst);
    if (!inst.live) return Promise.resolve();
    return inst.stopOnce(reason, () => this.terminate(inst, reason));
  }

  private async terminate(inst: Instance, reason: StopReason): Promise<void> {
    await inst.launched;
    if (inst.pgid !== null) {
      const gone = await terminateGroup(inst.pgid, this.dea.timings.stopGraceMs);
      if (!gone) this.dea.log.error(`${inst.label}: processes ${groupMembers(inst.pgid).join(', ')} survived SIGKILL`);
    }
    inst.stopped();
    this.dea.log.info(`${inst.label} STOPPED (${reason})`);
    await this.delete(inst);
  }

  async delete(inst: Instance): Promise<void> {
    if (!inst.can('deleted')) return;
    inst.deleted();
    const { instances, cache, log } = this.dea;
    instances.delete(inst.id);
    await fs.promises.rm(inst.dir, { recursive: true, force: true }).catch((e: unknown) => log.warn(`removing ${inst.dir}: ${describeError(e)}`));
    const inUse = new Set([...instances.values()].map((i) => i.start.sha1));
    await cache.prune(inUse).catch((e: unknown) => log.warn(`pruning the droplet cache: ${describeError(e)}`));
  }
}
