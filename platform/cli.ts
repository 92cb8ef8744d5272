// `pocket`: runs the platform (`up`, or one component alone) and talks to it (push, apps, logs, ...).
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as readline from 'node:readline';
import { Command, InvalidArgumentError, Option } from 'commander';
import {
  clearSavedTarget, CloudControllerClient, CloudControllerError, defaultDataDir, ErrorCodes, findManifest, formatBytes, formatDuration,
  formatMemory, formatTable, parseMemory, push, readEndpoint, readManifest, resolveTarget, saveTarget, startApp,
  type App, type ManifestApp, type PushSummary, type Target,
} from './client';
import { createLog, describeError } from './log';
import type { PlatformComponent } from './platform';

interface GlobalOptions {
  api?: string;
  token?: string;
  data?: string;
}

const out = (s = ''): void => { process.stdout.write(s + '\n'); };

// ---- argument parsers (commander prints their message as `error: option ... argument ... is invalid`) ----

function wholeNumber(min: number): (v: string) => number {
  return (v) => {
    if (!/^\d+$/.test(v.trim())) throw new InvalidArgumentError(`must be a whole number, ${min} or more.`);
    const n = Number(v);
    if (n < min) throw new InvalidArgumentError(`must be ${min} or more.`);
    return n;
  };
}

function memoryArg(v: string): number {
  try { return parseMemory(v); } catch { throw new InvalidArgumentError('must be a size like 256, 256M or 1G.'); }
}

function portArg(v: string): number {
  const n = wholeNumber(0)(v);
  if (n > 65535) throw new InvalidArgumentError('must be a port number (0-65535).');
  return n;
}

// ---- shared plumbing ----------------------------------------------------------------------------

function globals(cmd: Command): GlobalOptions {
  return cmd.optsWithGlobals<GlobalOptions>();
}

function target(cmd: Command): Target {
  const g = globals(cmd);
  return resolveTarget({ api: g.api, token: g.token, dataDir: g.data });
}

function clientFor(t: Target): CloudControllerClient {
  return new CloudControllerClient({ api: t.api, token: t.token });
}

/** Runs a command body with a client, and closes its sockets so the process ends at once. */
async function withClient<T>(cmd: Command, body: (c: CloudControllerClient, t: Target) => Promise<T>): Promise<T> {
  const t = target(cmd);
  const c = clientFor(t);
  try { return await body(c, t); } finally { c.close(); }
}

async function mustApp(c: CloudControllerClient, name: string): Promise<App> {
  const app = await c.app(name);
  if (!app) throw new CloudControllerError(ErrorCodes.appNotFound, 404, `App ${name} not found. See \`pocket apps\`.`);
  return app;
}

function since(ts: number): string {
  if (!ts) return '-';
  const d = new Date(ts * 1000);
  const pad = (n: number): string => String(n).padStart(2, '0');
  const stamp = `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
  return `${stamp} (${formatDuration(Date.now() / 1000 - ts)} ago)`;
}

/** Aborts on Ctrl-C so a long wait (push, start, logs --follow) ends cleanly; a second Ctrl-C exits at once. */
function interruptSignal(): { signal: AbortSignal; dispose(): void } {
  const ac = new AbortController();
  const onSignal = (): void => {
    if (ac.signal.aborted) process.exit(130);
    ac.abort();
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  return { signal: ac.signal, dispose: () => { process.off('SIGINT', onSignal); process.off('SIGTERM', onSignal); } };
}

// ---- up and components --------------------------------------------------------------------------

async function runPlatform(cmd: Command, opts: { nats?: string; natsToken?: string; apiPort?: number; routerPort?: number }, only?: PlatformComponent[]): Promise<void> {
  const g = globals(cmd);
  const dataDir = path.resolve(g.data ?? defaultDataDir());
  let natsUrl = opts.nats;
  let natsToken = opts.natsToken ?? g.token ?? process.env.POCKET_TOKEN;
  if (only && !natsUrl) {
    // A component alone joins the platform running on this data dir, unless told where NATS is.
    const ep = readEndpoint(dataDir);
    if (!ep?.nats) throw new Error(`No NATS to join: pass --nats URL --token TOKEN, or start \`pocket up\` on ${dataDir} first.`);
    natsUrl = ep.nats;
    natsToken ??= ep.token;
  }
  // A component alone must present the platform's token (NATS, droplet downloads); `up` keeps its own in the data dir.
  if (only && !natsToken) throw new Error('A component alone needs the platform token: pass --token TOKEN (or set POCKET_TOKEN).');
  const log = createLog('pocket');
  const { startPlatform } = await import('./platform.js');
  const p = await startPlatform({ dataDir, natsUrl, natsToken, apiPort: opts.apiPort, routerPort: opts.routerPort, log, only });

  // Nothing else may hold the event loop while stopping (nats-server's handle is unref'd): keep it open until done.
  const keepAlive = setInterval(() => undefined, 1 << 30);
  let stopping = false;
  const stop = (sig: string): void => {
    if (stopping) { process.stderr.write(`${sig} again: exiting without waiting\n`); process.exit(1); }
    stopping = true;
    process.stderr.write(`\n${sig}: stopping...\n`);
    const force = setTimeout(() => { process.stderr.write('stop took too long; exiting\n'); process.exit(1); }, 30_000);
    force.unref();
    p.stop().then(() => { clearInterval(keepAlive); process.stderr.write('stopped\n'); process.exit(0); }, (e: unknown) => { process.stderr.write(`stop failed: ${describeError(e)}\n`); process.exit(1); });
  };
  process.on('SIGINT', () => stop('SIGINT'));
  process.on('SIGTERM', () => stop('SIGTERM'));
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
  }
  out('Press Ctrl-C to stop.');
  // Keep running until a signal arrives.
  await new Promise<never>(() => undefined);
}

