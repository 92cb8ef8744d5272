// The instance panel: a webview with every instance of one app (index, state, since, host:port,
// uptime, cpu, memory against quota, crashes), updated live from platform events.
import { randomBytes } from 'node:crypto';
import * as vscode from 'vscode';
import type { App, AppStats, CloudControllerClient, CrashInfo, InstanceInfo } from '../platform/client';
import { FromPanel, isFromPanelMessage, ToPanel, type FromPanelMessage, type BoundServiceRow, type InstanceRow, type PanelSnapshot, type ToPanelMessage } from './panelProtocol';

export interface PanelHost {
  client(): Promise<CloudControllerClient | undefined>;
  appUrl(app: App): string | undefined;
  /** Runs an instance action (restart/logs) the panel asked for. */
  instanceAction(app: string, index: number, action: 'restart' | 'logs'): Promise<void>;
  openInBrowser(app: string): Promise<void>;
  appAction(app: string, action: 'start' | 'stop' | 'restart'): Promise<void>;
  /** Whether the platform can restart a single instance. */
  canControlInstances(client: CloudControllerClient): boolean;
}

/** Live figures (cpu, memory, uptime) are re-read this often while the panel is visible. */
const statsRefreshMs = 2000;

/** The open instance panels, one per app; owned by the extension's context, disposed with it. */
export class InstancePanels implements vscode.Disposable {
  private readonly panels = new Map<string, InstancePanel>();

  constructor(private readonly extensionUri: vscode.Uri) {}

  /** Opens (or reveals) the panel of `app`. */
  show(host: PanelHost, app: string): InstancePanel {
    const existing = this.panels.get(app);
    if (existing) { existing.reveal(); void existing.reload(); return existing; }
    const panel = vscode.window.createWebviewPanel(InstancePanel.viewType, `Instances: ${app}`, vscode.ViewColumn.Active, {
      enableScripts: true,
      localResourceRoots: [vscode.Uri.joinPath(this.extensionUri, 'media')],
      retainContextWhenHidden: false,
    });
    const p = new InstancePanel(panel, this.extensionUri, host, app, () => { if (this.panels.get(app) === p) this.panels.delete(app); });
    this.panels.set(app, p);
    return p;
  }

  /** A platform event about `app` (or every app when undefined): reload the panels concerned. */
  notify(app?: string): void {
    for (const [name, p] of this.panels) if (!app || app === name) void p.reload();
  }

  get(app: string): InstancePanel | undefined { return this.panels.get(app); }

  dispose(): void {
    for (const p of [...this.panels.values()]) p.dispose();
  }
}

export class InstancePanel implements vscode.Disposable {
  static readonly viewType = 'pocketFoundry.instances';

  private readonly disposables: vscode.Disposable[] = [];
  private timer: NodeJS.Timeout | undefined;
  private loading: Promise<void> | undefined;
  private reloadAgain = false;
  private lastSnapshot: PanelSnapshot | undefined;

  /** Made by InstancePanels, which `forget` tells when the panel closes. */
  constructor(
    private readonly panel: vscode.WebviewPanel,
    private readonly extensionUri: vscode.Uri,
    private readonly host: PanelHost,
    readonly app: string,
    private readonly forget: () => void,
  ) {
    panel.iconPath = {
      light: vscode.Uri.joinPath(extensionUri, 'media', 'icons', 'instances-light.svg'),
      dark: vscode.Uri.joinPath(extensionUri, 'media', 'icons', 'instances-dark.svg'),
    };
    panel.webview.html = this.html();
    this.disposables.push(
      panel.onDidDispose(() => this.dispose()),
      panel.webview.onDidReceiveMessage((m: unknown) => { void this.onMessage(m); }),
      panel.onDidChangeViewState(() => this.schedule()),
    );
  }

  /** The rows last sent to the webview (for tests). */
  get snapshot(): PanelSnapshot | undefined { return this.lastSnapshot; }

  async reload(): Promise<void> {
    if (this.loading) { this.reloadAgain = true; return this.loading; }
    this.loading = this.load().finally(() => {
      this.loading = undefined;
      if (this.reloadAgain) { this.reloadAgain = false; void this.reload(); }
    });
    return this.loading;
  }

  reveal(): void { this.panel.reveal(undefined, false); }

  dispose(): void {
    this.forget();
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    for (const d of this.disposables.splice(0)) d.dispose();
    this.panel.dispose();
  }

  private async onMessage(raw: unknown): Promise<void> {
    if (!isFromPanelMessage(raw)) return;
    const m: FromPanelMessage = raw;
    switch (m.type) {
      case FromPanel.Ready: await this.reload(); break;
      case FromPanel.RestartInstance: await this.host.instanceAction(this.app, m.index, 'restart'); break;
      case FromPanel.OpenLogs: await this.host.instanceAction(this.app, m.index, 'logs'); break;
      case FromPanel.OpenInBrowser: await this.host.openInBrowser(this.app); break;
      case FromPanel.RestartApp: await this.host.appAction(this.app, 'restart'); break;
      case FromPanel.StopApp: await this.host.appAction(this.app, 'stop'); break;
      case FromPanel.StartApp: await this.host.appAction(this.app, 'start'); break;
    }
  }

