// Every `pocketFoundry.*` command. Handlers take what the tree or the Explorer passes (a node, a
// URI) or nothing (command palette: they ask), and report failures in words.
import * as vscode from 'vscode';
import type { App, CloudControllerClient } from '../platform/client';
import { isUserFacing, UserFacingError } from '../platform/log';
import { appPhase, type ExplorerNode } from './appExplorer';
import { clientLib } from './clientLib';
import { browseFiles, followLogs, showInstanceLogs, showStoredStagingLog } from './appFiles';
import type { PocketFoundry } from './context';
import type { PanelHost } from './instancePanel';
import { describe, userText } from './log';
import { pushWorkspace, type PushOutcome } from './pushWorkspace';
import { registerServiceCommands } from './serviceCommands';

type Target = ExplorerNode | string | undefined;

/** Options a caller other than a menu may pass as the second argument (scripts, tests). */
export interface ScaleArgs { instances?: number; memory?: number | string }
export interface DeleteArgs { skipConfirmation?: boolean }

export function registerCommands(ctx: PocketFoundry): vscode.Disposable[] {
  const reg = (id: string, fn: (...args: never[]) => unknown): vscode.Disposable =>
    vscode.commands.registerCommand(id, async (...args: never[]) => {
      try {
        return await fn(...args);
      } catch (e) {
        ctx.log.error(`${id} failed`, e);
        void vscode.window.showErrorMessage(userText(e));
        return undefined;
      }
    });

  return [
    reg('pocketFoundry.pushWorkspace', (uri?: vscode.Uri): Promise<PushOutcome> => push(ctx, uri)),
    reg('pocketFoundry.refresh', () => { ctx.explorer.refresh(); ctx.services.refresh(); ctx.panels.notify(); }),
    reg('pocketFoundry.start', (t?: Target) => withApp(ctx, t, 'Start', (c, app) => changeState(ctx, c, app, 'start'))),
    reg('pocketFoundry.stop', (t?: Target) => withApp(ctx, t, 'Stop', (c, app) => changeState(ctx, c, app, 'stop'))),
    reg('pocketFoundry.restart', (t?: Target) => withApp(ctx, t, 'Restart', (c, app) => changeState(ctx, c, app, 'restart'))),
    reg('pocketFoundry.scale', (t?: Target, args?: ScaleArgs) => withApp(ctx, t, 'Scale', (c, app) => scale(ctx, c, app, isScaleArgs(args) ? args : undefined))),
    reg('pocketFoundry.delete', (t?: Target, args?: DeleteArgs) => withApp(ctx, t, 'Delete', (c, app) => deleteApp(ctx, c, app, args?.skipConfirmation === true))),
    reg('pocketFoundry.openInBrowser', (t?: Target) => withApp(ctx, t, 'Open in Browser', async (_c, app) => { await openInBrowser(ctx, app); })),
    reg('pocketFoundry.showLogs', (t?: Target) => withInstance(ctx, t, 'Show Logs', async (_c, app, index) => showInstanceLogs(app.name, index, ctx.files))),
    reg('pocketFoundry.followLogs', (t?: Target) => withInstance(ctx, t, 'Follow Logs', async (c, app, index) => { followLogs(app.name, index, c); })),
    reg('pocketFoundry.showFiles', (t?: Target) => withInstance(ctx, t, 'Show Files', (c, app, index) => browseFiles(app.name, index, c))),
    reg('pocketFoundry.showStagingLog', (t?: Target) => withApp(ctx, t, 'Show Staging Log', async (_c, app) => {
      if (ctx.stagingLogs.lines(app.name).length > 0) ctx.stagingLogs.show(app.name, false);
      else await showStoredStagingLog(app.name, ctx.files);
    })),
    reg('pocketFoundry.showInstances', (t?: Target) => withApp(ctx, t, 'Show Instances', async (_c, app) => {
      ctx.panels.show(panelHost(ctx), app.name);
    })),
    reg('pocketFoundry.platform.start', () => ctx.startPlatform()),
    reg('pocketFoundry.platform.stop', () => ctx.stopPlatform()),
    reg('pocketFoundry.platform.restart', () => ctx.restartPlatform()),
    reg('pocketFoundry.platform.showLog', () => { ctx.log.show(); }),
    reg('pocketFoundry.platform.actions', () => platformActions(ctx)),
    ...registerServiceCommands(ctx, reg),
  ];
}

async function push(ctx: PocketFoundry, uri: vscode.Uri | undefined): Promise<PushOutcome> {
  return pushWorkspace({
    client: async () => { const c = await ctx.client(); await ctx.eventsReady(); return c; },
    routerUrl: () => ctx.routerUrl,
    defaultMemory: () => ctx.config.defaultMemory,
    state: ctx.ext.workspaceState,
    stagingLines: (app) => [...ctx.stagingLogs.lines(app)],
    showStagingLog: (app) => ctx.stagingLogs.show(app),
    noteStaging: (app, msg, level) => ctx.stagingLogs.note(app, msg, level),
    pushStarting: (app, folder) => ctx.rememberFolder(app, folder),
    stagingFinished: (app, folder, ok) => { void ctx.stagingResult(app, folder, ok); },
    afterPush: (s) => ctx.pushFinished(s),
    log: ctx.log,
  }, uri instanceof vscode.Uri ? uri : undefined);
}

