// The `pocket` program: every command, its flags and help, in the order `pocket --help` lists them.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Command, Option } from 'commander';
import type { PlatformComponent } from '../platform';
import {
  appsCommand, deleteCommand, pushCommand, restartInstanceCommand, scaleCommand, startCommand, type PushFlags,
} from './app-commands';
import { crashesCommand, filesCommand, infoCommand, instancesCommand, logsCommand, statsCommand, targetCommand } from './inspect-commands';
import { out } from './output';
import { runNatsNode, runPlatform, runServiceNodeCommand, type PlatformFlags } from './platform-commands';
import {
  bindServiceCommand, createServiceCommand, deleteServiceCommand, marketplaceCommand, serviceCommand, servicesCommand, unbindServiceCommand,
} from './services-commands';
import { advertiseArg, listenArg, memoryArg, mustApp, portArg, wholeNumber, withClient } from './shared';
import { loginCommand, logoutCommand } from './users-commands';

export function buildProgram(): Command {
  const program = new Command('pocket')
    .description('Pocket Foundry: a small, faithful Cloud Foundry v1 on your machine.')
    .version(cliVersion(), '-V, --version')
    .option('--api <url>', 'cloud controller to use (default: the running platform; env POCKET_API)')
    .option('--token <token>', 'platform token (env POCKET_TOKEN)')
    .option('--data <dir>', `data folder (default: $POCKET_HOME, else $XDG_DATA_HOME/pocket-foundry, else ~/.local/share/pocket-foundry)`)
    .option('--verbose', 'on an internal error, print its stack (also POCKET_DEBUG=1)')
    .showHelpAfterError('(run `pocket --help` for the commands)')
    .showSuggestionAfterError(true)
    .configureHelp({ showGlobalOptions: true, sortSubcommands: false });

  // Several hosts: where a command listens, what it announces, and TLS on NATS and HTTP.
  const hostOptions = (c: Command): Command => c
    .option('--advertise <addr>', 'address other hosts reach this one at, announced in every message and URL (default 127.0.0.1)', advertiseArg)
    .option('--listen <addr>', 'address to listen on (default: the advertised one; 0.0.0.0 for every interface)', listenArg)
    .option('--tls-cert <file>', 'certificate (PEM) of this host: TLS on NATS client and route connections, and HTTPS for the API, transfers, file servers and gateways')
    .option('--tls-key <file>', 'key (PEM) of that certificate')
    .option('--tls-ca <file>', 'CA (PEM) that signed the platform\'s certificates: NATS nodes and HTTPS servers are checked against it');
  const clusterOptions = (c: Command, prefix: string): Command => c
    .option(`--${prefix}routes <urls>`, 'join a NATS cluster: the other nodes, comma-separated (nats://10.0.0.2:6222,nats://10.0.0.3:6222)')
    .option(`--${prefix}cluster-port <n>`, 'NATS cluster (route) port (default 6222)', portArg);

  const up = program.command('up')
    .description('run the platform in the foreground: NATS, controller, stager, DEA, health manager, router')
    .option('--nats <urls>', 'use this NATS server (or cluster nodes, comma-separated) instead of an embedded one')
    .option('--nats-token <token>', 'token of that NATS server (also the platform token)')
    .option('--api-port <n>', 'controller port (default: a free port)', portArg)
    .option('--router-port <n>', 'router port (default: a free port)', portArg)
    .option('--nats-port <n>', 'client port of the embedded nats-server (default: a free port; 4222 in a cluster)', portArg);
  clusterOptions(hostOptions(up), 'nats-')
    .action((opts: PlatformFlags, cmd: Command) => runPlatform(cmd, opts));

  const nats = program.command('nats')
    .description('run a bare node of the platform\'s NATS cluster (a host with no other component): --advertise ADDR --routes URLS --token T')
    .option('--port <n>', 'client port (default 4222)', portArg);
  clusterOptions(hostOptions(nats), '')
    .action((opts: PlatformFlags & { port?: number; routes?: string; clusterPort?: number }, cmd: Command) =>
      runNatsNode(cmd, { ...opts, natsPort: opts.port, natsRoutes: opts.routes, natsClusterPort: opts.clusterPort }));

  const component = (name: PlatformComponent, alias: string, description: string): Command => hostOptions(program.command(alias)
    .description(description)
    .option('--nats <urls>', 'NATS server(s) of the platform to join, comma-separated for failover (default: the one running on the data folder)'))
    .action((opts: PlatformFlags, cmd: Command) => runPlatform(cmd, opts, [name]));
  component('dea', 'dea', 'run one DEA alone (for more hosts or capacity); joins a platform through NATS (--nats URL --token T)');
  component('stager', 'stager', 'run one stager alone; joins a platform through NATS');
  component('router', 'router', 'run one router alone; joins a platform through NATS')
    .option('--port <n>', 'router port (default: a free port)', portArg)
    .action((opts: PlatformFlags & { port?: number }, cmd: Command) => runPlatform(cmd, { ...opts, routerPort: opts.port }, ['router']));
  component('health', 'health', 'run the health manager alone; joins a platform through NATS');
  component('gateways', 'gateways', 'run the service gateways and their nodes (PostgreSQL, Redis, MySQL: those installed) alone; joins a platform through NATS (--api URL: the controller they announce to)')
    .action((opts: PlatformFlags, cmd: Command) => runPlatform(cmd, opts, ['gateways']));
  program.command('service-node').description('run one service node alone (postgresql, redis or mysql): its servers on this host, provisioned through NATS')
    .argument('<type>', 'postgresql, redis or mysql')
    .option('--nats <urls>', 'NATS server(s) of the platform to join (default: the one running on the data folder)')
    .option('--advertise <addr>', 'address the database servers listen on and hand out in credentials (default 127.0.0.1)', advertiseArg)
    .action((type: string, opts: PlatformFlags, cmd: Command) => runServiceNodeCommand(cmd, type, opts));
  component('controller', 'controller', 'run the cloud controller alone on the data folder; joins a platform through NATS')
    .option('--api-port <n>', 'controller port (default: a free port)', portArg)
    .action((opts: PlatformFlags, cmd: Command) => runPlatform(cmd, opts, ['controller']));

  program.command('target')
    .description('show which platform the commands talk to, or save another one (pocket target URL --token T)')
    .argument('[url]', 'cloud controller URL to save as the target')
    .option('--local', 'forget the saved target and use the local platform again')
    .action((url: string | undefined, flags: { local?: boolean }, cmd: Command) => targetCommand(cmd, url, flags));

  program.command('login').description('log in (v1: POST /users/:email/tokens) and save the token for the target')
    .argument('[email]', 'account email (default: asked, or the local owner)').option('--password <password>', 'password (default: asked; env POCKET_PASSWORD)')
    .action((email: string | undefined, flags: { password?: string }, cmd: Command) => loginCommand(cmd, email, flags));
  program.command('logout').description('forget the saved token of the target').action((_o: unknown, cmd: Command) => logoutCommand(cmd));

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

  program.command('marketplace').description('list the services that can be created (offerings)').action((_o: unknown, cmd: Command) => marketplaceCommand(cmd));
  program.command('services').description('list your services and the apps bound to them').action((_o: unknown, cmd: Command) => servicesCommand(cmd));
  program.command('create-service').description('create a service: pocket create-service postgresql db')
    .argument('<type>', 'service type, as `pocket marketplace` lists it').argument('<name>')
    .option('--plan <plan>', 'plan (default: the first offered, free)').option('--version <version>', 'service version (default: the first offered)')
    .action((type: string, name: string, flags: { plan?: string; version?: string }, cmd: Command) => createServiceCommand(cmd, type, name, flags));
  program.command('delete-service').description('delete a service and its data; bound apps restart without it')
    .argument('<name>').option('-f, --force', 'do not ask for confirmation')
    .action((name: string, flags: { force?: boolean }, cmd: Command) => deleteServiceCommand(cmd, name, flags));
  program.command('bind-service').description('bind a service to an app (the app restarts with it in VCAP_SERVICES)')
    .argument('<service>').argument('<app>').action((s: string, a: string, _o: unknown, cmd: Command) => bindServiceCommand(cmd, s, a));
  program.command('unbind-service').description('unbind a service from an app and revoke the app\'s credentials')
    .argument('<service>').argument('<app>').action((s: string, a: string, _o: unknown, cmd: Command) => unbindServiceCommand(cmd, s, a));
  program.command('service').description('show a service and its credentials (secrets masked unless --show)')
    .argument('<name>').option('--show', 'print passwords too')
    .action((name: string, flags: { show?: boolean }, cmd: Command) => serviceCommand(cmd, name, flags));

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
