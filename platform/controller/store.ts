// The controller's SQLite store (better-sqlite3, WAL). Every multi-row change runs in a transaction.
import * as fs from 'node:fs';
import * as path from 'node:path';
import BetterSqlite3 from 'better-sqlite3';
import type { Database } from 'better-sqlite3';
import type { AppState, PackageState } from '../contract';
import { currentVersion, migrate, migrations as defaultMigrations, type Migration } from './migrations';

export type { AppState, PackageState };
export type StagingLogState = 'RUNNING' | 'SUCCEEDED' | 'FAILED' | 'CANCELLED';

export interface AppRecord {
  id: number;
  name: string;
  framework: string | null;
  runtime: string | null;
  command: string | null;
  instances: number;
  memory: number;
  disk: number;
  fds: number;
  state: AppState;
  packageState: PackageState;
  packageHash: string | null;
  stagedHash: string | null;
  dropletSha1: string | null;
  runCount: number;
  env: string[];
  debug: string | null;
  console: boolean | null;
  lockVersion: number;
  /** Seconds since the epoch. */
  createdAt: number;
  /** Seconds since the epoch (fractional): `last_updated` for the health manager. */
  updatedAt: number;
  stagingError: string | null;
  stagingErrorCode: number | null;
  detectedFramework: string | null;
  detectedRuntime: string | null;
  detectedCommand: string | null;
  placementError: string | null;
}

/** Columns a caller may change; `id`, `createdAt` are fixed. */
export type AppPatch = Partial<Omit<AppRecord, 'id' | 'createdAt'>>;

export type NewApp = Pick<AppRecord,
  'name' | 'framework' | 'runtime' | 'command' | 'instances' | 'memory' | 'disk' | 'fds' | 'state' | 'env' | 'debug' | 'console'>;

export interface StagingLogRecord {
  appId: number;
  taskId: string;
  packageHash: string | null;
  text: string;
  state: StagingLogState;
  startedAt: number;
  finishedAt: number | null;
  error: string | null;
  errorCode: number | null;
}

export interface DropletRecord {
  appId: number;
  sha1: string;
  packageHash: string | null;
  taskId: string | null;
  size: number;
  createdAt: number;
}

export interface CrashRecord {
  appId: number;
  instance: string;
  index: number;
  version: string | null;
  since: number;
  reason: string | null;
  description: string | null;
}

export interface EventRecord {
  id: number;
  appId: number | null;
  appName: string;
  event: string;
  detail: unknown;
  at: number;
}

const columnOf: Record<keyof AppPatch, string> = {
  name: 'name', framework: 'framework', runtime: 'runtime', command: 'command', instances: 'instances',
  memory: 'memory', disk: 'disk', fds: 'fds', state: 'state', packageState: 'package_state',
  packageHash: 'package_hash', stagedHash: 'staged_hash', dropletSha1: 'droplet_sha1', runCount: 'run_count',
  env: 'env', debug: 'debug', console: 'console', lockVersion: 'lock_version', updatedAt: 'updated_at',
  stagingError: 'staging_error', stagingErrorCode: 'staging_error_code', detectedFramework: 'detected_framework',
  detectedRuntime: 'detected_runtime', detectedCommand: 'detected_command', placementError: 'placement_error',
};

type Row = Record<string, unknown>;

const str = (v: unknown): string | null => (v === null || v === undefined ? null : String(v));
const num = (v: unknown): number => Number(v);

function toApp(r: Row): AppRecord {
  return {
    id: num(r.id), name: String(r.name), framework: str(r.framework), runtime: str(r.runtime), command: str(r.command),
    instances: num(r.instances), memory: num(r.memory), disk: num(r.disk), fds: num(r.fds),
    state: r.state as AppState, packageState: r.package_state as PackageState,
    packageHash: str(r.package_hash), stagedHash: str(r.staged_hash), dropletSha1: str(r.droplet_sha1),
    runCount: num(r.run_count), env: JSON.parse(String(r.env)) as string[],
    debug: str(r.debug), console: r.console === null || r.console === undefined ? null : Boolean(r.console),
    lockVersion: num(r.lock_version), createdAt: num(r.created_at), updatedAt: num(r.updated_at),
    stagingError: str(r.staging_error), stagingErrorCode: r.staging_error_code === null ? null : num(r.staging_error_code),
    detectedFramework: str(r.detected_framework), detectedRuntime: str(r.detected_runtime),
    detectedCommand: str(r.detected_command), placementError: str(r.placement_error),
  };
}