// ---- push ---------------------------------------------------------------------------------------

interface PushFlags {
  name?: string;
  memory?: number;
  instances?: number;
  command?: string;
  host?: string;
  manifest?: string | false;
  start: boolean;
}

async function pushCommand(cmd: Command, pathArg: string | undefined, flags: PushFlags): Promise<void> {
  const given = path.resolve(pathArg ?? '.');
  if (!fs.existsSync(given)) throw new Error(`${pathArg ?? '.'} does not exist`);
  const manifestFile = flags.manifest === false ? null : flags.manifest ? path.resolve(flags.manifest) : findManifest(given);
  if (flags.manifest && !fs.existsSync(manifestFile as string)) throw new Error(`Manifest ${flags.manifest} does not exist`);
  const folder = fs.statSync(given).isDirectory() ? given : path.dirname(given);

  let apps: ManifestApp[] = [{}];
  if (manifestFile) {
    const m = await readManifest(manifestFile);
    for (const w of m.warnings) process.stderr.write(`warning: ${w}\n`);
    apps = m.applications;
    if (flags.name && apps.length > 1) {
      const pick = apps.filter((a) => a.name === flags.name);
      if (pick.length === 0) throw new Error(`${path.relative(process.cwd(), manifestFile)} has no app named ${flags.name} (it lists ${apps.map((a) => a.name).join(', ')})`);
      apps = pick;
    }
  }
  await withClient(cmd, async (client, t) => {
    for (const m of apps) {
      const dir = m.path ?? folder;
      const name = (apps.length === 1 ? flags.name : undefined) ?? m.name ?? defaultAppName(dir);
      out(`Pushing ${name} from ${path.relative(process.cwd(), dir) || '.'}${manifestFile ? ` (manifest ${path.relative(process.cwd(), manifestFile)})` : ''} to ${t.api}`);
      const interrupt = interruptSignal();
      let stagingHeader = false;
      try {
        const summary = await push({
          client, path: dir, name,
          memory: flags.memory ?? m.memory,
          instances: flags.instances ?? m.instances,
          command: flags.command ?? m.command,
          env: m.env,
          host: flags.host ?? m.host,
          framework: m.framework,
          noStart: !flags.start,
          routerUrl: t.router,
          signal: interrupt.signal,
          onProgress: (p) => {
            if (p.step === 'uploaded') printFingerprintSummary(p.summary);
            if (p.step === 'starting' && p.running < p.expected) process.stderr.write(`  ${p.running}/${p.expected} instances running\n`);
          },
          onStagingLog: (line) => {
            if (!stagingHeader) { out('Staging:'); stagingHeader = true; }
            out(`  ${line}`);
          },
        });
        printPushEnd(summary);
      } finally {
        interrupt.dispose();
      }
    }
  });
}

