// startPlatform as a composition root: the lock, endpoint.json, components alone joining over NATS,
// a clean stop in reverse order.
import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { readEndpoint } from '../../platform/client';
import { PlatformRunningError } from '../../platform/data-dir';
import { silentLog } from '../../platform/log';
import { startPlatform } from '../../platform/platform';
import { startTestPlatform, type TestPlatform } from './support/platform';

/** Processes whose command line mentions `text` (a data dir's nats-server, say). */
function processesMentioning(text: string): number[] {
  const out: number[] = [];
  for (const d of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      if (fs.readFileSync(`/proc/${d}/cmdline`, 'utf8').includes(text)) out.push(Number(d));
    } catch { /* gone */ }
  }
  return out;
}

describe('platform: startPlatform', function () {
  this.timeout(60_000);
  let t: TestPlatform;
  let extra: string;

  before(async () => {
    t = await startTestPlatform();
    extra = fs.mkdtempSync(path.join(os.tmpdir(), 'pocket-extra-'));
  });
  after(async () => {
    await t?.stop();
    fs.rmSync(extra, { recursive: true, force: true });
  });

  it('writes endpoint.json (0600) naming every address, keeps the token in the data dir', async () => {
    const ep = readEndpoint(t.dataDir);
    const owner = t.platform.owner;
    assert.ok(owner?.email && owner.password, 'the owner account made on first start');
    assert.deepEqual(ep, { api: t.api, router: t.router, nats: t.platform.nats, token: t.token, pid: process.pid, user: owner.email, password: owner.password });
    assert.equal(fs.statSync(path.join(t.dataDir, 'endpoint.json')).mode & 0o777, 0o600);
    assert.equal(fs.readFileSync(path.join(t.dataDir, 'token'), 'utf8').trim(), t.token);
    assert.deepEqual([...t.platform.components].sort(), ['controller', 'dea', 'gateways', 'health', 'router', 'stager']);
    assert.equal((await t.client.info()).name.length > 0, true);
  });

  it('refuses a second platform on the same data dir and leaves the first untouched', async () => {
    await assert.rejects(startPlatform({ dataDir: t.dataDir, log: silentLog }), (e: unknown) => e instanceof PlatformRunningError && e.api === t.api);
    assert.equal(readEndpoint(t.dataDir)?.api, t.api);
    assert.deepEqual(await t.client.apps(), []);
  });

  it('runs components alone that join through NATS, without a lock or endpoint.json of their own', async () => {
    const dea = await startPlatform({ dataDir: extra, natsUrl: t.platform.nats, natsToken: t.token, only: ['dea'], log: silentLog });
    const router = await startPlatform({ dataDir: extra, natsUrl: t.platform.nats, natsToken: t.token, only: ['router', 'stager'], log: silentLog });
    try {
      assert.equal(dea.api, null);
      assert.equal(router.api, null);
      assert.match(router.router ?? '', /^http:\/\/127\.0\.0\.1:\d+$/);
      assert.equal(readEndpoint(extra), null);
      assert.equal(fs.existsSync(path.join(extra, 'pocket.lock')), false);
      assert.ok(fs.existsSync(path.join(extra, 'dea', 'pocket.lock')), 'the DEA claimed its own folder');
      // a second DEA alone on the same folder takes the next one
      const dea2 = await startPlatform({ dataDir: extra, natsUrl: t.platform.nats, natsToken: t.token, only: ['dea'], log: silentLog });
      assert.ok(fs.existsSync(path.join(extra, 'dea-2', 'pocket.lock')));
      await dea2.stop();
      assert.equal(fs.existsSync(path.join(extra, 'dea-2', 'pocket.lock')), false);
    } finally {
      await dea.stop();
      await router.stop();
    }
    // a wrong token is refused by NATS, and nothing is left behind
    await assert.rejects(startPlatform({ dataDir: extra, natsUrl: t.platform.nats, natsToken: 'wrong', only: ['health'], log: silentLog }));
  });

  it('stops in reverse order: endpoint.json, lock and nats-server gone; the same dir starts again', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pocket-restart-'));
    try {
      const p = await startPlatform({ dataDir: dir, log: silentLog, only: ['controller'] });
      const token = p.token;
      assert.equal(processesMentioning(path.join(dir, 'nats')).length, 1, 'one embedded nats-server for this dir');
      await p.stop();
      assert.deepEqual(processesMentioning(path.join(dir, 'nats')), []);
      await p.stop(); // twice is harmless
      assert.equal(readEndpoint(dir), null);
      assert.equal(fs.existsSync(path.join(dir, 'pocket.lock')), false);
      const again = await startPlatform({ dataDir: dir, log: silentLog, only: ['controller'] });
      assert.equal(again.token, token, 'the token survives a restart');
      await again.stop();
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('cleans up what it started when a component fails to start', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pocket-fail-'));
    const blocker = await startPlatform({ dataDir: extra, natsUrl: t.platform.nats, natsToken: t.token, only: ['router'], log: silentLog });
    try {
      const port = Number(new URL(blocker.router ?? '').port);
      await assert.rejects(startPlatform({ dataDir: dir, log: silentLog, routerPort: port }), /EADDRINUSE|in use/);
      assert.equal(readEndpoint(dir), null);
      assert.equal(fs.existsSync(path.join(dir, 'pocket.lock')), false, 'the lock was released');
      assert.deepEqual(processesMentioning(path.join(dir, 'nats')), [], 'its nats-server was stopped');
      // nothing half-started holds the dir: a new platform starts there
      const ok = await startPlatform({ dataDir: dir, log: silentLog, only: ['controller'] });
      await ok.stop();
    } finally {
      await blocker.stop();
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
