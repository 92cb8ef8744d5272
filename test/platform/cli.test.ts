// The `pocket` CLI as a user runs it: the bundled CLI in child processes, a real platform, real pushes.
import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as path from 'node:path';
import { readEndpoint, type Endpoint } from '../../platform/client';
import { buildCli, repoRoot, type CliHarness, type CliRun, type RunningUp } from './support/cli';

const fixture = path.join(repoRoot, 'test/fixtures/node-hello');

/** Every process below `pid` (children, grandchildren: nats-server, app instances), from /proc. */
function descendants(pid: number): number[] {
  const parentOf = new Map<number, number>();
  for (const d of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const stat = fs.readFileSync(`/proc/${d}/stat`, 'utf8');
      parentOf.set(Number(d), Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]));
    } catch { /* gone */ }
  }
  const out: number[] = [];
  const walk = (p: number): void => { for (const [c, pp] of parentOf) if (pp === p) { out.push(c); walk(c); } };
  walk(pid);
  return out;
}

function alive(pid: number): boolean {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2)[0] !== 'Z';
  } catch {
    return false;
  }
}

function httpGet(url: string, host: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    http.get(url, { headers: { host } }, (res) => {
      let body = '';
      res.on('data', (d: Buffer) => { body += d.toString(); });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    }).on('error', reject);
  });
}

function field(out: string, name: string): string {
  const m = new RegExp(`^\\s*${name}:\\s+(.*)$`, 'm').exec(out);
  assert.ok(m, `no "${name}:" line in\n${out}`);
  return m[1].trim();
}

function copyApp(outDir: string, name: string): string {
  const dir = path.join(outDir, 'apps', name);
  fs.mkdirSync(dir, { recursive: true });
  fs.copyFileSync(path.join(fixture, 'server.js'), path.join(dir, 'server.js'));
  fs.writeFileSync(path.join(dir, 'manifest.yml'), `applications:\n- name: ${name}\n  memory: 64M\n`);
  return dir;
}

