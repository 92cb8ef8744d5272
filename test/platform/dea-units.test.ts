// The DEA's pure parts: instance state machine, environment, listing format, runtime matching.
import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { InstanceStates, runtimeFamily, type InstanceState } from '../../platform/bus';
import {
  IllegalTransitionError, InstanceLifecycle, buildInstanceEnv, canTransition, defaultDeaTimings, detectRuntimes,
  formatListing, formatSize, parseUserEnv, type InstanceEnvInput,
} from '../../platform/dea';

describe('dea units', () => {
  describe('instance lifecycle', () => {
    it('walks STARTING -> RUNNING -> CRASHED -> DELETED and stamps every transition', () => {
      let now = 1_000_000;
      const l = new InstanceLifecycle('app[0]', () => now);
      assert.equal(l.state, 'STARTING');
      assert.equal(l.stateTimestamp, 1000);
      now += 1500;
      l.transition('RUNNING');
      assert.equal(l.state, 'RUNNING');
      assert.equal(l.stateTimestamp, 1001.5);
      now += 500;
      l.transition('CRASHED');
      assert.equal(l.stateTimestamp, 1002);
      l.transition('DELETED');
      assert.equal(l.state, 'DELETED');
    });

    it('allows exactly the documented transitions', () => {
      const legal = new Set(['STARTING>RUNNING', 'STARTING>CRASHED', 'STARTING>STOPPED', 'RUNNING>CRASHED', 'RUNNING>STOPPED', 'CRASHED>DELETED', 'STOPPED>DELETED']);
      for (const from of InstanceStates) {
        for (const to of InstanceStates) assert.equal(canTransition(from, to), legal.has(`${from}>${to}`), `${from} -> ${to}`);
      }
    });

    it('throws on an illegal transition and keeps its state', () => {
      const paths: Array<[InstanceState[], InstanceState]> = [
        [[], 'DELETED'], [[], 'STARTING'], [['RUNNING'], 'STARTING'], [['RUNNING'], 'RUNNING'],
        [['CRASHED'], 'RUNNING'], [['STOPPED'], 'RUNNING'], [['STOPPED', 'DELETED'], 'STOPPED'], [['CRASHED', 'DELETED'], 'DELETED'],
      ];
      for (const [walk, bad] of paths) {
        const l = new InstanceLifecycle('app[3] abc');
        for (const s of walk) l.transition(s);
        const before = { state: l.state, ts: l.stateTimestamp };
        assert.throws(() => l.transition(bad), (e: unknown) =>
          e instanceof IllegalTransitionError && e.from === before.state && e.to === bad && /app\[3\] abc/.test(e.message));
        assert.deepEqual({ state: l.state, ts: l.stateTimestamp }, before);
      }
    });
  });

  describe('environment', () => {
    const input: InstanceEnvInput = {
      instanceId: 'abc123', index: 2, name: 'blog', uris: ['blog.localhost'], version: 'deadbeef-3', runtime: 'ruby19',
      host: '127.0.0.1', port: 61001, limits: { mem: 128, disk: 2048, fds: 256 }, home: '/var/dea/apps/blog-2-abc123',
      startedAt: Date.UTC(2013, 5, 26, 3, 38, 44), stateTimestamp: 1372217924, userEnv: [], path: '/usr/bin:/bin',
    };

    it('has exactly the v1 variables, PORT and PATH', () => {
      const env = buildInstanceEnv(input);
      assert.deepEqual(Object.keys(env).sort(), [
        'HOME', 'PATH', 'PORT', 'VCAP_APPLICATION', 'VCAP_APP_HOST', 'VCAP_APP_PORT', 'VCAP_SERVICES',
        'VMC_APP_HOST', 'VMC_APP_ID', 'VMC_APP_INSTANCE', 'VMC_APP_NAME', 'VMC_APP_PORT', 'VMC_APP_VERSION',
      ]);
      assert.deepEqual(JSON.parse(env.VCAP_APPLICATION), {
        instance_id: 'abc123', instance_index: 2, name: 'blog', uris: ['blog.localhost'], users: [], version: 'deadbeef-3',
        start: '2013-06-26 03:38:44 +0000', runtime: 'ruby19', state_timestamp: 1372217924, port: 61001,
        limits: { fds: 256, mem: 128, disk: 2048 }, host: '127.0.0.1',
      });
      assert.equal(env.PORT, '61001');
      assert.equal(env.VMC_APP_ID, 'abc123');
      assert.equal(env.HOME, '/var/dea/apps/blog-2-abc123');
    });

    it('applies user env last, but never over the platform\'s names; skips entries that are not K=V; a PATH extends the DEA\'s', () => {
      const env = buildInstanceEnv({ ...input, userEnv: [
        'PORT=8080', 'HOME=/tmp', 'VCAP_APP_PORT=1', 'vcap_application={}', 'VMC_APP_ID=x', 'A-B=1',
        'DATABASE_URL=postgres://u:p@h/db?a=b', 'novalue', '=x', '1BAD=y', 'NUL=a\u0000b', 'EMPTY=', 'PATH=/opt/tool/bin',
      ] });
      assert.equal(env.PORT, '61001');
      assert.equal(env.HOME, input.home);
      assert.equal(env.VCAP_APP_PORT, '61001');
      assert.equal(env.VMC_APP_ID, 'abc123');
      assert.equal(JSON.parse(env.VCAP_APPLICATION).port, 61001);
      assert.equal(env.vcap_application, undefined);
      assert.equal(env['A-B'], undefined);
      assert.equal(env.PATH, '/opt/tool/bin:/usr/bin:/bin');
      assert.equal(buildInstanceEnv({ ...input, userEnv: ['PATH=/a:$PATH:/b'] }).PATH, '/a:/usr/bin:/bin:/b');
      assert.equal(env.DATABASE_URL, 'postgres://u:p@h/db?a=b');
      assert.equal(env.EMPTY, '');
      assert.equal(env.novalue, undefined);
      assert.equal(env['1BAD'], undefined);
      assert.equal(env.NUL, undefined);
      assert.deepEqual(parseUserEnv(['A=1', 'B==2']), [['A', '1'], ['B', '=2']]);
    });

    it('leaves the port variables out when there is no port', () => {
      const env = buildInstanceEnv({ ...input, port: null });
      assert.equal(env.PORT, undefined);
      assert.equal(env.VCAP_APP_PORT, undefined);
      assert.equal(JSON.parse(env.VCAP_APPLICATION).port, null);
    });
  });

  describe('file listing', () => {
    it('formats sizes and lines as v1 did', () => {
      assert.equal(formatSize(0), '0B');
      assert.equal(formatSize(1023), '1023B');
      assert.equal(formatSize(1024), '1.0K');
      assert.equal(formatSize(1536 * 1024), '1.5M');
      assert.equal(formatSize(3 * 1024 ** 3), '3.0G');
      assert.equal(formatListing([{ name: 'startup', dir: false, size: 310 }, { name: 'app', dir: true, size: 4096 }]),
        'app/                                         -\n' +
        'startup                                   310B\n');
      assert.equal(formatListing([]), '');
    });

    it('escapes a name that would break its line (newline, other controls, backslash); others stay as v1 wrote them', () => {
      const text = formatListing([
        { name: 'evil\nfake.txt                             12B\nx', dir: false, size: 1 },
        { name: 'tab\there\u001b[2J\\', dir: true, size: 0 },
        { name: 'plain name.txt', dir: false, size: 2 },
      ]);
      assert.deepEqual(text.split('\n'), [
        `${'evil\\nfake.txt                             12B\\nx'.padEnd(35)}         1B`,
        `${'plain name.txt'.padEnd(35)}         2B`,
        `${'tab\\there\\x1b[2J\\\\/'.padEnd(35)}          -`,
        '',
      ]);
    });
  });

  describe('runtimes', () => {
    it('maps v1 names to catalog runtimes', () => {
      assert.equal(runtimeFamily('ruby19'), 'ruby');
      assert.equal(runtimeFamily('node08'), 'node');
      assert.equal(runtimeFamily('Python3'), 'python3');
      assert.equal(runtimeFamily('python2'), 'python3');
      assert.equal(runtimeFamily('erlangR14B02'), 'erlang');
      assert.equal(runtimeFamily('java7'), 'java');
      assert.equal(runtimeFamily('nodejs'), 'node');
      assert.equal(runtimeFamily('rubyist'), null);
      assert.equal(runtimeFamily('noder'), null);
    });

    it('supports what is on PATH and nothing else', () => {
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pocket-runtimes-'));
      try {
        fs.writeFileSync(path.join(dir, 'ruby'), '#!/bin/sh\n', { mode: 0o755 });
        fs.writeFileSync(path.join(dir, 'python3'), 'not executable', { mode: 0o644 });
        const c = detectRuntimes(dir);
        assert.deepEqual(c.advertised, ['ruby', 'ruby18', 'ruby19']);
        for (const r of ['ruby', 'ruby19', 'RUBY18', 'static', 'standalone', '']) assert.ok(c.supports(r), r);
        for (const r of ['node', 'python3', 'java', 'erlangR14B02', 'rubyist', '../ruby']) assert.ok(!c.supports(r), r);
      } finally {
        fs.rmSync(dir, { recursive: true, force: true });
      }
    });
  });

  it('has local timing defaults shorter than v1 and a 1 h crash retention', () => {
    assert.deepEqual({ ...defaultDeaTimings }, {
      advertiseMs: 2000, heartbeatMs: 1000, readinessPollMs: 250, readinessLimitMs: 60_000, statsMs: 2000,
      diskMs: 10_000, crashRetentionMs: 3_600_000, stopGraceMs: 5000, downloadIdleMs: 60_000,
    });
    assert.ok(Object.isFrozen(defaultDeaTimings));
  });
});
