// What activate() returns. It exists for the extension's own test suites (they run inside VS Code
// and need to read state the editor API does not expose, such as output channel text); it is not
// a stable API for other extensions.
import { performance } from 'node:perf_hooks';
import * as vscode from 'vscode';
import type { ExplorerNode, RefreshProbe } from './appExplorer';
import type { PocketFoundry } from './context';
import type { PanelSnapshot } from './panelProtocol';
import type { ServiceTreeNode } from './serviceExplorer';
import { queuePromptAnswers } from './servicePrompts';
import type { RunningEndpoint, PlatformState } from './supervisor';

export interface TreeItemSnapshot {
  label: string;
  description: string;
  contextValue: string;
  children: TreeItemSnapshot[];
  /** The node, to pass to commands as the tree would. */
  node: ExplorerNode;
}

export interface ServiceItemSnapshot {
  label: string;
  description: string;
  contextValue: string;
  children: ServiceItemSnapshot[];
  node: ServiceTreeNode;
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
  ensurePlatform(): Promise<RunningEndpoint>;
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
  /** The Services view as it shows it (groups, then offerings or services, then bound apps). */
  servicesTree(): Promise<ServiceItemSnapshot[]>;
  /** Answers the next quick picks, input boxes and confirmations of the service commands, in order. */
  answerPrompts(answers: readonly (string | undefined)[]): void;
  /** Milliseconds from platform events to the app explorer having re-read the apps. */
  eventToTreeMs(): readonly number[];
  /** The same, split: [event -> refresh fired, fired -> VS Code asked, reading the apps]. */
  eventToTreeBreakdown(): readonly [number, number, number][];
  /** The extension's own share of it: event -> refresh fired, and the read when VS Code asks. */
  eventToTreeOwn(): { fire: readonly number[]; read: readonly number[] };
}

/** Times each refresh of the app explorer caused by a platform event (latest 200 of each figure). */
export class RefreshLatencyProbe implements RefreshProbe {
  /** Milliseconds from a platform event to the tree having re-read the apps. */
  readonly latencies: number[] = [];
  /** Per refresh: [event -> refresh fired, fired -> VS Code asks, reading the apps]. */
  readonly breakdown: [number, number, number][] = [];
  /** How long events waited for the debounce timer, and how long reading the apps took when asked. */
  readonly fireDelays: number[] = [];
  readonly readTimes: number[] = [];
  /** When the oldest event not yet shown arrived (performance.now()). */
  private pendingEventAt: number | undefined;
  /** The oldest event waiting for the debounce timer. */
  private eventBeforeFire: number | undefined;
  private firedAt: number | undefined;

  eventArrived(): void {
    this.pendingEventAt ??= performance.now();
    this.eventBeforeFire ??= performance.now();
  }

  fired(): void {
    this.firedAt = performance.now();
    if (this.eventBeforeFire !== undefined) {
      this.fireDelays.push(this.firedAt - this.eventBeforeFire);
      if (this.fireDelays.length > 200) this.fireDelays.shift();
      this.eventBeforeFire = undefined;
    }
  }

  rootAsked(): () => void {
    const eventAt = this.pendingEventAt;
    const firedAt = this.firedAt;
    const askedAt = performance.now();
    this.pendingEventAt = undefined;
    return () => {
      if (eventAt === undefined) return;
      const done = performance.now();
      this.latencies.push(done - eventAt);
      this.breakdown.push([(firedAt ?? askedAt) - eventAt, askedAt - (firedAt ?? askedAt), done - askedAt]);
      this.readTimes.push(done - askedAt);
      if (this.readTimes.length > 200) this.readTimes.shift();
      if (this.latencies.length > 200) { this.latencies.shift(); this.breakdown.shift(); }
    };
  }
}

export function createTestApi(ctx: PocketFoundry, activation: { wallMs: number; cpuMs: number }): PocketFoundryTestApi {
  const probe = new RefreshLatencyProbe();
  ctx.explorer.probe = probe;
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
  const serviceSnapshot = async (node: ServiceTreeNode): Promise<ServiceItemSnapshot> => {
    const item = ctx.services.getTreeItem(node);
    return {
      label: typeof item.label === 'string' ? item.label : item.label?.label ?? '',
      description: typeof item.description === 'string' ? item.description : '',
      contextValue: item.contextValue ?? '',
      children: await Promise.all((await ctx.services.getChildren(node)).map(serviceSnapshot)),
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
      ctx.problems.collection.forEach((uri, diags) => {
        for (const d of diags) out.push({ file: uri.fsPath, line: d.range.start.line + 1, message: d.message, source: d.source ?? '' });
      });
      return out;
    },
    panel: (app) => ctx.panels.get(app)?.snapshot,
    statusBarText: () => ctx.statusBar.text,
    servicesTree: async () => Promise.all((await ctx.services.getChildren()).map(serviceSnapshot)),
    answerPrompts: (answers) => { queuePromptAnswers(answers); },
    eventToTreeMs: () => probe.latencies,
    eventToTreeBreakdown: () => probe.breakdown,
    eventToTreeOwn: () => ({ fire: probe.fireDelays, read: probe.readTimes }),
  };
}

/** The diagnostics VS Code itself holds (what the Problems panel lists), for cross-checking. */
export function allDiagnostics(): [vscode.Uri, vscode.Diagnostic[]][] {
  return vscode.languages.getDiagnostics();
}
