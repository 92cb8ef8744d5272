// The staging log of one task: every line is timestamped, appended to logs/staging.log and published
// on `staging.log.<droplet>` the moment it is written, so editors show staging live.
import * as fs from 'node:fs';
import { Subjects, type Bus, type StagingLogLine } from '../bus';

function pad(n: number): string {
  return String(n).padStart(2, '0');
}

/** `YYYY-MM-DD HH:MM:SS` in local time, as v1's staging.log had it. */
export function logTimestamp(d: Date = new Date()): string {
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
}

export class StagingLog {
  private seq = 0;
  private readonly lines: string[] = [];
  private finished = false;
  private fd: number | null = null;

  constructor(
    private readonly bus: Bus,
    private readonly appId: number,
    private readonly taskId: string,
    file: string,
  ) {
    this.fd = fs.openSync(file, 'a', 0o644);
  }

  /** Writes `msg` (each of its lines separately) with a timestamp. */
  write(msg: string): void {
    if (this.finished) return;
    for (const part of msg.split(/\r\n|\n|\r/)) {
      const line = `[${logTimestamp()}] ${part}`;
      this.lines.push(line);
      if (this.fd !== null) {
        try { fs.writeSync(this.fd, line + '\n'); } catch { /* the file is a copy; the lines are kept in memory too */ }
      }
      const m: StagingLogLine = { app_id: this.appId, task_id: this.taskId, seq: this.seq++, line };
      this.bus.publish(Subjects.stagingLog(this.appId), m);
    }
  }

  /** The whole log so far, as staging.log holds it. */
  text(): string {
    return this.lines.length === 0 ? '' : this.lines.join('\n') + '\n';
  }

  /** Stops writing to the file (before the droplet is packed); lines still go to NATS and text(). */
  closeFile(): void {
    if (this.fd !== null) { try { fs.closeSync(this.fd); } catch { /* already closed */ } }
    this.fd = null;
  }

  /** The final message of the task on NATS. */
  finish(ok: boolean, error?: string): void {
    if (this.finished) return;
    this.finished = true;
    this.closeFile();
    const m: StagingLogLine = { app_id: this.appId, task_id: this.taskId, seq: this.seq++, done: true, ok, error: error ?? null };
    this.bus.publish(Subjects.stagingLog(this.appId), m);
  }
}
