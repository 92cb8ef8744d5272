// Push Workspace: manifest.yml and .cfignore, a cancellable progress notification with the steps and
// the fingerprint summary, staging lines in the app's channel, problems from a failed staging.
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as vscode from 'vscode';
import type { CloudControllerClient, ManifestApp, PushProgress, PushSummary } from '../platform/client';
import { isUserFacing } from '../platform/log';
import { clientLib } from './clientLib';
import { userText, type ExtensionLog } from './log';

export interface PushHost {
  client(): Promise<CloudControllerClient>;
  routerUrl(): string | undefined;
  defaultMemory(): number | undefined;
  /** Names remembered per folder, so a folder without a manifest is asked only once. */
  state: vscode.Memento;
  stagingLines(app: string): string[];
  showStagingLog(app: string): void;
  noteStaging(app: string, msg: string, level?: 'info' | 'warn' | 'error'): void;
  /** Before uploading: `app` is being pushed from `folder`. */
  pushStarting(app: string, folder: string): Promise<void>;
  /** After a push ends: set or clear the Problems of `app` for `folder`. */
  stagingFinished(app: string, folder: string, ok: boolean): void;
  afterPush(summary: PushSummary | undefined): void;
  /** Where an internal error's details go (the user sees one line). */
  log: Pick<ExtensionLog, 'error'>;
}

export type PushOutcome =
  | { kind: 'pushed'; summary: PushSummary }
  | { kind: 'cancelled' }
  | { kind: 'failed'; error: string }
  | { kind: 'aborted' };

const rememberedNames = 'pocketFoundry.appNames';

/** Where to push from: a folder or manifest.yml from the Explorer, else the (chosen) workspace folder. */
export async function pickPushTarget(uri: vscode.Uri | undefined): Promise<{ folder: string; manifest: string | null } | undefined> {
  if (uri?.scheme === 'file') {
    const st = fs.statSync(uri.fsPath, { throwIfNoEntry: false });
    if (st?.isFile()) return { folder: path.dirname(uri.fsPath), manifest: /\.ya?ml$/i.test(uri.fsPath) ? uri.fsPath : clientLib().findManifest(path.dirname(uri.fsPath)) };
    if (st?.isDirectory()) return { folder: uri.fsPath, manifest: clientLib().findManifest(uri.fsPath) };
  }
  const folders = vscode.workspace.workspaceFolders?.filter((f) => f.uri.scheme === 'file') ?? [];
  let folder: vscode.WorkspaceFolder | undefined;
  if (folders.length === 1) folder = folders[0];
  else if (folders.length > 1) folder = await vscode.window.showWorkspaceFolderPick({ placeHolder: 'Folder to push' });
  else {
    void vscode.window.showErrorMessage('Open a folder to push: Pocket Foundry pushes a folder (with an optional manifest.yml).', 'Open Folder')
      .then((a) => { if (a) void vscode.commands.executeCommand('vscode.openFolder'); });
    return undefined;
  }
  if (!folder) return undefined;
  return { folder: folder.uri.fsPath, manifest: clientLib().findManifest(folder.uri.fsPath) };
}

export async function pushWorkspace(host: PushHost, uri: vscode.Uri | undefined): Promise<PushOutcome> {
  const target = await pickPushTarget(uri);
  if (!target) return { kind: 'aborted' };
  let manifestApp: ManifestApp = {};
  if (target.manifest) {
    try {
      const manifest = await clientLib().readManifest(target.manifest);
      if (manifest.applications.length > 1) {
        const pick = await vscode.window.showQuickPick(manifest.applications.map((a) => ({ label: a.name ?? '(no name)', app: a })), { placeHolder: 'Which app of the manifest?' });
        if (!pick) return { kind: 'aborted' };
        manifestApp = pick.app;
      } else {
        manifestApp = manifest.applications[0] ?? {};
      }
    } catch (e) {
      const msg = e instanceof clientLib().ManifestError ? e.message : `Cannot read ${target.manifest}: ${String(e)}`;
      const open = await vscode.window.showErrorMessage(msg, 'Open Manifest');
      if (open && target.manifest) {
        const doc = await vscode.workspace.openTextDocument(target.manifest);
        const line = e instanceof clientLib().ManifestError && e.line ? e.line - 1 : 0;
        await vscode.window.showTextDocument(doc, { selection: new vscode.Range(line, 0, line, 0) });
      }
      return { kind: 'failed', error: msg };
    }
  }
  const folder = manifestApp.path ?? target.folder;
  const name = await appName(host, folder, manifestApp.name);
  if (!name) return { kind: 'aborted' };

  return vscode.window.withProgress<PushOutcome>({
    location: vscode.ProgressLocation.Notification,
    title: `Pushing ${name}`,
    cancellable: true,
  }, async (progress, token) => {
    const abort = new AbortController();
    const cancelled = token.onCancellationRequested(() => abort.abort(new (clientLib().PushCancelledError)('push')));
    let lastPct = 0;
    const step = (message: string, pct: number): void => {
      progress.report({ message, increment: Math.max(0, pct - lastPct) });
      lastPct = Math.max(lastPct, pct);
    };
    let client: CloudControllerClient;
    try {
      step('Starting the Pocket Foundry platform…', 0);
      client = await host.client();
      await host.pushStarting(name, folder);
    } catch (e) {
      cancelled.dispose();
      const error = describePushError(e, host);
      void vscode.window.showErrorMessage(`Push of ${name} failed: ${error}`, 'Show Platform Log').then((a) => {
        if (a) void vscode.commands.executeCommand('pocketFoundry.platform.showLog');
      });
      return { kind: 'failed', error };
    }
    if (token.isCancellationRequested) { cancelled.dispose(); return { kind: 'cancelled' }; }
    host.noteStaging(name, `Pushing ${folder}${target.manifest ? ` (manifest ${path.basename(target.manifest)})` : ''}`);
    try {
      const summary = await clientLib().push({
        client,
        path: folder,
        name,
        memory: manifestApp.memory ?? (await isNewApp(client, name) ? host.defaultMemory() : undefined),
        instances: manifestApp.instances,
        command: manifestApp.command,
        env: manifestApp.env,
        host: manifestApp.host,
        framework: manifestApp.framework,
        routerUrl: host.routerUrl(),
        signal: abort.signal,
        onProgress: (p) => reportStep(p, step, host, name),
      });
      host.stagingFinished(name, folder, true);
      host.noteStaging(name, `Pushed ${name}: ${clientLib().formatPushCounts(summary)}${summary.url ? `; running at ${summary.url}` : ''}`);
      host.afterPush(summary);
      void offerNext(name, summary);
      return { kind: 'pushed', summary };
    } catch (e) {
      host.afterPush(undefined);
      if (e instanceof clientLib().PushCancelledError || abort.signal.aborted) {
        host.noteStaging(name, 'Push cancelled; the running version was left untouched.', 'warn');
        void vscode.window.showInformationMessage(`Push of ${name} cancelled; the running version was left untouched.`);
        return { kind: 'cancelled' };
      }
      const error = describePushError(e, host);
      const stagingFailed = e instanceof clientLib().CloudControllerError && clientLib().stagingFailureCodes.includes(e.code);
      if (stagingFailed) host.stagingFinished(name, folder, false);
      host.noteStaging(name, `Push failed: ${error}`, 'error');
      void vscode.window.showErrorMessage(`Push of ${name} failed: ${error}`, 'Show Log').then((a) => {
        if (a) host.showStagingLog(name);
      });
      return { kind: 'failed', error };
    } finally {
      cancelled.dispose();
    }
  });
}

