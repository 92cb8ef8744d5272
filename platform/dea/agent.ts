// The droplet execution agent: takes starts from the controller, runs instances, reports them on the
// bus (advertise, heartbeat, exits, routes) and answers questions about them (discover, find).
// Composition in order, as dea_ng did: folders, cache, file server, subscriptions, timers.
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Subscription } from '@nats-io/transport-node';
import {
  Subjects, type Bus, type DeaStart,
} from '../bus';
import { UserFacingError, type Log } from '../log';
import { HttpTls } from '../tls';
import { Announcer } from './announcer';
import type { DeaContext } from './context';
import { DropletCache } from './droplet-cache';
import { InstanceFileServer } from './file-server';
import { Instance } from './instance';
import { PortAllocator } from './ports';
import { killGroupsNow, pidAlive, appProcessesUnder, signalGroup, waitGroupGone } from './process-group';
import { Responders, type ResponderHost } from './responders';
import { detectRuntimes, type RuntimeSupport } from './runtimes';
import { UsageSampler } from './sampling';
import { StartPath } from './start-path';
import { InstanceEnds } from './stop-path';
import { defaultDeaTimings, type Dea, type DeaOptions, type DeaTimings } from './types';
import { forgetPids, warmUpSampling } from './usage';


// Last resort if the process exits without stop(): detached app groups would otherwise outlive it
const runningAgents = new Set<DeaAgent>();
function killEveryAgentsApps(): void {
  for (const a of runningAgents) a.killAllNow();
}

export class DeaAgent implements Dea, DeaContext, ResponderHost {
  readonly id = randomBytes(16).toString('hex');
  readonly timings: DeaTimings;
  readonly maxMemoryMb: number;
  readonly host: string;
  readonly listenHost: string;
  readonly log: Log;
  readonly instances = new Map<string, Instance>();
  readonly ports = new PortAllocator();
  readonly announce: Announcer;
  readonly ends: InstanceEnds;
  cache!: DropletCache;
  files!: InstanceFileServer;
  private readonly bus: Bus;
  private readonly baseDir: string;
  private readonly appsDir: string;
  private readonly lockFile: string;
  private readonly subscriptions: Subscription[] = [];
  private readonly timers: NodeJS.Timeout[] = [];
  private readonly runtimes: RuntimeSupport;
  private readonly responders = new Responders(this);
  private readonly sampler: UsageSampler;
  private readonly startPath: StartPath;
  private stopping = false;
  private stopped: Promise<void> | null = null;
  private heartbeatSoon: NodeJS.Immediate | null = null;
  private advertiseSoon: NodeJS.Immediate | null = null;

  private constructor(private readonly opts: DeaOptions) {
    this.timings = { ...defaultDeaTimings, ...opts.timings };
    this.maxMemoryMb = opts.maxMemoryMb ?? 4096;
    this.host = opts.host ?? '127.0.0.1';
    this.listenHost = opts.listen ?? this.host;
    this.log = opts.log;
    this.bus = opts.bus;
    this.baseDir = path.resolve(opts.baseDir);
    this.appsDir = path.join(this.baseDir, 'apps');
    this.lockFile = path.join(this.baseDir, 'dea.lock');
    this.runtimes = detectRuntimes(process.env.PATH ?? '');
    this.announce = new Announcer(this.bus, this.id, this.host, this.timings.heartbeatMs);
    this.ends = new InstanceEnds(this, () => this.changed());
    this.sampler = new UsageSampler(this, this.ends);
    this.startPath = new StartPath(this, this.ends, (inst) => this.sampler.sampleNow(inst));
  }

  get shuttingDown(): boolean { return this.stopping; }

