// Test support: a whole platform (NATS, controller, stager, DEA, health manager, router) in this
// process on a temp data dir, with a client for it. Stop it in `after`.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { CloudControllerClient } from '../../../platform/client';
import { silentLog, type Log } from '../../../platform/log';
import type { TlsFiles } from '../../../platform/bus';
import { startPlatform, type Platform, type PlatformComponent, type PlatformTuning } from '../../../platform/platform';

export interface TestPlatform {
  platform: Platform;
  dataDir: string;
  /** Controller base URL. */
  api: string;
  /** Router base URL (`http://127.0.0.1:PORT`); apps answer there with `Host: <name>.localhost`. */
  router: string;
  token: string;
  client: CloudControllerClient;
  /** Stops everything; removes the data dir unless it was given or `keepData` is set. */
  stop(opts?: { keepData?: boolean }): Promise<void>;
}

export interface TestPlatformOptions {
  /** Reuse a data dir (restart tests); a fresh temp dir otherwise. */
  dataDir?: string;
  only?: readonly PlatformComponent[];
  tuning?: PlatformTuning;
  log?: Log;
  /** HTTPS and NATS TLS with these files; the client trusts the CA. */
  tls?: TlsFiles;
}

export async function startTestPlatform(opts: TestPlatformOptions = {}): Promise<TestPlatform> {
  const own = opts.dataDir === undefined;
  const dataDir = opts.dataDir ?? fs.mkdtempSync(path.join(os.tmpdir(), 'pocket-platform-'));
  let platform: Platform;
  try {
    platform = await startPlatform({ dataDir, log: opts.log ?? silentLog, only: opts.only, tuning: opts.tuning, tls: opts.tls });
  } catch (e) {
    if (own) fs.rmSync(dataDir, { recursive: true, force: true });
    throw e;
  }
  const client = new CloudControllerClient({ api: platform.api ?? 'http://127.0.0.1:1', token: platform.token, ca: opts.tls?.caFile });
  return {
    platform,
    dataDir,
    api: platform.api ?? '',
    router: platform.router ?? '',
    token: platform.token,
    client,
    async stop(stopOpts = {}) {
      client.close();
      await platform.stop();
      if (own && !stopOpts.keepData) fs.rmSync(dataDir, { recursive: true, force: true });
    },
  };
}
