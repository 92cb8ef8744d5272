// Staging tasks on the controller side: one current task per app, asked of the stagers over NATS
// (`staging`, queue group), with the log kept as it streams in (`staging.log.<droplet>`), the droplet
// received over HTTP, cancellation (`staging.stop`) and a time limit.
import { randomBytes } from 'node:crypto';
import type { Readable } from 'node:stream';
import { Subjects, type Bus, type StagingLogLine, type StagingReply, type StagingRequest } from '../bus';
import { describeError, type Log } from '../log';
import type { ContentStore } from './content-store';
import { CcError, ErrorCodes } from './errors';
import type { EventHub } from './event-stream';
import type { Store } from './store';

/** The controller's record of one staging in flight. */
export interface StagingRecord {
  taskId: string;
  appId: number;
  appName: string;
  packageHash: string;
  startedAt: number;
  /** Last sequence number seen on the log subject. */
  seq: number;
  /** The droplet the stager uploaded for this task. */
  droplet: { sha1: string; size: number } | null;
  settled: boolean;
}

export type StagingOutcome =
  | { ok: true; dropletSha1: string; detected: StagingReply['detected'] }
  | { ok: false; code: number; error: string };

export interface StagingOptions {
  bus: Bus;
  store: Store;
  droplets: ContentStore;
  events: EventHub;
  log: Log;
  /** Base URL the stager reaches this controller at. */
  url: () => string;
  timeoutSec: number;
  /** Extra time the stager gets beyond its own limit to report the failure itself. */
  replyGraceMs: number;
  /** How long to keep asking while no stager answers (default: fail at once). */
  stagerWaitMs?: number;
  maxDropletBytes: number;
}

/** Hears once per task that ends other than by cancellation. */
export type StagingDoneHandler = (task: StagingRecord, outcome: StagingOutcome, log: string) => void;

function isNoResponders(e: unknown): boolean {
  if (e && typeof e === 'object' && 'isNoResponders' in e && typeof (e as { isNoResponders: unknown }).isNoResponders === 'function') {
    return (e as { isNoResponders(): boolean }).isNoResponders();
  }
  return /no responders/i.test(describeError(e));
}

export class StagingCoordinator {
  private readonly tasks = new Map<number, StagingRecord>();
  private readonly subs: { unsubscribe(): void }[] = [];
  private done: StagingDoneHandler = () => undefined;

  constructor(private readonly o: StagingOptions) {
    this.subs.push(o.bus.subscribe(Subjects.stagingLogAll, (m) => { this.onLogLine(m); }));
  }

  close(): void {
    for (const s of this.subs) s.unsubscribe();
    for (const t of this.tasks.values()) t.settled = true;
    this.tasks.clear();
  }

  current(appId: number): StagingRecord | undefined {
    return this.tasks.get(appId);
  }

  /** The task a transfer URL names, only while it is the app's current task. */
  task(appId: number, taskId: string): StagingRecord | undefined {
    const t = this.tasks.get(appId);
    return t && t.taskId === taskId && !t.settled ? t : undefined;
  }

  /** Starts staging `packageHash`; a task already running for the app is cancelled first. */
  begin(app: { id: number; name: string }, packageHash: string, properties: StagingRequest['properties']): StagingRecord {
    this.cancel(app.id, 'superseded by a newer staging task');
    const task: StagingRecord = {
      taskId: randomBytes(12).toString('hex'), appId: app.id, appName: app.name, packageHash,
      startedAt: Date.now(), seq: -1, droplet: null, settled: false,
    };
    this.tasks.set(app.id, task);
    this.o.store.beginStagingLog(app.id, task.taskId, packageHash);
    const base = this.o.url();
    const req: StagingRequest = {
      app_id: app.id, task_id: task.taskId, name: app.name, properties,
      download_uri: `${base}/staging/${app.id}/${task.taskId}/package`,
      upload_uri: `${base}/staging/${app.id}/${task.taskId}/droplet`,
      timeout: this.o.timeoutSec,
    };
    this.o.log.info(`staging ${app.name} (task ${task.taskId}, package ${packageHash.slice(0, 12)})`);
    void this.run(task, req);
    return task;
  }

