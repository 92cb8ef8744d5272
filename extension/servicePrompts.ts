// The quick picks, input boxes and confirmations of the service commands, behind one seam: the
// extension's test suites queue answers here (through the test API) instead of driving the UI.
import * as vscode from 'vscode';

const queued: (string | undefined)[] = [];

/** Answers the next prompts in order: a pick's label, an input's text, a confirmation's button (undefined cancels). */
export function queuePromptAnswers(answers: readonly (string | undefined)[]): void {
  queued.push(...answers);
}

function next(): { answer: string | undefined } | undefined {
  return queued.length ? { answer: queued.shift() } : undefined;
}

export async function pick<T extends vscode.QuickPickItem>(items: T[], placeHolder: string): Promise<T | undefined> {
  const q = next();
  if (q) {
    const found = items.find((i) => i.label === q.answer);
    if (q.answer !== undefined && !found) throw new Error(`no "${q.answer}" among ${items.map((i) => i.label).join(', ')}`);
    return found;
  }
  return vscode.window.showQuickPick(items, { placeHolder });
}

export async function input(opts: { prompt: string; placeHolder?: string; value?: string; validate: (v: string) => string | undefined }): Promise<string | undefined> {
  const q = next();
  if (q) {
    const problem = q.answer === undefined ? undefined : opts.validate(q.answer);
    if (problem) { void vscode.window.showErrorMessage(problem); return undefined; }
    return q.answer;
  }
  return vscode.window.showInputBox({ prompt: opts.prompt, placeHolder: opts.placeHolder, value: opts.value, validateInput: opts.validate });
}

export async function confirm(message: string, detail: string, button: string): Promise<boolean> {
  const q = next();
  if (q) return q.answer === button;
  return (await vscode.window.showWarningMessage(message, { modal: true, detail }, button)) === button;
}
