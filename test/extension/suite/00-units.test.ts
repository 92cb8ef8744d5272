// Pure pieces of the extension, checked inside the extension host with real files.
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { parseListing } from '../../../extension/appFiles';
import { buildRows } from '../../../extension/instancePanel';
import { FromPanel, isFromPanelMessage } from '../../../extension/panelProtocol';
import { findStagingProblems, resolveInFolder } from '../../../extension/stagingProblems';

describe('Staging problems (file and line from a failed staging log)', () => {
  let root: string;
  before(() => {
    root = fs.mkdtempSync(path.join(os.tmpdir(), 'pf-problems-'));
    fs.mkdirSync(path.join(root, 'lib'));
    fs.writeFileSync(path.join(root, 'server.js'), 'a\nb\nc\n');
    fs.writeFileSync(path.join(root, 'lib', 'db.js'), 'x\n');
    fs.writeFileSync(path.join(root, 'app.py'), 'x\n');
    fs.writeFileSync(path.join(root, 'package.json'), '{\n  "dependencies": {\n    "left-padx": "^1.0.0"\n  }\n}\n');
  });
  after(() => fs.rmSync(root, { recursive: true, force: true }));

  it('maps a stack frame in the stager\'s folder to the workspace file, innermost own frame only', () => {
    const found = findStagingProblems([
      '[2026-01-01 10:00:00] TypeError: db is not a function',
      '[2026-01-01 10:00:00]     at connect (/var/stager/task-1/app/lib/db.js:1:7)',
      '[2026-01-01 10:00:00]     at Module._compile (node:internal/modules/cjs/loader:1504:14)',
      '[2026-01-01 10:00:00]     at Object.<anonymous> (/var/stager/task-1/app/server.js:3:1)',
    ], root);
    assert.deepEqual(found.map((p) => [path.relative(root, p.file), p.line, p.column]), [['lib/db.js', 1, 7]]);
    assert.equal(found[0]?.message, 'TypeError: db is not a function');
  });

  it('reads node syntax errors, python tracebacks and file:line:col messages', () => {
    const found = findStagingProblems([
      '/tmp/x/app/server.js:2',
      'b(',
      ' ^',
      'SyntaxError: Unexpected end of input',
      '  File "/tmp/x/app/app.py", line 1, in <module>',
      'NameError: name \'x\' is not defined',
      'lib/db.js:1:3: error: something odd',
    ], root);
    assert.deepEqual(found.map((p) => [path.relative(root, p.file), p.line, p.message]), [
      ['server.js', 2, 'SyntaxError: Unexpected end of input'],
      ['app.py', 1, 'NameError: name \'x\' is not defined'],
      ['lib/db.js', 1, 'error: something odd'],
    ]);
  });

  it('points a dependency npm cannot install at its line in package.json', () => {
    const found = findStagingProblems(['npm error 404 Not Found - GET https://registry.npmjs.org/left-padx - Not found'], root);
    assert.equal(found.length, 1);
    assert.equal(found[0]?.file, path.join(root, 'package.json'));
    assert.equal(found[0]?.line, 3);
  });

  it('ignores paths outside the folder, runtime frames, and hostile input', () => {
    const hostile = [
      '    at x (/etc/passwd:1:1)',
      '    at y (../../../../etc/passwd:1:1)',
      '    at z (node:internal/main:1:1)',
      '    at w (/x/node_modules/dep/index.js:1:1)',
      'server.js:0',
      'server.js:-1: nope',
      `${'a'.repeat(100_000)}.js:1`,
      '',
    ];
    assert.deepEqual(findStagingProblems(hostile, root), []);
    assert.equal(resolveInFolder('../server.js', root), undefined);
    assert.equal(resolveInFolder('/var/a/b/server.js', root), path.join(root, 'server.js'));
    assert.equal(findStagingProblems(Array.from({ length: 500 }, (_, i) => `/s/app/server.js:${(i % 3) + 1}`), root, 5).length, 3);
  });
});

describe('Instance panel rows and messages', () => {
  it('joins instances, stats and crashes by index, in v1 units (usage.mem KB, mem_quota bytes)', () => {
    const rows = buildRows(
      [{ index: 1, state: 'CRASHED', since: 20, debug_ip: null, debug_port: null, console_ip: null, console_port: null },
        { index: 0, state: 'RUNNING', since: 10, debug_ip: null, debug_port: null, console_ip: null, console_port: null }],
      { 0: { state: 'RUNNING', stats: { name: 'a', host: '127.0.0.1', port: 4000, uris: [], uptime: 30, mem_quota: 64 * 1024 * 1024, disk_quota: 0, fds_quota: 0, cores: 2, usage: { time: '', cpu: 1.5, mem: 2048, disk: 0 } } } },
      [{ instance: 'i1', index: 1, since: 15, reason: 'CRASHED' }, { instance: 'i2', index: 1, since: 19 }],
      64,
    );
    assert.deepEqual(rows.map((r) => r.index), [0, 1]);
    assert.equal(rows[0]?.memBytes, 2048 * 1024);
    assert.equal(rows[0]?.port, 4000);
    assert.equal(rows[1]?.crashCount, 2);
    assert.deepEqual(rows[1]?.lastCrash, { since: 19, reason: null });
    assert.equal(rows[1]?.memQuotaBytes, 64 * 1024 * 1024);
  });

  it('accepts only well-formed messages from the webview', () => {
    assert.ok(isFromPanelMessage({ type: FromPanel.RestartInstance, index: 2 }));
    for (const bad of [null, 'x', {}, { type: 'eval' }, { type: 'stopInstance', index: 0 }, { type: FromPanel.OpenLogs, index: -1 }, { type: FromPanel.OpenLogs, index: 1.5 }]) {
      assert.equal(isFromPanelMessage(bad), false, JSON.stringify(bad));
    }
  });

  it('parses v1 file listings', () => {
    assert.deepEqual(parseListing('app/                -\nlogs/               -\nstartup             1.2K\n\n'), [
      { name: 'app', shown: 'app', dir: true, size: undefined },
      { name: 'logs', shown: 'logs', dir: true, size: undefined },
      { name: 'startup', shown: 'startup', dir: false, size: '1.2K' },
    ]);
  });
});
