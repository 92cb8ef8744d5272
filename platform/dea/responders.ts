// Handlers of the dea.* subjects: start, stop, update, discover and find.droplet.
import type { DeaDiscover, DeaDiscoverReply, DeaFindDroplet, DeaStart, DeaUpdate, DropletFilter, HandlerContext } from '../bus';
import type { DeaContext } from './context';
import { isSha1 } from './droplet-cache';
import type { InstanceFileServer } from './file-server';
import type { Instance } from './instance';
import type { InstanceEnds } from './stop-path';

/** Discover replies are delayed by load so that the least loaded DEA answers first (v1 values). */
const TAINT_MS_PER_INSTANCE = 10;
const TAINT_MS_FOR_MEMORY = 100;
const TAINT_MAX_MS = 250;

const appName = /^[\w-]{1,200}$/;

/** What the responders need of the agent beyond the shared context. */
export interface ResponderHost extends DeaContext {
  readonly ends: InstanceEnds;
  readonly files: InstanceFileServer;
  readonly maxMemoryMb: number;
  reservedMb(): number;
  /** Why this DEA cannot take an instance of `runtime` needing `memMb`, or null when it can. */
  refusal(runtime: string, memMb: number): string | null;
  /** Reserves memory for a new instance of `m` and launches it. */
  accept(m: DeaStart): void;
}

export class Responders {
  constructor(private readonly host: ResponderHost) {}

  onStart(m: DeaStart): void {
    const { log } = this.host;
    if (!appName.test(m.name)) { log.warn(`start refused: app name "${m.name.slice(0, 200)}" is not a valid name`); return; }
    if (!isSha1(m.sha1)) { log.warn(`start of ${m.name} refused: sha1 "${m.sha1.slice(0, 64)}" is not a SHA-1`); return; }
    if (!/^https?:\/\//i.test(m.executableUri)) { log.warn(`start of ${m.name} refused: droplet uri must be http or https`); return; }
    const why = this.host.refusal(m.runtime, m.limits.mem);
    if (why) { log.info(`start of ${m.name}[${m.index}] refused: ${why}`); return; }
    this.host.accept(m);
  }

  onStop(m: DropletFilter): void {
    for (const inst of this.matching(m)) {
      this.host.ends.stop(inst, 'STOPPED').catch((e: unknown) => this.host.log.error(`stopping ${inst.label} failed`, e));
    }
  }

  onUpdate(m: DeaUpdate): void {
    const { instances, announce, log } = this.host;
    for (const inst of instances.values()) {
      if (inst.droplet !== m.droplet || !inst.live) continue;
      const removed = inst.uris.filter((u) => !m.uris.includes(u));
      const added = m.uris.filter((u) => !inst.uris.includes(u));
      const routed = inst.state === 'RUNNING';
      if (routed) announce.unregisterRoutes(inst, removed);
      inst.setUris(m.uris);
      if (routed) announce.registerRoutes(inst, added);
      if (removed.length || added.length) log.info(`${inst.label} uris now ${inst.uris.join(', ') || '(none)'}`);
    }
  }

  async onDiscover(m: DeaDiscover): Promise<DeaDiscoverReply | undefined> {
    const h = this.host;
    if (h.refusal(m.runtime, m.limits.mem)) return undefined;
    let sameDroplet = 0;
    for (const i of h.instances.values()) if (i.droplet === m.droplet && i.live) sameDroplet++;
    const taint = Math.min(TAINT_MAX_MS, sameDroplet * TAINT_MS_PER_INSTANCE + (h.reservedMb() / h.maxMemoryMb) * TAINT_MS_FOR_MEMORY);
    if (taint > 0) await new Promise((r) => setTimeout(r, taint));
    if (h.refusal(m.runtime, m.limits.mem)) return undefined;
    return { id: h.id, ip: h.host, port: h.files.port, version: 0.1 };
  }

  onFindDroplet(m: DeaFindDroplet, ctx: HandlerContext): void {
    const dea = this.host;
    const { files } = dea;
    if (dea.shuttingDown) return;
    // Stats are the latest sample: replies never wait for sampling (callers wait a fixed time)
    const found = this.matching(m).filter((i) => i.state !== 'DELETED');
    for (const inst of found) {
      ctx.respond(inst.findReply(dea.id, dea.host, files.fileUri(inst.id), files.credentials, m.include_stats === true));
    }
  }

  private matching(f: DropletFilter): Instance[] {
    return [...this.host.instances.values()].filter((i) => i.matches(f));
  }
}