function toDbValue(key: keyof AppPatch, v: unknown): unknown {
  if (key === 'env') return JSON.stringify(v);
  if (key === 'console') return v === null || v === undefined ? null : v ? 1 : 0;
  return v;
}

/** Seconds since the epoch, millisecond precision. */
export function nowSeconds(): number {
  return Date.now() / 1000;
}

export class Store {
  readonly db: Database;
  private lastStamp = 0;

  private constructor(db: Database) {
    this.db = db;
  }

  static open(dataDir: string, migrations: readonly Migration[] = defaultMigrations): Store {
    fs.mkdirSync(dataDir, { recursive: true, mode: 0o700 });
    const db = new BetterSqlite3(path.join(dataDir, 'controller.db'));
    try {
      db.pragma('journal_mode = WAL');
      db.pragma('synchronous = NORMAL');
      db.pragma('foreign_keys = ON');
      db.pragma('busy_timeout = 5000');
      migrate(db, migrations);
    } catch (e) {
      db.close();
      throw e;
    }
    return new Store(db);
  }

  /** A store in memory: for tests of the parts that use one. */
  static inMemory(): Store {
    const db = new BetterSqlite3(':memory:');
    db.pragma('foreign_keys = ON');
    migrate(db, defaultMigrations);
    return new Store(db);
  }

  close(): void {
    if (this.db.open) this.db.close();
  }

  schemaVersion(): number {
    return currentVersion(this.db);
  }

  tx<T>(fn: () => T): T {
    return this.db.transaction(fn)();
  }

  /** A strictly increasing timestamp, so two changes in the same millisecond still differ (HM's STOP guard). */
  stamp(): number {
    const now = nowSeconds();
    this.lastStamp = now > this.lastStamp ? now : Math.round((this.lastStamp + 0.001) * 1000) / 1000;
    return this.lastStamp;
  }

  // ---- apps ------------------------------------------------------------------------------

  listApps(): AppRecord[] {
    return (this.db.prepare('SELECT * FROM apps ORDER BY id').all() as Row[]).map(toApp);
  }

  getApp(id: number): AppRecord | undefined {
    const r = this.db.prepare('SELECT * FROM apps WHERE id = ?').get(id) as Row | undefined;
    return r ? toApp(r) : undefined;
  }

  getAppByName(name: string): AppRecord | undefined {
    const r = this.db.prepare('SELECT * FROM apps WHERE name = ?').get(name) as Row | undefined;
    return r ? toApp(r) : undefined;
  }

  countApps(): number {
    return num((this.db.prepare('SELECT COUNT(*) AS n FROM apps').get() as Row).n);
  }

  /** Memory reserved by STARTED apps (memory x instances), optionally leaving one app out. */
  startedMemory(exceptId?: number): number {
    const r = this.db.prepare(`SELECT COALESCE(SUM(memory * instances), 0) AS m FROM apps WHERE state = 'STARTED' AND id != ?`).get(exceptId ?? -1) as Row;
    return num(r.m);
  }

  createApp(a: NewApp): AppRecord {
    const now = this.stamp();
    const info = this.db.prepare(`
      INSERT INTO apps (name, framework, runtime, command, instances, memory, disk, fds, state, env, debug, console, created_at, updated_at)
      VALUES (@name, @framework, @runtime, @command, @instances, @memory, @disk, @fds, @state, @env, @debug, @console, @created, @updated)
    `).run({
      ...a, env: JSON.stringify(a.env), console: a.console === null ? null : a.console ? 1 : 0,
      created: Math.floor(now), updated: now,
    });
    return this.getApp(Number(info.lastInsertRowid)) as AppRecord;
  }

  updateApp(id: number, patch: AppPatch): AppRecord {
    const keys = (Object.keys(patch) as (keyof AppPatch)[]).filter((k) => patch[k] !== undefined);
    if (keys.length > 0) {
      const sets = keys.map((k) => `${columnOf[k]} = @${k}`).join(', ');
      const params: Record<string, unknown> = { id };
      for (const k of keys) params[k] = toDbValue(k, patch[k]);
      this.db.prepare(`UPDATE apps SET ${sets} WHERE id = @id`).run(params);
    }
    const app = this.getApp(id);
    if (!app) throw new Error(`app ${id} vanished during update`);
    return app;
  }

  deleteApp(id: number): void {
    this.db.prepare('DELETE FROM apps WHERE id = ?').run(id);
  }