/** Resolves the app a command is about: from a tree node, a name, or a quick pick. */
async function withApp<T>(ctx: PocketFoundry, t: Target, verb: string, fn: (c: CloudControllerClient, app: App) => Promise<T>): Promise<T | undefined> {
  const c = await ctx.client();
  const name = typeof t === 'string' ? t : t?.kind === 'app' ? t.app.name : t?.kind === 'instance' ? t.appName : await pickApp(c, verb);
  if (!name) return undefined;
  const app = await c.app(name);
  if (!app) { void vscode.window.showErrorMessage(`App ${name} does not exist (any more).`); ctx.explorer.refreshSoon(); return undefined; }
  return fn(c, app);
}

/** Like withApp, plus the instance: the node's, the only one, or a quick pick. */
async function withInstance<T>(ctx: PocketFoundry, t: Target, verb: string, fn: (c: CloudControllerClient, app: App, index: number) => Promise<T>): Promise<T | undefined> {
  return withApp(ctx, t, verb, async (c, app) => {
    if (typeof t === 'object' && t.kind === 'instance') return fn(c, app, t.info.index);
    const instances = app.state === 'STARTED' ? await c.instances(app.name).catch(() => []) : [];
    if (instances.length <= 1) return fn(c, app, instances[0]?.index ?? 0);
    const pick = await vscode.window.showQuickPick(
      instances.map((i) => ({ label: `#${i.index}`, description: i.state, index: i.index })),
      { placeHolder: `${verb}: which instance of ${app.name}?` },
    );
    return pick ? fn(c, app, pick.index) : undefined;
  });
}

async function pickApp(c: CloudControllerClient, verb: string): Promise<string | undefined> {
  const apps = await c.apps();
  if (apps.length === 0) {
    void vscode.window.showInformationMessage('No apps yet: push the workspace first.', 'Push Workspace').then((a) => {
      if (a) void vscode.commands.executeCommand('pocketFoundry.pushWorkspace');
    });
    return undefined;
  }
  if (apps.length === 1) return apps[0]?.name;
  const pick = await vscode.window.showQuickPick(
    apps.map((a) => ({ label: a.name, description: `${a.state} · ${a.runningInstances}/${a.instances}` })),
    { placeHolder: `${verb}: which app?` },
  );
  return pick?.label;
}

async function changeState(ctx: PocketFoundry, c: CloudControllerClient, app: App, action: 'start' | 'stop' | 'restart'): Promise<void> {
  const title = { start: `Starting ${app.name}`, stop: `Stopping ${app.name}`, restart: `Restarting ${app.name}` }[action];
  await vscode.window.withProgress({ location: vscode.ProgressLocation.Window, title }, async () => {
    if (action !== 'start') await c.updateApp(app.name, { state: 'STOPPED' });
    ctx.explorer.refreshSoon();
    if (action !== 'stop') await c.updateApp(app.name, { state: 'STARTED' });
  });
  ctx.explorer.refreshSoon();
  ctx.panels.notify(app.name);
}

async function scale(ctx: PocketFoundry, c: CloudControllerClient, app: App, args: ScaleArgs | undefined): Promise<void> {
  let instances = args?.instances;
  let memory = args?.memory === undefined ? undefined : clientLib().parseMemory(args.memory);
  if (!args) {
    const what = await vscode.window.showQuickPick([
      { label: 'Instances', description: `now ${app.instances}`, key: 'instances' as const },
      { label: 'Memory', description: `now ${clientLib().formatMemory(app.resources.memory)} per instance`, key: 'memory' as const },
    ], { placeHolder: `Scale ${app.name}` });
    if (!what) return;
    if (what.key === 'instances') {
      const v = await vscode.window.showInputBox({
        title: `Scale ${app.name}: instances`, value: String(app.instances),
        validateInput: (s) => (/^\d+$/.test(s.trim()) && Number(s) <= 100 ? undefined : 'A whole number from 0 to 100'),
      });
      if (v === undefined) return;
      instances = Number(v.trim());
    } else {
      const v = await vscode.window.showInputBox({
        title: `Scale ${app.name}: memory per instance`, value: clientLib().formatMemory(app.resources.memory),
        validateInput: (s) => { try { clientLib().parseMemory(s); return undefined; } catch (e) { return describe(e); } },
      });
      if (v === undefined) return;
      memory = clientLib().parseMemory(v);
    }
  }
  if (instances === undefined && memory === undefined) return;
  await vscode.window.withProgress({ location: vscode.ProgressLocation.Window, title: `Scaling ${app.name}` }, () =>
    c.updateApp(app.name, {
      ...(instances !== undefined ? { instances } : {}),
      ...(memory !== undefined ? { resources: { memory } } : {}),
      meta: { version: app.meta.version },
    }).catch((e: unknown) => {
      if (e instanceof clientLib().CloudControllerError && e.code === clientLib().ErrorCodes.notEnoughMemory) throw new UserFacingError(`Not enough memory to scale ${app.name}: ${e.description}`);
      throw e;
    }));
  ctx.explorer.refreshSoon();
  ctx.panels.notify(app.name);
}

