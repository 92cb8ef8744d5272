// The droplet execution agent: takes starts from the controller, runs instances, reports them on the
// bus (advertise, heartbeat, exits, routes) and answers questions about them (discover, find).
// Composition in order, as dea_ng did: folders, cache, file server, subscriptions, timers.
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import type { Subscription } from '@nats-io/transport-node';
import { z } from 'zod';
import {
  Subjects, deaDiscover, deaFindDroplet, deaStart, deaStop, deaUpdate, routerStart,
  type Bus, type DeaAdvertise, type DeaDiscover, type DeaDiscoverReply, type DeaFindDroplet, type DeaHeartbeat,
  type DeaStart, type DeaUpdate, type DropletFilter, type HandlerContext, type InstanceState,
} from '../bus';
import { UserFacingError, describeError, type Log } from '../log';
import { DropletCache, extractDroplet, isSha1 } from './droplet-cache';
import { buildInstanceEnv } from './environment';
import { InstanceFileServer } from './file-server';
import { Instance, describeExit, lastLine, type StopReason } from './instance';
import { isLive } from './lifecycle';
import { PortAllocator } from './ports';
import { groupMembers, killGroupsNow, pidAlive, appProcessesUnder, signalGroup, terminateGroup, waitGroupGone } from './process-group';
import { detectRuntimes, type RuntimeSupport } from './runtimes';
import { defaultDeaTimings, type Dea, type DeaOptions, type DeaTimings } from './types';
import { directoryBytes, forgetPids, sampleGroup, warmUpSampling } from './usage';

/** Discover replies are delayed by load so that the least loaded DEA answers first (v1 values). */
const TAINT_MS_PER_INSTANCE = 10;
const TAINT_MS_FOR_MEMORY = 100;
const TAINT_MAX_MS = 250;
/** An instance whose memory stays above this multiple of its quota for two samples is killed. */
const MEMORY_KILL_FACTOR = 1.5;
const MEMORY_KILL_SAMPLES = 2;

const appName = /^[\w-]{1,200}$/;
const anything = z.unknown();

class LaunchStopped extends Error { override name = 'LaunchStopped'; }

// Last resort if the process exits without stop(): detached app groups would otherwise outlive it
const runningAgents = new Set<DeaAgent>();
function killEveryAgentsApps(): void {
  for (const a of runningAgents) a.killAllNow();
}

export class DeaAgent implements Dea {
  readonly id = randomBytes(16).toString('hex');
  private readonly timings: DeaTimings;
  private readonly maxMemoryMb: number;
  private readonly host: string;
  private readonly log: Log;
  private readonly bus: Bus;
  private readonly baseDir: string;
  private readonly appsDir: string;
  private readonly lockFile: string;
  private readonly instances = new Map<string, Instance>();
  private readonly ports = new PortAllocator();
  private readonly subscriptions: Subscription[] = [];
  private readonly timers: NodeJS.Timeout[] = [];
  private readonly runtimes: RuntimeSupport;
  private cache!: DropletCache;
  private files!: InstanceFileServer;
  private shuttingDown = false;
  private stopped: Promise<void> | null = null;
  private heartbeatSoon: NodeJS.Immediate | null = null;
  private advertiseSoon: NodeJS.Immediate | null = null;
  private sampling = false;

  private constructor(private readonly opts: DeaOptions) {
    this.timings = { ...defaultDeaTimings, ...opts.timings };
    this.maxMemoryMb = opts.maxMemoryMb ?? 4096;
    this.host = opts.host ?? '127.0.0.1';
    this.log = opts.log;
    this.bus = opts.bus;
    this.baseDir = path.resolve(opts.baseDir);
    this.appsDir = path.join(this.baseDir, 'apps');
    this.lockFile = path.join(this.baseDir, 'dea.lock');
    this.runtimes = detectRuntimes(process.env.PATH ?? '');
  }

