// Runs the mocha files of one folder inside the extension host and writes the results as JSON
// (for the launcher, which cannot see the extension host's console) to $POCKET_FOUNDRY_TEST_RESULTS.
import * as fs from 'node:fs';
import * as path from 'node:path';
import Mocha from 'mocha';

export interface TestResult {
  title: string;
  durationMs: number;
  error?: string;
}

export interface SuiteResults {
  passes: TestResult[];
  failures: TestResult[];
  pending: TestResult[];
  durationMs: number;
  /** Set when the suite could not run at all. */
  fatal?: string;
  /** What the tests printed with console.log (measurements), for the launcher to show. */
  notes: string[];
}

export function resultsFile(): string {
  return process.env.POCKET_FOUNDRY_TEST_RESULTS ?? path.resolve(__dirname, '..', '..', '..', 'test-results', 'extension-results.json');
}

export async function runMochaIn(dir: string): Promise<void> {
  const out = resultsFile();
  const results: SuiteResults = { passes: [], failures: [], pending: [], durationMs: 0, notes: [] };
  // The extension host's console is out of the launcher's sight: tests hand measurements to note().
  const g = globalThis as { pocketFoundryTestNotes?: string[] };
  g.pocketFoundryTestNotes = results.notes;
  const t0 = Date.now();
  const write = (): void => {
    results.durationMs = Date.now() - t0;
    fs.mkdirSync(path.dirname(out), { recursive: true });
    const tmp = `${out}.${process.pid}.tmp`;
    fs.writeFileSync(tmp, JSON.stringify(results, null, 2));
    fs.renameSync(tmp, out);
  };
  try {
    const grep = process.env.POCKET_FOUNDRY_TEST_GREP;
    const mocha = new Mocha({ ui: 'bdd', color: false, timeout: 120_000, slow: 5000, reporter: 'spec', ...(grep ? { grep } : {}) });
    for (const f of fs.readdirSync(dir).filter((n) => n.endsWith('.test.js')).sort()) mocha.addFile(path.join(dir, f));
    const failures = await new Promise<number>((resolve) => {
      const runner = mocha.run((n) => resolve(n));
      runner.on('pass', (t) => results.passes.push({ title: t.fullTitle(), durationMs: t.duration ?? 0 }));
      runner.on('fail', (t, err: Error) => results.failures.push({ title: t.fullTitle(), durationMs: t.duration ?? 0, error: err.stack ?? String(err) }));
      runner.on('pending', (t) => results.pending.push({ title: t.fullTitle(), durationMs: 0 }));
    });
    write();
    if (failures > 0) throw new Error(`${failures} test(s) failed`);
  } catch (e) {
    if (results.passes.length + results.failures.length === 0) results.fatal = e instanceof Error ? e.stack ?? e.message : String(e);
    write();
    throw e;
  }
}
