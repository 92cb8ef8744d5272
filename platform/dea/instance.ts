// One instance of a droplet on this DEA: its lifecycle, folder, port, process group and usage, and
// the wire shapes that describe it (heartbeat entry, exit, route, find reply, stats).
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type {
  DeaFindDropletReply, DeaStart, DropletExited, DropletFilter, HeartbeatDroplet, InstanceStats, RouterRegister,
} from '../bus';
import { v1Time } from './environment';
import { InstanceMachine, type InstanceEffects, type InstancePhase, type StopReason } from './lifecycle';
import type { ProcessExit } from './process-exit';

const MiB = 1024 * 1024;

export interface Usage {
  cpu: number;
  memBytes: number;
  diskBytes: number;
  sampledAt: number;
  diskSampledAt: number;
}

export class Instance {
  readonly id = randomBytes(16).toString('hex');
  readonly dir: string;
  /** When the DEA accepted the start, ms since the epoch. */
  readonly acceptedAt = Date.now();
  private readonly machine: InstanceMachine;
  private currentUris: string[];
  private assignedPort: number | null = null;
  private group: number | null = null;
  private processStartedAt: number | null = null;
  private processExit: ProcessExit | null = null;
  private processExited: Promise<ProcessExit> | null = null;
  private launch: Promise<void> | null = null;
  private stop: Promise<void> | null = null;
  private retention: NodeJS.Timeout | null = null;
  private readonly sampled: Usage = { cpu: 0, memBytes: 0, diskBytes: 0, sampledAt: 0, diskSampledAt: 0 };
  /** Consecutive samples far over the memory quota. */
  private overMemory = 0;

  /** `effects` are what this instance's transitions do outside it (see InstanceMachine). */
  constructor(readonly start: DeaStart, appsDir: string, effects: (inst: Instance) => InstanceEffects) {
    this.dir = path.join(appsDir, `${start.name}-${start.index}-${this.id}`);
    this.currentUris = [...start.uris];
    this.machine = new InstanceMachine(`${start.name}[${start.index}] ${this.id}`, effects(this));
  }

  get phase(): InstancePhase { return this.machine.phase; }
  get state(): HeartbeatDroplet['state'] { return this.machine.state; }
  get stateTimestamp(): number { return this.machine.stateTimestamp; }
  get live(): boolean { return this.machine.live; }
  get stopReason(): StopReason | null { return this.machine.stopReason; }
  get signal(): AbortSignal { return this.machine.signal; }
  get droplet(): number { return this.start.droplet; }
  get index(): number { return this.start.index; }
  get version(): string { return this.start.version; }
  get memMb(): number { return this.start.limits.mem; }
  get label(): string { return `${this.start.name}[${this.start.index}] (${this.id.slice(0, 8)})`; }
  get uris(): readonly string[] { return this.currentUris; }
  get port(): number | null { return this.assignedPort; }
  /** Process group id (= pid of `startup`), once spawned. */
  get pgid(): number | null { return this.group; }
  get exit(): ProcessExit | null { return this.processExit; }
  get usage(): Readonly<Usage> { return this.sampled; }
  /** The launch in progress or done; resolves when it has ended, however. */
  get launched(): Promise<void> | null { return this.launch; }

  can(to: InstancePhase): boolean { return this.machine.can(to); }
  advance(to: 'launching' | 'starting' | 'running'): void { this.machine.advance(to); }
  crashed(description: string): Promise<void> | false { return this.machine.crashed(description); }
  stopped(): void { this.machine.stopped(); }

  deleted(): void {
    if (this.retention) clearTimeout(this.retention);
    this.machine.deleted();
  }

  /** Runs the launch once and remembers it, so a stop can wait for it. */
  startLaunch(run: () => Promise<void>): void { this.launch ??= run(); }

  /** Enters `stopping` once and runs `run`; later calls get the same stop. */
  stopOnce(reason: StopReason, run: () => Promise<void>): Promise<void> {
    if (!this.stop) {
      this.machine.stopping(reason);
      this.stop = run();
    }
    return this.stop;
  }

  /** Keeps a crashed instance's folder readable for `ms`, then calls `expire`. */
  retain(ms: number, expire: () => void): void {
    if (this.phase !== 'crashed') return;
    this.retention = setTimeout(expire, ms);
    this.retention.unref();
  }