  /** A stager that crashed is back within a second or two: until `stagerWaitMs`, no stager means ask again. */
  private async askStager(task: StagingRecord, req: StagingRequest): Promise<StagingReply> {
    const deadline = Date.now() + (this.o.stagerWaitMs ?? 0);
    for (;;) {
      try {
        return await this.o.bus.request(Subjects.staging, req, this.o.timeoutSec * 1000 + this.o.replyGraceMs);
      } catch (e) {
        const left = deadline - Date.now();
        if (!isNoResponders(e) || task.settled || left <= 0) throw e;
        await new Promise((r) => setTimeout(r, Math.min(250, left)));
      }
    }
  }

  private async run(task: StagingRecord, req: StagingRequest): Promise<void> {
    let reply: StagingReply;
    try {
      reply = await this.askStager(task, req);
    } catch (e) {
      if (task.settled) return;
      if (isNoResponders(e)) {
        this.finish(task, { ok: false, code: ErrorCodes.stagingFailed, error: 'no stager is running to stage the app' });
      } else if (/timeout/i.test(describeError(e))) {
        this.o.bus.publish(Subjects.stagingStop, { app_id: task.appId, task_id: task.taskId });
        this.finish(task, { ok: false, code: ErrorCodes.stagingTimeout, error: `staging timed out after ${this.o.timeoutSec} s` });
      } else {
        this.finish(task, { ok: false, code: ErrorCodes.stagingFailed, error: `staging failed: ${describeError(e)}` });
      }
      return;
    }
    if (task.settled) return;
    if (reply.task_id !== task.taskId) {
      this.finish(task, { ok: false, code: ErrorCodes.stagingAborted, error: `the stager answered for task ${reply.task_id}, not ${task.taskId}` }, reply.task_log);
      return;
    }
    if (reply.error) {
      const code = reply.error_code === ErrorCodes.stagingTimeout || reply.error_code === ErrorCodes.stagingAborted ? reply.error_code : ErrorCodes.stagingFailed;
      this.finish(task, { ok: false, code, error: reply.error }, reply.task_log);
      return;
    }
    if (!task.droplet) {
      this.finish(task, { ok: false, code: ErrorCodes.stagingAborted, error: 'the stager reported success but uploaded no droplet' }, reply.task_log);
      return;
    }
    if (reply.droplet_sha1 && reply.droplet_sha1 !== task.droplet.sha1) {
      this.finish(task, { ok: false, code: ErrorCodes.stagingAborted, error: `droplet checksum mismatch: received ${task.droplet.sha1}, the stager says ${reply.droplet_sha1}` }, reply.task_log);
      return;
    }
    this.finish(task, { ok: true, dropletSha1: task.droplet.sha1, detected: reply.detected }, reply.task_log);
  }

  private finish(task: StagingRecord, outcome: StagingOutcome, taskLog?: string): void {
    if (task.settled) return;
    task.settled = true;
    if (this.tasks.get(task.appId) === task) this.tasks.delete(task.appId);
    const stored = this.o.store.getStagingLog(task.appId);
    let text = stored?.taskId === task.taskId ? stored.text : '';
    // The reply's log is the whole log; keep what streamed in when the reply has none.
    if (taskLog && taskLog.trim() !== '') text = taskLog.endsWith('\n') ? taskLog : `${taskLog}\n`;
    if (!outcome.ok) text += `[${stamp()}] ${outcome.error}\n`;
    this.o.store.finishStagingLog(task.appId, task.taskId, outcome.ok ? 'SUCCEEDED' : 'FAILED', {
      text, error: outcome.ok ? null : outcome.error, errorCode: outcome.ok ? null : outcome.code,
    });
    this.o.events.emit({
      type: 'staging', name: task.appName, droplet: task.appId, task_id: task.taskId, seq: task.seq + 1,
      done: true, ok: outcome.ok, error: outcome.ok ? null : outcome.error, ...(outcome.ok ? {} : { code: outcome.code }),
    });
    this.o.log.info(`staging ${task.appName} (task ${task.taskId}) ${outcome.ok ? 'succeeded' : `failed: ${outcome.error}`}`);
    try {
      this.done(task, outcome, text);
    } catch (e) {
      this.o.log.error(`after staging ${task.appName}`, e);
    }
  }

