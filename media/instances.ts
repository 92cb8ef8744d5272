/// <reference lib="dom" />
// The instance panel's script (runs in the webview; bundled to media/dist/instances.js). It renders
// what the extension sends and posts the user's clicks back; it never talks to the platform itself.
import { FromPanel, ToPanel, type BoundServiceRow, type FromPanelMessage, type InstanceRow, type PanelSnapshot, type ToPanelMessage } from '../extension/panelProtocol';

interface VsCodeApi {
  postMessage(message: FromPanelMessage): void;
  getState(): unknown;
  setState(state: unknown): void;
}
declare function acquireVsCodeApi(): VsCodeApi;

const vscode = acquireVsCodeApi();
const tbody = must(document.querySelector<HTMLTableSectionElement>('#instances tbody'));
const table = must(document.querySelector<HTMLTableElement>('#instances'));
const summary = must(document.getElementById('summary'));
const errorBox = must(document.getElementById('error'));
const empty = must(document.getElementById('empty'));
const openButton = must(document.getElementById('open') as HTMLButtonElement | null);
const startButton = must(document.getElementById('start') as HTMLButtonElement | null);
const restartButton = must(document.getElementById('restart') as HTMLButtonElement | null);
const stopButton = must(document.getElementById('stop') as HTMLButtonElement | null);
const servicesList = must(document.getElementById('services'));

let current: PanelSnapshot | undefined;
/** Per-instance restart is offered only when the platform supports it (there is no per-instance stop: the instance count is the desired state). */
let instanceControl = false;
/** Wall-clock offset so uptimes keep counting between snapshots. */
let receivedAt = 0;

openButton.addEventListener('click', () => vscode.postMessage({ type: FromPanel.OpenInBrowser }));
startButton.addEventListener('click', () => vscode.postMessage({ type: FromPanel.StartApp }));
restartButton.addEventListener('click', () => vscode.postMessage({ type: FromPanel.RestartApp }));
stopButton.addEventListener('click', () => vscode.postMessage({ type: FromPanel.StopApp }));
tbody.addEventListener('click', (ev) => {
  const target = ev.target instanceof Element ? ev.target.closest<HTMLButtonElement>('button[data-action]') : null;
  if (!target) return;
  const index = Number(target.dataset.index);
  if (!Number.isInteger(index)) return;
  switch (target.dataset.action) {
    case 'restart': vscode.postMessage({ type: FromPanel.RestartInstance, index }); break;
    case 'logs': vscode.postMessage({ type: FromPanel.OpenLogs, index }); break;
  }
});

window.addEventListener('message', (ev: MessageEvent<ToPanelMessage>) => {
  const m = ev.data;
  switch (m.type) {
    case ToPanel.Snapshot:
      current = m.snapshot;
      receivedAt = Date.now();
      errorBox.hidden = true;
      render(m.snapshot);
      break;
    case ToPanel.Error:
      errorBox.textContent = m.message;
      errorBox.hidden = false;
      break;
  }
});

// Uptime ticks locally once a second; the extension sends fresh figures when they change.
setInterval(() => {
  if (!current || document.hidden) return;
  for (const cell of Array.from(document.querySelectorAll<HTMLElement>('td[data-uptime]'))) {
    const base = Number(cell.dataset.uptime);
    cell.textContent = duration(base + (Date.now() - receivedAt) / 1000);
  }
}, 1000);

vscode.postMessage({ type: FromPanel.Ready });

function render(s: PanelSnapshot): void {
  const running = s.rows.filter((r) => r.state === 'RUNNING').length;
  summary.textContent = `${s.appState} · ${running}/${s.expected} running${s.url ? ` · ${s.url}` : ''}`;
  const started = s.appState === 'STARTED';
  openButton.hidden = !s.url || !started;
  startButton.hidden = started;
  restartButton.hidden = !started;
  stopButton.hidden = !started;
  instanceControl = s.instanceControl;
  tbody.replaceChildren(...s.rows.map(row));
  table.hidden = s.rows.length === 0;
  empty.hidden = s.rows.length > 0;
  empty.textContent = s.appState === 'STARTED' ? 'No instances reported yet.' : 'The app is stopped: it has no instances.';
  servicesList.replaceChildren(...(s.services.length ? s.services.map(serviceItem) : [muted('None: bind one from the Services view.')]));
}

