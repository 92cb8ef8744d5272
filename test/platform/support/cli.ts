// Test support for the CLI: bundles platform/cli.ts as scripts/build.js does and runs it as child
// processes with a clean environment (no inherited POCKET_*), as a user would.
import { spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { build } from 'esbuild';
import { sleep } from './wait';

export const repoRoot = path.resolve(__dirname, '../../..');

export interface CliRun {
  code: number | null;
  stdout: string;
  stderr: string;
}

export interface RunningUp {
  child: ChildProcess;
  stdout(): string;
  stderr(): string;
  exited: Promise<number | null>;
}

export interface CliHarness {
  /** A temp folder of this harness; POCKET_HOME points inside it, so no real data dir is touched. */
  outDir: string;
  /** The bundled CLI script (run it with this process's node). */
  script: string;
  run(args: string[], env?: Record<string, string>, timeoutMs?: number): Promise<CliRun>;
  /** `pocket up --data DIR [ARGS]`, resolved once it prints that it is up. */
  up(dataDir: string, args?: string[]): Promise<RunningUp>;
  cleanup(): void;
}

export async function buildCli(): Promise<CliHarness> {
  const outDir = fs.mkdtempSync(path.join(os.tmpdir(), 'pocket-cli-'));
  // Inside the repo so the bundle's external packages resolve from its node_modules.
  fs.mkdirSync(path.join(repoRoot, 'out'), { recursive: true });
  const bundleDir = fs.mkdtempSync(path.join(repoRoot, 'out', 'cli-test-'));
  const cli = path.join(bundleDir, 'pocket.js');
  await build({
    entryPoints: [path.join(repoRoot, 'platform/cli.ts')], outfile: cli, bundle: true, platform: 'node', target: 'node20',
    format: 'cjs', packages: 'external', logLevel: 'error', absWorkingDir: repoRoot,
  });
  const env = (extra: Record<string, string>): NodeJS.ProcessEnv => {
    const e: NodeJS.ProcessEnv = {};
    for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('POCKET_')) e[k] = v;
    return { ...e, POCKET_HOME: path.join(outDir, 'no-home'), XDG_CACHE_HOME: path.join(outDir, 'cache'), POCKET_LOG_LEVEL: 'warn', ...extra };
  };
  const start = (args: string[], extra: Record<string, string>): { child: ChildProcess; out: { stdout: string; stderr: string } } => {
    const child = spawn(process.execPath, [cli, ...args], { env: env(extra), stdio: ['ignore', 'pipe', 'pipe'] });
    const out = { stdout: '', stderr: '' };
    child.stdout?.on('data', (d: Buffer) => { out.stdout += d.toString(); });
    child.stderr?.on('data', (d: Buffer) => { out.stderr += d.toString(); });
    return { child, out };
  };
  return {
    outDir,
    script: cli,
    run: (args, extra = {}, timeoutMs = 60_000) => new Promise((resolve, reject) => {
      const { child, out } = start(args, extra);
      const timer = setTimeout(() => { child.kill('SIGKILL'); reject(new Error(`pocket ${args.join(' ')} timed out\n${out.stdout}\n${out.stderr}`)); }, timeoutMs);
      child.on('close', (code) => { clearTimeout(timer); resolve({ code, ...out }); });
    }),
    async up(dataDir, args = []) {
      const { child, out } = start(['up', '--data', dataDir, ...args], {});
      const exited = new Promise<number | null>((r) => child.on('exit', (code) => r(code)));
      const deadline = Date.now() + 30_000;
      while (!out.stdout.includes('Press Ctrl-C to stop.')) {
        const done = await Promise.race([exited.then(() => true), sleep(50).then(() => false)]);
        if (done) throw new Error(`pocket up exited early\n${out.stdout}\n${out.stderr}`);
        if (Date.now() > deadline) { child.kill('SIGKILL'); throw new Error(`pocket up did not come up\n${out.stdout}\n${out.stderr}`); }
      }
      return { child, stdout: () => out.stdout, stderr: () => out.stderr, exited };
    },
    cleanup() {
      fs.rmSync(bundleDir, { recursive: true, force: true });
      fs.rmSync(outDir, { recursive: true, force: true });
    },
  };
}