function defaultAppName(dir: string): string {
  const n = path.basename(dir).replace(/[^\w-]+/g, '-').replace(/^-+|-+$/g, '');
  if (!n) throw new Error('Give the app a name: --name NAME (or `name:` in manifest.yml)');
  return n;
}

function printFingerprintSummary(s: PushSummary): void {
  out(`  ${s.created ? 'created' : 'updated'} app ${s.app}`);
  out(`  files:          ${s.files} (${formatBytes(s.totalBytes)})`);
  out(`  matched:        ${s.matched}`);
  out(`  uploaded:       ${s.uploaded} (${formatBytes(s.uploadedBytes)})`);
  out(`  bytes sent:     ${formatBytes(s.bytesSent)}`);
  out(`  package hash:   ${s.packageHash ?? '-'}`);
  out(`  staging needed: ${s.stagingNeeded ? 'yes' : 'no'}`);
  if (s.reusedPackage) out('  (nothing changed since the last push of this folder: the controller\'s package was reused)');
  if (s.delta) out('  (only the changes since the last push of this folder were sent: a delta on the app\'s package)');
}

function printPushEnd(s: PushSummary): void {
  if (!s.started) {
    out(`${s.app} uploaded, not started (--no-start). Start it with \`pocket start ${s.app}\`.`);
    return;
  }
  out(`${s.app}: ${s.running}/${s.instances} instances running`);
  out(s.url ?? `${s.app} has no uri`);
}

// ---- app commands -------------------------------------------------------------------------------

async function startCommand(cmd: Command, name: string, verb: 'start' | 'restart'): Promise<void> {
  await withClient(cmd, async (client, t) => {
    await mustApp(client, name);
    if (verb === 'restart') {
      await client.updateApp(name, { state: 'STOPPED' });
      out(`Stopped ${name}`);
    }
    const interrupt = interruptSignal();
    let header = false;
    try {
      const r = await startApp({
        client, name, routerUrl: t.router, signal: interrupt.signal,
        onStagingLog: (line) => { if (!header) { out('Staging:'); header = true; } out(`  ${line}`); },
      });
      out(`${name}: ${r.running}/${r.app.instances} instances running`);
      if (r.url) out(r.url);
    } finally {
      interrupt.dispose();
    }
  });
}

/** `restart NAME --instance N`: the controller stops that index and places it again; wait until it runs. */
async function restartInstanceCommand(cmd: Command, name: string, index: number): Promise<void> {
  await withClient(cmd, async (client) => {
    await mustApp(client, name);
    const asked = Math.floor(Date.now() / 1000);
    const r = await client.restartInstance(name, index);
    const stopped = r.stopped.length ? ` (stopped ${r.stopped.map((id) => id.slice(0, 8)).join(', ')})` : '';
    if (!r.started) throw new Error(`Stopped ${name} #${index}${stopped}, but no DEA took it again: ${r.placement_error ?? 'no reason given'}. The health manager will try again.`);
    out(`Restarting ${name} #${index}${stopped}`);
    const interrupt = interruptSignal();
    try {
      const deadline = Date.now() + 60_000;
      while (!interrupt.signal.aborted) {
        const inst = (await client.instances(name, { signal: interrupt.signal })).find((i) => i.index === index);
        if (inst?.state === 'RUNNING' && inst.since >= asked) { out(`${name} #${index}: RUNNING`); return; }
        if (Date.now() > deadline) throw new Error(`${name} #${index} is not RUNNING after 60 s (now ${inst?.state ?? 'unknown'}); see \`pocket logs ${name} --instance ${index}\` and \`pocket crashes ${name}\``);
        await new Promise<void>((resolve) => setTimeout(resolve, 250));
      }
    } catch (e) {
      if (!interrupt.signal.aborted) throw e;
    } finally {
      interrupt.dispose();
    }
    out(`Not waiting any more; ${name} #${index} goes on starting.`);
  });
}

async function appsCommand(cmd: Command): Promise<void> {
  await withClient(cmd, async (client) => {
    const apps = await client.apps();
    if (apps.length === 0) { out('No apps. Push one with `pocket push PATH`.'); return; }
    out(formatTable(['NAME', 'STATE', 'INSTANCES', 'MEMORY', 'PACKAGE', 'URLS'], apps.map((a) => [
      a.name, a.state, `${a.runningInstances ?? 0}/${a.instances}`, formatMemory(a.resources.memory),
      a.package_state ?? '-', a.uris.join(', ') || '-',
    ])));
  });
}

