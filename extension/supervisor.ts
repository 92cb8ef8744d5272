// The platform supervisor as the editor sees it: the vscode-free core (supervisorCore.ts) with a
// vscode event, the API probe through platform/client, and the "Open Settings" prompt.
import * as vscode from 'vscode';
import { clientLib } from './clientLib';
import type { PocketConfig } from './config';
import type { ExtensionLog } from './log';
import type { RunningEndpoint } from './platformProcess';
import { SupervisorCore, type PlatformState, type SupervisorTimings } from './supervisorCore';

export type { RunningEndpoint } from './platformProcess';
export type { PlatformState, SupervisorTimings } from './supervisorCore';

export interface SupervisorOptions {
  log: ExtensionLog;
  /** dist/pocket.js of this extension. */
  pocketJs: string;
  config: () => PocketConfig;
  timings?: Partial<SupervisorTimings>;
}

export class PlatformSupervisor implements vscode.Disposable {
  private readonly emitter = new vscode.EventEmitter<PlatformState>();
  readonly onDidChangeState = this.emitter.event;
  private readonly core: SupervisorCore;

  constructor(opts: SupervisorOptions) {
    this.core = new SupervisorCore({
      log: opts.log,
      pocketJs: opts.pocketJs,
      config: opts.config,
      timings: opts.timings,
      answers,
      onPrerequisiteMissing: (reason) => {
        void vscode.window.showErrorMessage(reason, 'Open Settings').then((a) => {
          if (a) void vscode.commands.executeCommand('workbench.action.openSettings', 'pocketFoundry.nodePath');
        });
      },
    });
    this.core.onDidChangeState((s) => this.emitter.fire(s));
  }

  get state(): PlatformState { return this.core.state; }

  /** pid of the platform process this supervisor started (the one in endpoint.json), if any. */
  get ownedPid(): number | undefined { return this.core.ownedPid; }

  /** The running platform's endpoint, starting the platform when none runs (the lazy "first need"). */
  ensureRunning(): Promise<RunningEndpoint> { return this.core.ensureRunning(); }

  /** Called when the event stream drops: a platform started elsewhere may have died. */
  checkAlive(): Promise<void> { return this.core.checkAlive(); }

  stop(): Promise<void> { return this.core.stop(); }

  restart(): Promise<RunningEndpoint> { return this.core.restart(); }

  /** On deactivate: stop what this supervisor started, unless the user wants it kept running. */
  shutdown(keepRunning: boolean): Promise<void> { return this.core.shutdown(keepRunning); }

  dispose(): void {
    this.core.dispose();
    this.emitter.dispose();
  }
}

async function answers(ep: RunningEndpoint): Promise<boolean> {
  const client = new (clientLib().CloudControllerClient)({ api: ep.api, token: ep.token, timeoutMs: 3000, ca: ep.ca });
  try { await client.apps(); return true; } catch { return false; } finally { client.close(); }
}
