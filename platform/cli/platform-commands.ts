// `pocket up` and the components run alone (dea, stager, router, health): the platform in the foreground.
import * as path from 'node:path';
import type { Command } from 'commander';
import { defaultDataDir, readEndpoint } from '../client';
import { createLog, describeError, UserFacingError } from '../log';
import type { PlatformComponent, PlatformOptions } from '../platform';
import { isStopMessage, runningUnderSupervisor, type ReadyMessage } from '../supervisor/protocol';
import { HttpTls } from '../tls';
import { ExitCodes } from './exit-codes';
import { CliFailure } from './errors';
import { out } from './output';
import { globals } from './shared';

/**
 * The flags of `up` and of a component run alone (each command offers its own subset): the options
 * passed on as they are, and those `hostSettings` turns into options.
 */
export interface PlatformFlags extends Pick<PlatformOptions, 'natsToken' | 'apiPort' | 'routerPort' | 'advertise' | 'listen' | 'natsPort' | 'api'> {
  /** `natsUrl`. */
  nats?: string;
  natsRoutes?: string;
  natsClusterPort?: number;
  tlsCert?: string;
  tlsKey?: string;
  tlsCa?: string;
}

/** What every platform command takes from its address, cluster and TLS flags. */
function hostSettings(f: PlatformFlags): Pick<PlatformOptions, 'advertise' | 'listen' | 'natsPort' | 'natsCluster' | 'tls'> {
  const routes = (f.natsRoutes ?? '').split(',').map((r) => r.trim()).filter(Boolean);
  if ((f.tlsCert === undefined) !== (f.tlsKey === undefined)) throw new UserFacingError('--tls-cert and --tls-key go together.');
  const tls = f.tlsCert || f.tlsCa ? { certFile: absolute(f.tlsCert), keyFile: absolute(f.tlsKey), caFile: absolute(f.tlsCa) } : undefined;
  HttpTls.load(tls); // an unreadable file or a key that does not fit its certificate: refused before anything starts
  // A cluster node must be found at a known port; alone on one machine any free port does.
  const natsPort = f.natsPort ?? (routes.length > 0 || f.natsClusterPort !== undefined ? 4222 : undefined);
  return {
    advertise: f.advertise, listen: f.listen, natsPort, tls,
    natsCluster: routes.length > 0 || f.natsClusterPort !== undefined ? { routes, port: f.natsClusterPort } : undefined,
  };
}

function absolute(p: string | undefined): string | undefined {
  return p === undefined ? undefined : path.resolve(p);
}