  // ---- uris ------------------------------------------------------------------------------

  urisOf(appId: number): string[] {
    return (this.db.prepare('SELECT uri FROM uris WHERE app_id = ? ORDER BY position').all(appId) as Row[]).map((r) => String(r.uri));
  }

  uriOwner(uri: string): number | undefined {
    const r = this.db.prepare('SELECT app_id FROM uris WHERE uri = ?').get(uri) as Row | undefined;
    return r ? num(r.app_id) : undefined;
  }

  setUris(appId: number, uris: readonly string[]): void {
    this.db.prepare('DELETE FROM uris WHERE app_id = ?').run(appId);
    const ins = this.db.prepare('INSERT INTO uris (uri, app_id, position) VALUES (?, ?, ?)');
    uris.forEach((u, i) => ins.run(u, appId, i));
  }

  // ---- packages and droplets -------------------------------------------------------------

  addPackage(hash: string, size: number, files: number, manifest: string | null): void {
    this.db.prepare(`
      INSERT INTO packages (hash, size, files, manifest, created_at) VALUES (?, ?, ?, ?, ?)
      ON CONFLICT (hash) DO UPDATE SET manifest = COALESCE(excluded.manifest, manifest)
    `).run(hash, size, files, manifest, nowSeconds());
  }

  /** The package already assembled from exactly this content, if any. */
  packageByManifest(manifest: string): { hash: string; size: number; files: number } | undefined {
    const r = this.db.prepare('SELECT hash, size, files FROM packages WHERE manifest = ? LIMIT 1').get(manifest) as Row | undefined;
    return r ? { hash: String(r.hash), size: num(r.size), files: num(r.files) } : undefined;
  }

  hasPackage(hash: string): boolean {
    return this.db.prepare('SELECT 1 FROM packages WHERE hash = ?').get(hash) !== undefined;
  }

  listPackages(): string[] {
    return (this.db.prepare('SELECT hash FROM packages').all() as Row[]).map((r) => String(r.hash));
  }

  /** A package is kept while an app uploaded it, staged it, or holds a droplet built from it. */
  packageInUse(hash: string): boolean {
    return this.db.prepare(`
      SELECT 1 FROM apps WHERE package_hash = @h OR staged_hash = @h
      UNION ALL SELECT 1 FROM droplets WHERE package_hash = @h LIMIT 1
    `).get({ h: hash }) !== undefined;
  }

  deletePackage(hash: string): void {
    this.db.prepare('DELETE FROM packages WHERE hash = ?').run(hash);
  }

  addDroplet(d: Omit<DropletRecord, 'createdAt'>): void {
    this.db.prepare(`
      INSERT INTO droplets (app_id, sha1, package_hash, task_id, size, created_at) VALUES (?, ?, ?, ?, ?, ?)
      ON CONFLICT (app_id, sha1) DO UPDATE SET package_hash = excluded.package_hash, task_id = excluded.task_id, created_at = excluded.created_at
    `).run(d.appId, d.sha1, d.packageHash, d.taskId, d.size, nowSeconds());
  }

  dropletsOf(appId: number): DropletRecord[] {
    return (this.db.prepare('SELECT * FROM droplets WHERE app_id = ? ORDER BY created_at DESC').all(appId) as Row[]).map((r) => ({
      appId: num(r.app_id), sha1: String(r.sha1), packageHash: str(r.package_hash), taskId: str(r.task_id),
      size: num(r.size), createdAt: num(r.created_at),
    }));
  }

  getDroplet(appId: number, sha1: string): DropletRecord | undefined {
    return this.dropletsOf(appId).find((d) => d.sha1 === sha1);
  }

  deleteDroplet(appId: number, sha1: string): void {
    this.db.prepare('DELETE FROM droplets WHERE app_id = ? AND sha1 = ?').run(appId, sha1);
  }

  dropletInUse(sha1: string): boolean {
    return this.db.prepare('SELECT 1 FROM droplets WHERE sha1 = ? LIMIT 1').get(sha1) !== undefined;
  }

  listDropletFiles(): string[] {
    return (this.db.prepare('SELECT DISTINCT sha1 FROM droplets').all() as Row[]).map((r) => String(r.sha1));
  }

  // ---- staging logs ----------------------------------------------------------------------

