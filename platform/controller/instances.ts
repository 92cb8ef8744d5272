// The instance endpoints: `/instances`, `/stats`, `/crashes` (from the DEAs' `dea.find.droplet`
// answers and the health manager) and `/instances/:idx/files/*path` (proxied from the DEA that
// holds the instance; `logs/staging.log` comes from the stored staging log).
import type { IncomingMessage, ServerResponse } from 'node:http';
import {
  Subjects,
  type Bus, type DeaFindDropletReply,
} from '../bus';
import { decodeFilePath, encodeFilePath, type AppStats, type CrashInfo, type CrashList, type InstanceInfo, type InstanceList } from '../contract';
import { describeError, type Log } from '../log';
import type { HttpTls } from '../tls';
import type { DeaClient } from './dea-client';
import { CcError, ErrorCodes } from './errors';
import type { EventHub } from './event-stream';
import { versionOf } from './instance-key';
import type { AppRecord, Store } from './store';
import type { ControllerTimings } from './timings';

const rank = (r: DeaFindDropletReply, version: string): number =>
  (r.version === version ? 10 : 0) + ({ RUNNING: 5, STARTING: 4, CRASHED: 2, STOPPED: 1, DELETED: 0 } as const)[r.state];

/** The best instance for each index: the live version first, RUNNING before STARTING, the newest. */
function byIndex(replies: readonly DeaFindDropletReply[], version: string): Map<number, DeaFindDropletReply> {
  const out = new Map<number, DeaFindDropletReply>();
  for (const r of replies) {
    const cur = out.get(r.index);
    if (!cur || rank(r, version) > rank(cur, version) || (rank(r, version) === rank(cur, version) && r.state_timestamp > cur.state_timestamp)) out.set(r.index, r);
  }
  return out;
}

export class InstanceViews {
  constructor(
    private readonly dea: Pick<DeaClient, 'find'>,
    private readonly bus: Bus,
    private readonly store: Store,
    private readonly events: EventHub,
    private readonly log: Log,
    private readonly timings: ControllerTimings,
    /** How the DEAs' file servers are reached (HTTPS across hosts). */
    private readonly tls: HttpTls,
  ) {}

  private async flappingIndices(app: AppRecord, version: string): Promise<Map<number, number>> {
    try {
      const r = await this.bus.request(Subjects.healthmanagerStatus, { droplet: app.id, version, state: 'FLAPPING' }, this.timings.hmStatusWaitMs);
      return new Map((r.indices ?? []).map((i) => [i.index, i.since]));
    } catch {
      return new Map(); // no health manager: nothing is known to flap
    }
  }

  async instances(app: AppRecord): Promise<InstanceList> {
    if (app.state !== 'STARTED') return { instances: [] };
    const version = versionOf(app);
    const [replies, flapping] = await Promise.all([
      this.dea.find({ droplet: app.id, version, states: ['STARTING', 'RUNNING'] }, app.instances),
      this.flappingIndices(app, version),
    ]);
    const best = byIndex(replies, version);
    const now = Math.floor(Date.now() / 1000);
    const out: InstanceInfo[] = [];
    for (let index = 0; index < app.instances; index++) {
      const r = best.get(index);
      let state: InstanceInfo['state'] = 'DOWN';
      let since = Math.floor(app.updatedAt) || now;
      if (flapping.has(index)) { state = 'FLAPPING'; since = Math.floor(flapping.get(index) as number); }
      if (r && (r.state === 'RUNNING' || r.state === 'STARTING')) { state = r.state; since = Math.floor(r.state_timestamp); }
      out.push({ index, state, since, debug_ip: null, debug_port: null, console_ip: null, console_port: null });
    }
    return { instances: out };
  }

  async stats(app: AppRecord): Promise<AppStats> {
    if (app.state !== 'STARTED') return {};
    const version = versionOf(app);
    const replies = await this.dea.find({ droplet: app.id, version, states: ['STARTING', 'RUNNING'], include_stats: true }, app.instances);
    const best = byIndex(replies, version);
    const out: AppStats = {};
    for (let index = 0; index < app.instances; index++) {
      const r = best.get(index);
      if (r?.state === 'RUNNING' && r.stats) out[String(index)] = { state: 'RUNNING', stats: r.stats };
      else if (r) out[String(index)] = { state: r.state, since: r.state_timestamp };
      else out[String(index)] = { state: 'DOWN', since: Math.floor(app.updatedAt) };
    }
    return out;
  }

  async crashes(app: AppRecord): Promise<CrashList> {
    const byId = new Map<string, CrashInfo>();
    for (const c of this.store.crashesOf(app.id)) {
      byId.set(c.instance, { instance: c.instance, since: Math.floor(c.since), index: c.index, ...(c.reason ? { reason: c.reason } : {}), ...(c.description ? { description: c.description } : {}) });
    }
    try {
      const r = await this.bus.request(Subjects.healthmanagerStatus, { droplet: app.id, state: 'CRASHED' }, this.timings.hmStatusWaitMs);
      for (const c of r.instances ?? []) {
        if (!byId.has(c.instance)) byId.set(c.instance, { instance: c.instance, since: Math.floor(c.since), ...(c.index !== undefined ? { index: c.index } : {}), ...(c.reason ? { reason: c.reason } : {}) });
      }
    } catch { /* no health manager: the stored records are the answer */ }
    return { crashes: [...byId.values()].sort((a, b) => a.since - b.since) };
  }