function reportStep(p: PushProgress, step: (message: string, pct: number) => void, host: PushHost, name: string): void {
  switch (p.step) {
    case 'scanning': step('Scanning files…', 2); break;
    case 'fingerprinting': step(`Fingerprinting ${p.files}/${p.totalFiles} files (${clientLib().formatBytes(p.bytes)})…`, 2 + Math.round(18 * (p.totalFiles ? p.files / p.totalFiles : 1))); break;
    case 'matching': step(`Matching ${p.files} files against the resource pool…`, 22); break;
    case 'packing': step(`Packing ${p.files} files (${clientLib().formatBytes(p.bytes)})…`, 28); break;
    case 'uploading': step(`Uploading ${clientLib().formatBytes(p.bytes)}…`, 32); break;
    case 'uploaded':
      step(`${clientLib().formatPushCounts(p.summary)}${p.summary.stagingNeeded ? '' : ' · unchanged, no staging needed'}`, 45);
      host.noteStaging(name, clientLib().formatPushCounts(p.summary));
      break;
    case 'staging':
      step('Staging… (log in the output)', 50);
      host.showStagingLog(name);
      break;
    case 'starting': step(`Starting: ${p.running}/${p.expected} instances running…`, 80 + Math.round(18 * (p.expected ? p.running / p.expected : 1))); break;
    case 'done': step(clientLib().formatPushCounts(p.summary), 100); break;
  }
}

async function offerNext(name: string, summary: PushSummary): Promise<void> {
  const actions = summary.url ? ['Open in Browser', 'Show Logs', 'Show Instances'] : ['Show Logs', 'Show Instances'];
  const msg = `Pushed ${name}: ${clientLib().formatPushCounts(summary)}.${summary.url ? ` Running at ${summary.url}` : ''}`;
  const a = await vscode.window.showInformationMessage(msg, ...actions);
  if (a === 'Open in Browser') await vscode.commands.executeCommand('pocketFoundry.openInBrowser', name);
  else if (a === 'Show Logs') await vscode.commands.executeCommand('pocketFoundry.showLogs', name);
  else if (a === 'Show Instances') await vscode.commands.executeCommand('pocketFoundry.showInstances', name);
}

async function isNewApp(client: CloudControllerClient, name: string): Promise<boolean> {
  try { return (await client.app(name)) === null; } catch { return false; }
}

/** The manifest's name, else the one used for this folder before, else asked (once). */
async function appName(host: PushHost, folder: string, fromManifest: string | undefined): Promise<string | undefined> {
  if (fromManifest) return fromManifest;
  const names = host.state.get<Record<string, string>>(rememberedNames, {});
  const known = names[folder];
  if (known) return known;
  const suggestion = path.basename(folder).toLowerCase().replace(/[^\w-]+/g, '-').replace(/^-+|-+$/g, '') || 'app';
  const name = await vscode.window.showInputBox({
    title: 'Push Workspace',
    prompt: 'App name (add a manifest.yml with `name:` to skip this question)',
    value: suggestion,
    validateInput: (v) => (/^[\w-]+$/.test(v) ? undefined : 'Letters, digits, `_` and `-` only'),
  });
  if (!name) return undefined;
  await host.state.update(rememberedNames, { ...names, [folder]: name });
  return name;
}

function describePushError(e: unknown, host: PushHost): string {
  if (!isUserFacing(e)) host.log.error('Push failed', e);
  return userText(e);
}
