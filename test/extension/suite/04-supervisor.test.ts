import * as assert from 'node:assert/strict';
import * as vscode from 'vscode';
import type { PocketFoundryTestApi } from '../../../extension/testApi';
import { activateExtension } from '../helpers';
import { waitFor } from '../../platform/support/wait';

describe('Platform supervisor', function () {
  this.timeout(120_000);
  let api: PocketFoundryTestApi;

  before(async () => {
    api = await activateExtension();
    await api.ensurePlatform();
  });

  it('brings the platform back when its process is killed', async () => {
    const pid = api.ownedPlatformPid();
    assert.ok(pid, 'this window started the platform');
    process.kill(pid, 'SIGKILL');
    await api.waitForPlatform((s) => s.kind !== 'running', 10_000);
    assert.match(api.statusBarText(), /starting/);
    const back = await api.waitForPlatform((s) => s.kind === 'running' && s.endpoint.pid !== pid, 60_000);
    assert.equal(back.kind, 'running');
    assert.notEqual(api.ownedPlatformPid(), pid);
    // The new platform answers: the tree reads it.
    await waitFor('tree readable', async () => Array.isArray(await api.tree()), { timeoutMs: 20_000 });
  });

  it('stops and starts from the platform commands, and says so in the status bar', async () => {
    const pid = api.ownedPlatformPid();
    assert.ok(pid);
    await vscode.commands.executeCommand('pocketFoundry.platform.stop');
    assert.equal(api.platformState().kind, 'stopped');
    assert.match(api.statusBarText(), /stopped/);
    assert.throws(() => process.kill(pid, 0), 'the platform process is gone');
    await vscode.commands.executeCommand('pocketFoundry.platform.start');
    const s = api.platformState();
    assert.equal(s.kind, 'running');
    await waitFor('status bar counts apps', () => /Pocket Foundry: (\d+ apps?|running)/.test(api.statusBarText()), { timeoutMs: 20_000 });
  });
});
