// One staging task: download the package, unpack, detect, install dependencies, build the droplet,
// pack and upload it, with every step in the live log. A timeout or a cancellation aborts the task's
// signal, which kills its process groups and interrupts transfers; the task then answers 800 / 801.
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Bus, StagingReply, StagingRequest } from '../bus';
import { describeError, type Log } from '../log';
import type { HttpTls } from '../tls';
import { detectFramework } from './detect';
import { packDroplet, writeDropletScripts } from './droplet';
import { StagingAborted, StagingError, StagingErrorCodes, type AbortReason } from './errors';
import { unpackPackage } from './package-unpack';
import { planStart, type StartPlan } from './plan';
import { killGroup, runInGroup } from './processes';
import { StagingLog } from './staging-log';
import { downloadPackage, uploadDroplet } from './transfer';

export interface StagingTaskOptions {
  bus: Bus;
  request: StagingRequest;
  /** A fresh folder for this task only; removed when the task ends. */
  dir: string;
  token: string;
  tls: HttpTls;
  timeoutSec: number;
  log: Log;
}

type Phase = 'running' | 'uploading' | 'uploaded' | 'done';

const maxReplyLog = 4 * 1024 * 1024;

function kib(n: number): string {
  return n < 1024 * 1024 ? `${(n / 1024).toFixed(1)} KiB` : `${(n / 1024 / 1024).toFixed(1)} MiB`;
}

/** The last `npm error` line that says what went wrong, for the reply's one-line error. */
function npmCause(lines: string[]): string | null {
  const useful = lines.filter((l) => /^npm (error|ERR!)/.test(l) && !/complete log of this run|^npm (error|ERR!)\s*(code|errno|\d+)?\s*$/.test(l));
  const pick = useful.find((l) => /404 Not Found|ETARGET|ENOTFOUND|EAI_AGAIN|ECONNREFUSED|ELIFECYCLE|command failed/i.test(l)) ?? useful[0];
  return pick ? pick.replace(/^npm (error|ERR!)\s*/, '') : null;
}

export class StagingTask {
  readonly id: string;
  readonly appId: number;
  private readonly controller = new AbortController();
  private readonly groups = new Set<number>();
  private phase: Phase = 'running';
  private plan: StartPlan | null = null;
  private readonly started = Date.now();
  readonly done: Promise<StagingReply>;

  constructor(private readonly opts: StagingTaskOptions) {
    this.id = opts.request.task_id;
    this.appId = opts.request.app_id;
    this.done = this.run();
  }

  /** Stops the task (kills its processes, interrupts transfers). False when it is past the point of no return. */
  abort(reason: AbortReason): boolean {
    if (this.phase === 'uploaded' || this.phase === 'done') return false;
    if (!this.controller.signal.aborted) this.controller.abort(new StagingAborted(reason));
    for (const g of this.groups) killGroup(g);
    return true;
  }

  private get signal(): AbortSignal {
    return this.controller.signal;
  }

