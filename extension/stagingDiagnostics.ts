// The Problems panel's entries for failed stagings: one diagnostic collection, the files each app's
// entries are on, and the mapping from what stagingProblems.ts finds to vscode diagnostics.
import * as vscode from 'vscode';
import { findStagingProblems } from './stagingProblems';

export class StagingDiagnostics implements vscode.Disposable {
  readonly collection = vscode.languages.createDiagnosticCollection('pocketFoundry');
  private readonly uris = new Map<string, vscode.Uri[]>();

  /** Replaces `app`'s problems with those its failed staging log points at inside `folder`. */
  report(app: string, folder: string, logLines: readonly string[]): void {
    const found = findStagingProblems(logLines, folder);
    this.clear(app);
    const byFile = new Map<string, vscode.Diagnostic[]>();
    for (const p of found) {
      const line = Math.max(0, p.line - 1);
      const col = Math.max(0, (p.column ?? 1) - 1);
      const d = new vscode.Diagnostic(new vscode.Range(line, col, line, p.column ? col + 1 : Number.MAX_SAFE_INTEGER), p.message, vscode.DiagnosticSeverity.Error);
      d.source = `Pocket Foundry: staging ${app}`;
      const list = byFile.get(p.file) ?? [];
      list.push(d);
      byFile.set(p.file, list);
    }
    const uris: vscode.Uri[] = [];
    for (const [file, diags] of byFile) {
      const uri = vscode.Uri.file(file);
      this.collection.set(uri, diags);
      uris.push(uri);
    }
    if (uris.length > 0) this.uris.set(app, uris);
  }

  clear(app: string): void {
    for (const uri of this.uris.get(app) ?? []) this.collection.delete(uri);
    this.uris.delete(app);
  }

  dispose(): void {
    this.collection.dispose();
  }
}
