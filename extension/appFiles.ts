// An instance's files and logs, read through the controller (`/apps/:name/instances/:idx/files`):
// read-only documents, a folder browser, and a terminal that follows stdout/stderr.
import * as vscode from 'vscode';
import type { CloudControllerClient } from '../platform/client';
import { parseListing } from './fileListing';
import { TerminalText } from './terminalText';

export { parseListing };

export const filesScheme = 'pocket-foundry';
/** A document path that stands for an instance's stdout and stderr together. */
const logsDoc = '@logs';

export type ClientSource = () => Promise<CloudControllerClient>;

/** `pocket-foundry:/<app>/<index>/<path>` */
export function fileUri(app: string, index: number, filePath: string): vscode.Uri {
  const clean = filePath.replace(/^\/+/, '');
  return vscode.Uri.from({ scheme: filesScheme, path: `/${app}/${index}/${clean}` });
}

function parseUri(uri: vscode.Uri): { app: string; index: number; filePath: string } {
  const [, app = '', idx = '0', ...rest] = uri.path.split('/');
  return { app, index: Number(idx) || 0, filePath: rest.join('/') };
}

export class AppFilesProvider implements vscode.TextDocumentContentProvider, vscode.Disposable {
  private readonly changed = new vscode.EventEmitter<vscode.Uri>();
  readonly onDidChange = this.changed.event;

  constructor(private readonly client: ClientSource) {}

  async provideTextDocumentContent(uri: vscode.Uri): Promise<string> {
    const { app, index, filePath } = parseUri(uri);
    const c = await this.client();
    if (filePath === logsDoc) {
      const [out, err] = await Promise.all([
        c.files(app, index, 'logs/stdout.log').then((b) => b.toString('utf8')).catch((e: unknown) => `(${errText(e)})`),
        c.files(app, index, 'logs/stderr.log').then((b) => b.toString('utf8')).catch((e: unknown) => `(${errText(e)})`),
      ]);
      return `==> ${app} #${index} logs/stdout.log <==\n${out || '(empty)\n'}\n==> ${app} #${index} logs/stderr.log <==\n${err || '(empty)\n'}`;
    }
    try {
      return (await c.files(app, index, filePath)).toString('utf8');
    } catch (e) {
      return `Cannot read ${filePath} of ${app} #${index}: ${errText(e)}`;
    }
  }

  /** Re-reads an open document (the Refresh of a log). */
  refresh(uri: vscode.Uri): void { this.changed.fire(uri); }

  dispose(): void { this.changed.dispose(); }
}

export async function showInstanceLogs(app: string, index: number, provider: AppFilesProvider): Promise<void> {
  const uri = fileUri(app, index, logsDoc);
  provider.refresh(uri);
  const doc = await vscode.workspace.openTextDocument(uri);
  await vscode.window.showTextDocument(doc, { preview: false });
}

export async function showStoredStagingLog(app: string, provider: AppFilesProvider): Promise<void> {
  const uri = fileUri(app, 0, 'logs/staging.log');
  provider.refresh(uri);
  const doc = await vscode.workspace.openTextDocument(uri);
  await vscode.window.showTextDocument(doc, { preview: false });
}

/** Walks the instance's folder with a quick pick; a file opens as a read-only document. */
export async function browseFiles(app: string, index: number, client: CloudControllerClient): Promise<void> {
  let dir = '';
  for (;;) {
    let listing: string;
    try {
      listing = (await client.files(app, index, dir)).toString('utf8');
    } catch (e) {
      void vscode.window.showErrorMessage(`Cannot list ${dir || '/'} of ${app} #${index}: ${errText(e)}`);
      return;
    }
    const entries = parseListing(listing);
    const items: (vscode.QuickPickItem & { path?: string; dir?: boolean })[] = [];
    if (dir) items.push({ label: '$(arrow-up) ..', path: dir.replace(/[^/]+\/$/, ''), dir: true });
    for (const e of entries) {
      items.push({
        label: `${e.dir ? '$(folder)' : '$(file)'} ${e.shown}`,
        description: e.dir ? undefined : e.size,
        path: dir + e.name + (e.dir ? '/' : ''),
        dir: e.dir,
      });
    }
    const pick = await vscode.window.showQuickPick(items, { title: `${app} #${index}: /${dir}`, placeHolder: 'Open a file or folder' });
    if (!pick?.path && pick?.path !== '') return;
    if (pick.dir) { dir = pick.path; continue; }
    const doc = await vscode.workspace.openTextDocument(fileUri(app, index, pick.path));
    await vscode.window.showTextDocument(doc, { preview: true });
    return;
  }
}

/** A terminal that streams an instance's stdout and stderr as they are written (`?tail=1`). */
export function followLogs(app: string, index: number, client: CloudControllerClient): vscode.Terminal {
  const write = new vscode.EventEmitter<string>();
  const close = new vscode.EventEmitter<number | void>();
  const abort = new AbortController();
  const pty: vscode.Pseudoterminal = {
    onDidWrite: write.event,
    onDidClose: close.event,
    open: () => {
      write.fire(`\x1b[2mFollowing ${app} #${index} (stdout, \x1b[31mstderr\x1b[0;2m). Close the terminal to stop.\x1b[0m\r\n`);
      let open = 2;
      const done = (): void => { if (--open === 0 && !abort.signal.aborted) write.fire('\r\n\x1b[2m(the instance went away)\x1b[0m\r\n'); };
      for (const [file, color] of [['logs/stdout.log', ''], ['logs/stderr.log', '\x1b[31m']] as const) {
        client.streamFile(app, index, file, { tail: true, signal: abort.signal }).then((stream) => {
          stream.setEncoding('utf8');
          // The app's bytes are not trusted with the terminal: colours pass, other sequences do not
          const text = new TerminalText();
          stream.on('data', (chunk: string) => write.fire(color + text.push(chunk) + (color ? '\x1b[0m' : '')));
          stream.on('end', done);
          stream.on('error', done);
        }).catch((e: unknown) => {
          if (!abort.signal.aborted) write.fire(`\x1b[31mCannot follow ${file}: ${errText(e)}\x1b[0m\r\n`);
          done();
        });
      }
    },
    close: () => { abort.abort(); write.dispose(); close.dispose(); },
  };
  const terminal = vscode.window.createTerminal({ name: `Logs: ${app} #${index}`, pty, iconPath: new vscode.ThemeIcon('output') });
  terminal.show(true);
  return terminal;
}

function errText(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}
