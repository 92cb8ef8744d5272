// The status bar item: the platform's state at a glance; a click offers the platform's actions.
import * as vscode from 'vscode';
import type { PlatformState } from './supervisor';

export class PlatformStatusBar implements vscode.Disposable {
  private readonly item: vscode.StatusBarItem;
  private state: PlatformState = { kind: 'stopped' };
  private appCount: number | undefined;

  constructor() {
    this.item = vscode.window.createStatusBarItem('pocketFoundry.platform', vscode.StatusBarAlignment.Left, 10);
    this.item.name = 'Pocket Foundry Platform';
    this.item.command = 'pocketFoundry.platform.actions';
    this.render();
    this.item.show();
  }

  setState(state: PlatformState): void {
    this.state = state;
    if (state.kind !== 'running') this.appCount = undefined;
    this.render();
  }

  setAppCount(n: number): void {
    if (this.appCount === n) return;
    this.appCount = n;
    this.render();
  }

  /** What the item says now (for tests and the log). */
  get text(): string { return this.item.text; }

  dispose(): void { this.item.dispose(); }

  private render(): void {
    const s = this.state;
    this.item.backgroundColor = undefined;
    switch (s.kind) {
      case 'stopped':
        this.item.text = '$(circle-slash) Pocket Foundry: stopped';
        this.item.tooltip = 'The Pocket Foundry platform is not running. Click for actions.';
        break;
      case 'starting':
        this.item.text = '$(loading~spin) Pocket Foundry: starting';
        this.item.tooltip = `The Pocket Foundry platform is starting (${s.detail}).`;
        break;
      case 'running': {
        const n = this.appCount;
        this.item.text = `$(cloud) Pocket Foundry: ${n === undefined ? 'running' : `${n} app${n === 1 ? '' : 's'}`}`;
        this.item.tooltip = new vscode.MarkdownString(
          `Pocket Foundry platform running${s.owned ? '' : ' (started outside this window)'}\n\n` +
          `- API: \`${s.endpoint.api}\`\n- Router: \`${s.endpoint.router || '-'}\`\n- pid: ${s.endpoint.pid}\n\nClick for actions.`,
        );
        break;
      }
      case 'failed':
        this.item.text = '$(error) Pocket Foundry: failed';
        this.item.tooltip = `The Pocket Foundry platform failed: ${s.reason}\nClick for actions.`;
        this.item.backgroundColor = new vscode.ThemeColor('statusBarItem.errorBackground');
        break;
    }
  }
}