async function deleteApp(ctx: PocketFoundry, c: CloudControllerClient, app: App, skipConfirmation: boolean): Promise<boolean> {
  if (!skipConfirmation) {
    const answer = await vscode.window.showWarningMessage(
      `Delete ${app.name}?`,
      { modal: true, detail: 'Its instances stop, and its package and droplet are removed. The pushed folder is not touched.' },
      'Delete',
    );
    if (answer !== 'Delete') return false;
  }
  await vscode.window.withProgress({ location: vscode.ProgressLocation.Window, title: `Deleting ${app.name}` }, () => c.deleteApp(app.name));
  ctx.clearProblems(app.name);
  ctx.panels.get(app.name)?.dispose();
  ctx.explorer.refreshSoon();
  return true;
}

async function openInBrowser(ctx: PocketFoundry, app: App): Promise<boolean> {
  const url = ctx.appUrl(app);
  if (!url) { void vscode.window.showWarningMessage(`${app.name} has no route to open.`); return false; }
  if (appPhase(app) !== 'started') void vscode.window.showWarningMessage(`${app.name} is ${app.state.toLowerCase()}; the page may not answer.`);
  return vscode.env.openExternal(vscode.Uri.parse(url));
}

function panelHost(ctx: PocketFoundry): PanelHost {
  return {
    client: () => ctx.clientIfRunning(false),
    appUrl: (app) => ctx.appUrl(app),
    openInBrowser: async (name) => { await vscode.commands.executeCommand('pocketFoundry.openInBrowser', name); },
    appAction: async (name, action) => { await vscode.commands.executeCommand(`pocketFoundry.${action}`, name); },
    // A client bundle older than the extension may lack it.
    canControlInstances: (c) => typeof (c as Partial<Pick<CloudControllerClient, 'restartInstance'>>).restartInstance === 'function',
    instanceAction: async (name, index, action) => {
      if (action === 'logs') { await showInstanceLogs(name, index, ctx.files); return; }
      await instanceAction(ctx, name, index, action);
    },
  };
}

/** Restarts one instance: the controller stops it and places its index again at once. */
async function instanceAction(ctx: PocketFoundry, name: string, index: number, action: 'restart'): Promise<void> {
  const c = await ctx.client();
  try {
    const r = await c.restartInstance(name, index);
    if (!r.started) throw new UserFacingError(`no DEA took it again (${r.placement_error ?? 'no reason given'}); the health manager will try again`);
  } catch (e) {
    if (!isUserFacing(e)) ctx.log.error(`restarting ${name} #${index}`, e);
    void vscode.window.showErrorMessage(`Could not ${action} ${name} #${index}: ${userText(e)}`);
    return;
  }
  void vscode.window.setStatusBarMessage(`Restarting ${name} #${index}`, 3000);
  ctx.panels.notify(name);
  ctx.explorer.refreshSoon();
}

async function platformActions(ctx: PocketFoundry): Promise<void> {
  const s = ctx.platformState;
  const items: (vscode.QuickPickItem & { run: () => Thenable<unknown> | void })[] = [
    { label: '$(output) Show Log', run: () => ctx.log.show() },
  ];
  if (s.kind === 'running' || s.kind === 'starting') {
    items.push({ label: '$(debug-restart) Restart Platform', run: () => ctx.restartPlatform() });
    items.push({ label: '$(debug-stop) Stop Platform', run: () => ctx.stopPlatform() });
  } else {
    items.push({ label: '$(play) Start Platform', run: () => ctx.startPlatform() });
  }
  items.push({ label: '$(cloud-upload) Push Workspace', run: () => vscode.commands.executeCommand('pocketFoundry.pushWorkspace') });
  const detail = s.kind === 'running' ? `api ${s.endpoint.api} · router ${s.endpoint.router}` : s.kind === 'failed' ? s.reason : s.kind;
  const pick = await vscode.window.showQuickPick(items, { title: 'Pocket Foundry platform', placeHolder: detail });
  await pick?.run();
}

function isScaleArgs(v: unknown): v is ScaleArgs {
  if (!v || typeof v !== 'object' || Array.isArray(v)) return false;
  const o = v as Record<string, unknown>;
  return typeof o.instances === 'number' || typeof o.memory === 'number' || typeof o.memory === 'string';
}
