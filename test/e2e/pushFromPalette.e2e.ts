// Browser end-to-end: code-server in headless Chromium with the packaged extension installed, driven
// like a person would. Push Workspace from the command palette, then the app explorer, the staging
// log and the instance panel; a PNG of each step goes to test-results/screenshots/. Prints
// "N passed, M failed"; exits non-zero on failure. (No smoke-test driver: it would hide notifications.)
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Frame, Page } from 'playwright-core';
import {
  copyFixtures, installCodeServer, installVsix, killPlatformsUnder, launchChromium, repoRoot, startCodeServer, tempDir, waitForPlatformsToStop, workbenchUrl, writeUserSettings,
} from '../extension/codeServer';

const shots = path.join(repoRoot, 'test-results', 'screenshots');
const app = 'node-hello';

interface Step { name: string; ms: number; error?: string }

async function main(): Promise<void> {
  const t0 = Date.now();
  if (!process.argv.includes('--no-build')) execFileSync('npm', ['run', '--silent', 'package'], { cwd: repoRoot, stdio: ['ignore', 'ignore', 'inherit'] });
  const vsix = path.join(repoRoot, 'out', 'pocket-foundry.vsix');
  const install = installCodeServer();
  const tmp = tempDir('pf-e2e-');
  const ws = path.join(copyFixtures(path.join(tmp, 'workspace'), [app]), app);
  const dataDir = path.join(tmp, 'data');
  const userDir = path.join(tmp, 'user');
  writeUserSettings(userDir, { 'pocketFoundry.dataDir': dataDir });
  fs.rmSync(shots, { recursive: true, force: true });
  fs.mkdirSync(shots, { recursive: true });
  const extensionsDir = path.join(tmp, 'extensions');
  installVsix(install, vsix, extensionsDir, userDir);
  const cs = await startCodeServer({ install, workspace: ws, userDataDir: userDir, extensionsDir, logFile: path.join(tmp, 'code-server.log') });
  const browser = await launchChromium();
  const steps: Step[] = [];
  let failed = false;
  const page = await browser.newPage({ viewport: { width: 1440, height: 900 } });
  const step = async (name: string, fn: () => Promise<void>, shot?: string): Promise<void> => {
    if (failed) return;
    const s0 = Date.now();
    try {
      await fn();
      steps.push({ name, ms: Date.now() - s0 });
      console.log(`  ✓ ${name} (${Date.now() - s0} ms)`);
    } catch (e) {
      failed = true;
      steps.push({ name, ms: Date.now() - s0, error: e instanceof Error ? e.message : String(e) });
      console.log(`  ✗ ${name}\n      ${e instanceof Error ? e.message.split('\n').join('\n      ') : String(e)}`);
    }
    if (shot) await page.screenshot({ path: path.join(shots, shot) }).catch(() => undefined);
  };

  try {
    console.log(`\nBrowser end-to-end (code-server ${cs.url}, workspace ${ws})`);
    await step('the workbench opens with the installed extension active', async () => {
      await page.goto(workbenchUrl(cs, ws));
      await page.locator('.monaco-workbench').waitFor({ timeout: 60_000 });
      await page.locator('.statusbar').getByText('Pocket Foundry', { exact: false }).first().waitFor({ timeout: 60_000 });
    }, '01-workbench.png');

    await step('the app explorer welcomes a newcomer with a Push Workspace button', async () => {
      await page.locator('.activitybar [aria-label^="Pocket Foundry"]').first().click();
      const view = page.locator('[id="workbench.view.extension.pocketFoundry"]');
      await view.getByText('No apps yet', { exact: false }).first().waitFor({ timeout: 60_000 });
      await view.getByRole('button', { name: 'Push Workspace' }).first().waitFor({ timeout: 5000 });
      await page.locator('.statusbar').getByText('Pocket Foundry: 0 apps').first().waitFor({ timeout: 10_000 });
    }, '02-welcome.png');

    await step('the command palette offers Pocket Foundry: Push Workspace', async () => {
      await runCommand(page, 'Pocket Foundry: Push Workspace', false);
    }, '03-command-palette.png');

    await step('Push Workspace shows a progress notification', async () => {
      await page.keyboard.press('Enter');
      await page.locator('.notifications-toasts').getByText(`Pushing ${app}`, { exact: false }).first().waitFor({ timeout: 60_000 });
    }, '04-push-progress.png');

    await step('the push ends with the fingerprint summary and next actions', async () => {
      const done = page.locator('.notifications-toasts .notification-toast').filter({ hasText: `Pushed ${app}` });
      await done.first().waitFor({ timeout: 120_000 });
      const text = await done.first().innerText();
      if (!/\d+ files, \d+ matched, \d+ uploaded, .+ sent/.test(text)) throw new Error(`no fingerprint summary in: ${text}`);
      for (const action of ['Open in Browser', 'Show Logs', 'Show Instances']) {
        await done.first().getByRole('button', { name: action }).waitFor({ timeout: 5000 });
      }
    }, '05-pushed-notification.png');

    await step('the output shows the staging log of the app', async () => {
      const output = page.locator('.part.panel');
      await output.getByText('Detected framework: node', { exact: false }).first().waitFor({ timeout: 20_000 });
      await output.getByText('Staging finished.', { exact: false }).first().waitFor({ timeout: 20_000 });
    }, '06-staging-log.png');

    await step('the app explorer shows the app with a running instance', async () => {
      await runCommand(page, 'Notifications: Clear All Notifications', true);
      const tree = page.locator('[id="workbench.view.extension.pocketFoundry"]');
      if (!(await tree.isVisible())) await page.locator('.activitybar [aria-label^="Pocket Foundry"]').first().click();
      await tree.getByRole('treeitem', { name: new RegExp(`^${app}`) }).first().waitFor({ timeout: 30_000 });
      await tree.getByRole('treeitem').filter({ hasText: '#0' }).filter({ hasText: 'RUNNING' }).first().waitFor({ timeout: 30_000 });
      await tree.getByText('STARTED · 1/1', { exact: false }).first().waitFor({ timeout: 10_000 });
    }, '07-app-explorer.png');

    await step('the instance panel lists the running instance', async () => {
      await runCommand(page, 'Pocket Foundry: Show Instances', true);
      const frame = await waitForFrame(page, '#instances', 30_000);
      await frame.locator('#instances tbody tr[data-state="RUNNING"]').first().waitFor({ timeout: 30_000 });
      const row = await frame.locator('#instances tbody tr').first().innerText();
      if (!/127\.0\.0\.1:\d+/.test(row)) throw new Error(`no host:port in the row: ${row}`);
      if (!/64\.0 MB/.test(row)) throw new Error(`no memory quota in the row: ${row}`);
      await page.waitForTimeout(2500); // one live refresh (cpu, memory) before the picture
    }, '08-instance-panel.png');
  } finally {
    await browser.close().catch(() => undefined);
    await cs.stop();
    if (!failed) {
      await step('closing the editor stops the platform it started', async () => {
        const left = await waitForPlatformsToStop(tmp, 15_000);
        if (left.length > 0) throw new Error(`platform pid ${left.join(', ')} still running`);
      });
    }
    killPlatformsUnder(tmp);
    if (!failed && !process.env.POCKET_FOUNDRY_KEEP) fs.rmSync(tmp, { recursive: true, force: true });
    else console.log(`  logs kept in ${tmp}`);
  }
  const passed = steps.filter((s) => !s.error).length;
  const nFailed = steps.length - passed;
  console.log(`\n  screenshots: ${path.relative(repoRoot, shots)}/ (${fs.readdirSync(shots).length} PNG)`);
  console.log(`  e2e: ${passed} passed, ${nFailed} failed in ${((Date.now() - t0) / 1000).toFixed(0)} s`);
  process.exit(nFailed > 0 ? 1 : 0);
}

/** Opens the command palette, types a command and waits for it in the list; runs it when `run`. */
async function runCommand(page: Page, title: string, run: boolean): Promise<void> {
  await page.locator('.monaco-workbench').click({ position: { x: 700, y: 400 } }).catch(() => undefined);
  await page.keyboard.press('F1');
  const input = page.locator('.quick-input-widget input');
  await input.waitFor({ timeout: 10_000 });
  await input.fill(`>${title}`);
  await page.locator('.quick-input-widget .monaco-list-row').filter({ hasText: title }).first().waitFor({ timeout: 15_000 });
  if (run) await page.keyboard.press('Enter');
}

/** The webview's inner frame that holds `selector` (webviews nest two iframes). */
async function waitForFrame(page: Page, selector: string, timeoutMs: number): Promise<Frame> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    for (const f of page.frames()) {
      if (await f.locator(selector).count().catch(() => 0)) return f;
    }
    if (Date.now() > deadline) throw new Error(`no frame with ${selector}`);
    await page.waitForTimeout(250);
  }
}

main().catch((e: unknown) => {
  console.error(e instanceof Error ? e.stack ?? e.message : String(e));
  console.log('  e2e: 0 passed, 1 failed');
  process.exit(1);
});
