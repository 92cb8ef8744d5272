// The app explorer: apps -> instances, in CF terms, refreshed by platform events (never polled).
import * as vscode from 'vscode';
import type { App, AppStats, CloudControllerClient, InstanceInfo } from '../platform/client';
import { clientLib } from './clientLib';

export interface AppNode {
  kind: 'app';
  app: App;
}

export interface InstanceNode {
  kind: 'instance';
  appName: string;
  info: InstanceInfo;
  stats: AppStats[string] | undefined;
}

export type ExplorerNode = AppNode | InstanceNode;

/** What the explorer needs from its owner: a client when the platform runs, and the router's base URL. */
export interface ExplorerSource {
  /** A client, starting the platform if needed; undefined when it cannot run. */
  client(): Promise<CloudControllerClient | undefined>;
  routerUrl(): string | undefined;
}

/** The app's state in one word, as menus (`viewItem`) and icons use it. */
export type AppPhase = 'started' | 'staging' | 'stopped' | 'failed';

export function appPhase(app: App): AppPhase {
  // A failed re-push leaves the last good version running: still a started app (menus), its failure shown beside.
  if (app.package_state === 'FAILED' && app.state !== 'STARTED') return 'failed';
  if (app.state === 'STARTED') return app.package_state === 'PENDING' ? 'staging' : 'started';
  return 'stopped';
}

/** Hooks the test API attaches to time a refresh (event -> fired -> read); none in normal use. */
export interface RefreshProbe {
  /** A platform event asked for a refresh while the tree is visible. */
  eventArrived(): void;
  /** The debounced refresh fired. */
  fired(): void;
  /** VS Code asked for the root; the returned function is called once it is read. */
  rootAsked(): () => void;
}

export class AppExplorer implements vscode.TreeDataProvider<ExplorerNode>, vscode.Disposable {
  private readonly changed = new vscode.EventEmitter<ExplorerNode | undefined>();
  readonly onDidChangeTreeData = this.changed.event;
  private readonly appsChanged = new vscode.EventEmitter<App[]>();
  /** Fires with the app list each time the root is read. */
  readonly onDidReadApps = this.appsChanged.event;
  private debounce: NodeJS.Timeout | undefined;
  private lastApps: App[] = [];
  private lastError: string | undefined;
  /** VS Code reads a tree only while it is visible; latency is measured only then. */
  visible = false;
  /** Set by the test API to time refreshes. */
  probe: RefreshProbe | undefined;
  /**
   * Instance stats (host:port) come from the DEAs and may take a while while instances change;
   * the tree shows the last ones at once and re-renders an app when fresh ones arrive. Only a
   * refresh caused by an event or the user asks for fresh stats, so this never becomes a poll.
   */
  private readonly statsCache = new Map<string, AppStats>();
  private statsWanted = true;
  private readonly statsLoading = new Set<string>();
  private readonly appNodes = new Map<string, AppNode>();

  constructor(private readonly source: ExplorerSource) {}

  get apps(): readonly App[] { return this.lastApps; }

  /** Re-reads everything shortly; bursts of platform events become one refresh. */
  refreshSoon(delayMs = 30, fromEvent = false): void {
    if (fromEvent && this.visible) this.probe?.eventArrived();
    if (this.debounce) return;
    this.debounce = setTimeout(() => {
      this.debounce = undefined;
      this.statsWanted = true;
      this.probe?.fired();
      this.changed.fire(undefined);
    }, delayMs);
  }

  refresh(): void {
    if (this.debounce) { clearTimeout(this.debounce); this.debounce = undefined; }
    this.statsWanted = true;
    this.changed.fire(undefined);
  }

  getTreeItem(node: ExplorerNode): vscode.TreeItem {
    return node.kind === 'app' ? this.appItem(node.app) : this.instanceItem(node);
  }

