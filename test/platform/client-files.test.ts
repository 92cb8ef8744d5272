// The pusher's file side on real temp folders: walk, ignores, links, fingerprints, the zip.
import { strict as assert } from 'node:assert';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { execFileSync } from 'node:child_process';
import JSZip from 'jszip';
import { fingerprintFiles, listAppFiles, packFiles, PushError, scanApp } from '../../platform/client';

function tree(files: Record<string, string | Buffer>): string {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'pocket-client-'));
  for (const [rel, content] of Object.entries(files)) {
    const p = path.join(root, rel);
    fs.mkdirSync(path.dirname(p), { recursive: true });
    fs.writeFileSync(p, content);
  }
  return root;
}

const sha1 = (b: string | Buffer): string => createHash('sha1').update(b).digest('hex');

describe('client: walking and fingerprinting an app folder', () => {
  const made: string[] = [];
  const mk = (files: Record<string, string | Buffer>): string => { const r = tree(files); made.push(r); return r; };
  after(() => { for (const r of made) fs.rmSync(r, { recursive: true, force: true }); });

  it('lists files sorted with posix paths and skips .git, .svn, .hg and _darcs anywhere', async () => {
    const root = mk({
      'server.js': 'x', 'lib/a.js': 'a', 'lib/sub/b.js': 'b',
      '.git/HEAD': 'ref', '.svn/entries': '1', 'lib/_darcs/x': '1', 'lib/.hg/store': '1', '.gitignore': 'node_modules',
    });
    const files = await listAppFiles(root);
    assert.deepEqual(files.map((f) => f.fn), ['.gitignore', 'lib/a.js', 'lib/sub/b.js', 'server.js']);
  });

  it('honours .cfignore with gitignore semantics (dirs, globs, negation, anchors)', async () => {
    const root = mk({
      '.cfignore': '# comment\nnode_modules/\n*.log\n!keep.log\n/build\ntmp/**/*.bak\n',
      'app.js': '1', 'node_modules/x/index.js': '1', 'debug.log': '1', 'keep.log': '1', 'sub/err.log': '1',
      'build/out.js': '1', 'sub/build/out.js': '1', 'tmp/a/b.bak': '1', 'tmp/a/b.txt': '1',
    });
    const files = (await listAppFiles(root)).map((f) => f.fn);
    assert.deepEqual(files, ['.cfignore', 'app.js', 'keep.log', 'sub/build/out.js', 'tmp/a/b.txt']);
  });

  it('refuses a symbolic link that points outside the folder, naming it', async () => {
    const outside = mk({ 'secret.txt': 'secret' });
    const root = mk({ 'app.js': '1' });
    fs.symlinkSync(path.join(outside, 'secret.txt'), path.join(root, 'leak.txt'));
    await assert.rejects(listAppFiles(root), (e: unknown) => e instanceof PushError && /leak\.txt/.test(e.message) && /outside the app folder/.test(e.message));
    // a relative escape is caught the same way
    fs.unlinkSync(path.join(root, 'leak.txt'));
    fs.symlinkSync('../../../../../../etc', path.join(root, 'etc'));
    await assert.rejects(listAppFiles(root), /etc is a symbolic link .* outside the app folder/);
    // ...unless .cfignore leaves it out
    fs.writeFileSync(path.join(root, '.cfignore'), 'etc\n');
    assert.deepEqual((await listAppFiles(root)).map((f) => f.fn), ['.cfignore', 'app.js']);
  });

  it('follows links inside the folder, refuses broken links and link loops', async () => {
    const root = mk({ 'lib/real.js': 'real', 'app.js': '1' });
    fs.symlinkSync('lib/real.js', path.join(root, 'alias.js'));
    fs.symlinkSync('lib', path.join(root, 'libalias'));
    const files = await scanApp(root);
    assert.deepEqual(files.map((f) => f.fn), ['alias.js', 'app.js', 'lib/real.js', 'libalias/real.js']);
    assert.equal(files[0].sha1, sha1('real'));
    fs.symlinkSync('..', path.join(root, 'lib', 'up'));
    await assert.rejects(listAppFiles(root), /lib\/up .*loop/);
    fs.unlinkSync(path.join(root, 'lib', 'up'));
    fs.symlinkSync('missing.js', path.join(root, 'dangling.js'));
    await assert.rejects(listAppFiles(root), /dangling\.js is a broken symbolic link/);
  });

  it('skips sockets and fifos', async () => {
    const root = mk({ 'app.js': '1' });
    execFileSync('mkfifo', [path.join(root, 'pipe')]);
    const server = net.createServer();
    await new Promise<void>((r) => server.listen(path.join(root, 'sock'), r));
    try {
      assert.deepEqual((await scanApp(root)).map((f) => f.fn), ['app.js']);
    } finally {
      await new Promise<void>((r) => server.close(() => r()));
    }
  });

  it('fingerprints with SHA-1 and size, keeps modes, including empty and multi-chunk files', async () => {
    const big = Buffer.alloc(3 * 1024 * 1024 + 17, 7);
    const root = mk({ 'empty': '', 'big.bin': big, 'run.sh': '#!/bin/sh\necho hi\n' });
    fs.chmodSync(path.join(root, 'run.sh'), 0o755);
    const files = await scanApp(root);
    const by = Object.fromEntries(files.map((f) => [f.fn, f]));
    assert.equal(by['empty'].sha1, sha1(''));
    assert.equal(by['empty'].size, 0);
    assert.equal(by['big.bin'].sha1, sha1(big));
    assert.equal(by['big.bin'].size, big.length);
    assert.equal(by['run.sh'].mode & 0o777, 0o755);
    // same digests as sha1sum
    const out = execFileSync('sha1sum', ['big.bin', 'run.sh'], { cwd: root, encoding: 'utf8' });
    for (const line of out.trim().split('\n')) {
      const [digest, fn] = line.split(/\s+/);
      assert.equal(by[fn].sha1, digest);
    }
  });

  it('says which folder does not exist, and refuses a file as the app folder', async () => {
    await assert.rejects(listAppFiles('/nonexistent/pocket-app'), /App folder \/nonexistent\/pocket-app does not exist/);
    const root = mk({ 'a.txt': '1' });
    await assert.rejects(listAppFiles(path.join(root, 'a.txt')), /is not a folder/);
  });

  it('gives the same fingerprints for a file alone as among many, and names a file that vanished', async () => {
    const files: Record<string, string> = {};
    for (let i = 0; i < 600; i++) files[`d${i % 7}/f${i}.txt`] = `content ${i}\n`.repeat(i % 50);
    const root = mk(files);
    const entries = await listAppFiles(root);
    const many = await fingerprintFiles(entries);
    const few = (await Promise.all(entries.map((e) => fingerprintFiles([e])))).flat();
    assert.equal(many.length, 600);
    assert.deepEqual(many, few);
    for (const f of many.slice(0, 50)) assert.equal(f.sha1, sha1(files[f.fn]));
    // a file that vanished between the walk and the hash is named
    fs.rmSync(path.join(root, entries[321].fn));
    await assert.rejects(fingerprintFiles(entries), new RegExp(`Cannot read ${entries[321].fn}: ENOENT`));
    await assert.rejects(fingerprintFiles([entries[321]]), new RegExp(`Cannot read ${entries[321].fn}: ENOENT`));
  });

  it('trusts a remembered fingerprint only while the file\'s stat is unchanged and was not changed around then', async () => {
    const root = mk({ 'a.txt': 'alpha', 'b.txt': 'beta' });
    const old = new Date(Date.now() - 60_000);
    for (const f of ['a.txt', 'b.txt']) fs.utimesSync(path.join(root, f), old, old);
    const entries = await listAppFiles(root);
    const first = await fingerprintFiles(entries);
    // a marker digest shows whether the file was read again
    const marked = new Map(first.map((f) => [f.fn, { ...f, sha1: 'remembered' }]));
    const cache = { get: (fn: string) => marked.get(fn), takenAt: Date.now() };
    // ctime is "now" after utimes: a cache taken in the same instant is not trusted
    assert.deepEqual((await fingerprintFiles(entries, { cache })).map((f) => f.sha1), first.map((f) => f.sha1));
    const later = { get: cache.get, takenAt: Date.now() + 10_000 };
    assert.deepEqual((await fingerprintFiles(entries, { cache: later })).map((f) => f.sha1), ['remembered', 'remembered']);
    fs.writeFileSync(path.join(root, 'b.txt'), 'BETA');
    fs.utimesSync(path.join(root, 'b.txt'), old, old);
    const after = await fingerprintFiles(entries, { cache: { get: cache.get, takenAt: Date.now() + 10_000 } });
    assert.deepEqual(after.map((f) => f.sha1), ['remembered', sha1('BETA')], 'same size and mtime, but ctime moved');
  });

  it('stops fingerprinting when aborted', async () => {
    const files: Record<string, string> = {};
    for (let i = 0; i < 3000; i++) files[`f${i}.txt`] = 'x'.repeat(2000);
    const root = mk(files);
    const entries = await listAppFiles(root);
    const ac = new AbortController();
    const p = fingerprintFiles(entries, { signal: ac.signal, onProgress: (pr) => { if (pr.files > 0 && pr.files < pr.totalFiles) ac.abort(); } });
    ac.abort();
    await assert.rejects(p);
  });

  it('zips files with their modes; an empty list gives a valid empty zip', async () => {
    const root = mk({ 'bin/start': '#!/bin/sh\n', 'public/index.html': '<h1>hi</h1>'.repeat(100) });
    fs.chmodSync(path.join(root, 'bin/start'), 0o750);
    const files = await scanApp(root);
    for (const compress of [false, true]) {
      const zip = await JSZip.loadAsync(await packFiles(files, { compress }));
      const names = Object.keys(zip.files).sort();
      assert.deepEqual(names, ['bin/start', 'public/index.html']);
      assert.equal(((zip.files['bin/start'].unixPermissions as number) & 0o777), 0o750);
      assert.equal(await zip.files['public/index.html'].async('string'), '<h1>hi</h1>'.repeat(100));
    }
    const empty = await packFiles([]);
    assert.equal(Object.keys((await JSZip.loadAsync(empty)).files).length, 0);
    // the same files give the same bytes
    assert.deepEqual(await packFiles(files), await packFiles([...files].reverse()));
  });
});
