// Shared by the suites that run inside VS Code: reach the extension, wait for state, talk HTTP.
import * as http from 'node:http';
import * as vscode from 'vscode';
import type { PocketFoundryTestApi, TreeItemSnapshot } from '../../extension/testApi';

export const extensionId = 'pocket-foundry.pocket-foundry';

/** A measurement worth reporting: collected into the results file the launcher prints. */
export function note(msg: string): void {
  const g = globalThis as { pocketFoundryTestNotes?: string[] };
  (g.pocketFoundryTestNotes ??= []).push(msg);
}

export async function activateExtension(): Promise<PocketFoundryTestApi> {
  const ext = vscode.extensions.getExtension<PocketFoundryTestApi>(extensionId);
  if (!ext) throw new Error(`extension ${extensionId} is not loaded`);
  return ext.activate();
}

/** The workspace the launcher opened (a temp copy of sample apps). */
export function workspaceRoot(): string {
  const f = vscode.workspace.workspaceFolders?.[0];
  if (!f) throw new Error('no workspace folder open');
  return f.uri.fsPath;
}

export function findApp(tree: TreeItemSnapshot[], name: string): TreeItemSnapshot | undefined {
  return tree.find((t) => t.label === name);
}

/** GET through the router with the app's Host header (what a browser does for `<name>.localhost`). */
export function httpGet(url: string, host?: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.get(url, { headers: host ? { Host: host } : {}, timeout: 10_000 }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => { body += c; });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', reject);
  });
}
