// A fresh platform for a benchmark: `pocket up` in its own process on a temp data dir, as a user runs
// it, found through its endpoint.json; stopped with SIGINT (the clean path) and removed afterwards.
import { spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { CloudControllerClient, readEndpoint } from '../../platform/client';
import { stopChild } from './processes';
import { sleep } from './stats';

const root = path.resolve(__dirname, '..', '..');

export interface BenchPlatform {
  client: CloudControllerClient;
  api: string;
  /** Router base URL, `http://127.0.0.1:PORT`. */
  router: string;
  token: string;
  dataDir: string;
  pid: number;
  /** From spawning `pocket up` until endpoint.json named it. */
  upMs: number;
  stop(): Promise<void>;
}

export async function startBenchPlatform(opts: { timeoutMs?: number } = {}): Promise<BenchPlatform> {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'pocket-bench-data-'));
  const t0 = Date.now();
  const child: ChildProcess = spawn(process.execPath, ['--import', 'tsx', path.join(root, 'platform/cli.ts'), '--data', dataDir, 'up'], {
    cwd: root,
    env: { ...process.env, POCKET_HOME: dataDir, POCKET_LOG_LEVEL: process.env.POCKET_LOG_LEVEL ?? 'error' },
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  const cleanup = async (): Promise<void> => {
    await stopChild(child, 'SIGINT', 20_000);
    fs.rmSync(dataDir, { recursive: true, force: true });
  };
  const deadline = t0 + (opts.timeoutMs ?? 90_000);
  for (;;) {
    const ep = readEndpoint(dataDir);
    if (ep && ep.pid === child.pid && ep.router) {
      const client = new CloudControllerClient({ api: ep.api, token: ep.token });
      return {
        client, api: ep.api, router: ep.router, token: ep.token, dataDir, pid: child.pid ?? 0, upMs: Date.now() - t0,
        stop: async () => { client.close(); await cleanup(); },
      };
    }
    if (child.exitCode !== null || child.signalCode !== null || Date.now() > deadline) {
      await cleanup();
      throw new Error(`pocket up did not become ready (exit ${child.exitCode ?? child.signalCode ?? 'none, timed out'})`);
    }
    await sleep(50);
  }
}