  async getChildren(node?: ExplorerNode): Promise<ExplorerNode[]> {
    const read = node ? undefined : this.probe?.rootAsked();
    const children = await this.readChildren(node);
    read?.();
    return children;
  }

  /** What getChildren returns, without counting as a refresh (for tests reading the tree). */
  async readChildren(node?: ExplorerNode): Promise<ExplorerNode[]> {
    const client = await this.source.client();
    if (!client) { this.setApps([]); return []; }
    if (!node) {
      try {
        const apps = (await client.apps()).sort((a, b) => a.name.localeCompare(b.name));
        this.lastError = undefined;
        this.setApps(apps);
        this.appNodes.clear();
        return apps.map((app) => {
          const n: AppNode = { kind: 'app', app };
          this.appNodes.set(app.name, n);
          return n;
        });
      } catch (e) {
        this.lastError = e instanceof Error ? e.message : String(e);
        return [];
      }
    }
    if (node.kind === 'instance') return [];
    return this.instanceNodes(client, node.app);
  }

  getParent(node: ExplorerNode): ExplorerNode | undefined {
    if (node.kind === 'app') return undefined;
    const app = this.lastApps.find((a) => a.name === node.appName);
    return app ? { kind: 'app', app } : undefined;
  }

  /** The error of the last failed read, if any (the welcome view says so). */
  get error(): string | undefined { return this.lastError; }

  dispose(): void {
    if (this.debounce) clearTimeout(this.debounce);
    this.changed.dispose();
    this.appsChanged.dispose();
  }

  private setApps(apps: App[]): void {
    this.lastApps = apps;
    void vscode.commands.executeCommand('setContext', 'pocketFoundry.hasApps', apps.length > 0);
    this.appsChanged.fire(apps);
  }

  private async instanceNodes(client: CloudControllerClient, app: App): Promise<InstanceNode[]> {
    if (app.state !== 'STARTED') { this.statsCache.delete(app.name); return []; }
    const instances = await client.instances(app.name).catch((): InstanceInfo[] => []);
    if (this.statsWanted && !this.statsLoading.has(app.name)) this.loadStats(client, app.name);
    const stats = this.statsCache.get(app.name) ?? {};
    return instances
      .sort((a, b) => a.index - b.index)
      .map((info) => ({ kind: 'instance', appName: app.name, info, stats: stats[String(info.index)] }));
  }

  private loadStats(client: CloudControllerClient, name: string): void {
    this.statsLoading.add(name);
    client.stats(name).then((stats) => {
      const before = JSON.stringify(portsOf(this.statsCache.get(name)));
      this.statsCache.set(name, stats);
      const node = this.appNodes.get(name);
      // Re-render this app's instances only if what the tree shows (host:port) changed.
      if (node && JSON.stringify(portsOf(stats)) !== before) {
        this.statsWanted = false;
        this.changed.fire(node);
      }
    }, () => undefined).finally(() => { this.statsLoading.delete(name); });
  }

  private appItem(app: App): vscode.TreeItem {
    const phase = appPhase(app);
    // Always expandable: VS Code keeps the first collapsible state it saw for an id, and an app
    // pushed while stopped gains instances once started.
    const item = new vscode.TreeItem(app.name, vscode.TreeItemCollapsibleState.Expanded);
    item.id = `app:${app.name}`;
    item.contextValue = `app.${phase}`;
    const counts = `${app.runningInstances}/${app.instances}`;
    const pushFailed = phase === 'started' && app.package_state === 'FAILED';
    const stateWord = phase === 'staging' ? 'STAGING' : phase === 'failed' ? 'STAGING FAILED' : pushFailed ? 'STARTED · STAGING FAILED' : app.state;
    item.description = [stateWord, app.state === 'STARTED' ? counts : undefined, app.uris[0]].filter(Boolean).join(' · ');
    item.iconPath = appIcon(phase, app);
    const url = this.appUrl(app);
    const md = new vscode.MarkdownString(undefined, true);
    md.appendMarkdown(`**${app.name}** — ${stateWord}\n\n`);
    md.appendMarkdown(`Instances: ${counts} running · Memory: ${clientLib().formatMemory(app.resources.memory)} each\n\n`);
    const fw = app.staging.model;
    if (fw) md.appendMarkdown(`Framework: ${fw}${app.staging.stack ? ` (${app.staging.stack})` : ''}\n\n`);
    if (url) md.appendMarkdown(`URL: [${url}](${url})\n\n`);
    if (pushFailed && app.staging_error) md.appendMarkdown(`Last push failed (${app.staging_error.code}): ${app.staging_error.description}; this version keeps running.\n\n`);
    md.appendMarkdown(`Version: \`${app.version}\``);
    item.tooltip = md;
    item.command = { command: 'pocketFoundry.showInstances', title: 'Show Instances', arguments: [{ kind: 'app', app }] };
    return item;
  }

