// The DEA unpacks a droplet with the system tar and then follows its links through each other: a
// chain that leaves the instance folder is refused (and removed) even where each link alone stays in.
import { strict as assert } from 'node:assert';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { extractDroplet } from '../../platform/dea/droplet-cache';

describe('dea: links of an unpacked droplet', () => {
  let tmp: string;
  beforeEach(() => { tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'pocket-dea-links-')); });
  afterEach(() => { fs.rmSync(tmp, { recursive: true, force: true }); });

  /** A droplet (app/server.js, startup) plus `links` (path under app/ -> target), made with tar. */
  function droplet(links: Record<string, string>): string {
    const src = path.join(tmp, 'src');
    fs.mkdirSync(path.join(src, 'app'), { recursive: true });
    fs.writeFileSync(path.join(src, 'app', 'server.js'), 'x');
    fs.writeFileSync(path.join(src, 'startup'), '#!/bin/sh\n', { mode: 0o755 });
    for (const [at, target] of Object.entries(links)) {
      fs.mkdirSync(path.dirname(path.join(src, 'app', at)), { recursive: true });
      fs.symlinkSync(target, path.join(src, 'app', at));
    }
    const tgz = path.join(tmp, 'droplet.tgz');
    execFileSync('tar', ['-czf', tgz, '-C', src, 'app', 'startup']);
    fs.rmSync(src, { recursive: true });
    return tgz;
  }

  it('refuses a chain that climbs out of the instance folder and removes the link', async () => {
    const tgz = droplet({ 'x/y': '..', esc: 'x/y/x/y/x/y/../../../../../../etc' });
    const inst = path.join(tmp, 'instance');
    fs.mkdirSync(inst);
    await assert.rejects(extractDroplet(tgz, inst), /droplet refused: link app\/esc -> x\/y\/x\/y\/x\/y\/\.\.\/.*leads out of the instance folder/);
    assert.equal(fs.existsSync(path.join(inst, 'app', 'esc')) || isLink(path.join(inst, 'app', 'esc')), false);
  });

  it('refuses loops and keeps chains that stay inside', async () => {
    const inst = path.join(tmp, 'loop');
    fs.mkdirSync(inst);
    await assert.rejects(extractDroplet(droplet({ a: 'b', b: 'a' }), inst), /droplet refused: link app\/[ab] -> [ab]/);
    const ok = path.join(tmp, 'ok');
    fs.mkdirSync(ok);
    await extractDroplet(droplet({ 'x/y': '..', 'lib/a.js': '../server.js', main: 'x/y/x/y/lib/a.js', logs: '../logs' }), ok);
    assert.equal(fs.readFileSync(path.join(ok, 'app', 'main'), 'utf8'), 'x');
  });
});

function isLink(p: string): boolean {
  try { return fs.lstatSync(p).isSymbolicLink(); } catch { return false; }
}
