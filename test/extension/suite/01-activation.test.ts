import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as vscode from 'vscode';
import { activateExtension, extensionId, note } from '../helpers';

describe('Activation', () => {
  it('activates within 50 ms of its own work, without starting the platform', async () => {
    const api = await activateExtension();
    // CPU time is the work itself; wall time also counts waiting for a core on a busy machine.
    assert.ok(api.activationCpuMs < 50, `activation used ${api.activationCpuMs.toFixed(1)} ms of CPU`);
    assert.ok(api.activationMs < 250, `activation took ${api.activationMs.toFixed(1)} ms`);
    assert.equal(api.platformState().kind, 'stopped', 'the platform starts on first need, not at activation');
    assert.match(api.statusBarText(), /Pocket Foundry: stopped/);
    note(`activation: ${api.activationMs.toFixed(2)} ms wall, ${api.activationCpuMs.toFixed(2)} ms cpu`);
  });

  it('registers every command it contributes, all under the Pocket Foundry category', async () => {
    const ext = vscode.extensions.getExtension(extensionId);
    assert.ok(ext);
    const pkg = JSON.parse(fs.readFileSync(path.join(ext.extensionPath, 'package.json'), 'utf8')) as {
      contributes: { commands: { command: string; category?: string }[] };
    };
    const registered = new Set(await vscode.commands.getCommands(true));
    const contributed = pkg.contributes.commands;
    assert.ok(contributed.length >= 18, `only ${contributed.length} commands contributed`);
    for (const c of contributed) {
      assert.ok(registered.has(c.command), `${c.command} is contributed but not registered`);
      assert.equal(c.category, 'Pocket Foundry', `${c.command} has category ${String(c.category)}`);
    }
  });
});