  private async load(): Promise<void> {
    const client = await this.host.client();
    if (!client) { this.post({ type: ToPanel.Error, message: 'The platform is not running.' }); return; }
    try {
      const app = await client.app(this.app);
      if (!app) { this.post({ type: ToPanel.Error, message: `App ${this.app} no longer exists.` }); return; }
      const running = app.state === 'STARTED';
      const [instances, stats, crashes, services] = await Promise.all([
        running ? client.instances(this.app).catch((): InstanceInfo[] => []) : Promise.resolve<InstanceInfo[]>([]),
        running ? client.stats(this.app).catch((): AppStats => ({})) : Promise.resolve<AppStats>({}),
        client.crashes(this.app).catch((): CrashInfo[] => []),
        boundServices(client, app.services),
      ]);
      const snapshot: PanelSnapshot = {
        app: app.name,
        appState: app.state,
        expected: app.instances,
        url: this.host.appUrl(app) ?? null,
        rows: buildRows(instances, stats, crashes, app.resources.memory),
        takenAt: Date.now(),
        instanceControl: this.host.canControlInstances(client),
        services,
      };
      this.lastSnapshot = snapshot;
      this.post({ type: ToPanel.Snapshot, snapshot });
    } catch (e) {
      this.post({ type: ToPanel.Error, message: e instanceof Error ? e.message : String(e) });
    } finally {
      this.schedule();
    }
  }

  /** cpu/memory/uptime change without events: re-read them only while someone looks at the panel. */
  private schedule(): void {
    if (this.timer) { clearTimeout(this.timer); this.timer = undefined; }
    const hasLive = this.lastSnapshot?.rows.some((r) => r.state === 'RUNNING') ?? false;
    if (!this.panel.visible || !hasLive) return;
    this.timer = setTimeout(() => { this.timer = undefined; void this.reload(); }, statsRefreshMs);
  }

  private post(m: ToPanelMessage): void {
    void this.panel.webview.postMessage(m);
  }

  private html(): string {
    const webview = this.panel.webview;
    const nonce = randomBytes(16).toString('base64');
    const script = webview.asWebviewUri(vscode.Uri.joinPath(this.extensionUri, 'media', 'dist', 'instances.js'));
    const style = webview.asWebviewUri(vscode.Uri.joinPath(this.extensionUri, 'media', 'instances.css'));
    const csp = [
      "default-src 'none'",
      `style-src ${webview.cspSource}`,
      `img-src ${webview.cspSource}`,
      `script-src 'nonce-${nonce}'`,
    ].join('; ');
    return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="UTF-8">
<meta http-equiv="Content-Security-Policy" content="${csp}">
<meta name="viewport" content="width=device-width, initial-scale=1.0">
<link href="${style.toString()}" rel="stylesheet">
<title>Instances: ${escapeHtml(this.app)}</title>
</head>
<body>
<header>
  <h1 id="title">${escapeHtml(this.app)}</h1>
  <span id="summary" class="muted"></span>
  <span class="spacer"></span>
  <button id="start" class="secondary" type="button" hidden>Start</button>
  <button id="restart" class="secondary" type="button" hidden>Restart</button>
  <button id="stop" class="secondary" type="button" hidden>Stop</button>
  <button id="open" type="button" hidden>Open in Browser</button>
</header>
<div id="error" class="error" hidden></div>
<div class="table-wrap">
<table id="instances">
  <thead><tr>
    <th class="num">#</th><th>State</th><th>Since</th><th>Host:Port</th><th class="num">Uptime</th><th class="num">CPU</th><th>Memory</th><th>Crashes</th><th><span class="visually-hidden">Actions</span></th>
  </tr></thead>
  <tbody></tbody>
</table>
</div>
<p id="empty" class="muted" hidden></p>
<h2>Bound services</h2>
<ul id="services"></ul>
<script nonce="${nonce}" src="${script.toString()}"></script>
</body>
</html>`;
  }
}

export function buildRows(instances: InstanceInfo[], stats: AppStats, crashes: CrashInfo[], memoryMb: number): InstanceRow[] {
  return instances
    .slice()
    .sort((a, b) => a.index - b.index)
    .map((i): InstanceRow => {
      const s = stats[String(i.index)]?.stats ?? undefined;
      const own = crashes.filter((c) => crashIndex(c) === i.index).sort((a, b) => b.since - a.since);
      const last = own[0];
      return {
        index: i.index,
        state: i.state,
        since: i.since || null,
        host: s?.host ?? null,
        port: s?.port ?? null,
        uptime: s && i.state === 'RUNNING' ? s.uptime : null,
        cpu: s ? s.usage.cpu : null,
        // v1 reports usage.mem in KB and mem_quota in bytes.
        memBytes: s ? s.usage.mem * 1024 : null,
        memQuotaBytes: s?.mem_quota || memoryMb * 1024 * 1024,
        crashCount: own.length,
        lastCrash: last ? { since: last.since, reason: typeof last.reason === 'string' ? last.reason : null } : null,
      };
    });
}

/** The app's bound services with their credentials masked (the panel never holds a password). */
async function boundServices(client: CloudControllerClient, names: readonly string[]): Promise<BoundServiceRow[]> {
  return Promise.all([...names].sort().map(async (name): Promise<BoundServiceRow> => {
    const s = await client.serviceInstance(name).catch(() => null);
    const cr = s?.credentials;
    return {
      name,
      label: s ? s.label ?? `${s.vendor}-${s.version}` : 'unknown',
      plan: s?.tier ?? '',
      credentials: cr ? { host: cr.hostname ?? cr.host ?? null, port: cr.port ?? null, user: cr.username ?? cr.user ?? null, database: cr.name ?? null, password: '••••••••' } : null,
    };
  }));
}

function crashIndex(c: CrashInfo): number | undefined {
  if (typeof c.index === 'number') return c.index;
  return undefined;
}

function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (ch) => `&#${ch.charCodeAt(0)};`);
}