describe('cli: pocket up, push and the app commands', function () {
  this.timeout(60_000);
  let h: CliHarness;
  let dataDir: string;
  let platform: RunningUp;
  let endpoint: Endpoint;
  const pocket = (args: string[], env: Record<string, string> = {}): Promise<CliRun> => h.run(args, env);

  before(async () => {
    h = await buildCli();
    dataDir = path.join(h.outDir, 'data');
    platform = await h.up(dataDir);
    endpoint = readEndpoint(dataDir) as Endpoint;
  });

  after(async () => {
    if (platform && alive(platform.child.pid as number)) { platform.child.kill('SIGKILL'); await platform.exited; }
    h?.cleanup();
  });

  it('writes endpoint.json (0600) with api, router, nats, token, pid and the owner account, and prints them', () => {
    const file = path.join(dataDir, 'endpoint.json');
    assert.equal(fs.statSync(file).mode & 0o777, 0o600);
    assert.deepEqual(Object.keys(endpoint).sort(), ['api', 'nats', 'password', 'pid', 'router', 'token', 'user']);
    assert.equal(endpoint.user, 'owner@pocket.local');
    assert.match(platform.stdout(), new RegExp(`owner:\\s+owner@pocket\\.local, password ${endpoint.password as string}`), 'the generated password is printed on the first start');
    assert.equal(endpoint.pid, platform.child.pid);
    assert.match(endpoint.api, /^http:\/\/127\.0\.0\.1:\d+$/);
    assert.match(endpoint.nats as string, /^nats:\/\/127\.0\.0\.1:\d+$/);
    assert.match(platform.stdout(), new RegExp(`api:\\s+${endpoint.api}`));
    assert.match(platform.stdout(), new RegExp(`router:\\s+${endpoint.router as string}`));
    assert.match(platform.stdout(), new RegExp(`data:\\s+${dataDir}`));
  });

  it('refuses a second pocket up on the same data dir, naming the running one', async () => {
    const r = await pocket(['up', '--data', dataDir]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, new RegExp(`already running on ${dataDir} \\(pid ${platform.child.pid}, api ${endpoint.api}\\)`));
    assert.deepEqual(readEndpoint(dataDir), endpoint, 'the running platform\'s endpoint.json is untouched');
  });

  it('pushes a sample: fingerprint summary, staging lines, the URL; the app answers through the router', async () => {
    const r = await pocket(['--data', dataDir, 'push', fixture]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(field(r.stdout, 'files').split(' ')[0], '2');
    assert.equal(field(r.stdout, 'staging needed'), 'yes');
    assert.match(field(r.stdout, 'package hash'), /^[0-9a-f]{40}$/);
    assert.match(field(r.stdout, 'bytes sent'), /^\d+(\.\d)? (B|KB)$/);
    assert.match(r.stdout, /Staging:\n\s+\[\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\] /);
    const port = new URL(endpoint.router as string).port;
    const lines = r.stdout.trim().split('\n');
    assert.equal(lines[lines.length - 1], `http://node-hello.localhost:${port}/`);
    const res = await httpGet(`${endpoint.router as string}/`, 'node-hello.localhost');
    assert.equal(res.status, 200);
    assert.match(res.body, /Hello from node-hello/);
  });

  it('re-pushes unchanged: 0 uploaded, staging not needed, same package hash', async () => {
    const r = await pocket(['--data', dataDir, 'push', fixture]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(field(r.stdout, 'uploaded'), '0 (0 B)');
    assert.equal(field(r.stdout, 'matched'), field(r.stdout, 'files').split(' ')[0]);
    assert.equal(field(r.stdout, 'staging needed'), 'no');
    assert.doesNotMatch(r.stdout, /Staging:/);
  });

  it('pushes two different apps at once', async () => {
    const [a, b] = await Promise.all([
      pocket(['--data', dataDir, 'push', copyApp(h.outDir, 'twin-a')]),
      pocket(['--data', dataDir, 'push', copyApp(h.outDir, 'twin-b')]),
    ]);
    assert.equal(a.code, 0, a.stderr);
    assert.equal(b.code, 0, b.stderr);
    for (const name of ['twin-a', 'twin-b']) {
      const res = await httpGet(`${endpoint.router as string}/`, `${name}.localhost`);
      assert.equal(res.status, 200, `${name}: ${res.body}`);
    }
    const apps = await pocket(['--data', dataDir, 'apps']);
    assert.match(apps.stdout, /^NAME\s+STATE\s+INSTANCES\s+MEMORY\s+PACKAGE\s+URLS$/m);
    for (const name of ['node-hello', 'twin-a', 'twin-b']) assert.match(apps.stdout, new RegExp(`^${name}\\s+STARTED\\s+1/1\\s+64M\\s+STAGED\\s+${name}\\.localhost$`, 'm'));
  });

  it('uses --api/--token and POCKET_API/POCKET_TOKEN over endpoint.json', async () => {
    const elsewhere = path.join(h.outDir, 'empty-data');
    let r = await pocket(['--data', elsewhere, '--api', endpoint.api, '--token', endpoint.token, 'apps']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^node-hello\s/m);
    r = await pocket(['--data', elsewhere, 'apps'], { POCKET_API: endpoint.api, POCKET_TOKEN: endpoint.token });
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^twin-a\s/m);
    // a wrong token overrides the right one from endpoint.json, and is refused
    r = await pocket(['--data', dataDir, '--token', 'wrong-token', 'apps']);
    assert.equal(r.code, 1);
    assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
    r = await pocket(['--data', dataDir, 'target']);
    assert.match(r.stdout, new RegExp(`api:\\s+${endpoint.api}\\nsource:\\s+endpoint\\.json`));
    assert.match(r.stdout, /status:\s+reachable/);
    // a saved target: checked before it is saved, then used with no flags
    r = await pocket(['--data', elsewhere, 'target', endpoint.api, '--token', 'wrong-token']);
    assert.equal(r.code, 1);
    r = await pocket(['--data', elsewhere, 'target', endpoint.api, '--token', endpoint.token]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(fs.statSync(path.join(elsewhere, 'target.json')).mode & 0o777, 0o600);
    r = await pocket(['--data', elsewhere, 'apps']);
    assert.match(r.stdout, /^twin-b\s/m);
    r = await pocket(['--data', elsewhere, 'target', '--local']);
    assert.match(r.stdout, /Saved target removed/);
  });

  it('scales, stops, starts and shows instances, stats, logs, files and crashes', async () => {
    let r = await pocket(['--data', dataDir, 'scale', 'twin-a', '--instances', '2', '--memory', '96M']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /twin-a: 2 instances of 96M/);
    r = await pocket(['--data', dataDir, 'restart', 'twin-a']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /twin-a: 2\/2 instances running/);
    const [instances, stats, stdout, staging, files, crashes] = await Promise.all([
      pocket(['--data', dataDir, 'instances', 'twin-a']),
      pocket(['--data', dataDir, 'stats', 'twin-a']),
      pocket(['--data', dataDir, 'logs', 'twin-a', '--stdout', '--instance', '1']),
      pocket(['--data', dataDir, 'logs', 'node-hello', '--staging']),
      pocket(['--data', dataDir, 'files', 'twin-a', 'app/']),
      pocket(['--data', dataDir, 'crashes', 'twin-a']),
    ]);
    assert.match(instances.stdout, /^INDEX\s+STATE\s+SINCE\n0\s+RUNNING\s+\d{4}-.*\n1\s+RUNNING\s+/m);
    assert.match(stats.stdout, /^0\s+RUNNING\s+\d+\.\d%\s+[\d.]+ (KB|MB) of 96 MB\s+/m);
    assert.match(stdout.stdout, /listening on \d+ \(instance 1\)/);
    assert.match(staging.stdout, /Detected framework: node/);
    assert.match(files.stdout, /server\.js/);
    assert.match(crashes.stdout, /twin-a has not crashed/);
    r = await pocket(['--data', dataDir, 'stop', 'twin-b']);
    assert.equal(r.code, 0, r.stderr);
    assert.equal((await httpGet(`${endpoint.router as string}/`, 'twin-b.localhost')).status, 404);
    r = await pocket(['--data', dataDir, 'start', 'twin-b']);
    assert.match(r.stdout, /twin-b: 1\/1 instances running/);
    r = await pocket(['--data', dataDir, 'delete', 'twin-b']);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /without confirmation: pass --force/);
    r = await pocket(['--data', dataDir, 'delete', 'twin-b', '--force']);
    assert.equal(r.code, 0, r.stderr);
    r = await pocket(['--data', dataDir, 'instances', 'twin-b']);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /App twin-b not found/);
  });

  it('stops everything on SIGINT: no child left, endpoint.json and the lock removed', async () => {
    const pid = platform.child.pid as number;
    const children = descendants(pid);
    assert.ok(children.length >= 2, 'nats-server and app instances run below pocket up');
    platform.child.kill('SIGINT');
    assert.equal(await platform.exited, 0, platform.stderr());
    const left = children.filter(alive);
    assert.deepEqual(left, [], `still running: ${left.map((p) => fs.existsSync(`/proc/${p}/cmdline`) ? fs.readFileSync(`/proc/${p}/cmdline`, 'utf8') : p).join(', ')}`);
    assert.equal(readEndpoint(dataDir), null);
    assert.equal(fs.existsSync(path.join(dataDir, 'pocket.lock')), false);
  });

  it('comes back on the same data dir with its apps, packages and pool; STARTED apps run again', async () => {
    platform = await h.up(dataDir);
    endpoint = readEndpoint(dataDir) as Endpoint;
    const r = await pocket(['--data', dataDir, 'push', fixture]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(field(r.stdout, 'uploaded'), '0 (0 B)');
    assert.equal(field(r.stdout, 'staging needed'), 'no');
    const apps = await pocket(['--data', dataDir, 'apps']);
    assert.match(apps.stdout, /^twin-a\s+STARTED\s+\d\/2\s+96M/m);
    const res = await httpGet(`${endpoint.router as string}/`, 'node-hello.localhost');
    assert.equal(res.status, 200);
    platform.child.kill('SIGTERM');
    assert.equal(await platform.exited, 0);
  });
});
