// End to end through the shipped binary: `node dist/pocket.js up --data DIR` in one process, then
// `POCKET_HOME=DIR node dist/pocket.js push test/fixtures/node-hello` as a user types it; the push
// prints the staging log and ends with a URL that answers through the router.
import { strict as assert } from 'node:assert';
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { httpRequest } from './support/controller';
import { instanceFolders, liveInstances, pidAlive } from './support/e2e';
import { sleep, waitFor } from './support/wait';

const repoRoot = path.resolve(__dirname, '../..');
const cli = path.join(repoRoot, 'dist/pocket.js');

function newestMtime(dir: string): number {
  let newest = 0;
  for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    newest = Math.max(newest, e.isDirectory() ? newestMtime(p) : fs.statSync(p).mtimeMs);
  }
  return newest;
}

/** The user's environment without POCKET_* settings of the machine running the tests. */
function cleanEnv(extra: Record<string, string>): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('POCKET_')) env[k] = v;
  return { ...env, ...extra };
}

function run(args: string[], env: NodeJS.ProcessEnv, timeoutMs: number): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [cli, ...args], { cwd: repoRoot, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => { stdout += d.toString(); });
    child.stderr.on('data', (d: Buffer) => { stderr += d.toString(); });
    const timer = setTimeout(() => { child.kill('SIGKILL'); reject(new Error(`pocket ${args.join(' ')} timed out\n${stdout}\n${stderr}`)); }, timeoutMs);
    child.on('close', (code) => { clearTimeout(timer); resolve({ code, stdout, stderr }); });
  });
}

describe('e2e: the pocket binary', function () {
  this.timeout(90_000);
  let dataDir: string;
  let up: ChildProcess | null = null;
  let upOut = '';
  let upExit: Promise<number | null>;

  before(async () => {
    if (!fs.existsSync(cli) || fs.statSync(cli).mtimeMs < newestMtime(path.join(repoRoot, 'platform'))) {
      execFileSync('npm', ['run', 'build'], { cwd: repoRoot, stdio: 'pipe' });
    }
    dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'pocket-e2e-cli-'));
    const child = spawn(process.execPath, [cli, 'up', '--data', dataDir], { cwd: repoRoot, env: cleanEnv({ POCKET_LOG_LEVEL: 'warn' }), stdio: ['ignore', 'pipe', 'pipe'] });
    up = child;
    child.stdout.on('data', (d: Buffer) => { upOut += d.toString(); });
    child.stderr.on('data', (d: Buffer) => { upOut += d.toString(); });
    upExit = new Promise((resolve) => child.on('exit', (code) => resolve(code)));
    await waitFor('pocket up to be up', () => {
      if (child.exitCode !== null) throw new Error(`pocket up exited: ${upOut}`);
      return upOut.includes('Press Ctrl-C to stop.') || undefined;
    }, { timeoutMs: 30_000, everyMs: 100 });
  });
  after(async () => {
    if (up && up.exitCode === null) {
      up.kill('SIGKILL');
      await upExit;
    }
    fs.rmSync(dataDir, { recursive: true, force: true });
  });

  it('pocket push test/fixtures/node-hello ends with a URL that answers; Ctrl-C on up stops everything', async () => {
    const r = await run(['push', 'test/fixtures/node-hello'], cleanEnv({ POCKET_HOME: dataDir, XDG_CACHE_HOME: path.join(dataDir, 'cache') }), 120_000);
    assert.equal(r.code, 0, `${r.stdout}\n${r.stderr}`);
    assert.match(r.stdout, /Staging:/);
    const lines = r.stdout.trimEnd().split('\n');
    const url = lines[lines.length - 1];
    const endpoint = JSON.parse(fs.readFileSync(path.join(dataDir, 'endpoint.json'), 'utf8')) as { router: string };
    const routerPort = new URL(endpoint.router).port;
    assert.equal(url, `http://node-hello.localhost:${routerPort}/`, r.stdout);
    // *.localhost is loopback (browsers resolve it so); send its Host to 127.0.0.1.
    const u = new URL(url);
    const page = await httpRequest(`http://127.0.0.1:${u.port}${u.pathname}`, { host: u.host });
    assert.equal(page.status, 200);
    assert.equal(page.text, 'Hello from node-hello, instance 0\n');

    const apps = await run(['apps'], cleanEnv({ POCKET_HOME: dataDir, XDG_CACHE_HOME: path.join(dataDir, 'cache') }), 30_000);
    assert.equal(apps.code, 0, apps.stderr);
    assert.match(apps.stdout, /node-hello/);

    const pids = liveInstances(instanceFolders(dataDir, 'node-hello')).map((f) => f.pid as number);
    assert.equal(pids.length, 1);
    up?.kill('SIGINT');
    const code = await Promise.race([upExit, sleep(30_000).then(() => 'still running')]);
    assert.equal(code, 0, upOut);
    assert.ok(pids.every((p) => !pidAlive(p)), 'the app process ended with the platform');
    assert.equal(fs.existsSync(path.join(dataDir, 'endpoint.json')), false);
  });
});
