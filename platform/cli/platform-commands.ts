// `pocket up` and the components run alone (dea, stager, router, health): the platform in the foreground.
import * as path from 'node:path';
import type { Command } from 'commander';
import { defaultDataDir, readEndpoint } from '../client';
import { createLog, describeError, UserFacingError } from '../log';
import type { PlatformComponent } from '../platform';
import { isStopMessage, runningUnderSupervisor, type ReadyMessage } from '../supervisor/protocol';
import { ExitCodes } from './exit-codes';
import { CliFailure } from './errors';
import { out } from './output';
import { globals } from './shared';

export async function runPlatform(cmd: Command, opts: { nats?: string; natsToken?: string; apiPort?: number; routerPort?: number }, only?: PlatformComponent[]): Promise<void> {
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
  const starting = only
    ? startPlatform({ dataDir, natsUrl, natsToken, apiPort: opts.apiPort, routerPort: opts.routerPort, log, only, underSupervisor: supervised })
    : startSupervisedPlatform({ dataDir, natsUrl, natsToken, apiPort: opts.apiPort, routerPort: opts.routerPort, log });
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
    const ready: ReadyMessage = { type: 'ready', component: (only ?? [])[0] ?? 'controller', api: p.api, router: p.router };
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