async function confirm(question: string): Promise<boolean> {
  const rl = readline.createInterface({ input: process.stdin, output: process.stderr });
  try {
    const answer = await new Promise<string>((r) => rl.question(question, r));
    return /^y(es)?$/i.test(answer.trim());
  } finally {
    rl.close();
  }
}

async function deleteCommand(cmd: Command, name: string, flags: { force?: boolean }): Promise<void> {
  await withClient(cmd, async (client) => {
    await mustApp(client, name);
    if (!flags.force) {
      if (!process.stdin.isTTY) throw new Error(`Refusing to delete ${name} without confirmation: pass --force`);
      if (!(await confirm(`Really delete ${name}? Its instances stop and its package and droplet are removed. [y/N] `))) { out('Not deleted.'); return; }
    }
    await client.deleteApp(name);
    out(`Deleted ${name}`);
  });
}

async function instancesCommand(cmd: Command, name: string): Promise<void> {
  await withClient(cmd, async (client) => {
    await mustApp(client, name);
    const list = await client.instances(name);
    if (list.length === 0) { out(`${name} has no instances (stopped, or not started yet).`); return; }
    out(formatTable(['INDEX', 'STATE', 'SINCE'], list.map((i) => [String(i.index), i.state, since(i.since)])));
  });
}

async function statsCommand(cmd: Command, name: string): Promise<void> {
  await withClient(cmd, async (client) => {
    await mustApp(client, name);
    const stats = await client.stats(name);
    const rows = Object.entries(stats).sort((a, b) => Number(a[0]) - Number(b[0])).map(([idx, s]) => {
      const st = s.stats;
      if (!st) return [idx, s.state, '-', '-', '-', '-', '-'];
      return [
        idx, s.state, `${st.usage.cpu.toFixed(1)}%`,
        `${formatBytes(st.usage.mem * 1024)} of ${formatBytes(st.mem_quota)}`,
        formatBytes(st.usage.disk), formatDuration(st.uptime), st.port ? `${st.host}:${st.port}` : st.host,
      ];
    });
    if (rows.length === 0) { out(`${name} has no running instances.`); return; }
    out(formatTable(['INSTANCE', 'STATE', 'CPU', 'MEMORY', 'DISK', 'UPTIME', 'ADDRESS'], rows));
  });
}

async function crashesCommand(cmd: Command, name: string): Promise<void> {
  await withClient(cmd, async (client) => {
    await mustApp(client, name);
    const crashes = await client.crashes(name);
    if (crashes.length === 0) { out(`${name} has not crashed.`); return; }
    out(formatTable(['INSTANCE', 'INDEX', 'SINCE', 'REASON'], crashes.map((c) => [
      c.instance, c.index === undefined ? '-' : String(c.index), since(c.since), c.reason ?? '-',
    ])));
  });
}

async function scaleCommand(cmd: Command, name: string, flags: { instances?: number; memory?: number }): Promise<void> {
  if (flags.instances === undefined && flags.memory === undefined) throw new Error('Say what to change: --instances N and/or --memory SIZE');
  await withClient(cmd, async (client) => {
    const app = await mustApp(client, name);
    await client.updateApp(name, {
      ...(flags.instances !== undefined ? { instances: flags.instances } : {}),
      ...(flags.memory !== undefined ? { resources: { memory: flags.memory } } : {}),
      meta: { version: app.meta.version },
    });
    const now = await mustApp(client, name);
    out(`${name}: ${now.instances} instances of ${formatMemory(now.resources.memory)}`);
  });
}

const logFiles = { staging: 'logs/staging.log', stdout: 'logs/stdout.log', stderr: 'logs/stderr.log' } as const;
type LogKind = keyof typeof logFiles;

