// The editor's platform supervisor core (extension/supervisorCore.ts) in plain Node: its transition
// table, crash and backoff, the endpoint wait, and a real `dist/pocket.js` killed and brought back.
import { strict as assert } from 'node:assert';
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { build } from 'esbuild';
import { ExitCodes } from '../../platform/cli/exit-codes';
import { CloudControllerClient } from '../../platform/client';
import type { RunningEndpoint } from '../../extension/platformProcess';
import {
  backoffDelay, canTransition, defaultTimings, IllegalSupervisorTransition, SupervisorCore, SupervisorLifecycle,
  type PlatformState, type SupervisorClock, type SupervisorCoreOptions, type SupervisorLog,
} from '../../extension/supervisorCore';
import { repoRoot } from './support/cli';
import { sleep, waitFor } from './support/wait';

/** A log that keeps its lines, for assertions and failure messages. */
function memoryLog(): SupervisorLog & { lines: string[] } {
  const lines: string[] = [];
  return {
    lines,
    info: (m) => lines.push(`info ${m}`),
    warn: (m) => lines.push(`warn ${m}`),
    error: (m, e) => lines.push(`error ${m}${e === undefined ? '' : `: ${String(e)}`}`),
    platformLine: (l) => lines.push(`platform ${l}`),
  };
}

/**
 * A stand-in for pocket.js: `up --data DIR` writes endpoint.json naming itself, then stays up for
 * `POCKET_FAKE_LIFE_MS` (or forever), or exits at once with `POCKET_FAKE_EXIT` without writing.
 */
const fakePocket = `
const fs = require('fs'), path = require('path');
const dir = process.argv[process.argv.indexOf('--data') + 1];
fs.appendFileSync(path.join(dir, 'starts'), process.pid + '\\n');
if (process.env.POCKET_FAKE_EXIT) {
  process.stderr.write(new Date().toISOString() + ' error [pocket] fake refused to start\\n');
  process.exit(Number(process.env.POCKET_FAKE_EXIT));
}
if (!process.env.POCKET_FAKE_SILENT) {
  fs.writeFileSync(path.join(dir, 'endpoint.json'), JSON.stringify({ api: 'http://127.0.0.1:1', router: '', nats: '', token: 't', pid: process.pid }));
}
const life = Number(process.env.POCKET_FAKE_LIFE_MS || 0);
setInterval(() => undefined, 1 << 30);
if (life) setTimeout(() => process.exit(2), life);
process.on('SIGTERM', () => process.exit(0));
`;

/** Real timers, but every requested delay recorded and shortened so backoff runs in milliseconds. */
function recordingClock(): SupervisorClock & { delays: number[] } {
  const delays: number[] = [];
  return {
    delays,
    now: () => Date.now(),
    setTimeout: (fn, ms) => { delays.push(ms); return setTimeout(fn, 5); },
    clearTimeout: (t) => clearTimeout(t),
  };
}

describe('supervisor core: transition table', () => {
  it('allows the moves the supervisor makes and names an illegal one', () => {
    let t = 1000;
    const l = new SupervisorLifecycle({ now: () => t });
    assert.equal(l.state.kind, 'stopped');
    t = 2000;
    l.transition({ kind: 'starting', detail: 'x' });
    assert.equal(l.since, 2000);
    l.transition({ kind: 'starting', detail: 'y' });
    l.transition({ kind: 'failed', reason: 'no' });
    l.transition({ kind: 'stopped' });
    assert.throws(() => l.transition({ kind: 'failed', reason: 'r' }), (e: unknown) =>
      e instanceof IllegalSupervisorTransition && e.from === 'stopped' && e.to === 'failed' && /stopped -> failed/.test(e.message));
    assert.equal(l.state.kind, 'stopped', 'an illegal move changes nothing');
    assert.equal(canTransition('stopped', 'running'), false, 'running is reached only through starting');
    assert.equal(canTransition('failed', 'running'), false);
    assert.equal(canTransition('running', 'running'), false);
    assert.equal(canTransition('running', 'starting'), true, 'an unexpected exit schedules a restart');
  });

  it('doubles the restart delay per quick failure, up to the maximum', () => {
    const t = { ...defaultTimings, restartBaseMs: 1000, restartMaxMs: 5000 };
    assert.deepEqual([0, 1, 2, 3, 4, 5].map((n) => backoffDelay(t, n)), [1000, 1000, 2000, 4000, 5000, 5000]);
  });
});