  beginStagingLog(appId: number, taskId: string, packageHash: string | null): void {
    this.db.prepare(`
      INSERT INTO staging_logs (app_id, task_id, package_hash, text, state, started_at) VALUES (?, ?, ?, '', 'RUNNING', ?)
      ON CONFLICT (app_id) DO UPDATE SET task_id = excluded.task_id, package_hash = excluded.package_hash, text = '',
        state = 'RUNNING', started_at = excluded.started_at, finished_at = NULL, error = NULL, error_code = NULL
    `).run(appId, taskId, packageHash, nowSeconds());
  }

  /** Appends to the log of that task only; a line from a superseded task is ignored. */
  appendStagingLog(appId: number, taskId: string, text: string): boolean {
    const r = this.db.prepare(`UPDATE staging_logs SET text = text || ? WHERE app_id = ? AND task_id = ? AND state = 'RUNNING'`).run(text, appId, taskId);
    return r.changes > 0;
  }

  finishStagingLog(appId: number, taskId: string, state: Exclude<StagingLogState, 'RUNNING'>, opts: { text?: string; error?: string | null; errorCode?: number | null } = {}): void {
    this.db.prepare(`
      UPDATE staging_logs SET state = @state, finished_at = @at, error = @error, error_code = @code, text = COALESCE(@text, text)
      WHERE app_id = @app AND task_id = @task
    `).run({ state, at: nowSeconds(), error: opts.error ?? null, code: opts.errorCode ?? null, text: opts.text ?? null, app: appId, task: taskId });
  }

  getStagingLog(appId: number): StagingLogRecord | undefined {
    const r = this.db.prepare('SELECT * FROM staging_logs WHERE app_id = ?').get(appId) as Row | undefined;
    if (!r) return undefined;
    return {
      appId: num(r.app_id), taskId: String(r.task_id), packageHash: str(r.package_hash), text: String(r.text),
      state: r.state as StagingLogState, startedAt: num(r.started_at), finishedAt: r.finished_at === null ? null : num(r.finished_at),
      error: str(r.error), errorCode: r.error_code === null ? null : num(r.error_code),
    };
  }

  runningStagingLogs(): StagingLogRecord[] {
    const ids = (this.db.prepare(`SELECT app_id FROM staging_logs WHERE state = 'RUNNING'`).all() as Row[]).map((r) => num(r.app_id));
    return ids.map((id) => this.getStagingLog(id)).filter((l): l is StagingLogRecord => l !== undefined);
  }

  // ---- events and crashes ----------------------------------------------------------------

  recordEvent(appId: number | null, appName: string, event: string, detail?: unknown): void {
    this.db.prepare('INSERT INTO events (app_id, app_name, event, detail, at) VALUES (?, ?, ?, ?, ?)')
      .run(appId, appName, event, detail === undefined ? null : JSON.stringify(detail), nowSeconds());
  }

  eventsOf(appId: number, limit = 100): EventRecord[] {
    return (this.db.prepare('SELECT * FROM events WHERE app_id = ? ORDER BY id DESC LIMIT ?').all(appId, limit) as Row[]).map((r) => ({
      id: num(r.id), appId: r.app_id === null ? null : num(r.app_id), appName: String(r.app_name), event: String(r.event),
      detail: r.detail === null ? null : JSON.parse(String(r.detail)) as unknown, at: num(r.at),
    })).reverse();
  }

  /** Keeps the most recent `keep` crashes per app. */
  recordCrash(c: CrashRecord, keep = 200): void {
    this.tx(() => {
      this.db.prepare(`
        INSERT INTO crashes (app_id, instance, idx, version, since, reason, description) VALUES (?, ?, ?, ?, ?, ?, ?)
        ON CONFLICT (app_id, instance) DO UPDATE SET since = excluded.since, reason = excluded.reason, description = excluded.description
      `).run(c.appId, c.instance, c.index, c.version, c.since, c.reason, c.description);
      this.db.prepare(`DELETE FROM crashes WHERE app_id = ? AND id NOT IN (SELECT id FROM crashes WHERE app_id = ? ORDER BY since DESC LIMIT ?)`)
        .run(c.appId, c.appId, keep);
    });
  }

  crashesOf(appId: number): CrashRecord[] {
    return (this.db.prepare('SELECT * FROM crashes WHERE app_id = ? ORDER BY since').all(appId) as Row[]).map((r) => ({
      appId: num(r.app_id), instance: String(r.instance), index: num(r.idx), version: str(r.version), since: num(r.since),
      reason: str(r.reason), description: str(r.description),
    }));
  }
}
