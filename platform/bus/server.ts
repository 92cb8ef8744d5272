// The embedded NATS server: a nats-server child bound to loopback (or the address given) on a free
// port, with a token kept in a 0600 config file (not on the command line, where `ps` shows it),
// restarted when it dies; optionally a node of a NATS cluster with authenticated routes.
import { createHash, randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { spawn, type ChildProcess } from 'node:child_process';
import { UserFacingError, type Log } from '../log';
import { Restarter, type BackoffOptions } from '../backoff';
import { freePort } from '../free-port';
import type { TlsFiles } from './bus';

export interface EmbeddedNats {
  url: string;
  token: string;
  /** The running nats-server's pid (undefined while it is being restarted). */
  pid(): number | undefined;
  /** How many times it was started again after ending unasked. */
  restarts(): number;
  stop(): Promise<void>;
}

export interface EmbeddedNatsOptions {
  /** Where to keep the server's config file (mode 0600). A temp dir when absent. */
  dir?: string;
  token?: string;
  port?: number;
  /** Address to listen on (default: `advertise`, else 127.0.0.1). */
  listen?: string;
  /** Address other hosts reach this node at: in its URL and told to the cluster's other nodes. */
  advertise?: string;
  /** Join a NATS cluster: routes to the other nodes, authenticated with a secret derived from the token. */
  cluster?: NatsClusterOptions;
  /** TLS on client and route connections (cert and key of this node; the CA checks peers). */
  tls?: TlsFiles;
  log: Log;
  /** Restart delays after an unexpected exit. */
  backoff?: BackoffOptions;
}

export interface NatsClusterOptions {
  /** Cluster (route) port; default 6222. */
  port?: number;
  /** `nats://host:6222` of the other nodes (our own address in the list is ignored by nats-server). */
  routes: string[];
}

/** The user and password of route connections: every node that knows the platform token knows them. */
export function routeCredentials(token: string): { user: string; password: string } {
  return { user: 'pocket-route', password: createHash('sha256').update(`pocket-route:${token}`).digest('hex') };
}

/** nats-server's config: token auth, route auth, TLS, and pings that find a cut link within seconds. */
export function natsServerConfig(o: { token: string; listen: string; port: number; advertise?: string; cluster?: NatsClusterOptions; tls?: TlsFiles }): string {
  const q = (v: string): string => JSON.stringify(v);
  const hostPort = (h: string, p: number): string => (h.includes(':') ? `[${h}]:${p}` : `${h}:${p}`);
  const tlsBlock = (t: TlsFiles | undefined): string[] => (t?.certFile && t.keyFile
    ? [`tls {`, `  cert_file: ${q(t.certFile)}`, `  key_file: ${q(t.keyFile)}`, ...(t.caFile ? [`  ca_file: ${q(t.caFile)}`] : []), `  timeout: 2`, `}`]
    : []);
  const lines = [
    `listen: ${q(hostPort(o.listen, o.port))}`,
    `authorization {`, `  token: ${q(o.token)}`, `}`,
    `max_payload: 8MB`,
    `ping_interval: "1s"`, `ping_max: 2`,
    ...(o.advertise ? [`client_advertise: ${q(hostPort(o.advertise, o.port))}`] : []),
    ...tlsBlock(o.tls),
  ];
  if (o.cluster) {
    const cport = o.cluster.port ?? 6222;
    const { user, password } = routeCredentials(o.token);
    const routes = o.cluster.routes.map((r) => {
      const u = new URL(r.includes('://') ? r : `nats://${r}`);
      u.username = user; u.password = password;
      return u.toString().replace(/\/$/, '');
    });
    lines.push(
      `cluster {`, `  name: "pocket"`, `  listen: ${q(hostPort(o.listen, cport))}`,
      ...(o.advertise ? [`  advertise: ${q(hostPort(o.advertise, cport))}`] : []),
      // Clients keep to the URLs they were given: gossiped node addresses may be unreachable from them.
      `  no_advertise: true`,
      `  authorization {`, `    user: ${q(user)}`, `    password: ${q(password)}`, `    timeout: 2`, `  }`,
      `  routes: [`, ...routes.map((r) => `    ${q(r)}`), `  ]`,
      ...tlsBlock(o.tls).map((l) => `  ${l}`),
      `}`,
    );
  }
  return `${lines.join('\n')}\n`;
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

/**
 * Starts nats-server and keeps it running: when it exits without being asked to, it is started again
 * on the same port with the same config (token), after a backoff (100 ms doubling to 5 s, reset once
 * a run lasted a minute). Clients reconnect to the same URL.
 */
export async function startEmbeddedNats(opts: EmbeddedNatsOptions): Promise<EmbeddedNats> {
  const token = opts.token ?? newToken();
  const dir = opts.dir ?? fs.mkdtempSync(path.join(os.tmpdir(), 'pocket-nats-'));
  fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
  const conf = path.join(dir, 'nats-server.conf');
  const tmp = `${conf}.${process.pid}.tmp`;
  const listen = opts.listen ?? opts.advertise ?? '127.0.0.1';
  const port = opts.port || await freePort(listen);
  fs.writeFileSync(tmp, natsServerConfig({ token, listen, port, advertise: opts.advertise, cluster: opts.cluster, tls: opts.tls }), { mode: 0o600 });
  fs.renameSync(tmp, conf);
  const bin = findNatsServerBinary();
  const server = new SupervisedNats(bin, ['-c', conf], opts.log, opts.backoff);
  await server.start();
  const shown = opts.advertise ?? (listen === '0.0.0.0' || listen === '::' ? '127.0.0.1' : listen);
  const url = `nats://${shown.includes(':') ? `[${shown}]` : shown}:${port}`;
  opts.log.info(`nats-server listening on ${url}`);
  return {
    url,
    token,
    pid: () => server.pid,
    restarts: () => server.restarts,
    stop: () => server.stop(),
  };
}

/** One nats-server child, started again whenever it ends unasked. */
class SupervisedNats {
  private child: ChildProcess | undefined;
  private readonly restarter: Restarter;

  constructor(private readonly bin: string, private readonly args: string[], private readonly log: Log, backoff?: BackoffOptions) {
    this.restarter = new Restarter(log, () => this.start(), () => `nats-server is back (restart ${this.restarts})`, backoff);
  }

  /** How many times it was started again after ending unasked. */
  get restarts(): number { return this.restarter.restarts; }

  get pid(): number | undefined { return this.child?.pid; }

  /** Resolves once the server says it is ready; rejects if it ends before. */
  start(): Promise<void> {
    return new Promise((resolve, reject) => {
      const child = spawn(this.bin, this.args, { stdio: ['ignore', 'ignore', 'pipe'] });
      this.child = child;
      let ready = false;
      let tail = '';
      child.once('error', (e) => { if (!ready) reject(e); });
      child.stderr?.on('data', (d: Buffer) => {
        const text = d.toString();
        for (const line of text.split('\n')) if (line.trim()) this.log.debug(line.trim());
        if (ready) return;
        tail = (tail + text).slice(-2000);
        if (tail.includes('Server is ready')) {
          ready = true;
          this.restarter.started();
          // The platform's own handles keep it alive; a stuck stop must not wait on this one.
          child.unref();
          (child.stderr as unknown as { unref?: () => void } | null)?.unref?.();
          resolve();
        }
      });
      child.once('exit', (code, signal) => {
        if (this.child === child) this.child = undefined;
        if (!ready) { reject(new Error(`nats-server exited before becoming ready (${signal ?? `exit code ${code}`}): ${tail.trim().split('\n').pop() ?? ''}`)); return; }
        if (!this.restarter.stopping) this.restarter.later(`nats-server ended unexpectedly (${signal ?? `exit code ${code}`})`);
      });
    });
  }

  async stop(): Promise<void> {
    this.restarter.stop();
    const child = this.child;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    await new Promise<void>((resolve) => {
      child.once('exit', () => resolve());
      child.kill('SIGTERM');
    });
  }
}
