// One LogOutputChannel per app ("Pocket Foundry: <app>") that shows staging log lines as the
// stager writes them, and a bounded copy of recent lines for the test API.
import * as vscode from 'vscode';

const maxKeptLines = 2000;
const stagingStamp = /^\[\d{4}-\d\d-\d\d[ T]\d\d:\d\d:\d\d(?:\.\d+)?Z?\]\s?/;

interface AppLog {
  channel: vscode.LogOutputChannel;
  lines: string[];
  /** `task_id:seq` already shown: a line may arrive both from the push and the event stream. */
  seen: Set<string>;
  task: string | undefined;
}

export interface StagingLine {
  task_id: string;
  seq: number;
  line?: string;
  done?: boolean;
  ok?: boolean;
  error?: string | null;
}

export class StagingLogs implements vscode.Disposable {
  private readonly logs = new Map<string, AppLog>();
  private readonly finished = new vscode.EventEmitter<{ app: string; task: string; ok: boolean; error: string | null }>();
  /** A staging task ended (from the event stream). */
  readonly onDidFinish = this.finished.event;

  channel(app: string): vscode.LogOutputChannel {
    return this.get(app).channel;
  }

  /** A staging event for `app`; returns false when it was a duplicate. */
  append(app: string, e: StagingLine): boolean {
    const log = this.get(app);
    const key = `${e.task_id}:${e.seq}:${e.done ? 'done' : ''}`;
    if (log.seen.has(key)) return false;
    log.seen.add(key);
    if (log.task !== e.task_id) {
      log.task = e.task_id;
      log.seen = new Set([key]);
      this.write(log, 'info', `── staging ${app} (task ${e.task_id}) ──`);
    }
    if (e.line !== undefined) {
      // The channel adds its own timestamp; the stager's would be a second one.
      this.write(log, /\b(error|failed|err!)\b/i.test(e.line) ? 'warn' : 'info', e.line.replace(stagingStamp, ''));
    }
    if (e.done) {
      if (e.ok) this.write(log, 'info', 'Staging finished.');
      else this.write(log, 'error', `Staging failed${e.error ? `: ${e.error}` : '.'}`);
      this.finished.fire({ app, task: e.task_id, ok: e.ok === true, error: e.error ?? null });
    }
    return true;
  }

  /** A line of the extension's own about this app (push steps, results). */
  note(app: string, msg: string, level: 'info' | 'warn' | 'error' = 'info'): void {
    this.write(this.get(app), level, msg);
  }

  show(app: string, preserveFocus = true): void {
    this.get(app).channel.show(preserveFocus);
  }

  /** Recent lines as shown (without the channel's timestamp), oldest first. */
  lines(app: string): readonly string[] {
    return this.logs.get(app)?.lines ?? [];
  }

  /** Lines of the latest staging task of `app`, as the stager wrote them (for problem matching). */
  taskLines(app: string): string[] {
    const log = this.logs.get(app);
    if (!log) return [];
    const start = log.lines.lastIndexOf(`── staging ${app} (task ${log.task ?? ''}) ──`);
    return log.lines.slice(start >= 0 ? start + 1 : 0);
  }

  dispose(): void {
    for (const l of this.logs.values()) l.channel.dispose();
    this.logs.clear();
    this.finished.dispose();
  }

  private get(app: string): AppLog {
    let log = this.logs.get(app);
    if (!log) {
      log = { channel: vscode.window.createOutputChannel(`Pocket Foundry: ${app}`, { log: true }), lines: [], seen: new Set(), task: undefined };
      this.logs.set(app, log);
    }
    return log;
  }

  private write(log: AppLog, level: 'info' | 'warn' | 'error', text: string): void {
    log.channel[level](text);
    log.lines.push(text);
    if (log.lines.length > maxKeptLines) log.lines.splice(0, log.lines.length - maxKeptLines);
  }
}
