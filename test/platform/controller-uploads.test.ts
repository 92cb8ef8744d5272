// Uploads under stress against a real controller: two concurrent uploads of one app (the package a
// commit points at is never garbage-collected), links that chain out of the app, a full disk.
import { strict as assert } from 'node:assert';
import { randomBytes } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import JSZip from 'jszip';
import {
  multipartBody, nothingWritten, restRequest, startTestController,
  type HttpReply, type TestController,
} from './support/controller';
import { sleep } from './support/wait';

/** A zip of `files` (name -> content, or `{link}` for a symlink), as the pusher makes it. */
export async function zipOf(files: Record<string, string | Buffer | { link: string }>): Promise<Buffer> {
  const z = new JSZip();
  for (const [name, v] of Object.entries(files)) {
    if (typeof v === 'object' && !Buffer.isBuffer(v)) z.file(name, v.link, { createFolders: false, unixPermissions: 0o120777 });
    else z.file(name, v, { createFolders: false, unixPermissions: 0o100644 });
  }
  return z.generateAsync({ type: 'nodebuffer', platform: 'UNIX', compression: 'DEFLATE' });
}

function upload(t: TestController, name: string, zip: Buffer): Promise<HttpReply> {
  const mp = multipartBody([
    { name: 'resources', value: '[]' },
    { name: 'application', value: zip, filename: 'app.zip', contentType: 'application/zip' },
  ]);
  return restRequest(t, 'PUT', `/apps/${name}/application`, { body: mp.body, headers: { 'content-type': mp.contentType } });
}

describe('controller: uploads under stress', function () {
  this.timeout(120_000);
  let t: TestController;
  before(async () => { t = await startTestController(); });
  after(async () => { await t?.stop(); });

  it('two concurrent uploads of one app never leave it pointing at a collected package', async () => {
    assert.equal((await restRequest(t, 'POST', '/apps', { json: { name: 'race' } })).status, 302);
    // Two contents pushed alternately: every round one upload reuses the package the other replaces.
    const zips = [await zipOf({ 'server.js': randomBytes(300_000) }), await zipOf({ 'server.js': randomBytes(300_000) })];
    const hashes: (string | undefined)[] = [];
    let current = 0;
    for (let round = 0; round < 60; round++) {
      // The app's current content is uploaded again a little after the other one, so its upload
      // reuses the package the other upload's commit replaces, and may commit after it.
      const other = 1 - current;
      const again = (async (): Promise<HttpReply> => { await sleep((round * 7) % 60); return upload(t, 'race', zips[current]); })();
      const replies = await Promise.all([upload(t, 'race', zips[other]), again]);
      for (const [i, r] of replies.entries()) {
        assert.equal(r.status, 200, `round ${round}: ${r.text}`);
        hashes[i === 0 ? other : current] = (r.json as { package_hash: string }).package_hash;
      }
      const app = await restRequest(t, 'GET', '/apps/race');
      const hash = (app.json as { package_hash: string | null }).package_hash;
      current = hashes.indexOf(hash ?? '') === 1 ? 1 : 0;
      const pkg = await restRequest(t, 'GET', '/apps/race/application');
      assert.equal(pkg.status, 200, `round ${round}: package ${hash} of the app is gone: ${pkg.text}`);
    }
    // Pins do not leak packages: the one the app points at is all that is left.
    const app = await restRequest(t, 'GET', '/apps/race');
    assert.deepEqual(fs.readdirSync(path.join(t.dataDir, 'packages')), [`${(app.json as { package_hash: string }).package_hash}.zip`]);
  });

  it('refuses links that chain out of the app, in one upload or on top of the current package', async () => {
    assert.equal((await restRequest(t, 'POST', '/apps', { json: { name: 'links' } })).status, 302);
    const escape = 'x/y/x/y/x/y/../../../../../../etc';
    await nothingWritten(t, async () => {
      const r = await upload(t, 'links', await zipOf({ 'server.js': 'x', 'x/y': { link: '..' }, esc: { link: escape } }));
      assert.equal(r.status, 400, r.text);
      assert.equal((r.json as { code: number }).code, 402);
      assert.match(r.text, /link esc -> x\/y\/x\/y.*escapes the app folder/);
    });
    // Chains that stay inside are fine, and so is a loop's first link read alone.
    const ok = await upload(t, 'links', await zipOf({ 'server.js': 'x', 'x/y': { link: '..' }, deps: { link: 'x/y/x/y/lib' }, 'lib/a.js': 'a' }));
    assert.equal(ok.status, 200, ok.text);
    const base = (ok.json as { package_hash: string }).package_hash;
    // A delta upload whose new link chains through a link of the base package.
    const mp = multipartBody([
      { name: 'resources', value: '[]' }, { name: 'base_package', value: base }, { name: 'deleted', value: '[]' },
      { name: 'application', value: await zipOf({ esc: { link: escape } }), filename: 'app.zip', contentType: 'application/zip' },
    ]);
    const delta = await restRequest(t, 'PUT', '/apps/links/application', { body: mp.body, headers: { 'content-type': mp.contentType } });
    assert.equal(delta.status, 400, delta.text);
    assert.match(delta.text, /escapes the app folder/);
    const loop = await upload(t, 'links', await zipOf({ 'server.js': 'x', a: { link: 'b' }, b: { link: 'a' } }));
    assert.equal(loop.status, 400, loop.text);
    assert.match(loop.text, /too many levels of links/);
  });
});