async function logsCommand(cmd: Command, name: string, flags: { follow?: boolean; instance: number; staging?: boolean; stdout?: boolean; stderr?: boolean }): Promise<void> {
  const chosen = (Object.keys(logFiles) as LogKind[]).filter((k) => flags[k]);
  const kinds: LogKind[] = chosen.length > 0 ? chosen : ['staging', 'stdout', 'stderr'];
  await withClient(cmd, async (client) => {
    await mustApp(client, name);
    if (!flags.follow) {
      for (const k of kinds) {
        try {
          const body = await client.files(name, flags.instance, logFiles[k]);
          if (kinds.length > 1) out(`==> ${logFiles[k]} <==`);
          process.stdout.write(body);
          if (body.length > 0 && body[body.length - 1] !== 0x0a) out();
        } catch (e) {
          if (e instanceof CloudControllerError && e.httpStatus < 500 && kinds.length > 1) { out(`==> ${logFiles[k]} <== (${e.description})`); continue; }
          throw e;
        }
      }
      return;
    }
    // Follow: the staging log through the event stream, stdout/stderr through `?tail=1`.
    const interrupt = interruptSignal();
    try {
      const follows: Promise<void>[] = [];
      const prefix = kinds.length > 1;
      if (kinds.includes('staging')) {
        follows.push(new Promise<void>((resolve) => {
          const sub = client.events({ app: name }, (e) => { if (e.type === 'staging' && e.line !== undefined) out(`${prefix ? '[staging] ' : ''}${e.line}`); });
          interrupt.signal.addEventListener('abort', () => { sub.close(); resolve(); }, { once: true });
        }));
      }
      for (const k of kinds.filter((x) => x !== 'staging')) {
        follows.push((async () => {
          const stream = await client.streamFile(name, flags.instance, logFiles[k], { tail: true, signal: interrupt.signal });
          const rl = readline.createInterface({ input: stream, crlfDelay: Infinity });
          try {
            for await (const line of rl) out(`${prefix ? `[${k}] ` : ''}${line}`);
          } catch (e) {
            if (!interrupt.signal.aborted) throw e;
          }
        })());
      }
      await Promise.all(follows);
    } finally {
      interrupt.dispose();
    }
  });
}

async function filesCommand(cmd: Command, name: string, filePath: string | undefined, flags: { instance: number }): Promise<void> {
  await withClient(cmd, async (client) => {
    await mustApp(client, name);
    const body = await client.files(name, flags.instance, filePath ?? '/');
    process.stdout.write(body);
    if (body.length > 0 && body[body.length - 1] !== 0x0a) out();
  });
}

async function infoCommand(cmd: Command): Promise<void> {
  await withClient(cmd, async (client, t) => {
    const [info, runtimes] = await Promise.all([client.info(), client.runtimes().catch(() => ({}))]);
    out(`${info.description || info.name}  (version ${info.version}, build ${info.build})`);
    out(`  api:     ${t.api}  (from ${t.source})`);
    if (t.router) out(`  router:  ${t.router}`);
    if (info.user) out(`  user:    ${info.user}`);
    if (info.limits && info.usage) {
      out(`  memory:  ${formatMemory(info.usage.memory)} of ${formatMemory(info.limits.memory)} used`);
      out(`  apps:    ${info.usage.apps} of ${info.limits.apps}`);
    }
    const rt = Object.entries(runtimes);
    if (rt.length > 0) {
      out('');
      out(formatTable(['RUNTIME', 'VERSION', 'DESCRIPTION'], rt.map(([n, r]) => [n, String(r.version), r.description ?? ''])));
    }
    const fw = Object.entries(info.frameworks ?? {});
    if (fw.length > 0) {
      out('');
      out(formatTable(['FRAMEWORK', 'RUNTIMES'], fw.map(([n, f]) => [n, (f.runtimes ?? []).map((r) => r.name).join(', ') || '-'])));
    }
  });
}

async function targetCommand(cmd: Command, url: string | undefined, flags: { local?: boolean }): Promise<void> {
  const g = globals(cmd);
  const dataDir = path.resolve(g.data ?? defaultDataDir());
  if (flags.local) {
    out(clearSavedTarget(dataDir) ? 'Saved target removed; using the local platform (endpoint.json).' : 'No saved target; using the local platform (endpoint.json).');
    return;
  }
  if (url) {
    let api: string;
    try { api = new URL(url).toString().replace(/\/+$/, ''); } catch { throw new Error(`Not a URL: ${url}`); }
    const token = g.token ?? process.env.POCKET_TOKEN ?? '';
    if (!token) throw new Error('Pass the platform token with --token TOKEN (it is in endpoint.json on the platform\'s machine).');
    const c = new CloudControllerClient({ api, token });
    try {
      await c.apps(); // proves both the address and the token
    } finally { c.close(); }
    saveTarget(dataDir, { api, token });
    out(`Target set to ${api} (saved in ${path.join(dataDir, 'target.json')})`);
    return;
  }
  const t = target(cmd);
  out(`api:     ${t.api}`);
  out(`source:  ${t.source}`);
  if (t.router) out(`router:  ${t.router}`);
  out(`data:    ${t.dataDir}`);
  const c = clientFor(t);
  try {
    await c.apps();
    out('status:  reachable');
  } catch (e) {
    out(`status:  ${describeError(e)}`);
  } finally { c.close(); }
}

