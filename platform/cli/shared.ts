// Plumbing every `pocket` command shares: argument parsers, the target and its client, Ctrl-C, prompts.
import * as readline from 'node:readline';
import { InvalidArgumentError, type Command } from 'commander';
import { CloudControllerClient, CloudControllerError, ErrorCodes, parseMemory, resolveTarget, type App, type Target } from '../client';

export interface GlobalOptions {
  api?: string;
  token?: string;
  data?: string;
  verbose?: boolean;
}

// ---- argument parsers (commander prints their message as `error: option ... argument ... is invalid`) ----

export function wholeNumber(min: number): (v: string) => number {
  return (v) => {
    if (!/^\d+$/.test(v.trim())) throw new InvalidArgumentError(`must be a whole number, ${min} or more.`);
    const n = Number(v);
    if (n < min) throw new InvalidArgumentError(`must be ${min} or more.`);
    return n;
  };
}

export function memoryArg(v: string): number {
  try { return parseMemory(v); } catch { throw new InvalidArgumentError('must be a size like 256, 256M or 1G.'); }
}

export function portArg(v: string): number {
  const n = wholeNumber(0)(v);
  if (n > 65535) throw new InvalidArgumentError('must be a port number (0-65535).');
  return n;
}

/** An address others can reach: an IPv4/IPv6 address or a host name, never a wildcard. */
export function advertiseArg(v: string): string {
  const a = v.trim();
  if (a === '0.0.0.0' || a === '::' || !/^[A-Za-z0-9.:-]+$/.test(a)) throw new InvalidArgumentError('must be an address or host name other hosts reach this one at (not 0.0.0.0).');
  return a;
}

/** A listen address: an IPv4/IPv6 address or host name; 0.0.0.0 for every interface. */
export function listenArg(v: string): string {
  const a = v.trim();
  if (!/^[A-Za-z0-9.:-]+$/.test(a)) throw new InvalidArgumentError('must be an address to listen on, such as 0.0.0.0 or 10.0.0.5.');
  return a;
}

// ---- shared plumbing ----------------------------------------------------------------------------

export function globals(cmd: Command): GlobalOptions {
  return cmd.optsWithGlobals<GlobalOptions>();
}

export function target(cmd: Command): Target {
  const g = globals(cmd);
  return resolveTarget({ api: g.api, token: g.token, dataDir: g.data });
}

export function clientFor(t: Target): CloudControllerClient {
  return new CloudControllerClient({ api: t.api, token: t.token, ca: t.ca });
}

/** Runs a command body with a client, and closes its sockets so the process ends at once. */
export async function withClient<T>(cmd: Command, body: (c: CloudControllerClient, t: Target) => Promise<T>): Promise<T> {
  const t = target(cmd);
  const c = clientFor(t);
  try { return await body(c, t); } finally { c.close(); }
}

export async function mustApp(c: CloudControllerClient, name: string): Promise<App> {
  const app = await c.app(name);
  if (!app) throw new CloudControllerError(ErrorCodes.appNotFound, 404, `App ${name} not found. See \`pocket apps\`.`);
  return app;
}

/** Aborts on Ctrl-C so a long wait (push, start, logs --follow) ends cleanly; a second Ctrl-C exits at once. */
export function interruptSignal(): { signal: AbortSignal; dispose(): void } {
  const ac = new AbortController();
  const onSignal = (): void => {
    if (ac.signal.aborted) process.exit(130);
    ac.abort();
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  return { signal: ac.signal, dispose: () => { process.off('SIGINT', onSignal); process.off('SIGTERM', onSignal); } };
}

export async function confirm(question: string): Promise<boolean> {
  const rl = readline.createInterface({ input: process.stdin, output: process.stderr });
  try {
    const answer = await new Promise<string>((r) => rl.question(question, r));
    return /^y(es)?$/i.test(answer.trim());
  } finally {
    rl.close();
  }
}