export async function runPlatform(cmd: Command, opts: PlatformFlags, only?: PlatformComponent[]): Promise<void> {
  const g = globals(cmd);
  const dataDir = path.resolve(g.data ?? defaultDataDir());
  let natsUrl = opts.nats;
  let natsToken = opts.natsToken ?? g.token ?? process.env.POCKET_TOKEN;
  if (only && !natsUrl) {
    // A component alone joins the platform running on this data dir, unless told where NATS is.
    const ep = readEndpoint(dataDir);
    if (!ep?.nats) throw new UserFacingError(`No NATS to join: pass --nats URL --token TOKEN, or start \`pocket up\` on ${dataDir} first.`);
    natsUrl = ep.nats;
    natsToken ??= ep.token;
  }
  // A component alone must present the platform's token (NATS, droplet downloads); `up` keeps its own in the data dir.
  if (only && !natsToken) throw new UserFacingError('A component alone needs the platform token: pass --token TOKEN (or set POCKET_TOKEN).');
  const log = createLog('pocket');
  const supervised = Boolean(only) && runningUnderSupervisor();
  const [{ startPlatform }, { startSupervisedPlatform }, { NatsServerNotFound }] = await Promise.all([
    import('../platform.js'), import('../supervisor/index.js'), import('../bus/index.js'),
  ]);
  const hosts = hostSettings(opts);
  const starting = only
    ? startPlatform({ dataDir, natsUrl, natsToken, apiPort: opts.apiPort, routerPort: opts.routerPort, api: opts.api ?? g.api ?? (only?.includes('gateways') ? readEndpoint(dataDir)?.api : undefined), ...hosts, log, only, underSupervisor: supervised })
    : startSupervisedPlatform({ dataDir, natsUrl, natsToken, apiPort: opts.apiPort, routerPort: opts.routerPort, ...hosts, log });
  const p = await starting.catch((e: unknown) => {
    // Whoever started `pocket up` (the editor) learns a missing prerequisite from the exit code, not from the text.
    throw e instanceof NatsServerNotFound ? new CliFailure(e.message, ExitCodes.natsServerNotFound, { cause: e }) : e;
  });

  // Nothing else may hold the event loop while stopping (nats-server's handle is unref'd): keep it open until done.
  const keepAlive = setInterval(() => undefined, 1 << 30);
  let stopping = false;
  const stop = (sig: string): void => {
    if (stopping) { process.stderr.write(`${sig} again: exiting without waiting\n`); process.exit(1); }
    stopping = true;
    if (!supervised) process.stderr.write(`\n${sig}: stopping...\n`);
    const force = setTimeout(() => { process.stderr.write('stop took too long; exiting\n'); process.exit(1); }, 30_000);
    force.unref();
    p.stop().then(() => { clearInterval(keepAlive); if (!supervised) process.stderr.write('stopped\n'); process.exit(0); }, (e: unknown) => { process.stderr.write(`stop failed: ${describeError(e)}\n`); process.exit(1); });
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  if (supervised) {
    // The supervisor orders the stop (a terminal's Ctrl-C reaches the whole process group), and its end is ours.
    process.on('SIGINT', () => undefined);
    process.on('SIGHUP', () => undefined);
    process.on('message', (m: unknown) => { if (isStopMessage(m) && !stopping) stop('stop'); });
    process.on('disconnect', () => { if (!stopping) stop('supervisor gone'); });
    const ready: ReadyMessage = { type: 'ready', component: (only ?? [])[0] ?? 'controller', api: p.api, router: p.router, owner: p.owner };
    process.send?.(ready);
    await new Promise<never>(() => undefined);
  }
  process.on('SIGINT', () => stop('SIGINT'));
  process.on('SIGHUP', () => stop('SIGHUP'));

  if (only) {
    out(`Pocket Foundry ${only.join(', ')} running (pid ${process.pid}), joined ${p.nats}`);
  } else {
    out('Pocket Foundry is up.');
    out(`  api:     ${p.api ?? '-'}`);
    out(`  router:  ${p.router ?? '-'}${p.router ? `   (apps at http://<name>.localhost:${new URL(p.router).port}/)` : ''}`);
    out(`  nats:    ${p.nats}`);
    out(`  data:    ${p.dataDir}`);
    out(`  pid:     ${process.pid}`);
    // The generated password is shown once, on the start that made the account (it stays in endpoint.json).
    if (p.owner?.created && p.owner.password) out(`  owner:   ${p.owner.email}, password ${p.owner.password} (\`pocket login\`)`);
  }
  out('Press Ctrl-C to stop.');
  // Keep running until a signal arrives.
  await new Promise<never>(() => undefined);
}

/** `pocket nats`: a bare node of the platform's NATS cluster, for a host that runs no other component. */
export async function runNatsNode(cmd: Command, opts: PlatformFlags): Promise<void> {
  const g = globals(cmd);
  const dataDir = path.resolve(g.data ?? defaultDataDir());
  const token = opts.natsToken ?? g.token ?? process.env.POCKET_TOKEN;
  if (!token) throw new UserFacingError('A NATS node needs the platform token: pass --token TOKEN (or set POCKET_TOKEN).');
  const hosts = hostSettings({ ...opts, natsPort: opts.natsPort ?? 4222, natsClusterPort: opts.natsClusterPort ?? 6222 });
  const log = createLog('pocket');
  const { startEmbeddedNats, NatsServerNotFound } = await import('../bus/index.js');
  const node = await startEmbeddedNats({
    log: log.child('nats'), dir: path.join(dataDir, 'nats-node'), token,
    port: hosts.natsPort, advertise: hosts.advertise, listen: hosts.listen, cluster: hosts.natsCluster, tls: hosts.tls,
  }).catch((e: unknown) => {
    throw e instanceof NatsServerNotFound ? new CliFailure(e.message, ExitCodes.natsServerNotFound, { cause: e }) : e;
  });
  const keepAlive = setInterval(() => undefined, 1 << 30);
  const stop = (): void => { void node.stop().finally(() => { clearInterval(keepAlive); process.exit(0); }); };
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.on(sig, stop);
  out(`Pocket Foundry NATS node running (pid ${process.pid}): clients ${node.url}, routes to ${hosts.natsCluster?.routes.join(', ') || '(none yet)'}`);
  out('Press Ctrl-C to stop.');
  await new Promise<never>(() => undefined);
}

/** `pocket service-node TYPE`: one service node alone; its gateway runs with the platform (`pocket up`). */
export async function runServiceNodeCommand(cmd: Command, type: string, opts: PlatformFlags): Promise<void> {
  const g = globals(cmd);
  const dataDir = path.resolve(g.data ?? defaultDataDir());
  const { Bus, ServiceTypes: serviceTypes } = await import('../bus/index.js');
  if (!(serviceTypes as readonly string[]).includes(type)) {
    throw new UserFacingError(`Unknown service type '${type}': one of ${serviceTypes.join(', ')}.`);
  }
  let natsUrl = opts.nats;
  let token = opts.natsToken ?? g.token ?? process.env.POCKET_TOKEN;
  if (!natsUrl) {
    const ep = readEndpoint(dataDir);
    if (!ep?.nats) throw new UserFacingError(`No NATS to join: pass --nats URL --token TOKEN, or start \`pocket up\` on ${dataDir} first.`);
    natsUrl = ep.nats;
    token ??= ep.token;
  }
  if (!token) throw new UserFacingError('A service node needs the platform token: pass --token TOKEN (or set POCKET_TOKEN).');
  const log = createLog('pocket');
  const { runServiceNode } = await import('../services/index.js');
  const bus = await Bus.connect({ url: natsUrl, token, name: `pocket-${type}-node-${process.pid}`, log: log.child(type) });
  const node = await runServiceNode(type as (typeof serviceTypes)[number], { bus, log: log.child(type), dataDir, host: opts.listen ?? opts.advertise, advertise: opts.advertise })
    .catch(async (e: unknown) => { await bus.close(); throw e; });
  const keepAlive = setInterval(() => undefined, 1 << 30);
  const stop = (): void => { void node.stop().then(() => bus.close()).finally(() => { clearInterval(keepAlive); process.exit(0); }); };
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.on(sig, stop);
  out(`Pocket Foundry ${type} service node running (pid ${process.pid}), joined ${natsUrl}`);
  out('Press Ctrl-C to stop.');
  await new Promise<never>(() => undefined);
}