describe('supervisor core: a fake pocket.js under the real leash', function () {
  this.timeout(30_000);
  let dir: string;
  let script: string;
  let core: SupervisorCore | undefined;
  const env = { ...process.env };

  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pocket-sup-'));
    script = path.join(dir, 'fake-pocket.js');
    fs.writeFileSync(script, fakePocket);
  });
  afterEach(async () => {
    await core?.stop().catch(() => undefined);
    core?.dispose();
    core = undefined;
    for (const k of Object.keys(process.env)) if (k.startsWith('POCKET_FAKE_')) delete process.env[k];
    Object.assign(process.env, env);
    fs.rmSync(dir, { recursive: true, force: true });
  });

  const make = (extra: Partial<SupervisorCoreOptions> = {}): { core: SupervisorCore; states: PlatformState[]; log: ReturnType<typeof memoryLog> } => {
    const log = memoryLog();
    const states: PlatformState[] = [];
    const c = new SupervisorCore({
      log, pocketJs: script,
      config: () => ({ nodePath: process.execPath, dataDir: path.join(dir, 'data'), routerPort: 0, keepPlatformRunning: false }),
      answers: async () => true,
      checkNode: async () => undefined,
      ...extra,
    });
    c.onDidChangeState((s) => states.push(s));
    core = c;
    return { core: c, states, log };
  };
  const starts = (): number => fs.readFileSync(path.join(dir, 'data', 'starts'), 'utf8').trim().split('\n').length;

  it('restarts a platform that keeps dying with doubling delays, then gives up as failed', async () => {
    process.env.POCKET_FAKE_LIFE_MS = '800';
    const clock = recordingClock();
    const { core: c, states, log } = make({ clock, timings: { restartBaseMs: 1000, restartMaxMs: 30_000, stableAfterMs: 60_000, maxQuickFailures: 2 } });
    const first = await c.ensureRunning();
    assert.equal(c.ownedPid, first.pid);
    await waitFor('gave up', () => c.state.kind === 'failed', { timeoutMs: 20_000, everyMs: 20 });
    assert.match((c.state as { reason: string }).reason, /keeps exiting \(3 times in a row\)/, log.lines.join('\n'));
    assert.deepEqual(clock.delays, [1000, 2000], 'one restart per quick failure, the delay doubling');
    assert.equal(starts(), 3);
    const kinds = states.map((s) => s.kind);
    assert.deepEqual(kinds, ['starting', 'starting', 'running', 'starting', 'starting', 'starting', 'running', 'starting', 'starting', 'starting', 'running', 'failed']);
    assert.deepEqual(states.filter((s) => s.kind === 'starting').map((s) => (s as { detail: string }).detail).slice(2, 4),
      ['restarting in 1 s', 'looking for a running platform']);
  });

  it('resets the backoff after a platform that ran long enough', async () => {
    process.env.POCKET_FAKE_LIFE_MS = '800';
    const clock = recordingClock();
    const { core: c } = make({ clock, timings: { restartBaseMs: 1000, stableAfterMs: 400, maxQuickFailures: 0 } });
    const first = await c.ensureRunning();
    await waitFor('restarted', () => c.state.kind === 'running' && c.state.endpoint.pid !== first.pid, { timeoutMs: 10_000, everyMs: 20 });
    await waitFor('restarted again', () => starts() >= 3 && c.state.kind === 'running', { timeoutMs: 10_000, everyMs: 20 });
    assert.deepEqual(clock.delays.slice(0, 2), [1000, 1000], 'each exit after a stable run is a first failure');
  });

  it('reports an early exit in the platform\'s own words and does not restart it', async () => {
    process.env.POCKET_FAKE_EXIT = '1';
    const clock = recordingClock();
    const { core: c, log } = make({ clock });
    await assert.rejects(c.ensureRunning(), /^UserFacingError: The platform exited with code 1: \[pocket\] fake refused to start$/);
    assert.equal(c.state.kind, 'failed');
    assert.deepEqual(clock.delays, [], 'a start that fails is not retried by itself');
    assert.ok(log.lines.some((l) => l.startsWith('error The platform did not start')), log.lines.join('\n'));
  });

  it('learns a missing nats-server from the exit code and says so once, without a restart loop', async () => {
    process.env.POCKET_FAKE_EXIT = String(ExitCodes.natsServerNotFound);
    const clock = recordingClock();
    const missing: string[] = [];
    const { core: c } = make({ clock, onPrerequisiteMissing: (r) => missing.push(r) });
    await assert.rejects(c.ensureRunning(), (e: unknown) => e instanceof Error && e.name === 'PrerequisiteError' && /needs nats-server/.test(e.message));
    await assert.rejects(c.ensureRunning(), /needs nats-server/);
    assert.equal(missing.length, 1, 'shown once');
    assert.equal(c.state.kind, 'failed');
    assert.deepEqual(clock.delays, []);
  });

  it('gives up waiting for an endpoint that never comes, and stops the process it started', async () => {
    process.env.POCKET_FAKE_SILENT = '1';
    const { core: c } = make({ timings: { startTimeoutMs: 700 } });
    await assert.rejects(c.ensureRunning(), /did not become ready within 1 s/);
    assert.equal(c.state.kind, 'failed');
    const pid = Number(fs.readFileSync(path.join(dir, 'data', 'starts'), 'utf8').trim());
    await c.stop();
    assert.equal(c.state.kind, 'stopped');
    await waitFor('fake gone', () => !fs.existsSync(`/proc/${pid}`), { timeoutMs: 5000, everyMs: 20 });
  });

  it('waits for an endpoint that answers, not merely one that exists', async () => {
    let answered = false;
    setTimeout(() => { answered = true; }, 600);
    const { core: c } = make({ answers: async () => answered });
    const t0 = Date.now();
    await c.ensureRunning();
    assert.ok(Date.now() - t0 >= 550, 'running only once the API answers');
  });

  it('uses a platform already running on the data dir instead of starting one', async () => {
    const data = path.join(dir, 'data');
    fs.mkdirSync(data, { recursive: true });
    const ep: RunningEndpoint = { api: 'http://127.0.0.1:1', router: '', nats: '', token: 't', pid: process.pid };
    fs.writeFileSync(path.join(data, 'endpoint.json'), JSON.stringify(ep));
    const { core: c } = make();
    assert.deepEqual(await c.ensureRunning(), ep);
    assert.equal(c.state.kind === 'running' && c.state.owned, false);
    assert.equal(c.ownedPid, undefined);
    assert.equal(fs.existsSync(path.join(data, 'starts')), false, 'nothing spawned');
    // Not stopped in afterEach: "stopping" a platform started elsewhere would signal this test process.
    core = undefined;
    c.dispose();
  });

  it('starts its own platform when one started elsewhere dies (checkAlive)', async () => {
    const data = path.join(dir, 'data');
    fs.mkdirSync(data, { recursive: true });
    // "Elsewhere": the fake started directly, not by this supervisor.
    const other = spawn(process.execPath, [script, 'up', '--data', data], { stdio: 'ignore' });
    await waitFor('other up', () => fs.existsSync(path.join(data, 'endpoint.json')), { timeoutMs: 10_000, everyMs: 20 });
    const { core: c, states } = make();
    const found = await c.ensureRunning();
    assert.equal(found.pid, other.pid);
    assert.equal(c.ownedPid, undefined);
    await c.checkAlive();
    assert.equal(c.state.kind === 'running' && c.state.owned, false, 'alive: nothing to do');
    other.kill('SIGKILL');
    await waitFor('other gone', () => !fs.existsSync(`/proc/${other.pid}`), { timeoutMs: 5000, everyMs: 20 });
    await c.checkAlive();
    assert.equal(c.state.kind === 'running' && c.state.owned, true, 'its own platform now');
    assert.notEqual(c.ownedPid, other.pid);
    assert.deepEqual(states.map((s) => s.kind), ['starting', 'running', 'stopped', 'starting', 'starting', 'running']);
  });

  it('leaves the platform running on shutdown when asked to keep it', async () => {
    const { core: c } = make();
    const ep = await c.ensureRunning();
    await c.shutdown(true);
    core = undefined;
    c.dispose();
    await sleep(300);
    assert.ok(fs.existsSync(`/proc/${ep.pid}`), 'still running after the supervisor let go');
    process.kill(ep.pid, 'SIGTERM');
    await waitFor('fake gone', () => !fs.existsSync(`/proc/${ep.pid}`), { timeoutMs: 5000, everyMs: 20 });
  });
});