  static async start(opts: DeaOptions): Promise<DeaAgent> {
    const dea = new DeaAgent(opts);
    fs.mkdirSync(dea.appsDir, { recursive: true, mode: 0o700 });
    dea.acquireLock();
    try {
      await dea.clearLeftovers();
      dea.cache = new DropletCache(path.join(dea.baseDir, 'droplets'), opts.token, dea.timings.downloadIdleMs, dea.log);
      dea.files = await InstanceFileServer.start({
        host: dea.host, log: dea.log, instanceDir: (id) => dea.instanceDir(id), tailPollMs: 200,
      });
      dea.setupSubscriptions();
      await dea.bus.flush();
      dea.setupTimers();
    } catch (e) {
      await dea.files?.stop().catch(() => undefined);
      for (const s of dea.subscriptions) s.unsubscribe();
      fs.rmSync(dea.lockFile, { force: true });
      throw e;
    }
    if (runningAgents.size === 0) process.on('exit', killEveryAgentsApps);
    runningAgents.add(dea);
    dea.log.info(`dea ${dea.id} up: ${dea.maxMemoryMb} MB, runtimes ${dea.runtimes.advertised.join(', ') || 'none'}, files on port ${dea.files.port}`);
    dea.advertise();
    dea.sendHeartbeat();
    warmUpSampling();
    return dea;
  }

  // ---- setup ---------------------------------------------------------------------------------

  private async clearLeftovers(): Promise<void> {
    // A previous DEA on this folder died without stopping its apps: nobody tracks them now
    const orphans = appProcessesUnder(this.appsDir);
    if (orphans.length) {
      const groups = new Set(orphans.map((o) => o.pgid));
      this.log.warn(`killing ${orphans.length} process(es) left running by a previous DEA in ${this.appsDir}`);
      for (const o of orphans) { try { process.kill(o.pid, 'SIGKILL'); } catch { /* gone */ } }
      for (const g of groups) if (g > 1) signalGroup(g, 'SIGKILL');
      await Promise.all([...groups].map((g) => waitGroupGone(g, 5000)));
    }
    for (const name of fs.readdirSync(this.appsDir)) fs.rmSync(path.join(this.appsDir, name), { recursive: true, force: true });
  }

  private acquireLock(): void {
    for (let attempt = 0; attempt < 2; attempt++) {
      try {
        fs.writeFileSync(this.lockFile, `${process.pid}\n`, { flag: 'wx', mode: 0o600 });
        return;
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
        const pid = Number(fs.readFileSync(this.lockFile, 'utf8').trim());
        if (Number.isInteger(pid) && pid > 0 && pidAlive(pid)) {
          throw new UserFacingError(`the DEA folder ${this.baseDir} is in use by process ${pid}; give this DEA another folder (or remove ${this.lockFile} if that process is not a DEA)`);
        }
        fs.rmSync(this.lockFile, { force: true });
      }
    }
    throw new UserFacingError(`cannot lock the DEA folder ${this.baseDir}`);
  }

  private setupSubscriptions(): void {
    const b = this.bus;
    const sub = (s: Subscription): void => { this.subscriptions.push(s); };
    sub(b.subscribe(Subjects.deaStart(this.id), deaStart, (m) => { this.onStart(m); }));
    sub(b.subscribe(Subjects.deaStop, deaStop, (m) => { this.onStop(m); }));
    sub(b.subscribe(Subjects.deaUpdate, deaUpdate, (m) => { this.onUpdate(m); }));
    sub(b.subscribe(Subjects.deaDiscover, deaDiscover, (m) => this.onDiscover(m)));
    sub(b.subscribe(Subjects.deaFindDroplet, deaFindDroplet, (m, ctx) => { this.onFindDroplet(m, ctx); }));
    sub(b.subscribe(Subjects.deaLocate, anything, () => { this.advertise(); }));
    sub(b.subscribe(Subjects.healthmanagerStart, anything, () => { this.sendHeartbeat(); }));
    sub(b.subscribe(Subjects.routerStart, routerStart, () => { this.registerAllRoutes(); }));
  }

  private setupTimers(): void {
    const every = (ms: number, fn: () => void): void => {
      const t = setInterval(fn, ms);
      t.unref();
      this.timers.push(t);
    };
    every(this.timings.advertiseMs, () => this.advertise());
    every(this.timings.heartbeatMs, () => this.sendHeartbeat());
    every(this.timings.statsMs, () => { void this.sampleUsage(); });
  }

  // ---- capacity ------------------------------------------------------------------------------

