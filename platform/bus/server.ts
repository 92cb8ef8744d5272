// The embedded NATS server: nats-server started through nats-memory-server, bound to loopback on a
// free port, with a token kept in a 0600 config file (not on the command line, where `ps` shows it).
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { NatsServerBuilder } from 'nats-memory-server';
import { UserFacingError, type Log } from '../log';

export interface EmbeddedNats {
  url: string;
  token: string;
  stop(): Promise<void>;
}

export interface EmbeddedNatsOptions {
  /** Where to keep the server's config file (mode 0600). A temp dir when absent. */
  dir?: string;
  token?: string;
  port?: number;
  log: Log;
}

export function newToken(): string {
  return randomBytes(24).toString('hex');
}

/** No nats-server binary anywhere it is looked for: a missing prerequisite the user must install. */
export class NatsServerNotFound extends UserFacingError {
  override name = 'NatsServerNotFound';
}

const searchPaths = ['/usr/sbin/nats-server', '/usr/bin/nats-server', '/usr/local/bin/nats-server', '/opt/homebrew/bin/nats-server'];

/**
 * Where the nats-server binary is: POCKET_NATS_SERVER, then PATH, then the usual system places, then
 * what nats-memory-server's own download left (in the user's cache or in node_modules).
 */
export function findNatsServerBinary(env: NodeJS.ProcessEnv = process.env): string {
  const candidates: string[] = [];
  if (env.POCKET_NATS_SERVER) candidates.push(env.POCKET_NATS_SERVER);
  for (const dir of (env.PATH ?? '').split(path.delimiter)) if (dir) candidates.push(path.join(dir, 'nats-server'));
  candidates.push(...searchPaths);
  candidates.push(path.join(os.homedir(), '.cache', 'pocket-foundry', 'nats-server', 'nats-server'));
  candidates.push(path.resolve(__dirname, '..', '..', 'node_modules', '.cache', 'nats-memory-server', 'nats-server'));
  for (const c of candidates) {
    try { fs.accessSync(c, fs.constants.X_OK); if (fs.statSync(c).isFile()) return c; } catch { /* next */ }
  }
  throw new NatsServerNotFound(
    'nats-server was not found. Install it: `apt-get install nats-server` (Debian/Ubuntu), ' +
    '`brew install nats-server` (macOS), or run `bash scripts/setup.sh`; or set POCKET_NATS_SERVER to its path.',
  );
}

export async function startEmbeddedNats(opts: EmbeddedNatsOptions): Promise<EmbeddedNats> {
  const token = opts.token ?? newToken();
  const dir = opts.dir ?? fs.mkdtempSync(path.join(os.tmpdir(), 'pocket-nats-'));
  fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
  const conf = path.join(dir, 'nats-server.conf');
  const tmp = `${conf}.${process.pid}.tmp`;
  fs.writeFileSync(tmp, `authorization {\n  token: "${token}"\n}\nmax_payload: 8MB\n`, { mode: 0o600 });
  fs.renameSync(tmp, conf);
  const log = opts.log;
  const builder = NatsServerBuilder.create()
    .setBinPath(findNatsServerBinary())
    .setIp('127.0.0.1')
    .setVerbose(false)
    .setArgs(['-c', conf])
    .setLogger({
      log: (...a: unknown[]) => log.debug(a.join(' ')),
      debug: (...a: unknown[]) => log.debug(a.join(' ')),
      warn: (...a: unknown[]) => log.warn(a.join(' ')),
      error: (...a: unknown[]) => log.error(a.join(' ')),
    });
  if (opts.port) builder.setPort(opts.port);
  const server = await builder.build().start();
  const url = `nats://127.0.0.1:${server.getPort()}`;
  log.info(`nats-server listening on ${url}`);
  return {
    url,
    token,
    stop: async () => { await server.stop(); },
  };
}