  /** Sets who acts on a task's end (the desired state, built after this coordinator). */
  onDone(handler: StagingDoneHandler): void {
    this.done = handler;
  }

  /** Cancels the app's running task (`staging.stop`); returns it when there was one. */
  cancel(appId: number, why: string): StagingRecord | undefined {
    const task = this.tasks.get(appId);
    if (!task || task.settled) return undefined;
    task.settled = true;
    this.tasks.delete(appId);
    this.o.bus.publish(Subjects.stagingStop, { app_id: appId, task_id: task.taskId });
    this.o.store.appendStagingLog(appId, task.taskId, `[${stamp()}] staging cancelled: ${why}\n`);
    this.o.store.finishStagingLog(appId, task.taskId, 'CANCELLED', { error: `cancelled: ${why}`, errorCode: ErrorCodes.stagingAborted });
    this.o.events.emit({
      type: 'staging', name: task.appName, droplet: appId, task_id: task.taskId, seq: task.seq + 1,
      done: true, ok: false, error: `cancelled: ${why}`, code: ErrorCodes.stagingAborted,
    });
    this.o.log.info(`staging ${task.appName} (task ${task.taskId}) cancelled: ${why}`);
    return task;
  }

  private onLogLine(m: StagingLogLine): void {
    const task = this.tasks.get(m.app_id);
    if (!task || task.taskId !== m.task_id || task.settled) return;
    if (m.line === undefined) return;
    task.seq = Math.max(task.seq, m.seq);
    const line = m.line.endsWith('\n') ? m.line : `${m.line}\n`;
    this.o.store.appendStagingLog(m.app_id, m.task_id, line);
    this.o.events.emit({ type: 'staging', name: task.appName, droplet: task.appId, task_id: task.taskId, seq: m.seq, line: m.line.replace(/\n$/, '') });
  }

  /** `PUT /staging/:droplet/:task_id/droplet`: stores the droplet content-addressed. */
  async receiveDroplet(appId: number, taskId: string, body: Readable): Promise<{ sha1: string; size: number }> {
    const task = this.task(appId, taskId);
    if (!task) throw new CcError(ErrorCodes.notFound, `no staging task ${taskId} is running for app ${appId}`);
    const stored = await this.o.droplets.put(body, {
      maxBytes: this.o.maxDropletBytes,
      onTooLarge: () => new CcError(ErrorCodes.stagingAborted, `droplet larger than ${this.o.maxDropletBytes} bytes`, { status: 413 }),
    });
    if (task.settled) {
      // Cancelled while uploading: keep the file only if some droplet row still wants it.
      if (stored.created && !this.o.store.dropletInUse(stored.sha1)) await this.o.droplets.remove(stored.sha1);
      throw new CcError(ErrorCodes.notFound, `staging task ${taskId} ended during the upload`);
    }
    this.o.store.addDroplet({ appId, sha1: stored.sha1, packageHash: task.packageHash, taskId, size: stored.size });
    task.droplet = { sha1: stored.sha1, size: stored.size };
    return { sha1: stored.sha1, size: stored.size };
  }
}

export function stamp(d = new Date()): string {
  const p = (n: number): string => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())} ${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}`;
}
