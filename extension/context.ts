// The one object that owns the platform connection and every disposable of the extension.
import * as vscode from 'vscode';
import type { App, CloudControllerClient, PlatformEvent, PushSummary } from '../platform/client';
import { AppExplorer, type ExplorerNode } from './appExplorer';
import { AppFilesProvider, filesScheme } from './appFiles';
import { readConfig, type PocketConfig } from './config';
import { PlatformConnection } from './connection';
import { InstancePanels } from './instancePanel';
import { ExtensionLog } from './log';
import { StagingLogs } from './stagingLogs';
import { StagingDiagnostics } from './stagingDiagnostics';
import { ServiceExplorer, type ServiceTreeNode } from './serviceExplorer';
import { PlatformStatusBar } from './statusBar';
import { PlatformSupervisor, type RunningEndpoint, type PlatformState } from './supervisor';

const appFoldersKey = 'pocketFoundry.appFolders';

export class PocketFoundry implements vscode.Disposable {
  readonly log: ExtensionLog;
  readonly supervisor: PlatformSupervisor;
  readonly explorer: AppExplorer;
  readonly treeView: vscode.TreeView<ExplorerNode>;
  readonly services: ServiceExplorer;
  readonly servicesView: vscode.TreeView<ServiceTreeNode>;
  readonly statusBar: PlatformStatusBar;
  readonly stagingLogs: StagingLogs;
  readonly problems: StagingDiagnostics;
  readonly panels: InstancePanels;
  readonly files: AppFilesProvider;
  private connection: PlatformConnection | undefined;
  /** Set by "Stop Platform": views then show the stopped state instead of starting it again. */
  private userStopped = false;
  private readonly disposables: vscode.Disposable[] = [];
  private lastPush: PushSummary | undefined;
  private countTimer: NodeJS.Timeout | undefined;

  constructor(readonly ext: vscode.ExtensionContext) {
    this.log = new ExtensionLog('Pocket Foundry');
    this.supervisor = new PlatformSupervisor({
      log: this.log,
      pocketJs: vscode.Uri.joinPath(ext.extensionUri, 'dist', 'pocket.js').fsPath,
      config: () => this.config,
    });
    this.statusBar = new PlatformStatusBar();
    this.stagingLogs = new StagingLogs();
    this.problems = new StagingDiagnostics();
    this.panels = new InstancePanels(ext.extensionUri);
    this.files = new AppFilesProvider(() => this.client());
    this.explorer = new AppExplorer({
      client: () => this.clientIfRunning(!this.userStopped),
      routerUrl: () => this.connection?.routerUrl,
    });
    this.treeView = vscode.window.createTreeView('pocketFoundry.apps', { treeDataProvider: this.explorer, showCollapseAll: false });
    this.services = new ServiceExplorer(() => this.clientIfRunning(false));
    this.servicesView = vscode.window.createTreeView('pocketFoundry.services', { treeDataProvider: this.services, showCollapseAll: true });
    this.disposables.push(
      this.log, this.supervisor, this.statusBar, this.stagingLogs, this.problems, this.files, this.explorer, this.treeView, this.services, this.servicesView,
      vscode.workspace.registerTextDocumentContentProvider(filesScheme, this.files),
      this.supervisor.onDidChangeState((s) => this.onPlatformState(s)),
      this.explorer.onDidReadApps((apps) => this.onApps(apps)),
      this.stagingLogs.onDidFinish((f) => { if (!f.ok) void this.stagingFailed(f.app); }),
      this.treeView.onDidChangeVisibility((e) => { this.explorer.visible = e.visible; }),
      vscode.workspace.onDidChangeConfiguration((e) => this.onConfigChange(e)),
    );
    void vscode.commands.executeCommand('setContext', 'pocketFoundry.platformState', 'stopped');
  }

  get config(): PocketConfig {
    return readConfig(this.ext.globalStorageUri.fsPath);
  }

  get platformState(): PlatformState { return this.supervisor.state; }

  get routerUrl(): string | undefined { return this.connection?.routerUrl; }

  get latestPush(): PushSummary | undefined { return this.lastPush; }

  /** A client to the running platform, starting it if needed (an explicit user action). */
  async client(): Promise<CloudControllerClient> {
    this.userStopped = false;
    const endpoint = await this.supervisor.ensureRunning();
    return this.connect(endpoint).client;
  }

  /** Like client(), but starts the platform only when `autoStart`; undefined when it is not running. */
  async clientIfRunning(autoStart: boolean): Promise<CloudControllerClient | undefined> {
    const s = this.supervisor.state;
    if (s.kind === 'running') return this.connect(s.endpoint).client;
    if (!autoStart || s.kind === 'failed') return undefined;
    try { return this.connect(await this.supervisor.ensureRunning()).client; } catch { return undefined; }
  }

  /** Waits until the event stream is open, so no staging line of what follows is missed. */
  async eventsReady(): Promise<void> {
    await this.connection?.ready();
  }