  setUris(uris: readonly string[]): void { this.currentUris = [...uris]; }
  assignPort(port: number): void { this.assignedPort = port; }

  recordUsage(cpu: number, memBytes: number, at: number): void {
    this.sampled.cpu = cpu;
    this.sampled.memBytes = memBytes;
    this.sampled.sampledAt = at;
  }

  recordDisk(bytes: number, at: number): void {
    this.sampled.diskBytes = bytes;
    this.sampled.diskSampledAt = at;
  }

  /** Counts consecutive samples over the quota; returns the count (0 after one under it). */
  countOverMemory(over: boolean): number {
    this.overMemory = over ? this.overMemory + 1 : 0;
    return this.overMemory;
  }

  matches(f: DropletFilter): boolean {
    return f.droplet === this.droplet
      && (f.version === undefined || f.version === this.version)
      && (f.indices === undefined || f.indices.includes(this.index))
      && (f.instances === undefined || f.instances.includes(this.id))
      && (f.states === undefined || f.states.includes(this.state));
  }

  /** Starts `bash startup` in the instance folder as the leader of a new process group. */
  spawnStartup(env: Record<string, string>): Promise<ProcessExit> | null {
    const logs = path.join(this.dir, 'logs');
    fs.mkdirSync(logs, { recursive: true });
    // The startup script's own output (not the app's, which it redirects) for failures before exec
    const fd = fs.openSync(path.join(logs, 'startup.log'), 'a', 0o644);
    try {
      const child = spawn('bash', ['./startup'], { cwd: this.dir, env, detached: true, stdio: ['ignore', fd, fd] });
      this.processStartedAt = Date.now();
      this.group = child.pid ?? null;
      this.processExited = new Promise<ProcessExit>((resolve) => {
        child.once('error', (error) => { this.processExit ??= { code: null, signal: null, error }; resolve(this.processExit); });
        child.once('exit', (code, signal) => { this.processExit ??= { code, signal }; resolve(this.processExit); });
      });
    } finally {
      fs.closeSync(fd);
    }
    return this.processExited;
  }

  heartbeat(): HeartbeatDroplet {
    return { droplet: this.droplet, version: this.version, instance: this.id, index: this.index, state: this.state, state_timestamp: this.stateTimestamp };
  }

  exitedMessage(reason: DropletExited['reason']): DropletExited {
    const m: DropletExited = { droplet: this.droplet, version: this.version, instance: this.id, index: this.index, reason };
    if (reason === 'CRASHED') {
      m.crash_timestamp = this.machine.crashTimestamp ?? Date.now() / 1000;
      const said = this.machine.exitDescription;
      if (said) m.exit_description = said;
    }
    return m;
  }

  route(deaId: string, host: string, uris: readonly string[] = this.currentUris): RouterRegister | null {
    if (this.port === null || uris.length === 0) return null;
    return {
      dea: deaId, app: this.droplet, host, port: this.port, uris: [...uris],
      tags: { framework: this.start.framework, runtime: this.start.runtime }, private_instance_id: this.id,
    };
  }

  stats(host: string): InstanceStats {
    const l = this.start.limits;
    return {
      name: this.start.name,
      host,
      port: this.port,
      uris: [...this.currentUris],
      uptime: this.processStartedAt === null ? 0 : Math.max(0, (Date.now() - this.processStartedAt) / 1000),
      mem_quota: l.mem * MiB,
      disk_quota: l.disk * MiB,
      fds_quota: l.fds,
      cores: os.availableParallelism(),
      // v1 units: cpu in percent, mem in KiB, disk in bytes
      usage: {
        time: v1Time(this.sampled.sampledAt || Date.now()),
        cpu: Math.round(this.sampled.cpu * 10) / 10,
        mem: Math.round(this.sampled.memBytes / 1024),
        disk: this.sampled.diskBytes,
      },
    };
  }

  findReply(deaId: string, host: string, fileUri: string, credentials: [string, string], withStats: boolean): DeaFindDropletReply {
    const r: DeaFindDropletReply = {
      dea: deaId, version: this.version, droplet: this.droplet, instance: this.id, index: this.index,
      state: this.state, state_timestamp: this.stateTimestamp, file_uri: fileUri, credentials,
      staged: path.basename(this.dir), host, port: this.port,
    };
    if (withStats && this.state === 'RUNNING') r.stats = this.stats(host);
    return r;
  }
}

