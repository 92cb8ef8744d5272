// Finding the platform: data dir defaults, endpoint.json, a saved target, flags and environment.
import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import {
  clearSavedTarget, defaultDataDir, formatBytes, formatDuration, formatMemory, formatPushCounts, formatTable, NoTargetError,
  readEndpoint, resolveTarget, saveTarget,
} from '../../platform/client';

describe('client: endpoint discovery', () => {
  let dir: string;
  beforeEach(() => { dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pocket-endpoint-')); });
  afterEach(() => { fs.rmSync(dir, { recursive: true, force: true }); });

  const writeEndpoint = (e: object): void => { fs.writeFileSync(path.join(dir, 'endpoint.json'), JSON.stringify(e), { mode: 0o600 }); };

  it('defaults the data dir to $POCKET_HOME, else $XDG_DATA_HOME/pocket-foundry, else ~/.local/share/pocket-foundry', () => {
    assert.equal(defaultDataDir({ POCKET_HOME: '/srv/pocket', XDG_DATA_HOME: '/x' }), '/srv/pocket');
    assert.equal(defaultDataDir({ XDG_DATA_HOME: '/x' }), '/x/pocket-foundry');
    assert.equal(defaultDataDir({}), path.join(os.homedir(), '.local/share/pocket-foundry'));
  });

  it('reads endpoint.json, and treats a missing, half-written or wrong-shaped one as absent', () => {
    assert.equal(readEndpoint(dir), null);
    fs.writeFileSync(path.join(dir, 'endpoint.json'), '{"api": "http://127.0.0.1:1", "tok');
    assert.equal(readEndpoint(dir), null);
    writeEndpoint({ api: 5, token: 't' });
    assert.equal(readEndpoint(dir), null);
    writeEndpoint({ api: 'http://127.0.0.1:1', router: 'http://127.0.0.1:2', nats: 'nats://127.0.0.1:3', token: 't', pid: 1 });
    assert.equal(readEndpoint(dir)?.router, 'http://127.0.0.1:2');
    assert.throws(() => resolveTarget({ dataDir: path.join(dir, 'none'), env: {} }), NoTargetError);
  });

  it('resolves flags over environment over a saved target over endpoint.json', () => {
    writeEndpoint({ api: 'http://127.0.0.1:1000', router: 'http://127.0.0.1:2000', token: 'local-token', pid: 1 });
    let t = resolveTarget({ dataDir: dir, env: {} });
    assert.deepEqual([t.api, t.token, t.source, t.router], ['http://127.0.0.1:1000', 'local-token', 'endpoint.json', 'http://127.0.0.1:2000']);

    saveTarget(dir, { api: 'http://10.0.0.5:9022', token: 'remote' });
    assert.equal(fs.statSync(path.join(dir, 'target.json')).mode & 0o777, 0o600);
    t = resolveTarget({ dataDir: dir, env: {} });
    assert.deepEqual([t.api, t.token, t.source, t.router], ['http://10.0.0.5:9022', 'remote', 'saved target', undefined]);

    t = resolveTarget({ dataDir: dir, env: { POCKET_API: 'http://127.0.0.1:3000', POCKET_TOKEN: 'env-token' } });
    assert.deepEqual([t.api, t.token, t.source], ['http://127.0.0.1:3000', 'env-token', 'environment']);

    t = resolveTarget({ dataDir: dir, api: 'http://127.0.0.1:4000', token: 'flag-token', env: { POCKET_API: 'http://127.0.0.1:3000', POCKET_TOKEN: 'env-token' } });
    assert.deepEqual([t.api, t.token, t.source], ['http://127.0.0.1:4000', 'flag-token', 'flags']);

    // --api alone against the local platform picks up its token
    t = resolveTarget({ dataDir: dir, api: 'http://127.0.0.1:1000/', env: {} });
    assert.equal(t.token, 'local-token');
    // a token alone overrides the token only
    t = resolveTarget({ dataDir: dir, env: { POCKET_TOKEN: 'other' } });
    assert.deepEqual([t.api, t.token], ['http://10.0.0.5:9022', 'other']);

    assert.equal(clearSavedTarget(dir), true);
    assert.equal(resolveTarget({ dataDir: dir, env: {} }).source, 'endpoint.json');
    assert.equal(clearSavedTarget(dir), false);
  });
});

describe('client: formatting', () => {
  it('writes sizes, durations and memory the way people read them', () => {
    assert.deepEqual([0, 1023, 1024, 41 * 1024 + 300, 1536 * 1024, 5 * 1024 ** 3].map(formatBytes), ['0 B', '1023 B', '1 KB', '41.3 KB', '1.5 MB', '5 GB']);
    assert.deepEqual([0, 59, 61, 3600 * 2 + 120, 86400 * 3 + 3600].map(formatDuration), ['0s', '59s', '1m 1s', '2h 2m', '3d 1h']);
    assert.deepEqual([64, 1024, 1536].map(formatMemory), ['64M', '1G', '1536M']);
    assert.equal(formatPushCounts({ files: 412, matched: 409, uploaded: 3, bytesSent: 41 * 1024 }), '412 files, 409 matched, 3 uploaded, 41 KB sent');
  });

  it('aligns table columns to the widest cell', () => {
    assert.equal(formatTable(['NAME', 'STATE'], [['hello', 'STARTED'], ['a', 'STOPPED']]), 'NAME    STATE\nhello   STARTED\na       STOPPED');
  });
});
