// The data dir's runtime files: the one-platform lock (with stale-lock takeover), the token, endpoint.json.
import { strict as assert } from 'node:assert';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { acquireDirLock, claimComponentDir, loadOrCreateToken, PlatformRunningError, removeEndpoint, writeEndpoint } from '../../platform/data-dir';
import { readEndpoint } from '../../platform/client';

describe('platform: data dir lock, token and endpoint.json', () => {
  let dir: string;
  beforeEach(() => { dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pocket-lock-')); });
  afterEach(() => { fs.rmSync(dir, { recursive: true, force: true }); });

  const deadPid = (): number => {
    const r = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'], { encoding: 'utf8' });
    return Number(r.stdout);
  };

  it('refuses a second holder, naming the running pid and api; free again after release', () => {
    const lock = acquireDirLock(dir);
    writeEndpoint(dir, { api: 'http://127.0.0.1:4242', router: null, nats: 'nats://x', token: 't', pid: process.pid });
    assert.throws(() => acquireDirLock(dir), (e: unknown) => {
      assert.ok(e instanceof PlatformRunningError);
      assert.equal(e.pid, process.pid);
      assert.match(e.message, new RegExp(`already running on ${dir} \\(pid ${process.pid}, api http://127.0.0.1:4242\\)`));
      return true;
    });
    lock.release();
    assert.equal(fs.existsSync(path.join(dir, 'pocket.lock')), false);
    acquireDirLock(dir).release();
  });

  it('takes over a lock left by a dead process and drops its stale endpoint.json', () => {
    const pid = deadPid();
    fs.writeFileSync(path.join(dir, 'pocket.lock'), JSON.stringify({ pid, started: 'then' }));
    writeEndpoint(dir, { api: 'http://127.0.0.1:1', token: 't', pid });
    const lock = acquireDirLock(dir);
    assert.equal(JSON.parse(fs.readFileSync(path.join(dir, 'pocket.lock'), 'utf8')).pid, process.pid);
    assert.equal(readEndpoint(dir), null);
    lock.release();
  });

  it('does not mistake a reused pid for the lock owner (start time differs), nor trust a garbage lock file', () => {
    fs.writeFileSync(path.join(dir, 'pocket.lock'), JSON.stringify({ pid: process.pid, startTime: '1', started: 'long ago' }));
    acquireDirLock(dir).release();
    fs.writeFileSync(path.join(dir, 'pocket.lock'), 'garbage');
    fs.utimesSync(path.join(dir, 'pocket.lock'), new Date(Date.now() - 60_000), new Date(Date.now() - 60_000));
    acquireDirLock(dir).release();
  });

  it('gives each component alone its own folder: dea, dea-2, ...', () => {
    const a = claimComponentDir(path.join(dir, 'dea'));
    const b = claimComponentDir(path.join(dir, 'dea'));
    assert.deepEqual([a.dir, b.dir], [path.join(dir, 'dea'), path.join(dir, 'dea-2')]);
    a.release();
    const c = claimComponentDir(path.join(dir, 'dea'));
    assert.equal(c.dir, path.join(dir, 'dea'));
    b.release();
    c.release();
  });

  it('keeps the token across restarts, private to the user', () => {
    const t = loadOrCreateToken(dir);
    assert.match(t, /^[0-9a-f]{48}$/);
    assert.equal(fs.statSync(path.join(dir, 'token')).mode & 0o777, 0o600);
    assert.equal(loadOrCreateToken(dir), t);
    fs.writeFileSync(path.join(dir, 'token'), 'short\n');
    assert.notEqual(loadOrCreateToken(dir), 'short');
  });

  it('writes endpoint.json with mode 0600 and removes only its own', () => {
    writeEndpoint(dir, { api: 'http://127.0.0.1:1', router: 'http://127.0.0.1:2', nats: 'nats://127.0.0.1:3', token: 't', pid: 999999 });
    assert.equal(fs.statSync(path.join(dir, 'endpoint.json')).mode & 0o777, 0o600);
    assert.deepEqual(fs.readdirSync(dir), ['endpoint.json']);
    removeEndpoint(dir);
    assert.ok(readEndpoint(dir), 'another process\'s endpoint.json stays');
    removeEndpoint(dir, 999999);
    assert.equal(readEndpoint(dir), null);
  });
});
