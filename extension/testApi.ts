// What activate() returns. It exists for the extension's own test suites (they run inside VS Code
// and need to read state the editor API does not expose, such as output channel text); it is not
// a stable API for other extensions.
import * as vscode from 'vscode';
import type { ExplorerNode } from './appExplorer';
import type { PocketFoundry } from './context';
import { InstancePanel } from './instancePanel';
import type { PanelSnapshot } from './panelProtocol';
import type { Endpoint, PlatformState } from './supervisor';

export interface TreeItemSnapshot {
  label: string;
  description: string;
  contextValue: string;
  children: TreeItemSnapshot[];
  /** The node, to pass to commands as the tree would. */
  node: ExplorerNode;
}

export interface ProblemSnapshot {
  file: string;
  line: number;
  message: string;
  source: string;
}

export interface PocketFoundryTestApi {
  /** Milliseconds activate() took (wall clock), and the CPU time it used (less sensitive to a busy machine). */
  readonly activationMs: number;
  readonly activationCpuMs: number;
  platformState(): PlatformState;
  ensurePlatform(): Promise<Endpoint>;
  /** pid of the platform process this window started, if it started one. */
  ownedPlatformPid(): number | undefined;
  /** Resolves with the next platform state that satisfies `test` (or the current one if it does). */
  waitForPlatform(test: (s: PlatformState) => boolean, timeoutMs: number): Promise<PlatformState>;
  /** The app explorer as the tree shows it, read through the same TreeDataProvider. */
  tree(): Promise<TreeItemSnapshot[]>;
  /** Lines shown in "Pocket Foundry: <app>" (without the channel's timestamps). */
  stagingLines(app: string): readonly string[];
  problems(): ProblemSnapshot[];
  panel(app: string): PanelSnapshot | undefined;
  statusBarText(): string;
  /** Milliseconds from platform events to the app explorer having re-read the apps. */
  eventToTreeMs(): readonly number[];
  /** The same, split: [event -> refresh fired, fired -> VS Code asked, reading the apps]. */
  eventToTreeBreakdown(): readonly [number, number, number][];
  /** The extension's own share of it: event -> refresh fired, and the read when VS Code asks. */
  eventToTreeOwn(): { fire: readonly number[]; read: readonly number[] };
}

export function createTestApi(ctx: PocketFoundry, activation: { wallMs: number; cpuMs: number }): PocketFoundryTestApi {
  const snapshot = async (node: ExplorerNode): Promise<TreeItemSnapshot> => {
    const item = ctx.explorer.getTreeItem(node);
    const kids = node.kind === 'app' ? await ctx.explorer.readChildren(node) : [];
    return {
      label: typeof item.label === 'string' ? item.label : item.label?.label ?? '',
      description: typeof item.description === 'string' ? item.description : '',
      contextValue: item.contextValue ?? '',
      children: await Promise.all(kids.map(snapshot)),
      node,
    };
  };
  return {
    activationMs: activation.wallMs,
    activationCpuMs: activation.cpuMs,
    platformState: () => ctx.platformState,
    ensurePlatform: () => ctx.supervisor.ensureRunning(),
    ownedPlatformPid: () => ctx.supervisor.ownedPid,
    waitForPlatform: (test, timeoutMs) => new Promise<PlatformState>((resolve, reject) => {
      if (test(ctx.platformState)) { resolve(ctx.platformState); return; }
      const timer = setTimeout(() => { sub.dispose(); reject(new Error(`platform state still ${ctx.platformState.kind} after ${timeoutMs} ms`)); }, timeoutMs);
      const sub = ctx.supervisor.onDidChangeState((s) => {
        if (!test(s)) return;
        clearTimeout(timer);
        sub.dispose();
        resolve(s);
      });
    }),
    tree: async () => Promise.all((await ctx.explorer.readChildren()).map(snapshot)),
    stagingLines: (app) => ctx.stagingLogs.lines(app),
    problems: () => {
      const out: ProblemSnapshot[] = [];
      ctx.problems.forEach((uri, diags) => {
        for (const d of diags) out.push({ file: uri.fsPath, line: d.range.start.line + 1, message: d.message, source: d.source ?? '' });
      });
      return out;
    },
    panel: (app) => InstancePanel.get(app)?.snapshot,
    statusBarText: () => ctx.statusBar.text,
    eventToTreeMs: () => ctx.explorer.eventLatencies,
    eventToTreeBreakdown: () => ctx.explorer.eventLatencyBreakdown,
    eventToTreeOwn: () => ctx.explorer.ownLatencies,
  };
}

/** The diagnostics VS Code itself holds (what the Problems panel lists), for cross-checking. */
export function allDiagnostics(): [vscode.Uri, vscode.Diagnostic[]][] {
  return vscode.languages.getDiagnostics();
}