// ---- the program --------------------------------------------------------------------------------

export function buildProgram(): Command {
  const program = new Command('pocket')
    .description('Pocket Foundry: a small, faithful Cloud Foundry v1 on your machine.')
    .version(cliVersion(), '-V, --version')
    .option('--api <url>', 'cloud controller to use (default: the running platform; env POCKET_API)')
    .option('--token <token>', 'platform token (env POCKET_TOKEN)')
    .option('--data <dir>', `data folder (default: $POCKET_HOME, else $XDG_DATA_HOME/pocket-foundry, else ~/.local/share/pocket-foundry)`)
    .showHelpAfterError('(run `pocket --help` for the commands)')
    .showSuggestionAfterError(true)
    .configureHelp({ showGlobalOptions: true, sortSubcommands: false });

  program.command('up')
    .description('run the platform in the foreground: NATS, controller, stager, DEA, health manager, router')
    .option('--nats <url>', 'use this NATS server instead of an embedded one')
    .option('--nats-token <token>', 'token of that NATS server (also the platform token)')
    .option('--api-port <n>', 'controller port (default: a free port)', portArg)
    .option('--router-port <n>', 'router port (default: a free port)', portArg)
    .action((opts: { nats?: string; natsToken?: string; apiPort?: number; routerPort?: number }, cmd: Command) => runPlatform(cmd, opts));

  const component = (name: PlatformComponent, alias: string, description: string): Command => program.command(alias)
    .description(description)
    .option('--nats <url>', 'NATS server of the platform to join (default: the one running on the data folder)')
    .action((opts: { nats?: string }, cmd: Command) => runPlatform(cmd, opts, [name]));
  component('dea', 'dea', 'run one DEA alone (for more hosts or capacity); joins a platform through NATS (--nats URL --token T)');
  component('stager', 'stager', 'run one stager alone; joins a platform through NATS');
  component('router', 'router', 'run one router alone; joins a platform through NATS')
    .option('--port <n>', 'router port (default: a free port)', portArg)
    .action((opts: { nats?: string; port?: number }, cmd: Command) => runPlatform(cmd, { nats: opts.nats, routerPort: opts.port }, ['router']));
  component('health', 'health', 'run the health manager alone; joins a platform through NATS');

  program.command('target')
    .description('show which platform the commands talk to, or save another one (pocket target URL --token T)')
    .argument('[url]', 'cloud controller URL to save as the target')
    .option('--local', 'forget the saved target and use the local platform again')
    .action((url: string | undefined, flags: { local?: boolean }, cmd: Command) => targetCommand(cmd, url, flags));

  program.command('info').description('show the platform: version, limits, usage, runtimes, frameworks')
    .action((_o: unknown, cmd: Command) => infoCommand(cmd));

  program.command('push')
    .description('push an app folder (manifest.yml and .cfignore honoured): upload only changed files, stage, start')
    .argument('[path]', 'app folder, or a manifest file (default: the current folder)')
    .option('-n, --name <name>', 'app name (default: from manifest.yml, else the folder name)')
    .option('-m, --memory <size>', 'memory per instance: 256, 256M, 1G', memoryArg)
    .option('-i, --instances <n>', 'number of instances', wholeNumber(0))
    .option('-c, --command <command>', 'start command (default: from the framework)')
    .option('--host <host>', 'host name: the app is reached at http://<host>.localhost:<router port>/')
    .option('-f, --manifest <file>', 'manifest to read (default: manifest.yml in the app folder)')
    .option('--no-manifest', 'ignore manifest.yml')
    .option('--no-start', 'upload only; do not stage or start')
    .action((p: string | undefined, flags: PushFlags, cmd: Command) => pushCommand(cmd, p, flags));

  program.command('apps').description('list apps').action((_o: unknown, cmd: Command) => appsCommand(cmd));

  program.command('delete').description('delete an app: stop its instances, remove its package and droplet')
    .argument('<name>').option('-f, --force', 'do not ask for confirmation')
    .action((name: string, flags: { force?: boolean }, cmd: Command) => deleteCommand(cmd, name, flags));

  program.command('start').description('start an app (staging it first if needed) and wait until it runs')
    .argument('<name>').action((name: string, _o: unknown, cmd: Command) => startCommand(cmd, name, 'start'));
  program.command('stop').description('stop an app').argument('<name>')
    .action((name: string, _o: unknown, cmd: Command) => withClient(cmd, async (c) => {
      await mustApp(c, name);
      await c.updateApp(name, { state: 'STOPPED' });
      out(`Stopped ${name}`);
    }));
  program.command('restart').description('stop then start an app, or restart one instance of it (--instance N)').argument('<name>')
    .option('--instance <n>', 'restart only this instance index: it is stopped and started again at once', wholeNumber(0))
    .action((name: string, flags: { instance?: number }, cmd: Command) =>
      flags.instance === undefined ? startCommand(cmd, name, 'restart') : restartInstanceCommand(cmd, name, flags.instance));

  program.command('scale').description('change the number of instances and/or the memory of each')
    .argument('<name>')
    .option('-i, --instances <n>', 'number of instances', wholeNumber(0))
    .option('-m, --memory <size>', 'memory per instance: 256, 256M, 1G', memoryArg)
    .action((name: string, flags: { instances?: number; memory?: number }, cmd: Command) => scaleCommand(cmd, name, flags));

  program.command('instances').description('list an app\'s instances and their states').argument('<name>')
    .action((name: string, _o: unknown, cmd: Command) => instancesCommand(cmd, name));
  program.command('stats').description('cpu, memory, disk and uptime of each running instance').argument('<name>')
    .action((name: string, _o: unknown, cmd: Command) => statsCommand(cmd, name));
  program.command('crashes').description('list an app\'s crashed instances').argument('<name>')
    .action((name: string, _o: unknown, cmd: Command) => crashesCommand(cmd, name));

  program.command('logs').description('show an app\'s staging log, stdout and stderr')
    .argument('<name>')
    .option('--follow', 'keep printing new lines (Ctrl-C to end)')
    .option('--instance <n>', 'instance index', wholeNumber(0), 0)
    .addOption(new Option('--staging', 'only the staging log'))
    .addOption(new Option('--stdout', 'only stdout'))
    .addOption(new Option('--stderr', 'only stderr'))
    .action((name: string, flags: { follow?: boolean; instance: number; staging?: boolean; stdout?: boolean; stderr?: boolean }, cmd: Command) => logsCommand(cmd, name, flags));

  program.command('files').description('list a folder of an instance, or print a file')
    .argument('<name>').argument('[path]', 'path inside the instance (default: /)')
    .option('--instance <n>', 'instance index', wholeNumber(0), 0)
    .action((name: string, p: string | undefined, flags: { instance: number }, cmd: Command) => filesCommand(cmd, name, p, flags));

  return program;
}

function cliVersion(): string {
  for (const rel of ['../package.json', '../../package.json']) {
    try {
      const pkg = JSON.parse(fs.readFileSync(path.join(__dirname, rel), 'utf8')) as { name?: string; version?: string };
      if (pkg.name === 'pocket-foundry' && pkg.version) return pkg.version;
    } catch { /* next */ }
  }
  return '0.0.0';
}

export async function main(argv: string[]): Promise<void> {
  try {
    await buildProgram().parseAsync(argv);
  } catch (e) {
    process.stderr.write(`error: ${describeError(e)}\n`);
    if (process.env.POCKET_DEBUG && e instanceof Error && e.stack) process.stderr.write(e.stack + '\n');
    process.exitCode = 1;
  }
}

/** A reader that stops early (`pocket files ... | head`) closes stdout: end quietly, as other tools do. */
function endQuietlyOnClosedStdout(): void {
  process.stdout.on('error', (e: NodeJS.ErrnoException) => {
    if (e.code === 'EPIPE') process.exit(0);
    throw e;
  });
}

if (require.main === module) {
  endQuietlyOnClosedStdout();
  void main(process.argv);
}