describe('controller: an upload onto a full disk', function () {
  this.timeout(60_000);
  let mnt: string;
  let t: TestController | undefined;
  before(function () {
    mnt = fs.mkdtempSync(path.join(os.tmpdir(), 'pocket-full-'));
    try {
      execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=2m,mode=0700', 'tmpfs', mnt], { stdio: 'pipe' });
    } catch (e) {
      fs.rmSync(mnt, { recursive: true, force: true });
      const why = (e as { stderr?: Buffer }).stderr?.toString().trim() || (e as Error).message;
      assert.fail(`this test needs a 2 MiB tmpfs as the controller's data dir and could not mount one (run as root, or with CAP_SYS_ADMIN): ${why}`);
    }
  });
  after(async () => {
    await t?.stop();
    try { execFileSync('umount', [mnt], { stdio: 'pipe' }); } catch { /* not mounted */ }
    fs.rmSync(mnt, { recursive: true, force: true });
  });

  it('answers 507 "disk is full" and leaves the app, its package and the data dir as they were', async () => {
    t = await startTestController({ dataDir: mnt });
    const tc = t;
    assert.equal((await restRequest(tc, 'POST', '/apps', { json: { name: 'full' } })).status, 302);
    const first = await upload(tc, 'full', await zipOf({ 'server.js': 'console.log(1)' }));
    assert.equal(first.status, 200, first.text);
    const hash = (first.json as { package_hash: string }).package_hash;
    const refused = async (zip: Buffer, where: string): Promise<void> => {
      await nothingWritten(tc, async () => {
        const r = await upload(tc, 'full', zip);
        assert.equal(r.status, 507, `${where}: ${r.text}`);
        assert.equal((r.json as { code: number }).code, 10000);
        assert.match((r.json as { description: string }).description, /the platform's disk is full/);
      });
      assert.deepEqual(fs.readdirSync(path.join(mnt, 'tmp')), [], `${where}: temp files left`);
      const app = await restRequest(tc, 'GET', '/apps/full');
      assert.equal((app.json as { package_hash: string }).package_hash, hash, `${where}: the app's package changed`);
      assert.equal((await restRequest(tc, 'GET', '/apps/full/application')).status, 200);
    };
    // Incompressible: the request body itself does not fit.
    await refused(await zipOf({ 'server.js': randomBytes(3 * 1024 * 1024) }), 'receiving');
    // A few KiB on the wire that inflate to 1.5 MiB: the disk fills while the package is built.
    await refused(await zipOf({ 'server.js': 'x', 'big.bin': Buffer.alloc(1536 * 1024) }), 'assembling');
    // Room again: the same app takes an upload as before.
    const again = await upload(tc, 'full', await zipOf({ 'server.js': 'console.log(2)' }));
    assert.equal(again.status, 200, again.text);
  });
});
