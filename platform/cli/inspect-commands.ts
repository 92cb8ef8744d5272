// Commands that read: instances, stats, crashes, logs, files, info, and which platform is the target.
import * as path from 'node:path';
import * as readline from 'node:readline';
import type { Command } from 'commander';
import {
  clearSavedTarget, CloudControllerClient, CloudControllerError, defaultDataDir, formatBytes, formatDuration, formatMemory,
  formatTable, saveTarget,
} from '../client';
import { describeError, UserFacingError } from '../log';
import { out, since } from './output';
import { clientFor, globals, interruptSignal, mustApp, target, withClient } from './shared';

export async function instancesCommand(cmd: Command, name: string): Promise<void> {
  await withClient(cmd, async (client) => {
    await mustApp(client, name);
    const list = await client.instances(name);
    if (list.length === 0) { out(`${name} has no instances (stopped, or not started yet).`); return; }
    out(formatTable(['INDEX', 'STATE', 'SINCE'], list.map((i) => [String(i.index), i.state, since(i.since)])));
  });
}

export async function statsCommand(cmd: Command, name: string): Promise<void> {
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

export async function crashesCommand(cmd: Command, name: string): Promise<void> {
  await withClient(cmd, async (client) => {
    await mustApp(client, name);
    const crashes = await client.crashes(name);
    if (crashes.length === 0) { out(`${name} has not crashed.`); return; }
    out(formatTable(['INSTANCE', 'INDEX', 'SINCE', 'REASON'], crashes.map((c) => [
      c.instance, c.index === undefined ? '-' : String(c.index), since(c.since), c.reason ?? '-',
    ])));
  });
}

export const logFiles = { staging: 'logs/staging.log', stdout: 'logs/stdout.log', stderr: 'logs/stderr.log' } as const;
export type LogKind = keyof typeof logFiles;

export async function logsCommand(cmd: Command, name: string, flags: { follow?: boolean; instance: number; staging?: boolean; stdout?: boolean; stderr?: boolean }): Promise<void> {
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

export async function filesCommand(cmd: Command, name: string, filePath: string | undefined, flags: { instance: number }): Promise<void> {
  await withClient(cmd, async (client) => {
    await mustApp(client, name);
    const body = await client.files(name, flags.instance, filePath ?? '/');
    process.stdout.write(body);
    if (body.length > 0 && body[body.length - 1] !== 0x0a) out();
  });
}

export async function infoCommand(cmd: Command): Promise<void> {
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

export async function targetCommand(cmd: Command, url: string | undefined, flags: { local?: boolean }): Promise<void> {
  const g = globals(cmd);
  const dataDir = path.resolve(g.data ?? defaultDataDir());
  if (flags.local) {
    out(clearSavedTarget(dataDir) ? 'Saved target removed; using the local platform (endpoint.json).' : 'No saved target; using the local platform (endpoint.json).');
    return;
  }
  if (url) {
    let api: string;
    try { api = new URL(url).toString().replace(/\/+$/, ''); } catch { throw new UserFacingError(`Not a URL: ${url}`); }
    const token = g.token ?? process.env.POCKET_TOKEN ?? '';
    if (!token) throw new UserFacingError('Pass the platform token with --token TOKEN (it is in endpoint.json on the platform\'s machine).');
    const c = new CloudControllerClient({ api, token, ca: process.env.POCKET_CA || undefined });
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
