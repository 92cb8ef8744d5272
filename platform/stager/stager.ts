// The stager: takes staging requests from the `staging` queue group (one stager per request), runs
// each as a StagingTask in its own folder, and answers `staging.stop` for the tasks it holds.
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Subscription } from '@nats-io/transport-node';
import { QueueGroups, Subjects, type Bus, type StagingReply, type StagingRequest, type StagingStop, type StagingStopReply } from '../bus';
import type { Log } from '../log';
import { HttpTls } from '../tls';
import { StagingTask } from './staging-task';

export interface StagerOptions {
  bus: Bus;
  /** Parent of the stager's task folders. */
  workDir: string;
  /** Sent as `Authorization` to download_uri and upload_uri. */
  token: string;
  /** HTTPS towards the controller across hosts (default: plain). */
  tls?: HttpTls;
  /** Default time limit of a task in seconds (a request's `timeout` wins). */
  timeoutSec?: number;
  log: Log;
}

export interface Stager {
  stop(): Promise<void>;
}

/** How long a `staging.stop` answer waits for the cancelled task to unwind. */
const stopWaitMs = 10_000;

class StagerService implements Stager {
  private readonly tasks = new Set<StagingTask>();
  private readonly subs: Subscription[] = [];
  private stopping = false;
  private readonly log: Log;

  constructor(private readonly opts: StagerOptions, private readonly root: string) {
    this.log = opts.log;
  }

  listen(): void {
    const { bus } = this.opts;
    this.subs.push(bus.subscribe(Subjects.staging, (m) => this.stage(m), { queue: QueueGroups.staging }));
    // Every stager hears every stop; only the one holding the task answers.
    this.subs.push(bus.subscribe(Subjects.stagingStop, (m, ctx) => this.cancel(m, ctx.respond)));
  }

  private async stage(req: StagingRequest): Promise<StagingReply> {
    if (this.stopping) return { task_id: req.task_id, task_log: '', error: 'the stager is shutting down', error_code: 801 };
    const dir = await fs.promises.mkdtemp(path.join(this.root, 'task-'));
    this.log.info(`staging ${req.name} (droplet ${req.app_id}), task ${req.task_id}`);
    const task = new StagingTask({
      bus: this.opts.bus, request: req, dir, token: this.opts.token, tls: this.opts.tls ?? HttpTls.plain,
      timeoutSec: this.opts.timeoutSec ?? 120, log: this.log,
    });
    this.tasks.add(task);
    try {
      return await task.done;
    } finally {
      this.tasks.delete(task);
    }
  }

  private async cancel(m: StagingStop, respond: (r: StagingStopReply) => void): Promise<void> {
    const hits = [...this.tasks].filter((t) => t.appId === m.app_id && (m.task_id === undefined || t.id === m.task_id));
    await Promise.all(hits.map(async (t) => {
      const stopped = t.abort('cancelled');
      if (stopped) {
        this.log.info(`staging task ${t.id} cancelled`);
        await Promise.race([t.done, new Promise((r) => setTimeout(r, stopWaitMs).unref())]);
      }
      respond({ task_id: t.id, stopped });
    }));
  }

  async stop(): Promise<void> {
    if (this.stopping) return;
    this.stopping = true;
    for (const s of this.subs) s.unsubscribe();
    const running = [...this.tasks];
    for (const t of running) t.abort('shutdown');
    await Promise.allSettled(running.map((t) => t.done));
    // Let the last replies leave before the caller closes the bus.
    await new Promise((r) => setImmediate(r));
    await this.opts.bus.flush().catch(() => undefined);
    await fs.promises.rm(this.root, { recursive: true, force: true }).catch(() => undefined);
  }
}

export async function startStager(opts: StagerOptions): Promise<Stager> {
  await fs.promises.mkdir(opts.workDir, { recursive: true });
  const root = await fs.promises.mkdtemp(path.join(opts.workDir, 'stager-'));
  const stager = new StagerService(opts, root);
  stager.listen();
  await opts.bus.flush();
  opts.log.info(`stager ready (work dir ${root})`);
  return stager;
}
