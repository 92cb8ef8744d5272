// Runs the extension suites inside real VS Code for the browser (code-server) driven by headless
// Chromium: what CI runs. `--suite main` (the extension under development), `--suite vsix` (the
// packaged .vsix installed into code-server), or both (default). Exits non-zero on any failure.
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import {
  copyFixtures, installCodeServer, installVsix, killPlatformsUnder, launchChromium, repoRoot, startCodeServer, tempDir,
  waitForPlatformsToStop, workbenchUrl, writeUserSettings, type CodeServerInstall,
} from './codeServer';
import type { SuiteResults } from './runMocha';

const timeLimitMs = Number(process.env.POCKET_FOUNDRY_SUITE_TIMEOUT_MS ?? 10 * 60_000);
/** `--grep PATTERN`: run only the tests whose full title matches. */
/** Platforms that outlived their editor: each counts as a failure. */
const leftovers: string[] = [];
const grep = process.argv.includes('--grep') ? process.argv[process.argv.indexOf('--grep') + 1] ?? '' : '';

interface SuiteSpec {
  name: string;
  /** Folder of the development extension (this repo, or the empty probe for the .vsix suite). */
  devPath: string;
  testsPath: string;
  fixtures: string[];
  settings: (tmp: string) => Record<string, unknown>;
  /** Runs before code-server starts (e.g. installing the .vsix). */
  prepare?: (install: CodeServerInstall, dirs: { user: string; extensions: string }) => void;
}

async function runSuite(install: CodeServerInstall, spec: SuiteSpec): Promise<SuiteResults> {
  const tmp = tempDir('pf-ext-');
  const dirs = { user: path.join(tmp, 'user'), extensions: path.join(tmp, 'extensions') };
  const ws = copyFixtures(path.join(tmp, 'workspace'), spec.fixtures);
  writeUserSettings(dirs.user, spec.settings(tmp));
  fs.mkdirSync(dirs.extensions, { recursive: true });
  spec.prepare?.(install, dirs);
  const resultsFile = path.join(tmp, 'results.json');
  const log = path.join(tmp, 'code-server.log');
  const t0 = Date.now();
  console.log(`\n${spec.name} (code-server + Chromium; workspace ${ws})`);
  const cs = await startCodeServer({
    install, workspace: ws, userDataDir: dirs.user, extensionsDir: dirs.extensions, logFile: log, smokeTestDriver: true,
    env: { POCKET_FOUNDRY_TEST_RESULTS: resultsFile, POCKET_FOUNDRY_REPO: repoRoot, POCKET_FOUNDRY_TEST_GREP: grep },
  });
  const browser = await launchChromium();
  const pageErrors: string[] = [];
  let ok = false;
  try {
    const page = await browser.newPage({ viewport: { width: 1400, height: 900 } });
    page.on('pageerror', (e) => pageErrors.push(e.message));
    page.on('console', (m) => { if (m.type() === 'error') pageErrors.push(m.text()); });
    await page.goto(workbenchUrl(cs, ws, { extensionDevelopmentPath: spec.devPath, extensionTestsPath: spec.testsPath }));
    const deadline = Date.now() + timeLimitMs;
    while (!fs.existsSync(resultsFile)) {
      if (Date.now() > deadline) throw new Error(`no results after ${Math.round(timeLimitMs / 1000)} s`);
      if (cs.process.exitCode !== null) throw new Error('code-server exited');
      await new Promise((r) => setTimeout(r, 250));
    }
    const results = JSON.parse(fs.readFileSync(resultsFile, 'utf8')) as SuiteResults;
    ok = results.failures.length === 0 && !results.fatal;
    report(results, Date.now() - t0);
    return results;
  } catch (e) {
    console.log(`  ${spec.name} did not finish: ${e instanceof Error ? e.message : String(e)}`);
    return { passes: [], failures: [{ title: spec.name, durationMs: Date.now() - t0, error: String(e) }], pending: [], durationMs: Date.now() - t0, notes: [] };
  } finally {
    await browser.close().catch(() => undefined);
    await cs.stop();
    // The editor is gone: the platform it started must stop with it (deactivate, or its leash).
    const left = await waitForPlatformsToStop(tmp, 15_000);
    if (left.length > 0) {
      killPlatformsUnder(tmp);
      ok = false;
      leftovers.push(`${spec.name}: platform pid ${left.join(', ')} outlived the editor`);
    }
    if (ok && !process.env.POCKET_FOUNDRY_KEEP) {
      fs.rmSync(tmp, { recursive: true, force: true });
    } else {
      if (pageErrors.length) console.log(`  browser console errors:\n    ${pageErrors.slice(-10).join('\n    ')}`);
      console.log(`  logs kept in ${tmp} (code-server.log; user/logs/*/exthost*/ for the extension host)`);
      printExtHostTail(dirs.user);
    }
  }
}

