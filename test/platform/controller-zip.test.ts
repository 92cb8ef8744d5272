// The archive reader and writer against hostile and careless archives: the entry limit, a damaged
// central directory, sizes that lie, a 400,000-entry archive, strict names; and byte-for-byte
// deterministic packages.
import { strict as assert } from 'node:assert';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import JSZip from 'jszip';
import { ContentStore } from '../../platform/controller/content-store';
import { CcError } from '../../platform/controller/errors';
import { Packager } from '../../platform/controller/packager';
import { ResourcePool } from '../../platform/controller/resource-pool';
import { Store } from '../../platform/controller/store';
import { DEFAULT_MAX_ZIP_ENTRIES, ZipArchive, ZipEntryLimitError, ZipFormatError } from '../../platform/archive';
import { writeZip, type ZipSource } from '../../platform/controller/zip-writer';
import { silentLog } from '../../platform/log';
import { httpRequest, multipartBody, startTestController } from './support/controller';

const sha1 = (b: Buffer | string): string => createHash('sha1').update(b).digest('hex');

async function collect(s: NodeJS.ReadableStream): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of s as AsyncIterable<Buffer>) chunks.push(c);
  return Buffer.concat(chunks);
}

/** A stored archive of `n` empty files named f0000000, f0000001, ... */
function emptyEntries(n: number): Promise<Buffer> {
  function* sources(): Generator<ZipSource> {
    for (let i = 0; i < n; i++) yield { kind: 'file', name: `f${String(i).padStart(7, '0')}`, mode: 0o644, size: 0, path: '', data: Buffer.alloc(0) };
  }
  return collect(writeZip(sources()));
}

async function deflated(files: Record<string, Buffer | string>): Promise<Buffer> {
  const z = new JSZip();
  for (const [name, data] of Object.entries(files)) z.file(name, data, { createFolders: false, unixPermissions: 0o100644 });
  return z.generateAsync({ type: 'nodebuffer', compression: 'DEFLATE', platform: 'UNIX' });
}

/** Offsets of every central directory header of an archive without comments. */
function centralHeaders(zip: Buffer): number[] {
  const eocd = zip.lastIndexOf(Buffer.from([0x50, 0x4b, 0x05, 0x06]));
  const out: number[] = [];
  for (let p = zip.readUInt32LE(eocd + 16); p < eocd && zip.readUInt32LE(p) === 0x02014b50; p += 46 + zip.readUInt16LE(p + 28) + zip.readUInt16LE(p + 30) + zip.readUInt16LE(p + 32)) out.push(p);
  return out;
}