function serviceItem(b: BoundServiceRow): HTMLLIElement {
  const li = document.createElement('li');
  li.dataset.service = b.name;
  const c = b.credentials;
  const where = c ? ` · ${c.user ?? ''}:${c.password}@${c.host ?? ''}:${c.port ?? ''}${c.database ? `/${c.database}` : ''}` : '';
  li.textContent = `${b.name} · ${b.label} · ${b.plan}${where}`;
  return li;
}

function muted(text: string): HTMLLIElement {
  const li = document.createElement('li');
  li.className = 'muted';
  li.textContent = text;
  return li;
}

function row(r: InstanceRow): HTMLTableRowElement {
  const tr = document.createElement('tr');
  tr.dataset.index = String(r.index);
  tr.dataset.state = r.state;
  tr.append(
    cell(String(r.index), 'num'),
    stateCell(r.state),
    cell(r.since ? time(r.since) : '–'),
    cell(r.port ? `${r.host ?? '127.0.0.1'}:${r.port}` : '–', 'mono'),
    uptimeCell(r.uptime),
    cell(r.cpu === null ? '–' : `${r.cpu.toFixed(1)}%`, 'num'),
    memoryCell(r.memBytes, r.memQuotaBytes),
    crashCell(r),
    actions(r),
  );
  return tr;
}

function cell(text: string, cls?: string): HTMLTableCellElement {
  const td = document.createElement('td');
  td.textContent = text;
  if (cls) td.className = cls;
  return td;
}

function stateCell(state: string): HTMLTableCellElement {
  const td = document.createElement('td');
  const badge = document.createElement('span');
  badge.className = `badge state-${state.toLowerCase()}`;
  badge.textContent = state;
  td.append(badge);
  return td;
}

function crashCell(r: InstanceRow): HTMLTableCellElement {
  if (r.crashCount === 0 || !r.lastCrash) return cell(String(r.crashCount));
  const td = cell(`${r.crashCount} · last ${time(r.lastCrash.since)}`, 'warn');
  td.title = r.lastCrash.reason ? `Last crash: ${r.lastCrash.reason}` : 'Last crash';
  return td;
}

function uptimeCell(uptime: number | null): HTMLTableCellElement {
  const td = cell(uptime === null ? '–' : duration(uptime), 'num');
  if (uptime !== null) td.dataset.uptime = String(uptime);
  return td;
}

function memoryCell(used: number | null, quota: number | null): HTMLTableCellElement {
  const td = document.createElement('td');
  td.className = 'memory';
  if (used === null || !quota) { td.textContent = quota ? `– / ${bytes(quota)}` : '–'; return td; }
  const pct = Math.min(100, (used / quota) * 100);
  const bar = document.createElement('div');
  bar.className = `bar${pct > 90 ? ' high' : pct > 70 ? ' mid' : ''}`;
  bar.title = `${pct.toFixed(0)}% of the quota`;
  const fill = document.createElement('div');
  fill.className = 'fill';
  fill.style.width = `${pct.toFixed(1)}%`;
  bar.append(fill);
  const label = document.createElement('span');
  label.textContent = `${bytes(used)} / ${bytes(quota)}`;
  td.append(bar, label);
  return td;
}

function actions(r: InstanceRow): HTMLTableCellElement {
  const td = document.createElement('td');
  td.className = 'actions';
  td.append(button('Logs', 'logs', r.index, 'Open this instance\'s stdout and stderr'));
  // Any index of a started app may be restarted: a DOWN or FLAPPING one is placed again at once.
  if (instanceControl) td.append(button('Restart', 'restart', r.index, `Restart instance #${r.index}: stop it and start a fresh one at once`));
  return td;
}

function button(label: string, action: string, index: number, title: string, disabled = false): HTMLButtonElement {
  const b = document.createElement('button');
  b.type = 'button';
  b.textContent = label;
  b.title = title;
  b.className = 'secondary small';
  b.dataset.action = action;
  b.dataset.index = String(index);
  b.disabled = disabled;
  return b;
}

function time(epochSeconds: number): string {
  return new Date(epochSeconds * 1000).toLocaleTimeString();
}

function duration(seconds: number): string {
  const s = Math.max(0, Math.floor(seconds));
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const r = s % 60;
  if (h > 0) return `${h}h ${m}m`;
  if (m > 0) return `${m}m ${r}s`;
  return `${r}s`;
}

function bytes(n: number): string {
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(0)} KB`;
  if (n < 1024 * 1024 * 1024) return `${(n / 1024 / 1024).toFixed(1)} MB`;
  return `${(n / 1024 / 1024 / 1024).toFixed(2)} GB`;
}

function must<T>(v: T | null): T {
  if (v === null) throw new Error('instance panel: missing element');
  return v;
}