  async startPlatform(): Promise<void> {
    this.userStopped = false;
    await this.supervisor.ensureRunning();
  }

  async stopPlatform(): Promise<void> {
    this.userStopped = true;
    await this.supervisor.stop();
  }

  async restartPlatform(): Promise<void> {
    this.userStopped = false;
    await this.supervisor.restart();
  }

  appUrl(app: App): string | undefined {
    return this.explorer.appUrl(app);
  }

  /** The folder an app was last pushed from (for Problems when it fails to stage later). */
  appFolder(app: string): string | undefined {
    return this.ext.workspaceState.get<Record<string, string>>(appFoldersKey, {})[app];
  }

  async rememberFolder(app: string, folder: string): Promise<void> {
    const all = this.ext.workspaceState.get<Record<string, string>>(appFoldersKey, {});
    if (all[app] !== folder) await this.ext.workspaceState.update(appFoldersKey, { ...all, [app]: folder });
  }

  pushFinished(summary: PushSummary | undefined): void {
    if (summary) this.lastPush = summary;
    this.explorer.refreshSoon();
  }

  /** After a staging of `app` pushed from `folder`: Problems from its log, or none on success. */
  async stagingResult(app: string, folder: string, ok: boolean): Promise<void> {
    await this.rememberFolder(app, folder);
    if (ok) { this.clearProblems(app); return; }
    await this.stagingFailed(app);
  }

  clearProblems(app: string): void {
    this.problems.clear(app);
  }

  async dispose(): Promise<void> {
    if (this.countTimer) clearTimeout(this.countTimer);
    this.panels.dispose();
    this.connection?.dispose();
    this.connection = undefined;
    await this.supervisor.shutdown(this.config.keepPlatformRunning);
    for (const d of this.disposables.splice(0).reverse()) d.dispose();
  }

  // ---- internals -------------------------------------------------------------------------------

  private connect(endpoint: RunningEndpoint): PlatformConnection {
    if (this.connection && this.connection.endpoint.api === endpoint.api && this.connection.endpoint.pid === endpoint.pid) return this.connection;
    this.connection?.dispose();
    this.connection = new PlatformConnection(endpoint, {
      onEvent: (e) => this.onEvent(e),
      onOpen: () => { this.countAppsSoon(); this.explorer.refreshSoon(); this.services.refreshSoon(); this.panels.notify(); },
      onDrop: () => { void this.supervisor.checkAlive(); },
    });
    return this.connection;
  }

  private onEvent(e: PlatformEvent): void {
    switch (e.type) {
      case 'staging':
        this.stagingLogs.append(e.name, e);
        if (e.done) { this.explorer.refreshSoon(30, true); this.panels.notify(e.name); }
        break;
      case 'app':
        this.countAppsSoon();
        this.explorer.refreshSoon(30, true);
        this.services.refreshSoon();
        this.panels.notify(e.name);
        break;
      case 'instances':
        this.explorer.refreshSoon(30, true);
        this.panels.notify(e.name);
        break;
    }
  }

  private onPlatformState(s: PlatformState): void {
    this.statusBar.setState(s);
    void vscode.commands.executeCommand('setContext', 'pocketFoundry.platformState', s.kind);
    if (s.kind === 'running') {
      this.connect(s.endpoint);
    } else if (this.connection) {
      this.connection.dispose();
      this.connection = undefined;
    }
    this.explorer.refreshSoon();
    this.services.refreshSoon();
    this.panels.notify();
  }

  private onConfigChange(e: vscode.ConfigurationChangeEvent): void {
    const affects = ['nodePath', 'dataDir', 'routerPort'].some((k) => e.affectsConfiguration(`pocketFoundry.${k}`));
    if (!affects || this.supervisor.state.kind !== 'running') return;
    void vscode.window.showInformationMessage('Restart the Pocket Foundry platform to use the changed settings.', 'Restart Platform').then((a) => {
      if (a) void vscode.commands.executeCommand('pocketFoundry.platform.restart');
    });
  }

  /** The status bar counts apps whether or not the app explorer is open. */
  private countAppsSoon(): void {
    if (this.countTimer) return;
    this.countTimer = setTimeout(() => {
      this.countTimer = undefined;
      const c = this.connection?.client;
      c?.apps().then((apps) => this.onApps(apps), () => undefined);
    }, 150);
  }

  private onApps(apps: App[]): void {
    if (this.supervisor.state.kind === 'running') this.statusBar.setAppCount(apps.length);
  }

  /** Reads the stored staging log (complete, unlike a stream that may have joined late) for Problems. */
  private async stagingFailed(app: string): Promise<void> {
    const folder = this.appFolder(app);
    if (!folder) return;
    let lines = this.stagingLogs.taskLines(app);
    try {
      const client = await this.clientIfRunning(false);
      const stored = client ? (await client.files(app, 0, 'logs/staging.log')).toString('utf8') : '';
      if (stored.trim()) lines = stored.split('\n');
    } catch { /* the streamed lines will do */ }
    this.problems.report(app, folder, lines);
  }
}