  private instanceItem(node: InstanceNode): vscode.TreeItem {
    const { info, stats } = node;
    const item = new vscode.TreeItem(`#${info.index}`, vscode.TreeItemCollapsibleState.None);
    item.id = `instance:${node.appName}:${info.index}`;
    item.contextValue = `instance.${info.state.toLowerCase()}`;
    const s = stats?.stats;
    const where = s?.port ? `${s.host}:${s.port}` : undefined;
    // `since` rather than an uptime: it stays true without re-rendering.
    const up = info.since ? `since ${new Date(info.since * 1000).toLocaleTimeString()}` : undefined;
    item.description = [info.state, where, up].filter(Boolean).join(' · ');
    item.iconPath = instanceIcon(info.state);
    item.tooltip = `${node.appName} instance ${info.index}: ${info.state}${where ? ` at ${where}` : ''}`;
    return item;
  }

  appUrl(app: App): string | undefined {
    const router = this.source.routerUrl();
    const uri = app.uris[0];
    if (!router || !uri) return undefined;
    try {
      const port = new URL(router).port;
      return `http://${uri}${port ? `:${port}` : ''}/`;
    } catch { return undefined; }
  }
}

function portsOf(stats: AppStats | undefined): [string, string | undefined][] {
  return Object.entries(stats ?? {}).map(([i, s]) => [i, s.stats?.port ? `${s.stats.host}:${s.stats.port}` : undefined]);
}

function appIcon(phase: AppPhase, app: App): vscode.ThemeIcon {
  switch (phase) {
    case 'staging': return new vscode.ThemeIcon('sync~spin', new vscode.ThemeColor('charts.yellow'));
    case 'failed': return new vscode.ThemeIcon('error', new vscode.ThemeColor('errorForeground'));
    case 'stopped': return new vscode.ThemeIcon('debug-stop', new vscode.ThemeColor('disabledForeground'));
    case 'started':
      if (app.runningInstances >= app.instances && app.instances > 0) return new vscode.ThemeIcon('vm-running', new vscode.ThemeColor('charts.green'));
      if (app.runningInstances > 0) return new vscode.ThemeIcon('warning', new vscode.ThemeColor('charts.yellow'));
      return new vscode.ThemeIcon('vm-outline', new vscode.ThemeColor('charts.orange'));
  }
}

function instanceIcon(state: string): vscode.ThemeIcon {
  switch (state) {
    case 'RUNNING': return new vscode.ThemeIcon('pass-filled', new vscode.ThemeColor('charts.green'));
    case 'STARTING': return new vscode.ThemeIcon('loading~spin', new vscode.ThemeColor('charts.yellow'));
    case 'CRASHED': return new vscode.ThemeIcon('error', new vscode.ThemeColor('errorForeground'));
    case 'FLAPPING': return new vscode.ThemeIcon('warning', new vscode.ThemeColor('charts.orange'));
    default: return new vscode.ThemeIcon('circle-outline', new vscode.ThemeColor('disabledForeground'));
  }
}