describe('controller: zip archives', function () {
  this.timeout(60_000);
  let dir: string;
  let stores: Store[] = [];
  beforeEach(() => { dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pocket-zip-')); });
  afterEach(() => {
    for (const s of stores) s.close();
    stores = [];
    fs.rmSync(dir, { recursive: true, force: true });
  });

  /** A packager with its own store, pool and package folder under `root`. */
  function packager(root: string): { packager: Packager; packagesDir: string; tmpDir: string; poolDir: string } {
    const tmpDir = path.join(root, 'tmp');
    const packagesDir = path.join(root, 'packages');
    const poolDir = path.join(root, 'pool');
    fs.mkdirSync(packagesDir, { recursive: true });
    const store = Store.open(root);
    stores.push(store);
    const p = new Packager({
      pool: new ResourcePool(poolDir, tmpDir), packages: new ContentStore(packagesDir, '.zip'), store, tmpDir,
      maxPackageBytes: 64 * 1024 * 1024, log: silentLog,
    });
    return { packager: p, packagesDir, tmpDir, poolDir };
  }

  /** Assembles `zip` and expects a 402 whose description matches `why`, with nothing written. */
  async function refusedByPackager(zip: Buffer, why: RegExp): Promise<void> {
    const root = fs.mkdtempSync(path.join(dir, 'pkg-'));
    const { packager: p, packagesDir, tmpDir, poolDir } = packager(root);
    const file = path.join(root, 'upload.zip');
    fs.writeFileSync(file, zip);
    await assert.rejects(p.assemble(file, []), (e: unknown) => e instanceof CcError && e.code === 402 && why.test(e.message));
    assert.deepEqual(fs.readdirSync(tmpDir), [], 'nothing inflated');
    assert.deepEqual(fs.readdirSync(packagesDir), [], 'no package');
    assert.deepEqual(fs.readdirSync(poolDir), [], 'nothing pooled');
  }

  it('refuses an archive over the entry limit before reading any entry, naming the limit', async () => {
    const file = path.join(dir, 'eleven.zip');
    fs.writeFileSync(file, await emptyEntries(11));
    await assert.rejects(ZipArchive.open(file, { maxEntries: 10 }), (e: unknown) =>
      e instanceof ZipEntryLimitError && e instanceof ZipFormatError && e.limit === 10 && e.entryCount === 11 && /more than the limit of 10\b/.test(e.message));
    const ok = await ZipArchive.open(file, { maxEntries: 11 });
    assert.equal(ok.entries.length, 11);
    ok.close();
    assert.equal(DEFAULT_MAX_ZIP_ENTRIES, 100_000);
  });

  it('refuses a 400,000-entry archive at once, in bounded memory, with nothing extracted', async () => {
    const zip = await emptyEntries(400_000);
    const file = path.join(dir, 'many.zip');
    fs.writeFileSync(file, zip);
    const rssBefore = process.memoryUsage().rss;
    const t0 = process.hrtime.bigint();
    await assert.rejects(ZipArchive.open(file), (e: unknown) => e instanceof ZipEntryLimitError && e.entryCount === 400_000);
    const ms = Number(process.hrtime.bigint() - t0) / 1e6;
    const grewMb = (process.memoryUsage().rss - rssBefore) / 1024 / 1024;
    assert.ok(ms < 1000, `refused in ${ms.toFixed(0)} ms`);
    assert.ok(grewMb < 32, `RSS grew by ${grewMb.toFixed(1)} MiB`);
    await refusedByPackager(zip, /^bad zip: the archive has 400000 entries, more than the limit of 100000$/);
  });

  it('the entry limit reaches the REST client as code 402 with its message', async () => {
    const t = await startTestController();
    try {
      const auth = { token: t.token };
      const created = await httpRequest(`${t.controller.url}/apps`, { ...auth, method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ name: 'many' }) });
      assert.equal(created.status, 302, created.text);
      const mp = multipartBody([{ name: 'resources', value: '[]' }, { name: 'application', value: await emptyEntries(DEFAULT_MAX_ZIP_ENTRIES + 1), filename: 'app.zip', contentType: 'application/zip' }]);
      const r = await httpRequest(`${t.controller.url}/apps/many/application`, { ...auth, method: 'PUT', body: mp.body, headers: { 'content-type': mp.contentType } });
      assert.equal(r.status, 400, r.text);
      assert.deepEqual(r.json, { code: 402, description: `bad zip: the archive has ${DEFAULT_MAX_ZIP_ENTRIES + 1} entries, more than the limit of ${DEFAULT_MAX_ZIP_ENTRIES}` });
      assert.deepEqual(fs.readdirSync(path.join(t.dataDir, 'tmp')), [], 'nothing left in tmp');
    } finally {
      await t.stop();
    }
  });

  it('refuses a truncated or damaged central directory', async () => {
    const good = await deflated({ 'a.txt': 'hello '.repeat(50), 'b.txt': 'world', 'c.txt': 'again' });
    const [, second] = centralHeaders(good);
    const eocd = good.lastIndexOf(Buffer.from([0x50, 0x4b, 0x05, 0x06]));
    // A damaged header signature in the middle of the directory.
    const badSig = Buffer.from(good);
    badSig.writeUInt32LE(0x02014b51, second);
    // The directory cut short: the end record kept, the last two headers gone.
    const cut = Buffer.concat([good.subarray(0, second), good.subarray(eocd)]);
    // More entries declared than the directory holds.
    const overCount = Buffer.from(good);
    overCount.writeUInt16LE(4, eocd + 8);
    overCount.writeUInt16LE(4, eocd + 10);
    // The directory said to start past the end of the file.
    const outside = Buffer.from(good);
    outside.writeUInt32LE(good.length + 100, eocd + 16);
    for (const [what, zip] of [['bad signature', badSig], ['cut short', cut], ['over-counted', overCount], ['outside', outside], ['no end record', good.subarray(0, eocd)]] as const) {
      const file = path.join(dir, 'bad.zip');
      fs.writeFileSync(file, zip);
      await assert.rejects(ZipArchive.open(file), ZipFormatError, what);
      await refusedByPackager(zip, /^bad zip: /);
    }
  });

  it('stops an entry inflating past its declared size, small or streamed', async () => {
    // Small entries (inflated in one step): 1,000 bytes declared as 100.
    const small = await deflated({ 'small.txt': 'a'.repeat(1000) });
    const [cdSmall] = centralHeaders(small);
    small.writeUInt32LE(100, cdSmall + 24);
    await refusedByPackager(small, /small\.txt: inflates to more than its declared size/);
    // Streamed entries: 64 MiB of zeros (64 KiB deflated) declared as 2 MiB; yauzl cuts the stream.
    const bomb = await deflated({ 'bomb.bin': Buffer.alloc(64 * 1024 * 1024) });
    const [cdBomb] = centralHeaders(bomb);
    bomb.writeUInt32LE(2 * 1024 * 1024, cdBomb + 24);
    const file = path.join(dir, 'bomb.zip');
    fs.writeFileSync(file, bomb);
    const a = await ZipArchive.open(file);
    try {
      let got = 0;
      await assert.rejects((async () => { for await (const c of a.stream(a.entries[0]) as AsyncIterable<Buffer>) got += c.length; })(),
        (e: unknown) => e instanceof ZipFormatError && /bomb\.bin: too many bytes/.test(e.message));
      assert.ok(got <= 2 * 1024 * 1024, `${got} bytes came out`);
    } finally {
      a.close();
    }
    await refusedByPackager(bomb, /bomb\.bin/);
  });

  it('refuses backslashes in names rather than rewriting them, and keeps modes and links', async () => {
    const evil = await collect(writeZip([{ kind: 'file', name: 'dir\\..\\..\\evil', mode: 0o644, size: 1, path: '', data: Buffer.from('x') }]));
    await refusedByPackager(evil, /invalid characters in fileName: dir\\\.\.\\\.\.\\evil/);
    const file = path.join(dir, 'modes.zip');
    fs.writeFileSync(file, await collect(writeZip([
      { kind: 'dir', name: 'bin', mode: 0o750 },
      { kind: 'file', name: 'bin/run', mode: 0o755, size: 2, path: '', data: Buffer.from('#!') },
      { kind: 'symlink', name: 'run', target: 'bin/run' },
    ])));
    const a = await ZipArchive.open(file);
    try {
      assert.deepEqual(a.entries.map((e) => [e.name, e.isDirectory, e.isSymlink, e.mode]), [['bin/', true, false, 0o40750], ['bin/run', false, false, 0o100755], ['run', false, true, 0o120777]]);
      assert.equal(a.readSmall(a.entries[2]).toString(), 'bin/run');
    } finally {
      a.close();
    }
  });

  it('writes the same bytes for the same entries, whatever the files\' times and the upload order', async () => {
    const big = Buffer.alloc(5 * 1024 * 1024, 'b');
    fs.writeFileSync(path.join(dir, 'big'), big);
    const entries: ZipSource[] = [
      { kind: 'dir', name: 'd', mode: 0o755 },
      { kind: 'file', name: 'd/big', mode: 0o644, size: big.length, path: path.join(dir, 'big') },
      { kind: 'file', name: 'd/x', mode: 0o600, size: 1, path: '', data: Buffer.from('x') },
      { kind: 'symlink', name: 'l', target: 'd/x' },
    ];
    const first = await collect(writeZip(entries));
    fs.utimesSync(path.join(dir, 'big'), new Date(2001, 1, 1), new Date(2001, 1, 1));
    assert.ok(first.equals(await collect(writeZip(entries))), 'a second write is identical');
    // The package bytes are pinned: a change here changes every app's package hash.
    assert.equal(sha1(await collect(writeZip(entries.slice(2)))), 'd908bf3496b18a5180a20d38a8a49d68ff9c9cfe');
    // Two packagers (two controllers): the same app zipped in two orders, at other times, is one package.
    const z1 = new JSZip();
    z1.file('a.txt', 'A', { createFolders: false, date: new Date(2020, 0, 1) });
    z1.file('b/c.txt', 'C', { createFolders: false, date: new Date(2020, 0, 1) });
    const z2 = new JSZip();
    z2.file('b/c.txt', 'C', { createFolders: false, date: new Date(2024, 5, 6) });
    z2.file('a.txt', 'A', { createFolders: false, date: new Date(2024, 5, 6) });
    fs.writeFileSync(path.join(dir, 'u1.zip'), await z1.generateAsync({ type: 'nodebuffer', compression: 'DEFLATE' }));
    fs.writeFileSync(path.join(dir, 'u2.zip'), await z2.generateAsync({ type: 'nodebuffer', compression: 'STORE' }));
    const r1 = await packager(path.join(dir, 'one')).packager.assemble(path.join(dir, 'u1.zip'), []);
    const r2 = await packager(path.join(dir, 'two')).packager.assemble(path.join(dir, 'u2.zip'), []);
    assert.ok(r1.created && r2.created);
    assert.equal(r2.hash, r1.hash);
  });
});
