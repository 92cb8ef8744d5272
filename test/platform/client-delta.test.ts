// The pusher's delta uploads: with the push cache, a re-push describes only what changed since the
// app's current package. Against a real controller (real NATS, SQLite, HTTP on 127.0.0.1), through a
// small proxy that counts the bytes the client writes on the wire and can act between requests.
import { strict as assert } from 'node:assert';
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as http from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import JSZip from 'jszip';
import { CloudControllerClient, push, type PushSummary } from '../../platform/client';
import { startTestController, type TestController } from './support/controller';

const KiB = 1024;
const repoRoot = path.resolve(__dirname, '../..');

interface Proxy {
  url: string;
  /** Bytes the client wrote to the proxy (request lines, headers, bodies). */
  sent: number;
  /** Requests seen, as `METHOD /path`. */
  seen: string[];
  /** Runs before the next `PUT .../application` is passed on. */
  beforeUpload: (() => Promise<void>) | null;
  /** Answer `/info` without its `features` (a controller that predates delta uploads). */
  hideFeatures: boolean;
  close(): Promise<void>;
}

async function startProxy(target: string): Promise<Proxy> {
  const t = new URL(target);
  const sockets = new Set<Socket>();
  const p: Proxy = { url: '', sent: 0, seen: [], beforeUpload: null, hideFeatures: false, close: async () => undefined };
  const server = http.createServer((req, res) => {
    void (async () => {
      p.seen.push(`${req.method} ${req.url}`);
      if (req.method === 'PUT' && /\/application$/.test(req.url ?? '') && p.beforeUpload) {
        const hook = p.beforeUpload;
        p.beforeUpload = null;
        await hook();
      }
      const up = http.request({ hostname: t.hostname, port: t.port, path: req.url, method: req.method, headers: req.headers }, (ures) => {
        if (p.hideFeatures && req.url === '/info') {
          const chunks: Buffer[] = [];
          ures.on('data', (c: Buffer) => chunks.push(c));
          ures.on('end', () => {
            const body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as Record<string, unknown>;
            delete body.features;
            const out = Buffer.from(JSON.stringify(body));
            res.writeHead(ures.statusCode ?? 500, { ...ures.headers, 'content-length': String(out.length) });
            res.end(out);
          });
          return;
        }
        res.writeHead(ures.statusCode ?? 500, ures.headers);
        ures.pipe(res);
      });
      up.on('error', () => res.destroy());
      req.pipe(up);
    })();
  });
  server.on('connection', (s: Socket) => {
    sockets.add(s);
    s.on('data', (d: Buffer) => { p.sent += d.length; });
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  p.url = `http://localhost:${(server.address() as AddressInfo).port}`;
  p.close = async () => {
    for (const s of sockets) s.destroy();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  };
  return p;
}

/** Files of a package zip: name -> permission bits. */
async function packageModes(client: CloudControllerClient, app: string): Promise<Record<string, number | 'dir'>> {
  const z = await JSZip.loadAsync(await client.downloadApplication(app));
  const out: Record<string, number | 'dir'> = {};
  for (const [n, f] of Object.entries(z.files)) out[n] = f.dir ? 'dir' : Number(f.unixPermissions) & 0o777;
  return out;
}

describe('client: delta re-pushes', function () {
  this.timeout(60_000);
  let t: TestController;
  let proxy: Proxy;
  let client: CloudControllerClient;
  /** Straight to the controller, for "another client" and reference pushes. */
  let direct: CloudControllerClient;
  let work: string;
  let cacheDir: string;

  const pushVia = async (c: CloudControllerClient, dir: string, name: string, cache: string | false = cacheDir): Promise<PushSummary & { wire: number }> => {
    const before = proxy.sent;
    const s = await push({ client: c, path: dir, name, noStart: true, cacheDir: cache });
    return { ...s, wire: proxy.sent - before };
  };
  /** The package hash a whole push (no cache) of `dir` gives, into a fresh app. */
  const wholeHash = async (dir: string, name: string): Promise<string | null> => (await pushVia(direct, dir, name, false)).packageHash;

  before(async () => {
    work = fs.mkdtempSync(path.join(os.tmpdir(), 'pocket-client-delta-'));
    cacheDir = path.join(work, '.push-cache');
    t = await startTestController();
    proxy = await startProxy(t.controller.url);
    client = new CloudControllerClient({ api: proxy.url, token: t.token });
    direct = new CloudControllerClient({ api: t.controller.url, token: t.token });
  });
  after(async () => {
    client?.close();
    direct?.close();
    await proxy?.close();
    await t?.stop();
    fs.rmSync(work, { recursive: true, force: true });
  });

  it('a one-file change in a 2,000-file tree sends less than that file + 64 KiB and builds what a whole push builds', async () => {
    const dir = path.join(work, 'tree');
    for (let i = 0; i < 2000; i++) {
      const f = path.join(dir, `pkg${i % 20}`, `mod${Math.floor(i / 20) % 5}`, `file${i}.js`);
      fs.mkdirSync(path.dirname(f), { recursive: true });
      fs.writeFileSync(f, randomBytes(500 + (i * 37) % 3000));
    }
    const changed = path.join(dir, 'assets', 'changed.bin');
    fs.mkdirSync(path.dirname(changed));
    fs.writeFileSync(changed, randomBytes(100 * KiB));

    const first = await pushVia(client, dir, 'tree');
    assert.equal(first.uploaded, 2001);
    assert.equal(first.delta, false);

    const unchanged = await pushVia(client, dir, 'tree');
    assert.equal(unchanged.reusedPackage, true);
    assert.equal(unchanged.bytesSent, 0, 'an unchanged re-push sends no body at all');
    assert.ok(unchanged.wire < 2 * KiB, `unchanged: ${unchanged.wire} bytes on the wire`);

    fs.writeFileSync(changed, randomBytes(100 * KiB));
    const one = await pushVia(client, dir, 'tree');
    assert.equal(one.delta, true);
    assert.deepEqual({ files: one.files, matched: one.matched, uploaded: one.uploaded, uploadedBytes: one.uploadedBytes }, { files: 2001, matched: 2000, uploaded: 1, uploadedBytes: 100 * KiB });
    assert.ok(one.wire < 100 * KiB + 64 * KiB, `one file changed: ${one.wire} bytes on the wire`);
    assert.ok(one.bytesSent <= one.wire && one.bytesSent >= 100 * KiB, `summary bytesSent ${one.bytesSent}`);
    assert.notEqual(one.packageHash, first.packageHash);
    assert.equal(one.packageHash, await wholeHash(dir, 'tree-whole'));
    assert.equal((await direct.app('tree'))?.package_hash, one.packageHash);
  });

  it('deletions, additions, mode-only changes and pooled files with modes: the same package as a whole push', async () => {
    const dir = path.join(work, 'modes');
    const w = (rel: string, data: string, mode = 0o644): void => {
      fs.mkdirSync(path.dirname(path.join(dir, rel)), { recursive: true });
      fs.writeFileSync(path.join(dir, rel), data);
      fs.chmodSync(path.join(dir, rel), mode);
    };
    w('a.txt', 'alpha');
    w('run.sh', '#!/bin/sh\necho hi\n');
    w('lib/x.js', 'x');
    w('lib/deep/y.js', 'y');
    const first = await pushVia(client, dir, 'modes');
    assert.equal(first.uploaded, 4);

    fs.rmSync(path.join(dir, 'lib/deep'), { recursive: true });
    fs.chmodSync(path.join(dir, 'run.sh'), 0o755);
    w('new.txt', 'brand new');
    w('copy/a.txt', 'alpha', 0o700);
    const s = await pushVia(client, dir, 'modes');
    assert.equal(s.delta, true);
    assert.deepEqual({ files: s.files, matched: s.matched, uploaded: s.uploaded }, { files: 5, matched: 4, uploaded: 1 });
    assert.deepEqual(await packageModes(direct, 'modes'), {
      'a.txt': 0o644, 'copy/': 'dir', 'copy/a.txt': 0o700, 'lib/': 'dir', 'lib/x.js': 0o644, 'new.txt': 0o644, 'run.sh': 0o755,
    });
    assert.equal(s.packageHash, await wholeHash(dir, 'modes-whole'));
    assert.deepEqual(await packageModes(direct, 'modes-whole'), await packageModes(direct, 'modes'), 'a whole push keeps pooled files\' modes too');
  });

  it('falls back to a whole push once when another client pushed in between (stale base)', async () => {
    const mine = path.join(work, 'mine');
    const theirs = path.join(work, 'theirs');
    for (const [d, tag] of [[mine, 'mine'], [theirs, 'theirs']] as const) {
      fs.mkdirSync(path.join(d, 'lib'), { recursive: true });
      for (let i = 0; i < 20; i++) fs.writeFileSync(path.join(d, 'lib', `m${i}.js`), `// ${tag} ${i}\n`);
    }
    await pushVia(client, mine, 'shared');
    fs.writeFileSync(path.join(mine, 'lib', 'm3.js'), '// mine, edited\n');
    proxy.seen = [];
    let theirHash: string | null = null;
    proxy.beforeUpload = async () => { theirHash = (await push({ client: direct, path: theirs, name: 'shared', noStart: true, cacheDir: false })).packageHash; };
    const s = await pushVia(client, mine, 'shared');
    assert.ok(theirHash, 'the other push landed before this upload');
    assert.equal(proxy.seen.filter((r) => r === 'PUT /apps/shared/application').length, 2, proxy.seen.join('\n'));
    assert.equal(s.delta, false, 'redone whole');
    assert.deepEqual({ files: s.files, matched: s.matched, uploaded: s.uploaded }, { files: 20, matched: 19, uploaded: 1 });
    assert.notEqual(s.packageHash, theirHash);
    assert.equal((await direct.app('shared'))?.package_hash, s.packageHash);
    assert.equal(s.packageHash, await wholeHash(mine, 'shared-whole'));
    // The cache now remembers the package this push made: the next unchanged push sends nothing.
    const again = await pushVia(client, mine, 'shared');
    assert.equal(again.bytesSent, 0);
  });

  it('a controller without delta uploads gets a whole push', async () => {
    const dir = path.join(work, 'old-controller');
    fs.mkdirSync(dir);
    for (let i = 0; i < 10; i++) fs.writeFileSync(path.join(dir, `f${i}.txt`), `file ${i}\n`);
    await pushVia(client, dir, 'old');
    fs.writeFileSync(path.join(dir, 'f1.txt'), 'changed\n');
    fs.rmSync(path.join(dir, 'f2.txt'));
    proxy.hideFeatures = true;
    proxy.seen = [];
    try {
      const s = await pushVia(client, dir, 'old');
      assert.equal(s.delta, false);
      assert.deepEqual({ files: s.files, matched: s.matched, uploaded: s.uploaded }, { files: 9, matched: 8, uploaded: 1 });
      assert.equal(s.packageHash, await wholeHash(dir, 'old-whole'));
      assert.ok(proxy.seen.includes('GET /info'), 'asked what the controller supports');
    } finally {
      proxy.hideFeatures = false;
    }
  });
});

describe('pocket CLI: output into a reader that closes early', function () {
  this.timeout(60_000);
  let t: TestController;
  before(async () => { t = await startTestController(); });
  after(async () => { await t?.stop(); });

  it('stdout closed before the output (`pocket apps | head`): exits 0 without a stack trace', async () => {
    for (const args of [['apps', '--api', t.controller.url, '--token', t.token], ['--help']]) {
      const child = spawn(process.execPath, ['--import', 'tsx', path.join(repoRoot, 'platform/cli.ts'), ...args], {
        cwd: repoRoot, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, POCKET_HOME: path.join(os.tmpdir(), 'pocket-no-home'), POCKET_LOG_LEVEL: 'warn' },
      });
      // The reader is gone before the first write: every write fails with EPIPE.
      child.stdout.destroy();
      let stderr = '';
      child.stderr.on('data', (d: Buffer) => { stderr += d.toString(); });
      const code = await new Promise<number | null>((resolve) => child.on('close', (c) => resolve(c)));
      assert.equal(stderr, '', `pocket ${args[0]}: nothing on stderr`);
      assert.equal(code, 0, `pocket ${args[0]}: exit code`);
    }
  });
});