  private async run(): Promise<StagingReply> {
    const { request: req, dir, bus } = this.opts;
    const dropletDir = path.join(dir, 'droplet');
    const appDir = path.join(dropletDir, 'app');
    fs.mkdirSync(appDir, { recursive: true });
    fs.mkdirSync(path.join(dropletDir, 'logs'), { recursive: true });
    const log = new StagingLog(bus, req.app_id, req.task_id, path.join(dropletDir, 'logs', 'staging.log'));
    const timeoutSec = req.timeout ?? this.opts.timeoutSec;
    const timer = setTimeout(() => this.abort('timeout'), timeoutSec * 1000);
    timer.unref();
    try {
      log.write(`Staging ${req.name} (droplet ${req.app_id}), task ${req.task_id}`);
      const pkg = path.join(dir, 'package.zip');
      log.write('Downloading the application package');
      const got = await downloadPackage(req.download_uri, pkg, this.opts, this.signal);
      log.write(`Downloaded ${kib(got)}`);
      const unpacked = await unpackPackage(pkg, appDir, this.signal);
      await fs.promises.rm(pkg, { force: true });
      log.write(`Unpacked ${unpacked.files} files, ${kib(unpacked.bytes)}`);

      const props = req.properties;
      const detection = detectFramework(appDir, { framework: props.framework, command: props.command });
      log.write(`Detected framework: ${detection.framework} (${detection.evidence})`);
      this.signal.throwIfAborted();
      const plan = await planStart({ appDir, detection, command: props.command, runtime: props.runtime, env: process.env });
      this.plan = plan;
      for (const n of plan.notes) log.write(n);
      this.signal.throwIfAborted();

      if (plan.npmInstall) await this.npmInstall(appDir, log);
      else if (plan.runtime === 'node' && fs.existsSync(path.join(appDir, 'node_modules'))) log.write('node_modules is part of the app; not installing dependencies');

      await writeDropletScripts(dropletDir, plan);
      log.write(`Start command: ${plan.command}`);
      log.write('Packing the droplet');
      log.closeFile();
      const droplet = await packDroplet(dropletDir, path.join(dir, 'droplet.tgz'), this.signal, this.groups);
      log.write(`Droplet packed: ${kib(droplet.bytes)}, sha1 ${droplet.sha1}`);

      this.phase = 'uploading';
      log.write('Uploading the droplet');
      await uploadDroplet(req.upload_uri, path.join(dir, 'droplet.tgz'), this.opts, this.signal);
      this.phase = 'uploaded';
      log.write(`Droplet uploaded; staging completed in ${((Date.now() - this.started) / 1000).toFixed(1)} s`);
      log.finish(true);
      return this.reply(log, { droplet_sha1: droplet.sha1 });
    } catch (e) {
      const { message, code } = this.classify(e, timeoutSec);
      log.write(`Staging failed: ${message}`);
      log.finish(false, message);
      if (code === StagingErrorCodes.failed && !(e instanceof StagingError)) this.opts.log.error(`staging task ${req.task_id} failed`, e);
      else this.opts.log.info(`staging task ${req.task_id} (${req.name}): ${message}`);
      return this.reply(log, { error: message, error_code: code });
    } finally {
      clearTimeout(timer);
      this.phase = 'done';
      for (const g of this.groups) killGroup(g);
      await fs.promises.rm(dir, { recursive: true, force: true }).catch((err: unknown) => this.opts.log.warn(`could not remove ${dir}: ${describeError(err)}`));
    }
  }

  private classify(e: unknown, timeoutSec: number): { message: string; code: number } {
    const reason = this.signal.aborted && this.signal.reason instanceof StagingAborted ? this.signal.reason.reason : null;
    if (reason === 'timeout') return { message: `staging timed out after ${timeoutSec} s`, code: StagingErrorCodes.timeout };
    if (reason === 'cancelled') return { message: 'cancelled', code: StagingErrorCodes.cancelled };
    if (reason === 'shutdown') return { message: 'cancelled: the stager is shutting down', code: StagingErrorCodes.cancelled };
    if (e instanceof StagingError) return { message: e.message, code: e.code };
    return { message: `internal error: ${describeError(e)}`, code: StagingErrorCodes.failed };
  }

  private reply(log: StagingLog, extra: Partial<StagingReply>): StagingReply {
    const p = this.plan;
    let text = log.text();
    // NATS carries at most 8 MB; a runaway install log keeps its end, where the outcome is.
    if (text.length > maxReplyLog) text = `[... ${text.length - maxReplyLog} characters of the log left out ...]\n${text.slice(-maxReplyLog)}`;
    return {
      task_id: this.id,
      task_log: text,
      ...(p ? { detected: { framework: p.framework, runtime: p.runtime, command: p.command } } : {}),
      ...extra,
    };
  }

  private async npmInstall(appDir: string, log: StagingLog): Promise<void> {
    const args = ['install', '--omit=dev', '--no-audit', '--no-fund', '--no-progress', '--color=false', '--foreground-scripts', '--loglevel=http'];
    log.write(`Installing dependencies: npm ${args.join(' ')}`);
    const lines: string[] = [];
    const env: NodeJS.ProcessEnv = { ...process.env, npm_config_update_notifier: 'false', NO_UPDATE_NOTIFIER: '1', NODE_ENV: 'production' };
    let result;
    try {
      result = await runInGroup('npm', args, {
        cwd: appDir, env, signal: this.signal, groups: this.groups,
        onLine: (l) => { lines.push(l); log.write(l); },
      });
    } catch (e) {
      this.signal.throwIfAborted();
      throw new StagingError(`could not run npm: ${describeError(e)}`);
    }
    if (result.code !== 0) {
      const cause = npmCause(lines);
      const how = result.code === null ? `was killed by ${result.signal}` : `exited with code ${result.code}`;
      throw new StagingError(`npm install failed (${how})${cause ? `: ${cause}` : ''}`);
    }
  }
}