  static async start(opts: DeaOptions): Promise<DeaAgent> {
    const dea = new DeaAgent(opts);
    fs.mkdirSync(dea.appsDir, { recursive: true, mode: 0o700 });
    dea.acquireLock();
    try {
      await dea.clearLeftovers();
      dea.cache = new DropletCache(path.join(dea.baseDir, 'droplets'), { token: opts.token, tls: opts.tls ?? HttpTls.plain }, dea.timings.downloadIdleMs, dea.log);
      dea.files = await InstanceFileServer.start({
        host: dea.listenHost, advertise: dea.host, tls: opts.tls ?? HttpTls.plain, log: dea.log, instanceDir: (id) => dea.instanceDir(id), tailPollMs: 200,
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
    sub(b.subscribe(Subjects.deaStart(this.id), (m) => { this.responders.onStart(m); }));
    sub(b.subscribe(Subjects.deaStop, (m) => { this.responders.onStop(m); }));
    sub(b.subscribe(Subjects.deaUpdate, (m) => { this.responders.onUpdate(m); }));
    sub(b.subscribe(Subjects.deaDiscover, (m) => this.responders.onDiscover(m)));
    sub(b.subscribe(Subjects.deaFindDroplet, (m, ctx) => { this.responders.onFindDroplet(m, ctx); }));
    sub(b.subscribe(Subjects.deaLocate, () => { this.advertise(); }));
    sub(b.subscribe(Subjects.healthmanagerStart, () => { this.sendHeartbeat(); }));
    sub(b.subscribe(Subjects.routerStart, () => { this.registerAllRoutes(); }));
  }

  private setupTimers(): void {
    const every = (ms: number, fn: () => void): void => {
      const t = setInterval(fn, ms);
      t.unref();
      this.timers.push(t);
    };
    every(this.timings.advertiseMs, () => this.advertise());
    every(this.timings.heartbeatMs, () => this.sendHeartbeat());
    every(this.timings.statsMs, () => { void this.sampler.sampleAll(); });
  }

  // ---- capacity ------------------------------------------------------------------------------

  reservedMb(): number {
    let mb = 0;
    for (const i of this.instances.values()) if (i.live) mb += i.memMb;
    return mb;
  }

  refusal(runtime: string, memMb: number): string | null {
    if (this.stopping) return 'shutting down';
    if (!this.runtimes.supports(runtime)) return `runtime "${runtime}" is not available here`;
    const reserved = this.reservedMb();
    if (reserved + memMb > this.maxMemoryMb) return `not enough memory (${reserved} of ${this.maxMemoryMb} MB reserved, ${memMb} MB asked)`;
    return null;
  }

  accept(m: DeaStart): void {
    const inst = new Instance(m, this.appsDir, (i) => this.ends.effectsFor(i)); // memory is reserved from here on
    this.instances.set(inst.id, inst);
    this.log.info(`starting ${inst.label} version ${m.version}, ${m.limits.mem} MB`);
    this.changed();
    inst.startLaunch(() => this.startPath.launch(inst));
  }

  // ---- outbound ------------------------------------------------------------------------------

  private advertise(): void {
    if (this.stopping) return;
    const counts: Record<string, number> = {};
    for (const i of this.instances.values()) if (i.live) counts[i.droplet] = (counts[i.droplet] ?? 0) + 1;
    this.announce.advertise({
      id: this.id, ip: this.host, available_memory: this.maxMemoryMb - this.reservedMb(),
      runtimes: this.runtimes.advertised, prod: false, app_id_to_count: counts,
    });
  }

  private sendHeartbeat(): void {
    this.announce.heartbeat(this.instances.values());
  }

  /** Something changed: heartbeat and advertise once, after whatever else changes in this turn. */
  private changed(): void {
    this.heartbeatSoon ??= setImmediate(() => { this.heartbeatSoon = null; this.sendHeartbeat(); });
    this.advertiseSoon ??= setImmediate(() => { this.advertiseSoon = null; this.advertise(); });
  }

  private registerAllRoutes(): void {
    for (const inst of this.instances.values()) if (inst.state === 'RUNNING') this.announce.registerRoutes(inst);
  }

  private instanceDir(id: string): string | null {
    const inst = this.instances.get(id);
    return inst && inst.state !== 'DELETED' && fs.existsSync(inst.dir) ? inst.dir : null;
  }

  /** Synchronous SIGKILL of every app process group (process exit without stop()). */
  killAllNow(): void {
    const groups: number[] = [];
    for (const i of this.instances.values()) if (i.pgid !== null && (i.exit === null || i.live)) groups.push(i.pgid);
    killGroupsNow(groups);
  }

  // ---- shutdown ------------------------------------------------------------------------------

  stop(): Promise<void> {
    this.stopped ??= this.shutdown();
    return this.stopped;
  }

  private async shutdown(): Promise<void> {
    this.stopping = true;
    this.log.info(`dea ${this.id} shutting down`);
    for (const t of this.timers) clearInterval(t);
    for (const s of this.subscriptions) s.unsubscribe();
    const all = [...this.instances.values()];
    await Promise.all(all.filter((i) => i.live).map((i) => this.ends.stop(i, 'DEA_SHUTDOWN')));
    // Crashed instances (and any that crashed during shutdown) go too: nobody can read them after this
    await Promise.all([...this.instances.values()].map(async (i) => {
      if (i.pgid !== null) { signalGroup(i.pgid, 'SIGKILL'); await waitGroupGone(i.pgid, 5000); }
      await this.ends.delete(i);
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