describe('supervisor core: the real dist/pocket.js', function () {
  this.timeout(120_000);
  const pocketJs = path.join(repoRoot, 'dist', 'pocket.js');
  let dir: string;
  let core: SupervisorCore | undefined;

  before(async () => {
    // `npm run build` makes it; build just the CLI (as scripts/build.js does) when it is absent.
    if (!fs.existsSync(pocketJs)) {
      await build({ entryPoints: [path.join(repoRoot, 'platform/cli.ts')], outfile: pocketJs, bundle: true, platform: 'node',
        target: 'node20', format: 'cjs', packages: 'external', logLevel: 'error', absWorkingDir: repoRoot });
    }
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pocket-sup-real-'));
  });
  after(async () => {
    await core?.stop().catch(() => undefined);
    core?.dispose();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('starts pocket up, brings it back after SIGKILL, and stops it', async () => {
    const log = memoryLog();
    const answers = async (ep: RunningEndpoint): Promise<boolean> => {
      const c = new CloudControllerClient({ api: ep.api, token: ep.token, timeoutMs: 3000 });
      try { await c.apps(); return true; } catch { return false; } finally { c.close(); }
    };
    core = new SupervisorCore({
      log, pocketJs, answers,
      config: () => ({ nodePath: process.execPath, dataDir: dir, routerPort: 0, keepPlatformRunning: false }),
      timings: { restartBaseMs: 200 },
    });
    const c = core;
    const first = await c.ensureRunning();
    assert.equal(c.ownedPid, first.pid);
    assert.ok(await answers(first));
    process.kill(first.pid, 'SIGKILL');
    await waitFor('left running', () => c.state.kind !== 'running', { timeoutMs: 10_000, everyMs: 20 });
    const back = await waitFor('back', () => (c.state.kind === 'running' && c.state.endpoint.pid !== first.pid ? c.state.endpoint : undefined), { timeoutMs: 60_000, everyMs: 50 });
    assert.ok(await answers(back), log.lines.join('\n'));
    await c.stop();
    assert.equal(c.state.kind, 'stopped');
    await waitFor('platform gone', () => !fs.existsSync(`/proc/${back.pid}`), { timeoutMs: 10_000, everyMs: 50 });
  });
});
