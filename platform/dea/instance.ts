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
import { InstanceLifecycle } from './lifecycle';

export interface ProcessExit {
  code: number | null;
  signal: NodeJS.Signals | null;
  /** Set when the process could not be started at all. */
  error?: Error;
}

export type StopReason = 'STOPPED' | 'DEA_SHUTDOWN';

const MiB = 1024 * 1024;

export class Instance {
  readonly id = randomBytes(16).toString('hex');
  readonly lifecycle: InstanceLifecycle;
  readonly dir: string;
  /** When the DEA accepted the start, ms since the epoch. */
  readonly acceptedAt = Date.now();
  /** Cancels the download wait and the readiness loop when the instance stops or crashes early. */
  readonly abort = new AbortController();
  uris: string[];
  port: number | null = null;
  /** Process group id (= pid of `startup`), once spawned. */
  pgid: number | null = null;
  processStartedAt: number | null = null;
  exit: ProcessExit | null = null;
  exited: Promise<ProcessExit> | null = null;
  /** Set when a stop was asked for; an exit after that is not a crash. */
  stopReason: StopReason | null = null;
  stopping: Promise<void> | null = null;
  launching: Promise<void> | null = null;
  crashTimestamp: number | null = null;
  exitDescription: string | null = null;
  retention: NodeJS.Timeout | null = null;
  usage = { cpu: 0, memBytes: 0, diskBytes: 0, sampledAt: 0, diskSampledAt: 0 };
  /** Consecutive samples far over the memory quota. */
  overMemorySamples = 0;

  constructor(readonly start: DeaStart, appsDir: string) {
    this.dir = path.join(appsDir, `${start.name}-${start.index}-${this.id}`);
    this.uris = [...start.uris];
    this.lifecycle = new InstanceLifecycle(`${start.name}[${start.index}] ${this.id}`);
  }

  get state(): HeartbeatDroplet['state'] { return this.lifecycle.state; }
  get droplet(): number { return this.start.droplet; }
  get index(): number { return this.start.index; }
  get version(): string { return this.start.version; }
  get memMb(): number { return this.start.limits.mem; }
  get label(): string { return `${this.start.name}[${this.start.index}] (${this.id.slice(0, 8)})`; }

  matches(f: DropletFilter): boolean {
    return f.droplet === this.droplet
      && (f.version === undefined || f.version === this.version)
      && (f.indices === undefined || f.indices.includes(this.index))
      && (f.instances === undefined || f.instances.includes(this.id))
      && (f.states === undefined || f.states.includes(this.state));
  }

  /** Starts `bash startup` in the instance folder as the leader of a new process group. */
  spawnStartup(env: Record<string, string>): void {
    const logs = path.join(this.dir, 'logs');
    fs.mkdirSync(logs, { recursive: true });
    // The startup script's own output (not the app's, which it redirects) for failures before exec
    const fd = fs.openSync(path.join(logs, 'startup.log'), 'a', 0o644);
    try {
      const child = spawn('bash', ['./startup'], { cwd: this.dir, env, detached: true, stdio: ['ignore', fd, fd] });
      this.processStartedAt = Date.now();
      this.pgid = child.pid ?? null;
      this.exited = new Promise<ProcessExit>((resolve) => {
        child.once('error', (error) => { this.exit ??= { code: null, signal: null, error }; resolve(this.exit); });
        child.once('exit', (code, signal) => { this.exit ??= { code, signal }; resolve(this.exit); });
      });
    } finally {
      fs.closeSync(fd);
    }
  }

  heartbeat(): HeartbeatDroplet {
    return { droplet: this.droplet, version: this.version, instance: this.id, index: this.index, state: this.state, state_timestamp: this.lifecycle.stateTimestamp };
  }

  exitedMessage(reason: DropletExited['reason']): DropletExited {
    const m: DropletExited = { droplet: this.droplet, version: this.version, instance: this.id, index: this.index, reason };
    if (reason === 'CRASHED') {
      m.crash_timestamp = this.crashTimestamp ?? Date.now() / 1000;
      if (this.exitDescription) m.exit_description = this.exitDescription;
    }
    return m;
  }

  route(deaId: string, host: string, uris: string[] = this.uris): RouterRegister | null {
    if (this.port === null || uris.length === 0) return null;
    return {
      dea: deaId, app: this.droplet, host, port: this.port, uris,
      tags: { framework: this.start.framework, runtime: this.start.runtime }, private_instance_id: this.id,
    };
  }

  stats(host: string): InstanceStats {
    const l = this.start.limits;
    return {
      name: this.start.name,
      host,
      port: this.port,
      uris: this.uris,
      uptime: this.processStartedAt === null ? 0 : Math.max(0, (Date.now() - this.processStartedAt) / 1000),
      mem_quota: l.mem * MiB,
      disk_quota: l.disk * MiB,
      fds_quota: l.fds,
      cores: os.availableParallelism(),
      // v1 units: cpu in percent, mem in KiB, disk in bytes
      usage: {
        time: v1Time(this.usage.sampledAt || Date.now()),
        cpu: Math.round(this.usage.cpu * 10) / 10,
        mem: Math.round(this.usage.memBytes / 1024),
        disk: this.usage.diskBytes,
      },
    };
  }

  findReply(deaId: string, host: string, fileUri: string, credentials: [string, string], withStats: boolean): DeaFindDropletReply {
    const r: DeaFindDropletReply = {
      dea: deaId, version: this.version, droplet: this.droplet, instance: this.id, index: this.index,
      state: this.state, state_timestamp: this.lifecycle.stateTimestamp, file_uri: fileUri, credentials,
      staged: path.basename(this.dir), host, port: this.port,
    };
    if (withStats && this.state === 'RUNNING') r.stats = this.stats(host);
    return r;
  }
}

/** Words for how a process ended. bash reports a signal that killed its child as status 128+n. */
export function describeExit(e: ProcessExit): string {
  if (e.error) return `could not start: ${e.error.message}`;
  if (e.signal) return `killed by ${e.signal}`;
  const code = e.code ?? -1;
  if (code > 128) {
    const name = Object.entries(os.constants.signals).find(([, n]) => n === code - 128)?.[0];
    if (name) return `exited with status ${code} (killed by ${name})`;
  }
  return `exited with status ${code}`;
}

/** The last non-empty line of a (log) file, at most 200 characters; '' when there is none. */
export function lastLine(file: string): string {
  let fd: number;
  try { fd = fs.openSync(file, 'r'); } catch { return ''; }
  try {
    const size = fs.fstatSync(fd).size;
    const len = Math.min(size, 4096);
    const buf = Buffer.alloc(len);
    fs.readSync(fd, buf, 0, len, size - len);
    const lines = buf.toString('utf8').split(/\r?\n/).map((l) => l.trim()).filter(Boolean);
    const last = lines.at(-1) ?? '';
    return last.length > 200 ? `${last.slice(0, 197)}...` : last;
  } catch {
    return '';
  } finally {
    fs.closeSync(fd);
  }
}
