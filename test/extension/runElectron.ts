// Runs the same extension suites in desktop VS Code through @vscode/test-electron (which downloads
// VS Code: for machines that can reach it; on Linux without a display run it under xvfb-run).
// CI runs test/extension/runCodeServer.ts instead.
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { runTests } from '@vscode/test-electron';
import { copyFixtures, killPlatformsUnder, repoRoot, tempDir, writeUserSettings } from './codeServer';
import type { SuiteResults } from './runMocha';

async function main(): Promise<void> {
  execFileSync('npm', ['run', '--silent', 'build'], { cwd: repoRoot, stdio: 'inherit' });
  execFileSync(process.execPath, [path.join(__dirname, 'build.js')], { cwd: repoRoot, stdio: 'inherit' });
  const tmp = tempDir('pf-electron-');
  const ws = copyFixtures(path.join(tmp, 'workspace'), ['node-hello', 'staging-fail']);
  const user = path.join(tmp, 'user');
  const dataDir = path.join(tmp, 'data');
  writeUserSettings(user, { 'pocketFoundry.dataDir': dataDir });
  const resultsFile = path.join(tmp, 'results.json');
  let code = 1;
  try {
    code = await runTests({
      version: process.env.POCKET_VSCODE_VERSION ?? 'stable',
      extensionDevelopmentPath: repoRoot,
      extensionTestsPath: path.join(repoRoot, 'out', 'test', 'extension', 'suite', 'index.js'),
      extensionTestsEnv: { POCKET_FOUNDRY_TEST_RESULTS: resultsFile, POCKET_FOUNDRY_REPO: repoRoot },
      launchArgs: [ws, '--user-data-dir', user, '--extensions-dir', path.join(tmp, 'extensions'), '--disable-extensions', '--disable-workspace-trust'],
    });
  } catch (e) {
    console.error(`VS Code did not run the suites: ${e instanceof Error ? e.message : String(e)}`);
  } finally {
    killPlatformsUnder(tmp);
  }
  if (fs.existsSync(resultsFile)) {
    const r = JSON.parse(fs.readFileSync(resultsFile, 'utf8')) as SuiteResults;
    for (const p of r.passes) console.log(`  ✓ ${p.title} (${p.durationMs} ms)`);
    for (const f of r.failures) console.log(`  ✗ ${f.title}\n      ${(f.error ?? '').split('\n').slice(0, 8).join('\n      ')}`);
    console.log(`\n  ${r.passes.length} passing`);
    if (r.failures.length) console.log(`  ${r.failures.length} failing`);
    if (r.failures.length || r.fatal) code = 1;
  }
  if (code === 0) fs.rmSync(tmp, { recursive: true, force: true });
  process.exit(code);
}

void main();
