import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as vscode from 'vscode';
import type { PushOutcome } from '../../../extension/pushWorkspace';
import { activateExtension, extensionId, findApp, note, workspaceRoot } from '../helpers';
import { waitFor } from '../../platform/support/wait';

describe('The packaged .vsix, installed into code-server', function () {
  this.timeout(180_000);

  it('is installed (not a development copy) and activates', async () => {
    const ext = vscode.extensions.getExtension(extensionId);
    assert.ok(ext, 'installed');
    assert.ok(!ext.extensionPath.startsWith(process.env.POCKET_FOUNDRY_REPO ?? '/nonexistent'), `loaded from ${ext.extensionPath}`);
    const api = await activateExtension();
    assert.ok(api.activationCpuMs < 50, `activation used ${api.activationCpuMs} ms of CPU`);
    note(`installed .vsix activation: ${api.activationMs.toFixed(2)} ms wall, ${api.activationCpuMs.toFixed(2)} ms cpu`);
  });

  it('pushes node-hello with the platform it carries and shows it running', async () => {
    const api = await activateExtension();
    const outcome = await vscode.commands.executeCommand<PushOutcome>('pocketFoundry.pushWorkspace', vscode.Uri.file(path.join(workspaceRoot(), 'node-hello')));
    assert.equal(outcome.kind, 'pushed', JSON.stringify(outcome));
    const ep = await api.ensurePlatform();
    const ext = vscode.extensions.getExtension(extensionId);
    assert.ok(ext);
    const cmdline = fs.readFileSync(`/proc/${ep.pid}/cmdline`, 'utf8').split('\0');
    assert.ok(cmdline.includes(path.join(ext.extensionPath, 'dist', 'pocket.js')), `the platform runs from the installed extension: ${cmdline.join(' ')}`);
    await waitFor('node-hello running in the tree', async () => {
      const t = findApp(await api.tree(), 'node-hello');
      return t?.contextValue === 'app.started' && t.children.some((c) => c.contextValue === 'instance.running');
    }, { timeoutMs: 20_000 });
    await vscode.commands.executeCommand('pocketFoundry.delete', 'node-hello', { skipConfirmation: true });
  });
});
