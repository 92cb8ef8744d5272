// Delta uploads (`base_package` + `deleted`: only what changed since the app's current package) and
// gzipped request bodies, against a real controller (real NATS, SQLite, HTTP on 127.0.0.1).
import { strict as assert } from 'node:assert';
import { createHash, randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { gzipSync } from 'node:zlib';
import BetterSqlite3 from 'better-sqlite3';
import JSZip from 'jszip';
import {
  multipartBody, nothingWritten, restRequest, startTestController,
  type HttpReply, type HttpRequestOptions, type MultipartPart, type TestController,
} from './support/controller';

const sha1 = (b: Buffer | string): string => createHash('sha1').update(b).digest('hex');

interface File {
  name: string;
  data: string | Buffer;
  mode?: number;
}

/** A zip of files only (no folder entries), as the pusher makes it. */
async function makeZip(files: readonly File[]): Promise<Buffer> {
  const z = new JSZip();
  for (const f of files) z.file(f.name, f.data, { createFolders: false, unixPermissions: 0o100000 | (f.mode ?? 0o644), date: new Date() });
  return z.generateAsync({ type: 'nodebuffer', platform: 'UNIX', compression: 'DEFLATE' });
}

const res = (f: File): { fn: string; size: number; sha1: string } => ({ fn: f.name, size: Buffer.byteLength(f.data), sha1: sha1(f.data) });

interface Upload {
  zip?: Buffer | null;
  resources?: unknown;
  base?: string;
  deleted?: unknown;
  /** Raw `deleted` field text. */
  deletedRaw?: string;
  headers?: Record<string, string>;
  gzip?: boolean;
  /** Send `base_package` and `deleted` as file parts instead of fields. */
  asFiles?: boolean;
}

class Client {
  constructor(readonly t: TestController) {}

  req(method: string, p: string, opts: HttpRequestOptions & { json?: unknown } = {}): Promise<HttpReply> {
    return restRequest(this.t, method, p, { ...opts, token: this.t.token });
  }

  async create(name: string): Promise<void> {
    assert.equal((await this.req('POST', '/apps', { json: { name } })).status, 302);
  }

  async packageHash(name: string): Promise<string | null> {
    const r = await this.req('GET', `/apps/${name}`);
    assert.equal(r.status, 200, r.text);
    return (r.json as { package_hash: string | null }).package_hash;
  }

  async upload(name: string, u: Upload): Promise<HttpReply> {
    const parts: MultipartPart[] = [];
    const file = u.asFiles ? { contentType: 'application/octet-stream' } : {};
    if (u.base !== undefined) parts.push({ name: 'base_package', value: u.base, ...(u.asFiles ? { filename: 'base', ...file } : {}) });
    if (u.deletedRaw !== undefined) parts.push({ name: 'deleted', value: u.deletedRaw });
    else if (u.deleted !== undefined) parts.push({ name: 'deleted', value: JSON.stringify(u.deleted), ...(u.asFiles ? { filename: 'deleted.json', ...file } : {}) });
    parts.push({ name: 'resources', value: JSON.stringify(u.resources ?? []) });
    if (u.zip !== null) parts.push({ name: 'application', value: u.zip ?? await makeZip([]), filename: 'app.zip', contentType: 'application/zip' });
    const mp = multipartBody(parts);
    const headers: Record<string, string> = { 'content-type': mp.contentType, ...u.headers };
    let body = mp.body;
    if (u.gzip) { body = gzipSync(body); headers['content-encoding'] = 'gzip'; }
    return this.req('PUT', `/apps/${name}/application`, { body, headers });
  }

  /** A whole (v1) upload of `files`; answers the package hash. */
  async full(name: string, files: readonly File[]): Promise<string> {
    const r = await this.upload(name, { zip: await makeZip(files) });
    assert.equal(r.status, 200, r.text);
    return (r.json as { package_hash: string }).package_hash;
  }

  async packageFiles(name: string): Promise<Record<string, { data: string; mode: number | null } | 'dir'>> {
    const r = await this.req('GET', `/apps/${name}/application`);
    assert.equal(r.status, 200, r.text);
    const z = await JSZip.loadAsync(r.body);
    const out: Record<string, { data: string; mode: number | null } | 'dir'> = {};
    for (const [n, f] of Object.entries(z.files)) {
      out[n] = f.dir ? 'dir' : { data: await f.async('string'), mode: typeof f.unixPermissions === 'number' ? f.unixPermissions & 0o777 : null };
    }
    return out;
  }
}

function expectError(r: HttpReply, status: number, code: number, match?: RegExp): void {
  assert.equal(r.status, status, `expected HTTP ${status}, got ${r.status}: ${r.text}`);
  const body = r.json as { code?: number; description?: string };
  assert.equal(body.code, code, `expected code ${code}: ${r.text}`);
  assert.ok(typeof body.description === 'string' && body.description.length > 0, 'a description');
  if (match) assert.match(body.description, match);
}

const v1Files: File[] = [
  { name: 'server.js', data: 'require("http").createServer((q, s) => s.end("v1")).listen(process.env.PORT);\n' },
  { name: 'package.json', data: '{"name":"delta","scripts":{"start":"node server.js"}}\n' },
  { name: 'bin/run', data: '#!/bin/sh\nexec node server.js\n', mode: 0o755 },
  { name: 'lib/a.js', data: 'module.exports = "a";\n' },
  { name: 'lib/deep/b.js', data: 'module.exports = "b";\n' },
  { name: 'old/only.txt', data: 'this folder goes away\n' },
  { name: 'public/big.txt', data: 'x'.repeat(20_000) },
];

describe('controller: delta uploads (base_package + deleted)', function () {
  this.timeout(60_000);
  let t: TestController;
  let c: Client;
  let base: string;
  before(async () => {
    t = await startTestController();
    c = new Client(t);
    await c.create('delta');
    base = await c.full('delta', v1Files);
  });
  after(async () => { await t?.stop(); });

  // The app after the change: server.js edited, bin/run made plain, old/ and lib/deep/b.js gone, two files added.
  const v2Files: File[] = [
    { name: 'server.js', data: 'require("http").createServer((q, s) => s.end("v2")).listen(process.env.PORT);\n' },
    { name: 'package.json', data: v1Files[1].data },
    { name: 'bin/run', data: v1Files[2].data, mode: 0o644 },
    { name: 'lib/a.js', data: v1Files[3].data },
    { name: 'lib/c.js', data: 'module.exports = "c";\n' },
    { name: 'public/big.txt', data: v1Files[6].data },
    { name: 'public/new.txt', data: 'y'.repeat(5_000) },
  ];

  it('announces delta uploads in /info features and gzip request bodies in Accept-Encoding', async () => {
    const info = await c.req('GET', '/info');
    assert.deepEqual((info.json as { features?: string[] }).features, ['base_package']);
    assert.equal(info.headers['accept-encoding'], 'gzip');
  });

  it('builds the same package (hash and bytes) as a whole upload of the same content; deleted files and emptied folders disappear', async () => {
    // bin/run's content is pooled: it comes back as a resource with its new mode, the rest in the zip.
    const delta = await c.upload('delta', {
      base,
      deleted: ['lib/deep/b.js', 'old/only.txt'],
      resources: [{ ...res(v2Files[2]), mode: 0o644 }],
      zip: await makeZip([v2Files[0], v2Files[4], v2Files[6]]),
    });
    assert.equal(delta.status, 200, delta.text);
    const d = delta.json as { package_hash: string; changed: boolean; files: number };
    assert.equal(d.changed, true);
    assert.equal(d.files, v2Files.length);
    assert.equal(await c.packageHash('delta'), d.package_hash);

    await c.create('whole');
    const whole = await c.full('whole', v2Files);
    assert.equal(whole, d.package_hash, 'a whole upload of the same content gives the same hash');
    const a = await c.req('GET', '/apps/delta/application');
    const b = await c.req('GET', '/apps/whole/application');
    assert.ok(a.body.equals(b.body), 'byte for byte the same package');

    const files = await c.packageFiles('delta');
    assert.deepEqual(Object.keys(files).sort(), ['bin/', 'bin/run', 'lib/', 'lib/a.js', 'lib/c.js', 'package.json', 'public/', 'public/big.txt', 'public/new.txt', 'server.js']);
    assert.deepEqual(files['server.js'], { data: v2Files[0].data, mode: 0o644 });
    assert.deepEqual(files['bin/run'], { data: v1Files[2].data, mode: 0o644 });
    base = d.package_hash;
  });

  it('a delta that changes nothing keeps the hash and reports no change', async () => {
    const r = await c.upload('delta', { base });
    assert.equal(r.status, 200, r.text);
    assert.equal((r.json as { package_hash: string }).package_hash, base);
    assert.equal((r.json as { changed: boolean }).changed, false);
  });

  it('takes base_package and deleted as file parts too', async () => {
    await c.create('parts');
    const b = await c.full('parts', [{ name: 'keep.txt', data: 'keep' }, { name: 'drop.txt', data: 'drop' }]);
    const r = await c.upload('parts', { base: b, deleted: ['drop.txt'], asFiles: true });
    assert.equal(r.status, 200, r.text);
    assert.deepEqual(Object.keys(await c.packageFiles('parts')), ['keep.txt']);
  });

  it('a file replaced by a folder and a folder replaced by a file', async () => {
    await c.create('shapes');
    const b1 = await c.full('shapes', [{ name: 'a', data: 'file a' }, { name: 'd/x', data: 'x' }, { name: 'd/y', data: 'y' }]);
    const r = await c.upload('shapes', { base: b1, deleted: ['a', 'd/x', 'd/y'], zip: await makeZip([{ name: 'a/inner', data: 'now a folder' }, { name: 'd', data: 'now a file' }]) });
    assert.equal(r.status, 200, r.text);
    await c.create('shapes-whole');
    assert.equal((r.json as { package_hash: string }).package_hash, await c.full('shapes-whole', [{ name: 'a/inner', data: 'now a folder' }, { name: 'd', data: 'now a file' }]));
    // Leaving d/y in place while d becomes a file is refused.
    const b2 = (r.json as { package_hash: string }).package_hash;
    await nothingWritten(t, async () => {
      expectError(await c.upload('shapes', { base: b2, deleted: ['a/inner'], zip: await makeZip([{ name: 'a', data: 'file again' }, { name: 'a2/z', data: 'z' }, { name: 'd/q', data: 'q' }]) }), 400, 402, /parent d is a file/);
    });
  });

  it('a stale base package is refused with code 403 (HTTP 409) and nothing is written', async () => {
    const other = await c.packageHash('shapes');
    assert.notEqual(other, base);
    await c.create('fresh');
    await nothingWritten(t, async () => {
      for (const stale of [sha1('no such package'), other as string, base.slice(0, -1) + (base.endsWith('0') ? '1' : '0')]) {
        expectError(await c.upload('delta', { base: stale, zip: await makeZip([{ name: 'n.txt', data: 'n' }]) }), 409, 403, /stale/);
      }
      // An app without a package has no base at all.
      expectError(await c.upload('fresh', { base, zip: await makeZip([{ name: 'n.txt', data: 'n' }]) }), 409, 403, /stale/);
    });
    // The app's previous package after a newer upload: stale too.
    await c.create('moving');
    const p1 = await c.full('moving', [{ name: 'one.txt', data: '1' }]);
    const p2 = await c.full('moving', [{ name: 'two.txt', data: '2' }]);
    await nothingWritten(t, async () => {
      expectError(await c.upload('moving', { base: p1, zip: await makeZip([{ name: 'three.txt', data: '3' }]) }), 409, 403);
    });
    assert.equal(await c.packageHash('moving'), p2);
  });

  it('hostile or careless deleted / base_package fields: code 400 and nothing written', async () => {
    const zip = await makeZip([{ name: 'extra.txt', data: 'extra' }]);
    await nothingWritten(t, async () => {
      const bad: Array<[Upload, RegExp]> = [
        [{ base, deleted: ['/etc/passwd'] }, /absolute/],
        [{ base, deleted: ['../outside'] }, /escapes/],
        [{ base, deleted: ['lib/../../outside'] }, /escapes/],
        [{ base, deleted: ['C:/windows'] }, /absolute/],
        [{ base, deleted: ['a\\b'] }, /backslash/],
        [{ base, deleted: [''] }, /blank/],
        [{ base, deleted: 'server.js' }, /array/],
        [{ base, deleted: { 0: 'server.js' } }, /array/],
        [{ base, deleted: [1] }, /string/],
        [{ base, deleted: [null] }, /string/],
        [{ base, deleted: [['server.js']] }, /string/],
        [{ base, deletedRaw: '[server.js' }, /JSON/],
        [{ base, deleted: ['server.js', './server.js'] }, /twice/],
        [{ base, deleted: ['not-there.txt'] }, /not in the base/],
        [{ base, deleted: ['extra.txt'], zip }, /not in the base/],
        [{ base, deleted: ['server.js'], zip: await makeZip([{ name: 'server.js', data: 'both' }]) }, /also in the upload/],
        [{ deleted: ['server.js'] }, /only allowed with base_package/],
        [{ base: 'not-a-hash' }, /40 hex/],
        [{ base: `${base}0` }, /40 hex/],
      ];
      for (const [u, why] of bad) expectError(await c.upload('delta', { zip: u.zip ?? zip, ...u }), 400, 400, why);
      // Unsafe zip entries and resources are refused in a delta exactly as in a whole upload.
      expectError(await c.upload('delta', { base, resources: [{ fn: '../x', size: 5, sha1: sha1('extra') }] }), 400, 400);
      expectError(await c.upload('delta', { base, resources: [{ fn: 'nowhere.txt', size: 5, sha1: sha1('never uploaded') }] }), 400, 400, /not in the resource pool/);
      // The same length as the name it replaces, in the local and the central header.
      const evil = Buffer.from(await makeZip([{ name: 'zz-evil.txt', data: 'evil' }]));
      for (let i = evil.indexOf('zz-evil.txt'); i >= 0; i = evil.indexOf('zz-evil.txt', i + 1)) evil.write('../evil.txt', i, 'latin1');
      expectError(await c.upload('delta', { base, zip: evil }), 400, 402);
    });
    assert.equal(await c.packageHash('delta'), base);
  });

  it('two deltas on the same base at once: one lands, the other is told its base is stale', async () => {
    const replies = await Promise.all(['left', 'right'].map(async (side) => c.upload('delta', {
      base, zip: await makeZip([{ name: `${side}.txt`, data: `${side} `.repeat(50_000) }]),
    })));
    const ok = replies.filter((r) => r.status === 200);
    const stale = replies.filter((r) => r.status === 409);
    assert.equal(ok.length, 1, replies.map((r) => r.text).join('\n'));
    assert.equal(stale.length, 1);
    expectError(stale[0], 409, 403, /stale/);
    const landed = (ok[0].json as { package_hash: string }).package_hash;
    assert.equal(await c.packageHash('delta'), landed);
    assert.ok(fs.existsSync(path.join(t.dataDir, 'packages', `${landed}.zip`)));
    // The refused one's package was not kept.
    assert.equal(fs.readdirSync(path.join(t.dataDir, 'packages')).filter((f) => f.endsWith('.zip')).length, new Set(dbPackages(t.dataDir)).size);
    base = landed;
  });
});

function dbPackages(dataDir: string): string[] {
  const db = new BetterSqlite3(path.join(dataDir, 'controller.db'), { readonly: true });
  try {
    return (db.prepare('SELECT hash FROM packages').all() as { hash: string }[]).map((r) => r.hash);
  } finally {
    db.close();
  }
}

describe('controller: delta uploads after a restart, a lost pool blob, the size limit', function () {
  this.timeout(60_000);

  it('after a restart (listing read back from the package) and with a pool blob lost, still the same package as a whole upload', async () => {
    const first = await startTestController();
    const dataDir = first.dataDir;
    const nats = first.nats;
    let second: TestController | undefined;
    let firstStopped = false;
    try {
      const c1 = new Client(first);
      await c1.create('again');
      const big = randomBytes(2 * 1024 * 1024); // over 1 MiB: read back by streaming, not in one piece
      const files: File[] = [{ name: 'big.bin', data: big }, { name: 'small.txt', data: 'small' }, { name: 'run.sh', data: 'echo', mode: 0o700 }];
      const p1 = await c1.full('again', files);
      await first.controller.stop();
      await first.bus.close();
      firstStopped = true;
      // The pool loses small.txt's blob: the delta takes it from the base package (and puts it back).
      const h = sha1('small');
      const n = BigInt(`0x${h}`);
      const blob = path.join(dataDir, 'pool', String(n % 269n), String(n % 251n), h);
      fs.rmSync(blob);
      second = await startTestController({ dataDir, nats });
      const c2 = new Client(second);
      const r = await c2.upload('again', { base: p1, zip: await makeZip([{ name: 'added.txt', data: 'added' }]) });
      assert.equal(r.status, 200, r.text);
      await c2.create('again-whole');
      assert.equal((r.json as { package_hash: string }).package_hash, await c2.full('again-whole', [...files, { name: 'added.txt', data: 'added' }]));
      assert.equal(fs.readFileSync(blob, 'utf8'), 'small', 'the lost blob is back in the pool');
      const pkg = await c2.packageFiles('again');
      assert.deepEqual(pkg['run.sh'], { data: 'echo', mode: 0o700 });
    } finally {
      await second?.stop();
      if (!firstStopped) { await first.controller.stop(); await first.bus.close(); }
      fs.rmSync(dataDir, { recursive: true, force: true });
      await nats.stop();
    }
  });

  it('the size limit applies to the combined package, before anything is unpacked; nothing written', async () => {
    const t = await startTestController({ maxPackageBytes: 64 * 1024 });
    try {
      const c = new Client(t);
      await c.create('limited');
      const seed: File = { name: 'seed.txt', data: 'a'.repeat(40 * 1024) };
      const b = await c.full('limited', [seed]);
      await nothingWritten(t, async () => {
        // 40 KiB kept from the base + 30 KiB new: over 64 KiB, though the upload alone is small.
        expectError(await c.upload('limited', { base: b, zip: await makeZip([{ name: 'more.txt', data: 'b'.repeat(30 * 1024) }]) }), 400, 401, /too large/);
        // Pooled resources count too.
        const pooled: File = { name: 'copy.txt', data: seed.data };
        expectError(await c.upload('limited', { base: b, resources: [res(pooled)] }), 400, 401);
      });
      // Replacing the base file (not adding to it), or deleting it first, fits.
      const replaced = await c.upload('limited', { base: b, zip: await makeZip([{ name: 'seed.txt', data: 'c'.repeat(60 * 1024) }]) });
      assert.equal(replaced.status, 200, replaced.text);
      const b2 = (replaced.json as { package_hash: string }).package_hash;
      const swapped = await c.upload('limited', { base: b2, deleted: ['seed.txt'], zip: await makeZip([{ name: 'other.txt', data: 'd'.repeat(60 * 1024) }]) });
      assert.equal(swapped.status, 200, swapped.text);
      assert.deepEqual(Object.keys(await c.packageFiles('limited')), ['other.txt']);
    } finally {
      await t.stop();
    }
  });
});

describe('controller: gzipped request bodies', function () {
  this.timeout(60_000);
  let t: TestController;
  let c: Client;
  before(async () => {
    t = await startTestController({ maxPackageBytes: 1024 * 1024 });
    c = new Client(t);
    await c.create('zipped');
  });
  after(async () => { await t?.stop(); });

  it('takes a gzipped POST /resources and a gzipped upload (whole and delta)', async () => {
    const files: File[] = [{ name: 'a.txt', data: 'alpha '.repeat(1000) }, { name: 'b.txt', data: 'beta' }];
    const up = await c.upload('zipped', { zip: await makeZip(files), gzip: true });
    assert.equal(up.status, 200, up.text);
    const p1 = (up.json as { package_hash: string }).package_hash;
    const list = files.map(res);
    const r = await c.req('POST', '/resources', { body: gzipSync(JSON.stringify([...list, { fn: 'c', size: 1, sha1: sha1('c') }])), headers: { 'content-type': 'application/json', 'content-encoding': 'gzip' } });
    assert.equal(r.status, 200, r.text);
    assert.deepEqual(r.json, list);
    const delta = await c.upload('zipped', { base: p1, deleted: ['b.txt'], zip: await makeZip([{ name: 'c.txt', data: 'gamma' }]), gzip: true });
    assert.equal(delta.status, 200, delta.text);
    assert.deepEqual(Object.keys(await c.packageFiles('zipped')).sort(), ['a.txt', 'c.txt']);
  });

  it('applies the limits to the decoded size (gzip bombs stop there), refuses damaged gzip and unknown encodings; nothing written', async () => {
    await nothingWritten(t, async () => {
      // 80 MiB of zeros in ~80 KiB: POST /resources stops at its 64 MiB limit.
      const bomb = gzipSync(Buffer.alloc(80 * 1024 * 1024));
      assert.ok(bomb.length < 200 * 1024);
      const r = await c.req('POST', '/resources', { body: bomb, headers: { 'content-type': 'application/json', 'content-encoding': 'gzip' } });
      expectError(r, 413, 100, /larger than/);
      // The upload's body cap (package limit + room for headers) counts decoded bytes too.
      const z = new JSZip();
      z.file('zeros.bin', Buffer.alloc(4 * 1024 * 1024), { compression: 'STORE', createFolders: false });
      const mp = multipartBody([{ name: 'resources', value: '[]' }, { name: 'application', value: await z.generateAsync({ type: 'nodebuffer' }), filename: 'a.zip' }]);
      const packed = gzipSync(mp.body);
      assert.ok(packed.length < 64 * 1024);
      expectError(await c.req('PUT', '/apps/zipped/application', { body: packed, headers: { 'content-type': mp.contentType, 'content-encoding': 'gzip' } }), 400, 401);
      expectError(await c.req('POST', '/resources', { body: Buffer.from('not gzip at all'), headers: { 'content-type': 'application/json', 'content-encoding': 'gzip' } }), 400, 100, /gzip/);
      const broken = gzipSync(Buffer.from(mp.body)).subarray(0, 2000);
      expectError(await c.req('PUT', '/apps/zipped/application', { body: broken, headers: { 'content-type': mp.contentType, 'content-encoding': 'gzip' } }), 400, 100, /gzip/);
      expectError(await c.req('POST', '/resources', { body: '[]', headers: { 'content-type': 'application/json', 'content-encoding': 'br' } }), 415, 100, /not supported/);
      expectError(await c.upload('zipped', { headers: { 'content-encoding': 'deflate' } }), 415, 100, /not supported/);
    });
  });
});
