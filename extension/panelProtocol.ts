// Messages between the instance panel (media/instances.ts, in the webview) and the extension.
// Defined once, imported by both sides; no vscode import so the webview bundle can use it.

/** One row of the instance table. */
export interface InstanceRow {
  index: number;
  /** STARTING, RUNNING, CRASHED, FLAPPING, DOWN, ... */
  state: string;
  /** Seconds since the epoch when the instance entered its state; null when unknown. */
  since: number | null;
  host: string | null;
  port: number | null;
  /** Seconds. */
  uptime: number | null;
  /** Percent of one core. */
  cpu: number | null;
  /** Bytes in use and the quota, in bytes. */
  memBytes: number | null;
  memQuotaBytes: number | null;
  crashCount: number;
  /** Seconds since the epoch of the latest crash of this index, and why. */
  lastCrash: { since: number; reason: string | null } | null;
}

/** A service bound to the app, as the panel lists it (the password masked). */
export interface BoundServiceRow {
  name: string;
  /** VCAP_SERVICES' key, e.g. postgresql-15. */
  label: string;
  plan: string;
  /** host:port, user and database, password masked; null when the platform gave none. */
  credentials: { host: string | null; port: number | null; user: string | null; database: string | null; password: string } | null;
}

export interface PanelSnapshot {
  app: string;
  appState: string;
  /** Instances expected by the app. */
  expected: number;
  url: string | null;
  rows: InstanceRow[];
  /** Milliseconds since the epoch: when the extension read this. */
  takenAt: number;
  /**
   * The platform can restart one instance (otherwise only the whole app). There is no per-instance
   * stop: the instance count is the desired state, so a stopped index would be started again.
   */
  instanceControl: boolean;
  /** The services bound to the app. */
  services: BoundServiceRow[];
}

export const ToPanel = {
  Snapshot: 'snapshot',
  Error: 'error',
} as const;

export const FromPanel = {
  Ready: 'ready',
  RestartInstance: 'restartInstance',
  OpenLogs: 'openLogs',
  OpenInBrowser: 'openInBrowser',
  RestartApp: 'restartApp',
  StopApp: 'stopApp',
  StartApp: 'startApp',
} as const;

export type ToPanelMessage =
  | { type: typeof ToPanel.Snapshot; snapshot: PanelSnapshot }
  | { type: typeof ToPanel.Error; message: string };

export type FromPanelMessage =
  | { type: typeof FromPanel.Ready }
  | { type: typeof FromPanel.RestartInstance; index: number }
  | { type: typeof FromPanel.OpenLogs; index: number }
  | { type: typeof FromPanel.OpenInBrowser }
  | { type: typeof FromPanel.RestartApp }
  | { type: typeof FromPanel.StopApp }
  | { type: typeof FromPanel.StartApp };

/** Checks a message from the webview; anything else is dropped. */
export function isFromPanelMessage(v: unknown): v is FromPanelMessage {
  if (!v || typeof v !== 'object') return false;
  const m = v as { type?: unknown; index?: unknown };
  switch (m.type) {
    case FromPanel.Ready:
    case FromPanel.OpenInBrowser:
    case FromPanel.RestartApp:
    case FromPanel.StopApp:
    case FromPanel.StartApp:
      return true;
    case FromPanel.RestartInstance:
    case FromPanel.OpenLogs:
      return typeof m.index === 'number' && Number.isInteger(m.index) && m.index >= 0;
    default:
      return false;
  }
}
