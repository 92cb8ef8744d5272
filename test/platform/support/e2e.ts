// Test support for the end-to-end suites: a whole platform (startPlatform on a temp data dir: real
// NATS, SQLite, stager, DEA processes, health manager, router), pushes of the sample apps through the
// client as a user makes them, requests through the router by Host header, and the instance folders
// the DEA keeps under the data dir (to find an app's pid in `run.pid`).
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { push, readManifest, type PushSummary } from '../../../platform/client';
import { createLog, type LogLevel } from '../../../platform/log';
import type { PlatformTuning } from '../../../platform/platform';
import { httpRequest, type HttpReply } from './controller';
import { waitFor, type WaitOptions } from './wait';
import { startTestPlatform, type TestPlatform, type TestPlatformOptions } from './platform';

export const fixturesDir = path.resolve(__dirname, '../../fixtures');

/** Waiting on a whole platform: long, and polled gently (each poll is often a request through the router). */
export const e2eWait: WaitOptions = { timeoutMs: 30_000, everyMs: 200 };

/** Local timings for a loaded machine: quick heartbeats and restarts, generous limits. */
export const e2eTuning: PlatformTuning = {
  dea: { heartbeatMs: 1000, advertiseMs: 1000, stopGraceMs: 2000 },
  health: { dropletLostMs: 5000 },
  stagingTimeoutSec: 120,
};

export function tuningWith(extra: PlatformTuning): PlatformTuning {
  return {
    ...e2eTuning, ...extra,
    dea: { ...e2eTuning.dea, ...extra.dea },
    health: { ...e2eTuning.health, ...extra.health },
    controller: { ...e2eTuning.controller, ...extra.controller },
    router: { ...e2eTuning.router, ...extra.router },
  };
}

/** `E2E_LOG=debug|info` shows the platform's log on stderr. */
export function startE2ePlatform(opts: TestPlatformOptions = {}): Promise<TestPlatform> {
  const level = process.env.E2E_LOG as LogLevel | undefined;
  return startTestPlatform({ ...(level ? { log: createLog('pocket', { level }) } : {}), ...opts, tuning: opts.tuning ?? e2eTuning });
}

/** GET (or any method) through the router with `Host: <host>`. */
export function viaRouter(t: TestPlatform, host: string, urlPath = '/', headers: Record<string, string> = {}, method = 'GET'): Promise<HttpReply> {
  return httpRequest(`${t.router}${urlPath}`, { host, headers, method });
}

/** The app's default host on this platform. */
export const hostOf = (name: string): string => `${name}.localhost`;

/** Waits until the app answers 200 through the router with a body matching `body`. */
export async function waitServing(t: TestPlatform, name: string, body: RegExp, timeoutMs = 30_000): Promise<HttpReply> {
  return waitFor(`${name} to answer ${body}`, async () => {
    const r = await viaRouter(t, hostOf(name));
    return r.status === 200 && body.test(r.text) ? r : undefined;
  }, { ...e2eWait, timeoutMs });
}

export interface FixturePush {
  summary: PushSummary;
  stagingLog: string[];
  ms: number;
}

/** Pushes a folder as `pocket push` does (manifest memory/instances unless overridden) and waits until it runs. */
export async function pushApp(t: TestPlatform, dir: string, opts: { name?: string; instances?: number; memory?: number; signal?: AbortSignal; startTimeoutMs?: number; onStagingLog?: (line: string) => void } = {}): Promise<FixturePush> {
  const manifestFile = path.join(dir, 'manifest.yml');
  const m = fs.existsSync(manifestFile) ? (await readManifest(manifestFile)).applications[0] ?? {} : {};
  const name = opts.name ?? m.name ?? path.basename(dir);
  const stagingLog: string[] = [];
  const t0 = Date.now();
  const summary = await push({
    client: t.client, path: dir, name,
    memory: opts.memory ?? m.memory, instances: opts.instances ?? m.instances, command: m.command, env: m.env,
    routerUrl: t.router, signal: opts.signal, cacheDir: false, startTimeoutMs: opts.startTimeoutMs ?? 150_000,
    onStagingLog: (l) => { stagingLog.push(l); opts.onStagingLog?.(l); },
  });
  return { summary, stagingLog, ms: Date.now() - t0 };
}

export function fixture(name: string): string {
  return path.join(fixturesDir, name);
}

/** A temp copy of a fixture (manifest left out), with files replaced or added; remove it with fs.rmSync. */
export function copyFixture(name: string, edits: Record<string, string> = {}): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), `pocket-e2e-${name}-`));
  fs.cpSync(fixture(name), dir, { recursive: true });
  fs.rmSync(path.join(dir, 'manifest.yml'), { force: true });
  for (const [f, text] of Object.entries(edits)) {
    fs.mkdirSync(path.dirname(path.join(dir, f)), { recursive: true });
    fs.writeFileSync(path.join(dir, f), text);
  }
  return dir;
}

export interface InstanceFolder {
  dir: string;
  index: number;
  instanceId: string;
  /** The app process's pid from `run.pid`, once the startup script wrote it. */
  pid: number | null;
}

/** Instance folders of `name` under every DEA folder of the platform's data dir (`dea`, `dea-2`, ...). */
export function instanceFolders(dataDir: string, name: string): InstanceFolder[] {
  return fs.readdirSync(dataDir).filter((d) => /^dea(-\d+)?$/.test(d)).flatMap((d) => instanceFoldersIn(path.join(dataDir, d), name));
}

/** Instance folders of `name` under one DEA's base dir (`<baseDir>/apps/<name>-<index>-<instance id>`). */
export function instanceFoldersIn(deaBaseDir: string, name: string): InstanceFolder[] {
  const apps = path.join(deaBaseDir, 'apps');
  if (!fs.existsSync(apps)) return [];
  const out: InstanceFolder[] = [];
  for (const f of fs.readdirSync(apps)) {
    const m = /^(.+)-(\d+)-([0-9a-f]{32})$/.exec(f);
    if (!m || m[1] !== name) continue;
    let pid: number | null = null;
    try {
      const n = Number(fs.readFileSync(path.join(apps, f, 'run.pid'), 'utf8').trim());
      if (Number.isInteger(n) && n > 1) pid = n;
    } catch { /* not written yet */ }
    out.push({ dir: path.join(apps, f), index: Number(m[2]), instanceId: m[3], pid });
  }
  return out;
}

/** Folders of instances whose app process runs. */
export function liveInstances(folders: InstanceFolder[]): InstanceFolder[] {
  return folders.filter((f) => f.pid !== null && pidAlive(f.pid));
}

/** True while `pid` runs (not a zombie). */
export function pidAlive(pid: number): boolean {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    const state = stat.slice(stat.lastIndexOf(')') + 2).split(' ')[0];
    return state !== 'Z' && state !== 'X';
  } catch {
    return false;
  }
}

/** The index an app reports in its body (`..., instance N`) or in `X-Instance-Index`. */
export function instanceIndexOf(r: HttpReply): number | null {
  const h = r.headers['x-instance-index'];
  if (typeof h === 'string' && /^\d+$/.test(h)) return Number(h);
  const m = /instance (\d+)/.exec(r.text);
  return m ? Number(m[1]) : null;
}

export type { TestPlatform };
