// code-server (VS Code for the browser) and headless Chromium, as the extension suites, the browser
// end-to-end tests and scripts/open-editor.sh use them. Recipe: DESIGN.md, "Tests".
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { chromium, type Browser } from 'playwright-core';

export const repoRoot = path.resolve(__dirname, '..', '..');

export interface CodeServerInstall {
  node24: string;
  entry: string;
}

/** Installs (once, cached) and locates Node 24 and code-server. */
export function installCodeServer(): CodeServerInstall {
  const out = execFileSync('bash', [path.join(repoRoot, 'scripts', 'install-code-server.sh')], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] });
  const node24 = /^NODE24=(.+)$/m.exec(out)?.[1];
  const entry = /^CODE_SERVER=(.+)$/m.exec(out)?.[1];
  if (!node24 || !entry) throw new Error(`install-code-server.sh printed no paths:\n${out}`);
  return { node24, entry };
}

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const a = s.address();
      s.close(() => (a && typeof a === 'object' ? resolve(a.port) : reject(new Error('no port'))));
    });
  });
}

/** A temp folder holding copies of the named fixtures (the tests may change them). */
export function copyFixtures(into: string, fixtures: string[]): string {
  fs.mkdirSync(into, { recursive: true });
  for (const f of fixtures) fs.cpSync(path.join(repoRoot, 'test', 'fixtures', f), path.join(into, f), { recursive: true });
  return into;
}

/**
 * Settings for a throwaway profile: quiet, no trust prompt, no welcome page. Written as user and as
 * machine settings: code-server reads machine-scoped settings (pocketFoundry.dataDir, nodePath)
 * from the remote machine's file only.
 */
export function writeUserSettings(userDataDir: string, extra: Record<string, unknown>): void {
  const settings = JSON.stringify({
    'workbench.startupEditor': 'none',
    'workbench.tips.enabled': false,
    'workbench.enableExperiments': false,
    'security.workspace.trust.enabled': false,
    'telemetry.telemetryLevel': 'off',
    'extensions.autoCheckUpdates': false,
    'extensions.autoUpdate': false,
    'update.mode': 'none',
    'chat.disableAIFeatures': true,
    'workbench.colorTheme': 'Default Dark Modern',
    'window.commandCenter': true,
    'workbench.secondarySideBar.defaultVisibility': 'hidden',
    'git.enabled': false,
    'git.autoRepositoryDetection': false,
    'github.gitAuthentication': false,
    'extensions.ignoreRecommendations': true,
    ...extra,
  }, null, 2);
  for (const scope of ['User', 'Machine']) {
    fs.mkdirSync(path.join(userDataDir, scope), { recursive: true });
    fs.writeFileSync(path.join(userDataDir, scope, 'settings.json'), settings);
  }
}

export interface CodeServerOptions {
  install: CodeServerInstall;
  workspace: string;
  userDataDir: string;
  extensionsDir: string;
  port?: number;
  env?: NodeJS.ProcessEnv;
  /** code-server's own output goes here. */
  logFile: string;
  /** Adds `--vscode-option enable-smoke-test-driver` (tests). */
  smokeTestDriver?: boolean;
}

export interface RunningCodeServer {
  url: string;
  port: number;
  process: ChildProcess;
  stop(): Promise<void>;
}

/** Starts code-server on Node 24 with PATH untouched (the platform must run on the system Node). */
export async function startCodeServer(o: CodeServerOptions): Promise<RunningCodeServer> {
  const port = o.port ?? await freePort();
  fs.mkdirSync(o.userDataDir, { recursive: true });
  fs.mkdirSync(o.extensionsDir, { recursive: true });
  const configFile = path.join(o.userDataDir, 'code-server.yaml');
  fs.writeFileSync(configFile, 'auth: none\n');
  const args = [
    o.install.entry,
    '--auth', 'none', '--bind-addr', `127.0.0.1:${port}`, '--config', configFile,
    '--disable-telemetry', '--disable-update-check', '--disable-workspace-trust', '--disable-getting-started-override',
    '--user-data-dir', o.userDataDir, '--extensions-dir', o.extensionsDir,
  ];
  if (o.smokeTestDriver) args.push('--vscode-option', 'enable-smoke-test-driver');
  args.push(o.workspace);
  const fd = fs.openSync(o.logFile, 'a');
  const child = spawn(o.install.node24, args, { stdio: ['ignore', fd, fd], detached: true, env: { ...process.env, ...o.env } });
  fs.closeSync(fd);
  const url = `http://127.0.0.1:${port}`;
  const exited = new Promise<never>((_r, reject) => child.once('exit', (code) => reject(new Error(`code-server exited (${code}); see ${o.logFile}`))));
  exited.catch(() => undefined);
  await Promise.race([waitForHttp(url, 60_000), exited]);
  return {
    url, port, process: child,
    stop: async () => {
      if (child.exitCode !== null || child.signalCode !== null) return;
      const gone = new Promise<void>((r) => child.once('exit', () => r()));
      try { process.kill(-(child.pid ?? 0), 'SIGTERM'); } catch { /* gone */ }
      const t = setTimeout(() => { try { process.kill(-(child.pid ?? 0), 'SIGKILL'); } catch { /* gone */ } }, 5000);
      await gone;
      clearTimeout(t);
    },
  };
}

