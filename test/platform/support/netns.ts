// Hosts for multi-host tests: network namespaces joined by veth pairs to a bridge that lives in a
// namespace of its own, addresses from a private test range used only between them. Everything
// made here (namespaces, links, processes) is removed by cleanup(), even after a failure.
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';

export interface TestHost {
  name: string;
  /** The namespace's name. */
  ns: string;
  ip: string;
}

export interface TestNetwork {
  hosts: TestHost[];
  /** Runs `command args` inside the host's namespace, in its own process group. */
  spawn(host: TestHost, command: string, args: string[], env: NodeJS.ProcessEnv): ChildProcess;
  /** Takes the host's link down: its packets go nowhere, no FIN or RST reaches anyone. */
  cutLink(host: TestHost): void;
  /** Brings a cut link back up (the host comes back). */
  restoreLink(host: TestHost): void;
  /** SIGKILL to every process in the host's namespace. */
  killAll(host: TestHost): void;
  cleanup(): void;
}

const ip = (args: string[]): string => execFileSync('ip', args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });

/** Throws a clear error when namespaces cannot be made here (not root, no `ip`). */
export function assertCanMakeNamespaces(): void {
  if (process.getuid?.() !== 0) throw new Error('multi-host tests make network namespaces and must run as root (CI does); this run is not root');
  try { ip(['-V']); } catch (e) { throw new Error(`multi-host tests need iproute2's \`ip\`: ${(e as Error).message}`, { cause: e }); }
}

/** `names` hosts at `<prefix>.1`, `<prefix>.2`, ... (prefix such as 10.231.0). */
export function makeTestNetwork(names: string[], prefix: string): TestNetwork {
  assertCanMakeNamespaces();
  const tag = `pf${process.pid % 100_000}`;
  const bridgeNs = `${tag}-br`;
  const hosts = names.map((name, i) => ({ name, ns: `${tag}-${name}`, ip: `${prefix}.${i + 1}` }));
  const made: string[] = [];
  const children: ChildProcess[] = [];
  const killAll = (h: { ns: string }): void => {
    let pids: string[];
    try { pids = ip(['netns', 'pids', h.ns]).split('\n').filter(Boolean); } catch { return; }
    for (const p of pids) { try { process.kill(Number(p), 'SIGKILL'); } catch { /* gone */ } }
  };
  const cleanup = (): void => {
    for (const c of children) if (c.exitCode === null && c.signalCode === null && c.pid) { try { process.kill(-c.pid, 'SIGKILL'); } catch { /* gone */ } }
    for (const ns of made) killAll({ ns });
    // Deleting a namespace deletes the veth ends inside it, and with them their peers.
    for (const ns of made.splice(0).reverse()) { try { ip(['netns', 'del', ns]); } catch { /* gone */ } }
  };
  try {
    for (const ns of [bridgeNs, ...hosts.map((h) => h.ns)]) { ip(['netns', 'add', ns]); made.push(ns); ip(['-n', ns, 'link', 'set', 'lo', 'up']); }
    ip(['-n', bridgeNs, 'link', 'add', 'br0', 'type', 'bridge']);
    ip(['-n', bridgeNs, 'link', 'set', 'br0', 'up']);
    hosts.forEach((h, i) => {
      const inner = `${tag}h${i}`;
      const outer = `${tag}b${i}`;
      ip(['link', 'add', inner, 'type', 'veth', 'peer', 'name', outer]);
      ip(['link', 'set', inner, 'netns', h.ns]);
      ip(['link', 'set', outer, 'netns', bridgeNs]);
      ip(['-n', h.ns, 'addr', 'add', `${h.ip}/24`, 'dev', inner]);
      ip(['-n', h.ns, 'link', 'set', inner, 'up']);
      ip(['-n', bridgeNs, 'link', 'set', outer, 'master', 'br0']);
      ip(['-n', bridgeNs, 'link', 'set', outer, 'up']);
    });
  } catch (e) {
    cleanup();
    throw e;
  }
  return {
    hosts,
    spawn(h, command, args, env) {
      const child = spawn('ip', ['netns', 'exec', h.ns, command, ...args], { env, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
      children.push(child);
      return child;
    },
    cutLink(h) {
      const i = hosts.indexOf(h);
      ip(['-n', bridgeNs, 'link', 'set', `${tag}b${i}`, 'down']);
      ip(['-n', h.ns, 'link', 'set', `${tag}h${i}`, 'down']);
    },
    restoreLink(h) {
      const i = hosts.indexOf(h);
      ip(['-n', bridgeNs, 'link', 'set', `${tag}b${i}`, 'up']);
      ip(['-n', h.ns, 'link', 'set', `${tag}h${i}`, 'up']);
    },
    killAll,
    cleanup,
  };
}
