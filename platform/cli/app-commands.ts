// Commands that change apps: push, start, restart (one instance too), apps, delete, scale.
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Command } from 'commander';
import { findManifest, formatMemory, formatTable, push, readManifest, startApp, type ManifestApp } from '../client';
import { UserFacingError } from '../log';
import { out, printFingerprintSummary, printPushEnd } from './output';
import { bindManifestServices } from './services-commands';
import { confirm, interruptSignal, mustApp, withClient } from './shared';

export interface PushFlags {
  name?: string;
  memory?: number;
  instances?: number;
  command?: string;
  host?: string;
  manifest?: string | false;
  start: boolean;
}

export async function pushCommand(cmd: Command, pathArg: string | undefined, flags: PushFlags): Promise<void> {
  const given = path.resolve(pathArg ?? '.');
  if (!fs.existsSync(given)) throw new UserFacingError(`${pathArg ?? '.'} does not exist`);
  const manifestFile = flags.manifest === false ? null : flags.manifest ? path.resolve(flags.manifest) : findManifest(given);
  if (flags.manifest && !fs.existsSync(manifestFile as string)) throw new UserFacingError(`Manifest ${flags.manifest} does not exist`);
  const folder = fs.statSync(given).isDirectory() ? given : path.dirname(given);

  let apps: ManifestApp[] = [{}];
  if (manifestFile) {
    const m = await readManifest(manifestFile);
    for (const w of m.warnings) process.stderr.write(`warning: ${w}\n`);
    apps = m.applications;
    if (flags.name && apps.length > 1) {
      const pick = apps.filter((a) => a.name === flags.name);
      if (pick.length === 0) throw new UserFacingError(`${path.relative(process.cwd(), manifestFile)} has no app named ${flags.name} (it lists ${apps.map((a) => a.name).join(', ')})`);
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
        // The manifest's `services:` are bound after the push; the controller restarts the app with them.
        if (m.services?.length) await bindManifestServices(client, name, m.services);
        printPushEnd(summary);
      } finally {
        interrupt.dispose();
      }
    }
  });
}

export function defaultAppName(dir: string): string {
  const n = path.basename(dir).replace(/[^\w-]+/g, '-').replace(/^-+|-+$/g, '');
  if (!n) throw new UserFacingError('Give the app a name: --name NAME (or `name:` in manifest.yml)');
  return n;
}

export async function startCommand(cmd: Command, name: string, verb: 'start' | 'restart'): Promise<void> {
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
export async function restartInstanceCommand(cmd: Command, name: string, index: number): Promise<void> {
  await withClient(cmd, async (client) => {
    await mustApp(client, name);
    const asked = Math.floor(Date.now() / 1000);
    const r = await client.restartInstance(name, index);
    const stopped = r.stopped.length ? ` (stopped ${r.stopped.map((id) => id.slice(0, 8)).join(', ')})` : '';
    if (!r.started) throw new UserFacingError(`Stopped ${name} #${index}${stopped}, but no DEA took it again: ${r.placement_error ?? 'no reason given'}. The health manager will try again.`);
    out(`Restarting ${name} #${index}${stopped}`);
    const interrupt = interruptSignal();
    try {
      const deadline = Date.now() + 60_000;
      while (!interrupt.signal.aborted) {
        const inst = (await client.instances(name, { signal: interrupt.signal })).find((i) => i.index === index);
        if (inst?.state === 'RUNNING' && inst.since >= asked) { out(`${name} #${index}: RUNNING`); return; }
        if (Date.now() > deadline) throw new UserFacingError(`${name} #${index} is not RUNNING after 60 s (now ${inst?.state ?? 'unknown'}); see \`pocket logs ${name} --instance ${index}\` and \`pocket crashes ${name}\``);
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

export async function appsCommand(cmd: Command): Promise<void> {
  await withClient(cmd, async (client) => {
    const apps = await client.apps();
    if (apps.length === 0) { out('No apps. Push one with `pocket push PATH`.'); return; }
    out(formatTable(['NAME', 'STATE', 'INSTANCES', 'MEMORY', 'PACKAGE', 'URLS'], apps.map((a) => [
      a.name, a.state, `${a.runningInstances ?? 0}/${a.instances}`, formatMemory(a.resources.memory),
      a.package_state ?? '-', a.uris.join(', ') || '-',
    ])));
  });
}
export async function deleteCommand(cmd: Command, name: string, flags: { force?: boolean }): Promise<void> {
  await withClient(cmd, async (client) => {
    await mustApp(client, name);
    if (!flags.force) {
      if (!process.stdin.isTTY) throw new UserFacingError(`Refusing to delete ${name} without confirmation: pass --force`);
      if (!(await confirm(`Really delete ${name}? Its instances stop and its package and droplet are removed. [y/N] `))) { out('Not deleted.'); return; }
    }
    await client.deleteApp(name);
    out(`Deleted ${name}`);
  });
}

export async function scaleCommand(cmd: Command, name: string, flags: { instances?: number; memory?: number }): Promise<void> {
  if (flags.instances === undefined && flags.memory === undefined) throw new UserFacingError('Say what to change: --instances N and/or --memory SIZE');
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
