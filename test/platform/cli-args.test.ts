// The `pocket` CLI's argument handling and error output, run as a real child process.
import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { buildCli, type CliHarness, type CliRun } from './support/cli';

describe('cli: arguments', function () {
  this.timeout(60_000);
  let h: CliHarness;
  const pocket = (args: string[], env: Record<string, string> = {}): Promise<CliRun> => h.run(args, env);
  before(async () => { h = await buildCli(); });
  after(() => h?.cleanup());

  it('answers bad flags and unknown commands with one clear line and exit code 1', async () => {
    const cases: [string[], RegExp][] = [
      [['push', '--memory', 'lots'], /option '-m, --memory <size>' argument 'lots' is invalid\. must be a size like 256, 256M or 1G/],
      [['push', '--instances', '-2'], /option '-i, --instances <n>' argument '-2' is invalid/],
      [['scale', 'x', '--instances', 'three'], /argument 'three' is invalid\. must be a whole number/],
      [['up', '--api-port', '99999'], /must be a port number/],
      [['frobnicate'], /unknown command 'frobnicate'/],
      [['pus'], /unknown command 'pus'[\s\S]*Did you mean push\?/],
      [['delete'], /missing required argument 'name'/],
      [['push', '--colour'], /unknown option '--colour'/],
    ];
    const runs = await Promise.all(cases.map(([args]) => pocket(args)));
    cases.forEach(([args, re], i) => {
      const r = runs[i];
      assert.equal(r.code, 1, `${args.join(' ')}: ${r.stderr}`);
      assert.match(r.stderr, re);
      assert.doesNotMatch(r.stderr, /\n\s+at /, 'no stack trace');
    });
  });

  it('says where no platform was found and which URL could not be reached; a stack only with POCKET_DEBUG', async () => {
    const [none, refused, missing, debug] = await Promise.all([
      pocket(['apps']),
      pocket(['apps', '--api', 'http://127.0.0.1:9', '--token', 't']),
      pocket(['push', path.join(h.outDir, 'missing-folder')], { POCKET_API: 'http://127.0.0.1:9', POCKET_TOKEN: 't' }),
      pocket(['apps', '--api', 'http://127.0.0.1:9', '--token', 't'], { POCKET_DEBUG: '1' }),
    ]);
    assert.equal(none.code, 1);
    assert.match(none.stderr, /^error: No Pocket Foundry platform found \(no .*no-home\/endpoint\.json\)\. Start one with `pocket up`/);
    assert.equal(refused.code, 1);
    assert.equal(refused.stderr.trim().split('\n').length, 1);
    assert.match(refused.stderr, /Cannot reach the cloud controller at http:\/\/127\.0\.0\.1:9 \(ECONNREFUSED\).*pocket up/);
    assert.match(missing.stderr, /missing-folder does not exist/);
    assert.match(debug.stderr, /\n\s+at /);
  });

  it('refuses a bad manifest or a link escaping the app before talking to any platform', async () => {
    const bad = path.join(h.outDir, 'bad-manifest');
    fs.mkdirSync(bad, { recursive: true });
    fs.writeFileSync(path.join(bad, 'server.js'), '');
    fs.writeFileSync(path.join(bad, 'manifest.yml'), 'applications:\n- name: ok\n  memory: lots\n');
    const leaky = path.join(h.outDir, 'leaky');
    fs.mkdirSync(leaky, { recursive: true });
    fs.symlinkSync('/etc/hostname', path.join(leaky, 'hostname'));
    const multi = path.join(h.outDir, 'multi');
    fs.mkdirSync(multi, { recursive: true });
    fs.writeFileSync(path.join(multi, 'manifest.yml'), 'applications:\n- name: a\n- name: b\n');
    const env = { POCKET_API: 'http://127.0.0.1:9', POCKET_TOKEN: 't' };
    const [m, l, n] = await Promise.all([
      pocket(['push', bad], env), pocket(['push', leaky, '--no-manifest'], env), pocket(['push', multi, '--name', 'c'], env),
    ]);
    assert.equal(m.code, 1);
    assert.match(m.stderr, /^error: .*bad-manifest\/manifest\.yml:3: applications\[0\]\.memory must be a positive size like 256, 256M or 1G \(got "lots"\)\n$/);
    assert.equal(l.code, 1);
    assert.match(l.stderr, /hostname is a symbolic link to \/etc\/hostname, outside the app folder/);
    assert.match(n.stderr, /has no app named c \(it lists a, b\)/);
  });
});
