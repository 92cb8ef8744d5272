// manifest.yml parsing: the fields, memory units, defaults, and bad manifests answered with the file, line and field.
import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { findManifest, ManifestError, parseManifest, parseMemory, readManifest } from '../../platform/client';

const file = '/work/app/manifest.yml';

async function fails(text: string, pattern: RegExp): Promise<void> {
  await assert.rejects(parseManifest(text, file), (e: unknown) => {
    assert.ok(e instanceof ManifestError, `expected a ManifestError, got ${String(e)}`);
    assert.match(e.message, pattern);
    return true;
  });
}

describe('client: manifest.yml', () => {
  it('reads every field, resolving path against the manifest folder', async () => {
    const m = await parseManifest([
      'applications:',
      '- name: hello',
      '  memory: 128M',
      '  instances: 2',
      '  command: node server.js',
      '  path: ./src',
      '  host: Hello-App',
      '  framework: node',
      '  env:',
      '    GREETING: hi there',
      '    RETRIES: 3',
      '    DEBUG: false',
    ].join('\n'), file);
    assert.deepEqual(m.applications, [{
      line: 2, name: 'hello', memory: 128, instances: 2, command: 'node server.js', path: '/work/app/src',
      host: 'hello-app', framework: 'node', env: { GREETING: 'hi there', RETRIES: '3', DEBUG: 'false' },
    }]);
    assert.deepEqual(m.warnings, []);
  });

  it('accepts memory as 256, 256M, 256MB, 1G, 2gb', () => {
    assert.equal(parseMemory(256), 256);
    assert.equal(parseMemory('256M'), 256);
    assert.equal(parseMemory('256mb'), 256);
    assert.equal(parseMemory('1G'), 1024);
    assert.equal(parseMemory(' 2gb '), 2048);
    for (const bad of ['0', '-1', '1.5G', '256K', 'lots', '', 0, 12.5, null]) assert.throws(() => parseMemory(bad), /memory must be a positive size/);
  });

  it('uses top-level keys as defaults for every app; each app overrides them', async () => {
    const m = await parseManifest('memory: 64M\ninstances: 2\napplications:\n- name: a\n- name: b\n  memory: 1G\n', file);
    assert.deepEqual(m.applications.map((a) => [a.name, a.memory, a.instances]), [['a', 64, 2], ['b', 1024, 2]]);
  });

  it('takes a manifest without applications: as one app; command: null means the default', async () => {
    const m = await parseManifest('name: solo\ncommand: null\n', file);
    assert.equal(m.applications.length, 1);
    assert.equal(m.applications[0].name, 'solo');
    assert.equal(m.applications[0].command, null);
  });

  it('warns about keys it does not use instead of failing', async () => {
    const m = await parseManifest('applications:\n- name: a\n  buildpack: x\n  colour: red\n', file);
    assert.equal(m.warnings.length, 2);
    assert.match(m.warnings[0], /manifest\.yml:3: applications\[0\]\.buildpack is not supported/);
    assert.match(m.warnings[1], /manifest\.yml:4: applications\[0\]\.colour is not a known manifest key/);
  });

  it('names the file, line and field of every mistake', async () => {
    await fails('applications:\n- name: ok\n  memory: lots\n', /manifest\.yml:3: applications\[0\]\.memory must be a positive size/);
    await fails('applications:\n- name: ok\n  instances: -1\n', /:3: applications\[0\]\.instances: must be a whole number/);
    await fails('applications:\n- name: ok\n  instances: two\n', /:3: applications\[0\]\.instances/);
    await fails('applications:\n- name: has space\n', /:2: applications\[0\]\.name: must be letters/);
    await fails('applications:\n- name: a\n- name: b\n  env:\n    VCAP_SERVICES: x\n', /:5: applications\[1\]\.env\.VCAP_SERVICES: names starting with VCAP_/);
    await fails('applications:\n- name: a\n  env:\n    "1BAD": x\n', /:4: .*not a valid variable name/);
    await fails('applications:\n- name: a\n  env:\n    A: [1, 2]\n', /:4: .*env\.A: must be a string/);
    await fails('applications:\n- name: a\n  env: [A=1]\n', /:3: applications\[0\]\.env: must be a mapping/);
    await fails('applications:\n- name: a\n  host: "no_underscores"\n', /:3: applications\[0\]\.host/);
    await fails('applications:\n- name: a\n  command: [node]\n', /:3: .*command: must be a string/);
    await fails('applications: hello\n', /:1: applications: must be a list/);
    await fails('applications:\n- just-a-string\n', /:2: applications\[0\]: must be a mapping/);
    await fails('applications: []\n', /the list is empty/);
    await fails('applications:\n- name: a\n- name: a\n', /:3: app a is listed twice/);
    await fails('', /the manifest is empty/);
    await fails('- a\n- b\n', /must be a mapping with an `applications:` list/);
    await fails('applications:\n- name: a\n  memory: 1G\n memory: 2G\n', /manifest\.yml:\d+: not valid YAML/);
    await fails('applications:\n- name: a\n  name: b\n', /not valid YAML.*[Mm]ap keys must be unique/);
    await fails('foo: bar\n', /no `applications:` list found/);
  });

  it('finds manifest.yml in a folder, or takes a manifest file as given', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pocket-manifest-'));
    try {
      assert.equal(findManifest(dir), null);
      fs.writeFileSync(path.join(dir, 'manifest.yml'), 'applications:\n- name: x\n  path: sub\n');
      assert.equal(findManifest(dir), path.join(dir, 'manifest.yml'));
      assert.equal(findManifest(path.join(dir, 'manifest.yml')), path.join(dir, 'manifest.yml'));
      const m = await readManifest(path.join(dir, 'manifest.yml'));
      assert.equal(m.applications[0].path, path.join(dir, 'sub'));
      await assert.rejects(readManifest(path.join(dir, 'nope.yml')), /nope\.yml: cannot read/);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