/** Runs code-server's own `--install-extension` for a .vsix into an extensions folder. */
export function installVsix(install: CodeServerInstall, vsix: string, extensionsDir: string, userDataDir: string): string {
  return execFileSync(install.node24, [install.entry, '--install-extension', vsix, '--extensions-dir', extensionsDir, '--user-data-dir', userDataDir, '--force'], { encoding: 'utf8' });
}

/** The workbench URL for `folder`, optionally with a development extension and its test suite. */
export function workbenchUrl(cs: RunningCodeServer, folder: string, dev?: { extensionDevelopmentPath: string; extensionTestsPath?: string }): string {
  const u = new URL(cs.url);
  u.searchParams.set('folder', folder);
  if (dev) {
    const remote = (p: string): string => `vscode-remote://127.0.0.1:${cs.port}${p}`;
    const payload: [string, string][] = [['extensionDevelopmentPath', remote(dev.extensionDevelopmentPath)]];
    if (dev.extensionTestsPath) payload.push(['extensionTestsPath', remote(dev.extensionTestsPath)]);
    u.searchParams.set('payload', JSON.stringify(payload));
  }
  return u.toString();
}

export function launchChromium(): Promise<Browser> {
  return chromium.launch({
    executablePath: process.env.POCKET_CHROMIUM ?? '/usr/bin/chromium',
    args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--disable-dev-shm-usage'],
  });
}

/** Data folders (holding endpoint.json) under `dir`, a test's temp folder. */
function platformDirsUnder(dir: string): string[] {
  const out: string[] = [];
  const walk = (d: string, depth: number): void => {
    if (depth > 8) return;
    let entries: fs.Dirent[];
    try { entries = fs.readdirSync(d, { withFileTypes: true }); } catch { return; }
    for (const e of entries) {
      if (e.isDirectory() && e.name !== 'node_modules' && e.name !== 'workspace') walk(path.join(d, e.name), depth + 1);
      else if (e.name === 'endpoint.json') out.push(d);
    }
  };
  walk(dir, 0);
  return out;
}

/** pids of platforms under `dir` that are still alive. */
export function livePlatformsUnder(dir: string): number[] {
  const pids: number[] = [];
  for (const d of platformDirsUnder(dir)) {
    try {
      const pid = (JSON.parse(fs.readFileSync(path.join(d, 'endpoint.json'), 'utf8')) as { pid?: number }).pid;
      if (pid) { process.kill(pid, 0); pids.push(pid); }
    } catch { /* gone or unreadable */ }
  }
  return pids;
}

/** Waits up to `ms` for the platforms under `dir` to stop by themselves; returns the pids still alive. */
export async function waitForPlatformsToStop(dir: string, ms: number): Promise<number[]> {
  const deadline = Date.now() + ms;
  let alive = livePlatformsUnder(dir);
  while (alive.length > 0 && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 200));
    alive = livePlatformsUnder(dir);
  }
  return alive;
}

/** Stops every platform whose endpoint.json lies under `dir` (a test's temp folder). */
export function killPlatformsUnder(dir: string): number {
  let n = 0;
  for (const d of platformDirsUnder(dir)) if (killPlatformIn(d)) n++;
  return n;
}

/** Stops a platform left running in `dataDir` (and its process group: nats-server, app instances). */
export function killPlatformIn(dataDir: string): boolean {
  let pid: number | undefined;
  try { pid = (JSON.parse(fs.readFileSync(path.join(dataDir, 'endpoint.json'), 'utf8')) as { pid?: number }).pid; } catch { return false; }
  if (!pid) return false;
  let killed = false;
  for (const target of [-pid, pid]) {
    try { process.kill(target, 'SIGKILL'); killed = true; } catch { /* not a group, or gone */ }
  }
  return killed;
}

export async function waitForHttp(url: string, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      const r = await fetch(url, { redirect: 'manual' });
      if (r.status > 0) return;
    } catch { /* not up yet */ }
    if (Date.now() > deadline) throw new Error(`${url} did not answer within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

export function tempDir(prefix: string): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), prefix));
}
