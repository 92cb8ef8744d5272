import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as vscode from 'vscode';
import type { PushOutcome } from '../../../extension/pushWorkspace';
import type { PocketFoundryTestApi } from '../../../extension/testApi';
import { activateExtension, findApp, workspaceRoot } from '../helpers';
import { waitFor } from '../../platform/support/wait';

const app = 'staging-fail';

describe('A failing staging', function () {
  this.timeout(180_000);
  let api: PocketFoundryTestApi;
  let folder: string;

  before(async () => {
    api = await activateExtension();
    folder = path.join(workspaceRoot(), app);
  });

  it('fails the push in words and lands in the Problems panel at the dependency in package.json', async () => {
    const outcome = await vscode.commands.executeCommand<PushOutcome>('pocketFoundry.pushWorkspace', vscode.Uri.file(folder));
    assert.equal(outcome.kind, 'failed', JSON.stringify(outcome));
    if (outcome.kind === 'failed') assert.match(outcome.error, /staging failed/i);
    const pkg = vscode.Uri.file(path.join(folder, 'package.json'));
    const diags = await waitFor('a diagnostic on package.json', () => {
      const d = vscode.languages.getDiagnostics(pkg);
      return d.length > 0 ? d : undefined;
    }, { timeoutMs: 20_000 });
    const d = diags[0];
    assert.ok(d);
    assert.match(d.message, /pocket-foundry-no-such-package-7f3a/);
    assert.equal(d.severity, vscode.DiagnosticSeverity.Error);
    const text = fs.readFileSync(pkg.fsPath, 'utf8').split('\n');
    assert.match(text[d.range.start.line] ?? '', /pocket-foundry-no-such-package-7f3a/, 'the diagnostic sits on the dependency line');
    const tree = await waitFor('failed app in the tree', async () => {
      const t = findApp(await api.tree(), app);
      return t?.contextValue === 'app.failed' ? t : undefined;
    }, { timeoutMs: 20_000 });
    assert.match(tree.description, /STAGING FAILED/);
    assert.ok(api.stagingLines(app).some((l) => /Staging failed/.test(l)), 'the channel says staging failed');
  });

  it('clears those problems on the next successful push', async () => {
    // Fix the app: drop the missing dependency and its use.
    fs.writeFileSync(path.join(folder, 'package.json'), JSON.stringify({ name: app, version: '1.0.0', private: true, scripts: { start: 'node server.js' } }, null, 2));
    fs.writeFileSync(path.join(folder, 'server.js'), "require('http').createServer((req, res) => res.end('fixed\\n')).listen(Number(process.env.PORT || 3000));\n");
    const outcome = await vscode.commands.executeCommand<PushOutcome>('pocketFoundry.pushWorkspace', vscode.Uri.file(folder));
    assert.equal(outcome.kind, 'pushed', JSON.stringify(outcome));
    assert.equal(vscode.languages.getDiagnostics(vscode.Uri.file(path.join(folder, 'package.json'))).length, 0);
    assert.equal(api.problems().length, 0);
    await vscode.commands.executeCommand('pocketFoundry.delete', app, { skipConfirmation: true });
  });
});