  /**
   * `GET /apps/:name/instances/:idx/files/*path`. `idx` is an index, or an instance's id (what
   * `vmc crashlogs --instance` sends): a crashed one stays readable while its DEA keeps its folder.
   */
  async files(req: IncomingMessage, res: ServerResponse, app: AppRecord, idxText: string, rawPath: string, tail: boolean, offset?: number): Promise<void> {
    const byId = !/^\d{1,9}$/.test(idxText);
    if (byId && !/^[\w-]{1,128}$/.test(idxText)) throw new CcError(ErrorCodes.instanceNotFound, `instance ${idxText} not found`);
    const p = decodeFilePath(rawPath);
    if (!p.ok) throw new CcError(ErrorCodes.fileNotFound, `file ${rawPath} not found`);
    const filePath = p.segments.join('/');
    if (filePath === 'logs/staging.log') { this.stagingLog(req, res, app, tail); return; }
    const inst = byId ? await this.instanceById(app, idxText) : await this.instanceByIndex(app, Number(idxText));
    const target = new URL(encodeFilePath(p), inst.file_uri.endsWith('/') ? inst.file_uri : `${inst.file_uri}/`);
    if (tail) target.searchParams.set('tail', '1');
    if (tail && offset !== undefined) target.searchParams.set('offset', String(offset));
    await this.proxy(req, res, target, inst.credentials, filePath || '/');
  }

  private async instanceByIndex(app: AppRecord, index: number): Promise<DeaFindDropletReply> {
    if (app.state !== 'STARTED') throw new CcError(ErrorCodes.appStopped, `app ${app.name} is stopped`);
    const replies = await this.dea.find({ droplet: app.id, indices: [index] });
    const inst = byIndex(replies, versionOf(app)).get(index);
    if (!inst) throw new CcError(ErrorCodes.instanceNotFound, `instance ${index} of ${app.name} not found`);
    return inst;
  }

  /** Any state and version, the app stopped or not: crash logs are read after the fact. */
  private async instanceById(app: AppRecord, id: string): Promise<DeaFindDropletReply> {
    const inst = (await this.dea.find({ droplet: app.id, instances: [id] }, 1)).find((r) => r.instance === id);
    if (!inst) throw new CcError(ErrorCodes.instanceNotFound, `instance ${id} of ${app.name} not found (a crashed instance's files are kept for a while only)`);
    return inst;
  }

  private proxy(req: IncomingMessage, res: ServerResponse, target: URL, credentials: [string, string], label: string): Promise<void> {
    return new Promise((resolve, reject) => {
      const auth = Buffer.from(`${credentials[0]}:${credentials[1]}`).toString('base64');
      let client: ReturnType<HttpTls['client']>;
      try { client = this.tls.client(target); } catch (e) {
        reject(new CcError(ErrorCodes.fileRetrieval, `could not retrieve ${label}: ${describeError(e)}`));
        return;
      }
      const up = client.mod.get(target, { ...client.options, headers: { authorization: `Basic ${auth}` }, timeout: 30_000 }, (ur) => {
        const status = ur.statusCode ?? 500;
        if (status === 404) { ur.resume(); reject(new CcError(ErrorCodes.fileNotFound, `file ${label} not found`)); return; }
        if (status !== 200) { ur.resume(); reject(new CcError(ErrorCodes.fileRetrieval, `could not retrieve ${label}: the DEA answered ${status}`)); return; }
        up.setTimeout(0);
        res.writeHead(200, {
          'content-type': String(ur.headers['content-type'] ?? 'text/plain; charset=utf-8'),
          ...(ur.headers['content-length'] ? { 'content-length': String(ur.headers['content-length']) } : {}),
          'cache-control': 'no-store',
        });
        ur.pipe(res);
        ur.on('end', () => resolve());
        ur.on('error', () => { res.destroy(); resolve(); });
      });
      up.on('timeout', () => up.destroy(new Error('timed out')));
      up.on('error', (e) => {
        if (res.headersSent) { res.destroy(); resolve(); return; }
        reject(new CcError(ErrorCodes.fileRetrieval, `could not retrieve ${label}: ${describeError(e)}`));
      });
      // The client left (e.g. the end of a `logs --follow`): stop reading from the DEA.
      res.on('close', () => { up.destroy(); resolve(); });
      req.on('aborted', () => up.destroy());
    });
  }

  private stagingLog(req: IncomingMessage, res: ServerResponse, app: AppRecord, tail: boolean): void {
    const log = this.store.getStagingLog(app.id);
    if (!log) throw new CcError(ErrorCodes.fileNotFound, `${app.name} has no staging log yet`);
    if (!tail || log.state !== 'RUNNING') {
      const body = Buffer.from(log.text, 'utf8');
      res.writeHead(200, { 'content-type': 'text/plain; charset=utf-8', 'content-length': String(body.length), 'cache-control': 'no-store' });
      res.end(body);
      return;
    }
    // Follow: what is stored, then each line as it arrives, until the task ends.
    res.writeHead(200, { 'content-type': 'text/plain; charset=utf-8', 'cache-control': 'no-store' });
    res.write(log.text);
    const off = this.events.listen((e) => {
      if (e.type !== 'staging' || e.droplet !== app.id || e.task_id !== log.taskId) return;
      if (e.line !== undefined) res.write(`${e.line}\n`);
      if (e.done) { off(); res.end(e.ok || !e.error ? undefined : `${e.error}\n`); }
    });
    req.socket.setTimeout(0);
    res.on('close', off);
    this.log.debug(`following the staging log of ${app.name}`);
  }
}
