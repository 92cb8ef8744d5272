// `pocket up` as a supervisor: it holds the data dir lock, runs nats-server (restarted on its port
// when it dies) and each component as its own process (restarted with backoff when it dies), and
// writes endpoint.json last, once everything answers. A crash, an uncaught exception or a process
// out of file descriptors then takes down one component, never the others.
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { BackoffOptions } from '../backoff';
import { startEmbeddedNats } from '../bus';
import { acquireDirLock, loadOrCreateToken, removeEndpoint, writeEndpoint } from '../data-dir';
import { HttpTls } from '../tls';
import type { Log } from '../log';
import { platformComponents, type Platform, type PlatformComponent, type PlatformOptions } from '../platform';
import type { OwnerAccount } from '../controller';
import { ComponentProcess } from './component-process';

export { runningUnderSupervisor, isStopMessage, type ReadyMessage } from './protocol';

export interface SupervisedPlatformOptions extends Pick<PlatformOptions, 'advertise' | 'listen' | 'natsPort' | 'natsCluster' | 'tls'> {
  dataDir: string;
  /** An external NATS server, or several cluster nodes (comma-separated); embedded (and supervised) when absent. */
  natsUrl?: string;
  natsToken?: string;
  apiPort?: number;
  routerPort?: number;
  log: Log;
  /** How to run `pocket` (default: this process's node, flags and script). */
  cli?: { command: string; args: string[] };
  backoff?: BackoffOptions;
}

export interface SupervisedPlatform extends Platform {
  /** Pids of the running processes, for status and tests (nats only when embedded). */
  pids(): Partial<Record<PlatformComponent | 'nats', number>>;
  restarts(): Partial<Record<PlatformComponent | 'nats', number>>;
}

interface Stoppable {
  name: string;
  stop(): Promise<void> | void;
}

export async function startSupervisedPlatform(opts: SupervisedPlatformOptions): Promise<SupervisedPlatform> {
  const log = opts.log;
  const dataDir = path.resolve(opts.dataDir);
  const started: Stoppable[] = [];
  const stopAll = async (): Promise<void> => {
    for (const s of started.splice(0).reverse()) {
      try { await s.stop(); } catch (e) { log.error(`stopping ${s.name}`, e); }
    }
  };
  const procs = new Map<PlatformComponent, ComponentProcess>();
  let natsPid = (): number | undefined => undefined;
  let natsRestarts = (): number => 0;

  try {
    // Bad TLS files are refused here, once, rather than by every component as it starts.
    HttpTls.load(opts.tls);
    fs.mkdirSync(dataDir, { recursive: true, mode: 0o700 });
    const lock = acquireDirLock(dataDir);
    started.push({ name: 'data dir lock', stop: () => lock.release() });
    const token = opts.natsToken ?? loadOrCreateToken(dataDir);
    let nats = opts.natsUrl;
    if (!nats) {
      const embedded = await startEmbeddedNats({
        log: log.child('nats'), dir: path.join(dataDir, 'nats'), token, backoff: opts.backoff,
        port: opts.natsPort, advertise: opts.advertise, listen: opts.listen, cluster: opts.natsCluster, tls: opts.tls,
      });
      started.push({ name: 'nats-server', stop: () => embedded.stop() });
      nats = embedded.url;
      natsPid = embedded.pid;
      natsRestarts = embedded.restarts;
    }
    const natsUrl = nats;
    const cli = opts.cli ?? { command: process.execPath, args: [...process.execArgv, process.argv[1]] };
    const env: NodeJS.ProcessEnv = { ...process.env, POCKET_TOKEN: token };
    // The first start picks free ports; a restart keeps them, so endpoint.json stays true.
    let apiPort = opts.apiPort ?? 0;
    let routerPort = opts.routerPort ?? 0;
    let api: string | null = null;
    let router: string | null = null;
    let owner: OwnerAccount | undefined;
    const argsOf = (c: PlatformComponent): string[] => {
      const base = [...cli.args, '--data', dataDir, c, '--nats', natsUrl, ...addressArgs(opts)];
      if (c === 'controller') return [...base, '--api-port', String(apiPort)];
      if (c === 'router') return [...base, '--port', String(routerPort)];
      if (c === 'gateways' && api) return [...base, '--api', api];
      return base;
    };
    const launch = (c: PlatformComponent): Promise<unknown> => {
      const p = new ComponentProcess({
        component: c, command: cli.command, args: () => argsOf(c), env, log: log.child('supervisor'), backoff: opts.backoff,
        onReady: (m) => {
          if (m.api) { api = m.api; apiPort = Number(new URL(m.api).port); }
          if (m.router) { router = m.router; routerPort = Number(new URL(m.router).port); }
          if (m.owner) owner = m.owner;
        },
      });
      procs.set(c, p);
      started.push({ name: c, stop: () => p.stop() });
      return p.start();
    };
    // The controller first (the others ask it for work and state), then the rest side by side.
    await launch('controller');
    const rest = await Promise.allSettled(platformComponents.filter((c) => c !== 'controller').map(launch));
    for (const r of rest) if (r.status === 'rejected') throw r.reason;
    if (!api) throw new Error('the controller did not report its URL');
    // endpoint.json last: once it exists, everything it names answers.
    const account = owner as OwnerAccount | undefined;
    writeEndpoint(dataDir, { api, router, nats: natsUrl, token, pid: process.pid, user: account?.email, password: account?.password ?? undefined, ...(opts.tls?.certFile && opts.tls.caFile ? { ca: opts.tls.caFile } : {}) });
    started.push({ name: 'endpoint.json', stop: () => removeEndpoint(dataDir) });

    let stopping: Promise<void> | null = null;
    const each = (f: (p: ComponentProcess) => number | undefined): Partial<Record<PlatformComponent | 'nats', number>> => {
      const out: Partial<Record<PlatformComponent | 'nats', number>> = {};
      for (const [c, p] of procs) { const v = f(p); if (v !== undefined) out[c] = v; }
      return out;
    };
    return {
      dataDir, api, router, nats: natsUrl, token, owner: account, components: platformComponents,
      pids: () => ({ ...each((p) => p.pid), ...(natsPid() ? { nats: natsPid() } : {}) }),
      restarts: () => ({ ...each((p) => p.restarts), ...(opts.natsUrl ? {} : { nats: natsRestarts() }) }),
      stop: () => (stopping ??= stopAll()),
    };
  } catch (e) {
    await stopAll();
    throw e;
  }
}

/** The address and TLS flags a component process is started with: the supervisor's own. */
function addressArgs(o: SupervisedPlatformOptions): string[] {
  const out: string[] = [];
  const flag = (name: string, v: string | undefined): void => { if (v) out.push(name, v); };
  flag('--advertise', o.advertise);
  flag('--listen', o.listen);
  flag('--tls-cert', o.tls?.certFile);
  flag('--tls-key', o.tls?.keyFile);
  flag('--tls-ca', o.tls?.caFile);
  return out;
}