function report(r: SuiteResults, wallMs: number): void {
  for (const p of r.passes) console.log(`  ✓ ${p.title} (${p.durationMs} ms)`);
  for (const f of r.failures) console.log(`  ✗ ${f.title}\n      ${(f.error ?? '').split('\n').slice(0, 8).join('\n      ')}`);
  if (r.fatal) console.log(`  suite could not run: ${r.fatal}`);
  for (const n of r.notes ?? []) console.log(`    ${n}`);
  console.log(`  (${(wallMs / 1000).toFixed(1)} s including code-server start)`);
}

function printExtHostTail(userDir: string): void {
  const logs = path.join(userDir, 'logs');
  if (!fs.existsSync(logs)) return;
  const found: string[] = [];
  const walk = (d: string): void => {
    for (const e of fs.readdirSync(d, { withFileTypes: true })) {
      const p = path.join(d, e.name);
      if (e.isDirectory()) walk(p);
      else if (/(^exthost|Pocket Foundry.*)\.log$/.test(e.name)) found.push(p);
    }
  };
  walk(logs);
  for (const f of found) {
    const lines = fs.readFileSync(f, 'utf8').trim().split('\n');
    console.log(`  --- ${path.relative(userDir, f)} (last lines)\n    ${lines.slice(-25).join('\n    ')}`);
  }
}

function packageVsix(): string {
  execFileSync('npm', ['run', '--silent', 'package'], { cwd: repoRoot, stdio: 'inherit' });
  const vsix = path.join(repoRoot, 'out', 'pocket-foundry.vsix');
  if (!fs.existsSync(vsix)) throw new Error(`npm run package did not produce ${vsix}`);
  return vsix;
}

async function main(): Promise<void> {
  const which = process.argv.includes('--suite') ? process.argv[process.argv.indexOf('--suite') + 1] : 'all';
  const t0 = Date.now();
  if (!process.argv.includes('--no-build')) execFileSync('npm', ['run', '--silent', 'build'], { cwd: repoRoot, stdio: 'inherit' });
  execFileSync(process.execPath, [path.join(__dirname, 'build.js')], { cwd: repoRoot, stdio: 'inherit' });
  const install = installCodeServer();
  const out = path.join(repoRoot, 'out', 'test', 'extension');
  const all: SuiteResults[] = [];
  if (which === 'all' || which === 'main') {
    all.push(await runSuite(install, {
      name: 'Extension suites',
      devPath: repoRoot,
      testsPath: path.join(out, 'suite', 'index.js'),
      fixtures: ['node-hello', 'staging-fail', 'env-echo'],
      settings: (tmp) => ({ 'pocketFoundry.dataDir': path.join(tmp, 'data') }),
    }));
  }
  if (which === 'all' || which === 'vsix') {
    const vsix = packageVsix();
    all.push(await runSuite(install, {
      name: 'Packaged .vsix suite',
      devPath: path.join(out, 'vsix-probe'),
      testsPath: path.join(out, 'vsix', 'index.js'),
      fixtures: ['node-hello'],
      settings: () => ({}),
      // No dataDir setting: the installed extension uses its global storage.
      prepare: (inst, dirs) => {
        const said = installVsix(inst, vsix, dirs.extensions, dirs.user);
        console.log(`  ${said.trim().split('\n').pop() ?? ''}`);
      },
    }));
  }
  for (const l of leftovers) console.log(`  ✗ ${l}`);
  const passed = all.reduce((n, r) => n + r.passes.length, 0);
  const failed = all.reduce((n, r) => n + r.failures.length + (r.fatal ? 1 : 0), 0) + leftovers.length;
  console.log(`\n  ${passed} passing (${((Date.now() - t0) / 1000).toFixed(0)}s)`);
  if (failed > 0) console.log(`  ${failed} failing`);
  process.exit(failed > 0 ? 1 : 0);
}

main().catch((e: unknown) => {
  console.error(e instanceof Error ? e.stack ?? e.message : String(e));
  process.exit(1);
});
