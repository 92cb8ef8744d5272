// The extension's own log: a LogOutputChannel whose error() also reveals the channel.
import * as vscode from 'vscode';
import { isUserFacing } from '../platform/log';

export class ExtensionLog implements vscode.Disposable {
  readonly channel: vscode.LogOutputChannel;

  constructor(name: string) {
    this.channel = vscode.window.createOutputChannel(name, { log: true });
  }

  trace(msg: string): void { this.channel.trace(msg); }
  debug(msg: string): void { this.channel.debug(msg); }
  info(msg: string): void { this.channel.info(msg); }
  warn(msg: string): void { this.channel.warn(msg); }

  error(msg: string, err?: unknown): void {
    this.channel.error(err === undefined ? msg : `${msg}: ${describe(err)}`);
    // An internal error's details belong here, since the user sees one line of it.
    if (!isUserFacing(err) && err instanceof Error && err.stack) this.channel.error(err.stack);
    this.channel.show(true);
  }

  /** A line of the platform process's own output, already timestamped and levelled by the platform. */
  platformLine(line: string): void {
    // pocket's lines look like `<iso time> <level> [component] msg`; keep its level, drop its clock.
    const m = /^\S+Z\s+(debug|info|warn|error)\s+(.*)$/.exec(line);
    if (!m) { this.channel.info(line); return; }
    const [, level, rest] = m;
    if (level === 'error') this.channel.error(rest ?? '');
    else if (level === 'warn') this.channel.warn(rest ?? '');
    else if (level === 'debug') this.channel.debug(rest ?? '');
    else this.channel.info(rest ?? '');
  }

  show(): void { this.channel.show(true); }

  dispose(): void { this.channel.dispose(); }
}

export function describe(err: unknown): string {
  if (err instanceof Error) return err.message;
  return String(err);
}

/** What to show a person: a user-facing error's text as it is, anything else one "internal error" line. */
export function userText(err: unknown): string {
  return isUserFacing(err) ? err.message : `internal error: ${describe(err)} (details in the Pocket Foundry log)`;
}
