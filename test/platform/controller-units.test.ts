// The controller's building blocks on their own: paths, zips (reader and writer), the pool, the
// packager, the store's migrations, host and token checks.
import { strict as assert } from 'node:assert';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import BetterSqlite3 from 'better-sqlite3';
import JSZip from 'jszip';
import { ContentStore } from '../../platform/controller/content-store';
import { CcError } from '../../platform/controller/errors';
import { isLoopbackHost, tokenMatches } from '../../platform/controller/http-util';
import { UnsafePathError, checkLinkTarget, normalizeAppPath, parseResources } from '../../platform/controller/package-request';
import { Packager } from '../../platform/controller/packager';
import { ResourcePool } from '../../platform/controller/resource-pool';
import { migrations } from '../../platform/controller/migrations';
import { Store } from '../../platform/controller/store';
import { ZipArchive } from '../../platform/archive';
import { writeZip, type ZipSource } from '../../platform/controller/zip-writer';
import { silentLog } from '../../platform/log';

const sha1 = (b: Buffer | string): string => createHash('sha1').update(b).digest('hex');

async function collect(s: NodeJS.ReadableStream): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of s as AsyncIterable<Buffer>) chunks.push(c);
  return Buffer.concat(chunks);
}

describe('controller units', function () {
  this.timeout(60_000);
  let dir: string;
  beforeEach(() => { dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pocket-ccu-')); });
  afterEach(() => { fs.rmSync(dir, { recursive: true, force: true }); });

  it('normalizes app paths and refuses blank, absolute and escaping ones', () => {
    assert.equal(normalizeAppPath('a/./b//c'), 'a/b/c');
    assert.equal(normalizeAppPath('a/../b'), 'b');
    assert.equal(normalizeAppPath('dir/'), 'dir');
    for (const bad of ['', ' ', '.', './', 'a/..', '..', '../x', 'a/../../x', '/etc/passwd', 'C:/x', 'c:x', 'a\\b', 'a\0b']) {
      assert.throws(() => normalizeAppPath(bad), UnsafePathError, JSON.stringify(bad));
    }
    checkLinkTarget('a/b/link', '../c');
    checkLinkTarget('link', 'sub/file');
    for (const [link, target] of [['link', '../x'], ['a/link', '../../x'], ['link', '/etc'], ['link', ''], ['a/link', 'b/../../..']]) {
      assert.throws(() => checkLinkTarget(link, target), UnsafePathError, `${link} -> ${target}`);
    }
  });

  it('parses resources lists and names what is wrong', () => {
    assert.deepEqual(parseResources(undefined), []);
    assert.deepEqual(parseResources(' '), []);
    const s = sha1('x');
    assert.deepEqual(parseResources(JSON.stringify([{ fn: 'a', size: 1, sha1: s.toUpperCase(), mode: '755' }])), [{ fn: 'a', size: 1, sha1: s, mode: 0o755 }]);
    for (const bad of ['[', '{}', '[1]', '[{"fn":"a","size":"1","sha1":"' + s + '"}]', '[{"fn":"a","size":1.5,"sha1":"' + s + '"}]', '[{"fn":"a","size":1,"sha1":"xyz"}]', '[{"fn":"a","size":1,"sha1":"' + s + '","mode":"rwx"}]']) {
      assert.throws(() => parseResources(bad), (e: unknown) => e instanceof CcError && e.code === 400, bad);
    }
  });

  it('writes deterministic zips that jszip and the reader read back, modes and links included', async () => {
    const big = Buffer.alloc(5 * 1024 * 1024, 'q');
    fs.writeFileSync(path.join(dir, 'big'), big);
    fs.writeFileSync(path.join(dir, 'small'), 'small file');
    fs.writeFileSync(path.join(dir, 'empty'), '');
    const entries: ZipSource[] = [
      { kind: 'dir', name: 'bin', mode: 0o755 },
      { kind: 'file', name: 'bin/run', mode: 0o755, size: 10, path: path.join(dir, 'small') },
      { kind: 'file', name: 'big.bin', mode: 0o644, size: big.length, path: path.join(dir, 'big') },
      { kind: 'file', name: 'empty', mode: 0o600, size: 0, path: path.join(dir, 'empty') },
      { kind: 'symlink', name: 'link', target: 'bin/run' },
      { kind: 'file', name: 'ünïcode.txt', mode: 0o644, size: 10, path: path.join(dir, 'small') },
    ];
    const a = await collect(writeZip(entries));
    const b = await collect(writeZip(entries));
    assert.ok(a.equals(b), 'same entries, same bytes');
    const z = await JSZip.loadAsync(a, { checkCRC32: true });
    assert.deepEqual(Object.keys(z.files), ['bin/', 'bin/run', 'big.bin', 'empty', 'link', 'ünïcode.txt']);
    assert.equal(z.files['bin/run'].unixPermissions, 0o100755);
    assert.equal(z.files['empty'].unixPermissions, 0o100600);
    assert.equal(z.files['link'].unixPermissions, 0o120777);
    assert.equal(z.files['bin/'].unixPermissions, 0o40755);
    assert.ok((await z.file('big.bin')?.async('nodebuffer'))?.equals(big));
    assert.equal(z.files['bin/run'].date.getTime(), Date.UTC(1980, 0, 1), 'one fixed timestamp');
    fs.writeFileSync(path.join(dir, 'out.zip'), a);
    const r = await ZipArchive.open(path.join(dir, 'out.zip'));
    try {
      assert.deepEqual(r.entries.map((e) => [e.name, e.isDirectory, e.isSymlink]), [
        ['bin/', true, false], ['bin/run', false, false], ['big.bin', false, false], ['empty', false, false], ['link', false, true], ['ünïcode.txt', false, false]]);
      assert.equal(r.readSmall(r.entries[4]).toString(), 'bin/run');
      assert.ok((await collect(r.stream(r.entries[2]))).equals(big));
    } finally {
      r.close();
    }
    // A file changing size under the writer is an error, not a wrong archive.
    await assert.rejects(collect(writeZip([{ kind: 'file', name: 'x', mode: 0o644, size: 3, path: path.join(dir, 'small') }])));
  });

  it('writes and reads zip64 archives (more than 65535 entries)', async () => {
    fs.writeFileSync(path.join(dir, 'e'), '');
    const n = 66_000;
    const entries: ZipSource[] = Array.from({ length: n }, (_, i) => ({ kind: 'file', name: `f${String(i).padStart(5, '0')}`, mode: 0o644, size: 0, path: path.join(dir, 'e') }));
    const zip = await collect(writeZip(entries));
    fs.writeFileSync(path.join(dir, 'z64.zip'), zip);
    const r = await ZipArchive.open(path.join(dir, 'z64.zip'));
    assert.equal(r.entries.length, n);
    assert.equal(r.entries[n - 1].name, 'f65999');
    r.close();
    const z = await JSZip.loadAsync(zip);
    assert.equal(Object.keys(z.files).length, n);
  });

  it('packages: streams large entries, refuses one inflating past its declared size, and leaves nothing behind', async () => {
    const pool = new ResourcePool(path.join(dir, 'pool'), path.join(dir, 'tmp'));
    const packages = new ContentStore(path.join(dir, 'packages'), '.zip');
    const store = Store.open(dir);
    try {
      const packager = new Packager({ pool, packages, store, tmpDir: path.join(dir, 'tmp'), maxPackageBytes: 64 * 1024 * 1024, log: silentLog });
      const data = Buffer.from('0123456789abcdef'.repeat(256 * 1024)); // 4 MiB, compresses well
      const z = new JSZip();
      z.file('large.txt', data, { createFolders: false, unixPermissions: 0o100644 });
      const zip = await z.generateAsync({ type: 'nodebuffer', compression: 'DEFLATE', platform: 'UNIX' });
      fs.writeFileSync(path.join(dir, 'up.zip'), zip);
      const pkg = await packager.assemble(path.join(dir, 'up.zip'), []);
      assert.ok(fs.existsSync(pool.pathOf(sha1(data))), 'the large file joined the pool');
      const back = await JSZip.loadAsync(fs.readFileSync(packages.pathOf(pkg.hash)));
      assert.ok((await back.file('large.txt')?.async('nodebuffer'))?.equals(data));
      // Same content again: the package is found by its manifest, not rebuilt.
      assert.deepEqual(await packager.assemble(path.join(dir, 'up.zip'), []), { ...pkg, created: false });
      // Declare 3 MiB in the central directory while 4 MiB inflate: refused as a bad zip.
      const lying = Buffer.from(zip);
      const cd = lying.lastIndexOf(Buffer.from([0x50, 0x4b, 0x01, 0x02]));
      lying.writeUInt32LE(3 * 1024 * 1024, cd + 24);
      fs.writeFileSync(path.join(dir, 'lying.zip'), lying);
      const before = fs.readdirSync(path.join(dir, 'packages')).length;
      await assert.rejects(packager.assemble(path.join(dir, 'lying.zip'), []), (e: unknown) => e instanceof CcError && e.code === 402);
      assert.equal(fs.readdirSync(path.join(dir, 'packages')).length, before);
      assert.deepEqual(fs.readdirSync(path.join(dir, 'tmp')), []);
    } finally {
      store.close();
    }
  });

  it('the pool matches only blobs present with the same size, in the v1 layout', async () => {
    const pool = new ResourcePool(path.join(dir, 'pool'), path.join(dir, 'tmp'));
    const { Readable } = await import('node:stream');
    const fp = await pool.put(Readable.from([Buffer.from('hello')]));
    assert.equal(fp.sha1, sha1('hello'));
    const n = BigInt(`0x${fp.sha1}`);
    assert.equal(pool.pathOf(fp.sha1), path.join(dir, 'pool', String(n % 269n), String(n % 251n), fp.sha1));
    assert.deepEqual(await pool.match([{ sha1: fp.sha1, size: 5 }, { sha1: fp.sha1, size: 4 }, { sha1: sha1('x'), size: 1 }, { sha1: 'zz', size: 1 }]), [{ sha1: fp.sha1, size: 5 }]);
    await assert.rejects(pool.put(Readable.from([Buffer.from('other')]), { sha1: sha1('nope'), size: 5 }));
    assert.deepEqual(fs.readdirSync(path.join(dir, 'tmp')), [], 'a refused blob leaves no temp file');
  });

  it('the store migrates once, refuses a newer schema, and stamps strictly increasing times', () => {
    const s1 = Store.open(dir);
    assert.equal(s1.schemaVersion(), migrations[migrations.length - 1].version);
    const stamps = Array.from({ length: 50 }, () => s1.stamp());
    assert.ok(stamps.every((v, i) => i === 0 || v > stamps[i - 1]));
    s1.close();
    const s2 = Store.open(dir);
    assert.equal(s2.schemaVersion(), migrations[migrations.length - 1].version);
    s2.close();
    const db = new BetterSqlite3(path.join(dir, 'controller.db'));
    db.prepare('INSERT INTO schema_version (version) VALUES (99)').run();
    db.close();
    assert.throws(() => Store.open(dir), /newer/);
  });

  it('accepts only loopback Host names and compares tokens exactly', () => {
    for (const h of ['localhost', 'localhost:80', 'LOCALHOST', 'app.localhost:1', '127.0.0.1', '127.255.0.1:9', '[::1]', '[::1]:8080', 'localhost.']) assert.ok(isLoopbackHost(h), h);
    for (const h of [undefined, '', 'example.com', 'localhost.example.com', '127.0.0.1.example.com', '128.0.0.1', '127.0.0.256', '[::2]', '[::1]x', 'localhost:abc', '0.0.0.0', 'evil.com#.localhost']) assert.ok(!isLoopbackHost(h), String(h));
    assert.ok(tokenMatches('abc', 'abc'));
    assert.ok(!tokenMatches('abcd', 'abc'));
    assert.ok(!tokenMatches(undefined, 'abc'));
    assert.ok(!tokenMatches('', ''));
  });
});