  private reservedMb(): number {
    let mb = 0;
    for (const i of this.instances.values()) if (isLive(i.state)) mb += i.memMb;
    return mb;
  }

  /** Why this DEA cannot take an instance of `runtime` needing `memMb`, or null when it can. */
  private refusal(runtime: string, memMb: number): string | null {
    if (this.shuttingDown) return 'shutting down';
    if (!this.runtimes.supports(runtime)) return `runtime "${runtime}" is not available here`;
    const reserved = this.reservedMb();
    if (reserved + memMb > this.maxMemoryMb) return `not enough memory (${reserved} of ${this.maxMemoryMb} MB reserved, ${memMb} MB asked)`;
    return null;
  }

  // ---- inbound -------------------------------------------------------------------------------

  private onStart(m: DeaStart): void {
    if (!appName.test(m.name)) { this.log.warn(`start refused: app name "${m.name.slice(0, 200)}" is not a valid name`); return; }
    if (!isSha1(m.sha1)) { this.log.warn(`start of ${m.name} refused: sha1 "${m.sha1.slice(0, 64)}" is not a SHA-1`); return; }
    if (!/^https?:\/\//i.test(m.executableUri)) { this.log.warn(`start of ${m.name} refused: droplet uri must be http or https`); return; }
    const why = this.refusal(m.runtime, m.limits.mem);
    if (why) { this.log.info(`start of ${m.name}[${m.index}] refused: ${why}`); return; }
    const inst = new Instance(m, this.appsDir); // memory is reserved from here on
    this.instances.set(inst.id, inst);
    this.log.info(`starting ${inst.label} version ${m.version}, ${m.limits.mem} MB`);
    this.changed();
    inst.launching = this.launch(inst);
  }

  private onStop(m: DropletFilter): void {
    for (const inst of this.matching(m)) {
      this.stopInstance(inst, 'STOPPED').catch((e: unknown) => this.log.error(`stopping ${inst.label} failed`, e));
    }
  }

  private onUpdate(m: DeaUpdate): void {
    for (const inst of this.instances.values()) {
      if (inst.droplet !== m.droplet || !isLive(inst.state)) continue;
      const removed = inst.uris.filter((u) => !m.uris.includes(u));
      const added = m.uris.filter((u) => !inst.uris.includes(u));
      if (inst.state === 'RUNNING') {
        const gone = inst.route(this.id, this.host, removed);
        if (gone) this.bus.publish(Subjects.routerUnregister, gone);
      }
      inst.uris = [...m.uris];
      if (inst.state === 'RUNNING') {
        const fresh = inst.route(this.id, this.host, added);
        if (fresh) this.bus.publish(Subjects.routerRegister, fresh);
      }
      if (removed.length || added.length) this.log.info(`${inst.label} uris now ${inst.uris.join(', ') || '(none)'}`);
    }
  }

  private async onDiscover(m: DeaDiscover): Promise<DeaDiscoverReply | undefined> {
    if (this.refusal(m.runtime, m.limits.mem)) return undefined;
    let sameDroplet = 0;
    for (const i of this.instances.values()) if (i.droplet === m.droplet && isLive(i.state)) sameDroplet++;
    const taint = Math.min(TAINT_MAX_MS, sameDroplet * TAINT_MS_PER_INSTANCE + (this.reservedMb() / this.maxMemoryMb) * TAINT_MS_FOR_MEMORY);
    if (taint > 0) await new Promise((r) => setTimeout(r, taint));
    if (this.refusal(m.runtime, m.limits.mem)) return undefined;
    return { id: this.id, ip: this.host, port: this.files.port, version: 0.1 };
  }

  private onFindDroplet(m: DeaFindDroplet, ctx: HandlerContext): void {
    if (this.shuttingDown) return;
    // Stats are the latest sample: replies never wait for sampling (callers wait a fixed time)
    const found = this.matching(m).filter((i) => i.state !== 'DELETED');
    for (const inst of found) {
      ctx.respond(inst.findReply(this.id, this.host, this.files.fileUri(inst.id), this.files.credentials, m.include_stats === true));
    }
  }

  private matching(f: DropletFilter): Instance[] {
    return [...this.instances.values()].filter((i) => i.matches(f));
  }

  // ---- outbound ------------------------------------------------------------------------------

  private advertise(): void {
    if (this.shuttingDown) return;
    const counts: Record<string, number> = {};
    for (const i of this.instances.values()) if (isLive(i.state)) counts[i.droplet] = (counts[i.droplet] ?? 0) + 1;
    const msg: DeaAdvertise = {
      id: this.id, ip: this.host, available_memory: this.maxMemoryMb - this.reservedMb(),
      runtimes: this.runtimes.advertised, prod: false, app_id_to_count: counts,
    };
    this.bus.publish(Subjects.deaAdvertise, msg);
  }

  private sendHeartbeat(): void {
    const msg: DeaHeartbeat = {
      dea: this.id,
      droplets: [...this.instances.values()].filter((i) => i.state !== 'DELETED').map((i) => i.heartbeat()),
    };
    this.bus.publish(Subjects.deaHeartbeat, msg);
  }

  /** Something changed: heartbeat and advertise once, after whatever else changes in this turn. */
  private changed(): void {
    this.heartbeatSoon ??= setImmediate(() => { this.heartbeatSoon = null; this.sendHeartbeat(); });
    this.advertiseSoon ??= setImmediate(() => { this.advertiseSoon = null; this.advertise(); });
  }

  private registerAllRoutes(): void {
    for (const inst of this.instances.values()) {
      if (inst.state !== 'RUNNING') continue;
      const r = inst.route(this.id, this.host);
      if (r) this.bus.publish(Subjects.routerRegister, r);
    }
  }

  private transition(inst: Instance, to: InstanceState): void {
    const from = inst.state;
    inst.lifecycle.transition(to);
    this.log.debug(`${inst.label} ${from} -> ${to}`);
    this.changed();
  }

  // ---- running an instance -------------------------------------------------------------------

  private stopIfAsked(inst: Instance): void {
    if (inst.stopReason || inst.state !== 'STARTING') throw new LaunchStopped();
  }

  private async launch(inst: Instance): Promise<void> {
    try {
      const tgz = await this.cache.fetch(inst.start.sha1, inst.start.executableUri, inst.abort.signal);
      this.stopIfAsked(inst);
      await fs.promises.mkdir(inst.dir, { recursive: true, mode: 0o700 });
      await extractDroplet(tgz, inst.dir);
      this.stopIfAsked(inst);
      if (!fs.existsSync(path.join(inst.dir, 'startup'))) throw new Error('the droplet has no startup script');
      inst.port = await this.ports.allocate();
      this.stopIfAsked(inst);
      inst.spawnStartup(buildInstanceEnv({
        instanceId: inst.id, index: inst.index, name: inst.start.name, uris: inst.uris, version: inst.version,
        runtime: inst.start.runtime, host: this.host, port: inst.port, limits: inst.start.limits, home: inst.dir,
        startedAt: inst.acceptedAt, stateTimestamp: inst.lifecycle.stateTimestamp, userEnv: inst.start.env,
        path: process.env.PATH ?? '/usr/local/bin:/usr/bin:/bin',
      }));
      void inst.exited?.then((e) => this.onProcessExit(inst, e));
      if (inst.uris.length > 0) await this.waitUntilListening(inst);
      this.stopIfAsked(inst);
      this.transition(inst, 'RUNNING');
      this.log.info(`${inst.label} RUNNING on port ${inst.port}`);
      const r = inst.route(this.id, this.host);
      if (r) this.bus.publish(Subjects.routerRegister, r);
      // A first sample now, so stats asked for right after the start are not all zero
      this.sampleInstance(inst, true).catch((e: unknown) => this.log.debug(`sampling ${inst.label}: ${describeError(e)}`));
    } catch (e) {
      if (e instanceof LaunchStopped || inst.stopReason || inst.state !== 'STARTING') return;
      await this.crash(inst, describeError(e));
    }
  }

  /**
   * Readiness: TCP connects until one succeeds; throws when the limit passes first. The first tries
   * come quicker (25, 50, 100 ms ...) up to the poll period, so a fast app is routed sooner.
   */
  private async waitUntilListening(inst: Instance): Promise<void> {
    const port = inst.port as number;
    const deadline = Date.now() + this.timings.readinessLimitMs;
    for (let attempt = 0; ; attempt++) {
      this.stopIfAsked(inst);
      if (inst.exit) throw new LaunchStopped(); // the exit handler reports the crash
      if (await canConnect(this.host, port, Math.max(100, this.timings.readinessPollMs))) return;
      if (Date.now() >= deadline) {
        throw new Error(`did not start listening on port ${port} within ${Math.round(this.timings.readinessLimitMs / 100) / 10}s`);
      }
      await sleep(Math.min(this.timings.readinessPollMs, 25 * 2 ** attempt), inst.abort.signal);
    }
  }

  private onProcessExit(inst: Instance, e: { code: number | null; signal: NodeJS.Signals | null; error?: Error }): void {
    if (inst.stopReason || !isLive(inst.state)) return;
    const logs = path.join(inst.dir, 'logs');
    const said = lastLine(path.join(logs, 'stderr.log')) || lastLine(path.join(logs, 'startup.log'));
    void this.crash(inst, said ? `${describeExit(e)}: ${said}` : describeExit(e));
  }

  /** A live instance ended without being asked to: report it, clean its processes, keep its folder a while. */
  private async crash(inst: Instance, description: string): Promise<void> {
    if (!isLive(inst.state) || inst.stopReason) return;
    const wasRunning = inst.state === 'RUNNING';
    inst.abort.abort();
    this.transition(inst, 'CRASHED');
    inst.crashTimestamp = inst.lifecycle.stateTimestamp;
    inst.exitDescription = description;
    this.log.warn(`${inst.label} CRASHED: ${description}`);
    if (wasRunning) {
      const r = inst.route(this.id, this.host);
      if (r) this.bus.publish(Subjects.routerUnregister, r);
    }
    this.bus.publish(Subjects.dropletExited, inst.exitedMessage('CRASHED'));
    if (inst.pgid !== null) {
      signalGroup(inst.pgid, 'SIGKILL'); // whatever the crashed app left behind
      await waitGroupGone(inst.pgid, 5000);
    }
    this.ports.release(inst.port);
    if (this.shuttingDown) return;
    inst.retention = setTimeout(() => { void this.deleteInstance(inst); }, this.timings.crashRetentionMs);
    inst.retention.unref();
  }

  /** Stops a live instance (or forgets a crashed one), as asked by the controller or on shutdown. */
  private stopInstance(inst: Instance, reason: StopReason): Promise<void> {
    if (inst.state === 'CRASHED') return this.deleteInstance(inst);
    if (!isLive(inst.state)) return Promise.resolve();
    inst.stopping ??= this.doStop(inst, reason);
    return inst.stopping;
  }

  private async doStop(inst: Instance, reason: StopReason): Promise<void> {
    inst.stopReason = reason;
    inst.abort.abort();
    if (inst.state === 'RUNNING') {
      const r = inst.route(this.id, this.host);
      if (r) this.bus.publish(Subjects.routerUnregister, r);
    }
    await inst.launching;
    if (inst.pgid !== null) {
      const gone = await terminateGroup(inst.pgid, this.timings.stopGraceMs);
      if (!gone) this.log.error(`${inst.label}: processes ${groupMembers(inst.pgid).join(', ')} survived SIGKILL`);
    }
    if (inst.state === 'CRASHED') return; // crashed while we waited; reported as such
    this.transition(inst, 'STOPPED');
    this.log.info(`${inst.label} STOPPED (${reason})`);
    this.bus.publish(Subjects.dropletExited, inst.exitedMessage(reason));
    this.ports.release(inst.port);
    await this.deleteInstance(inst);
  }

  private async deleteInstance(inst: Instance): Promise<void> {
    if (inst.state !== 'CRASHED' && inst.state !== 'STOPPED') return;
    if (inst.retention) clearTimeout(inst.retention);
    this.transition(inst, 'DELETED');
    this.instances.delete(inst.id);
    await fs.promises.rm(inst.dir, { recursive: true, force: true }).catch((e: unknown) => this.log.warn(`removing ${inst.dir}: ${describeError(e)}`));
    const inUse = new Set([...this.instances.values()].map((i) => i.start.sha1));
    await this.cache.prune(inUse).catch((e: unknown) => this.log.warn(`pruning the droplet cache: ${describeError(e)}`));
  }

  private instanceDir(id: string): string | null {
    const inst = this.instances.get(id);
    return inst && inst.state !== 'DELETED' && fs.existsSync(inst.dir) ? inst.dir : null;
  }

  /** Synchronous SIGKILL of every app process group (process exit without stop()). */
  killAllNow(): void {
    const groups: number[] = [];
    for (const i of this.instances.values()) if (i.pgid !== null && (i.exit === null || isLive(i.state))) groups.push(i.pgid);
    killGroupsNow(groups);
  }

  // ---- usage ---------------------------------------------------------------------------------

  private async sampleUsage(): Promise<void> {
    if (this.sampling || this.shuttingDown) return;
    this.sampling = true;
    try {
      for (const inst of [...this.instances.values()]) {
        if (isLive(inst.state) && inst.pgid !== null) await this.sampleInstance(inst, false);
      }
    } catch (e) {
      this.log.warn(`usage sampling: ${describeError(e)}`);
    } finally {
      this.sampling = false;
    }
  }

  private async sampleInstance(inst: Instance, withDisk: boolean): Promise<void> {
    if (inst.pgid === null) return;
    const u = await sampleGroup(inst.pgid, Math.max(5000, this.timings.statsMs * 3));
    const now = Date.now();
    inst.usage.cpu = u.cpu;
    inst.usage.memBytes = u.memBytes;
    inst.usage.sampledAt = now;
    if (withDisk || now - inst.usage.diskSampledAt >= this.timings.diskMs) {
      inst.usage.diskBytes = await directoryBytes(inst.dir);
      inst.usage.diskSampledAt = now;
    }
    const limit = inst.memMb * 1024 * 1024 * MEMORY_KILL_FACTOR;
    if (u.memBytes > limit && isLive(inst.state)) {
      inst.overMemorySamples++;
      if (inst.overMemorySamples >= MEMORY_KILL_SAMPLES) {
        const usedMb = Math.round(u.memBytes / 1024 / 1024);
        await this.crash(inst, `out of memory: using ${usedMb} MB with a quota of ${inst.memMb} MB`);
      }
    } else {
      inst.overMemorySamples = 0;
    }
  }

  // ---- shutdown ------------------------------------------------------------------------------

  stop(): Promise<void> {
    this.stopped ??= this.shutdown();
    return this.stopped;
  }

  private async shutdown(): Promise<void> {
    this.shuttingDown = true;
    this.log.info(`dea ${this.id} shutting down`);
    for (const t of this.timers) clearInterval(t);
    for (const s of this.subscriptions) s.unsubscribe();
    const all = [...this.instances.values()];
    await Promise.all(all.filter((i) => isLive(i.state)).map((i) => this.stopInstance(i, 'DEA_SHUTDOWN')));
    // Crashed instances (and any that crashed during shutdown) go too: nobody can read them after this
    await Promise.all([...this.instances.values()].map(async (i) => {
      if (i.pgid !== null) { signalGroup(i.pgid, 'SIGKILL'); await waitGroupGone(i.pgid, 5000); }
      await this.deleteInstance(i);
    }));
    if (this.heartbeatSoon) { clearImmediate(this.heartbeatSoon); this.heartbeatSoon = null; }
    if (this.advertiseSoon) { clearImmediate(this.advertiseSoon); this.advertiseSoon = null; }
    this.sendHeartbeat();
    await this.bus.flush().catch(() => undefined);
    await this.files.stop();
    runningAgents.delete(this);
    if (runningAgents.size === 0) process.off('exit', killEveryAgentsApps);
    forgetPids();
    fs.rmSync(this.lockFile, { force: true });
    this.log.info(`dea ${this.id} stopped`);
  }
}

function canConnect(host: string, port: number, timeoutMs: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ host, port });
    const done = (ok: boolean): void => { socket.destroy(); resolve(ok); };
    socket.setTimeout(timeoutMs, () => done(false));
    socket.once('connect', () => done(true));
    socket.once('error', () => done(false));
  });
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) { resolve(); return; }
    const t = setTimeout(() => { signal.removeEventListener('abort', onAbort); resolve(); }, ms);
    const onAbort = (): void => { clearTimeout(t); resolve(); };
    signal.addEventListener('abort', onAbort, { once: true });
  });
}
