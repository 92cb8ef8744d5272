// Child processes the benchmarks start (backends, routers, nginx, platforms): free ports, readiness,
// CPU time from /proc, and a stop that always reaps what was started.
import type { ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as net from 'node:net';
import { sleep } from './stats';

/** A free TCP port on 127.0.0.1 (bound, read, released: another process could take it in between). */
export async function freePort(): Promise<number> {
  const srv = net.createServer();
  await new Promise<void>((resolve, reject) => { srv.once('error', reject); srv.listen(0, '127.0.0.1', resolve); });
  const port = (srv.address() as net.AddressInfo).port;
  await new Promise<void>((resolve) => srv.close(() => resolve()));
  return port;
}

export interface Answer {
  status: number;
  body: string;
}

/** One GET with a fresh connection; rejects on a connection error or after `timeoutMs`. */
export function get(url: string, opts: { host?: string; timeoutMs?: number } = {}): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = http.request(url, { method: 'GET', agent: false, headers: opts.host ? { host: opts.host } : {} }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }));
      res.on('error', reject);
    });
    req.setTimeout(opts.timeoutMs ?? 2000, () => req.destroy(new Error('timeout')));
    req.on('error', reject);
    req.end();
  });
}

/**
 * Polls `url` every `everyMs` until `accept` says yes; resolves with the time of that answer
 * (hrtime) and the answer. Gives up after `limitMs`.
 */
export async function pollUntil(
  url: string, opts: { host?: string; everyMs: number; limitMs: number; accept?: (a: Answer) => boolean },
): Promise<{ at: bigint; answer: Answer; polls: number }> {
  const accept = opts.accept ?? ((a: Answer): boolean => a.status === 200);
  const deadline = Date.now() + opts.limitMs;
  let polls = 0;
  for (;;) {
    const started = Date.now();
    polls++;
    try {
      const answer = await get(url, { host: opts.host, timeoutMs: 1000 });
      if (accept(answer)) return { at: process.hrtime.bigint(), answer, polls };
    } catch { /* not up yet */ }
    if (Date.now() > deadline) throw new Error(`${url} (Host ${opts.host ?? '-'}) did not answer as expected within ${opts.limitMs} ms`);
    const wait = opts.everyMs - (Date.now() - started);
    if (wait > 0) await sleep(wait);
  }
}

/** Resolves with the first stdout line matching `re` (its first group), rejects if the child exits first. */
export function waitForLine(child: ChildProcess, re: RegExp, timeoutMs: number): Promise<string> {
  return new Promise((resolve, reject) => {
    let buf = '';
    const done = (err: Error | null, v?: string): void => {
      clearTimeout(timer);
      child.stdout?.off('data', onData);
      child.off('exit', onExit);
      if (err) reject(err); else resolve(v ?? '');
    };
    const onData = (c: Buffer): void => {
      buf += c.toString('utf8');
      const m = re.exec(buf);
      if (m) done(null, m[1] ?? m[0]);
    };
    const onExit = (code: number | null): void => done(new Error(`process ${child.pid} exited (${code}) before printing ${re}: ${buf.slice(-500)}`));
    const timer = setTimeout(() => done(new Error(`no ${re} from process ${child.pid} within ${timeoutMs} ms: ${buf.slice(-500)}`)), timeoutMs);
    child.stdout?.on('data', onData);
    child.once('exit', onExit);
  });
}

/** Waits until a TCP connect to 127.0.0.1:port succeeds. */
export async function waitForPort(port: number, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const ok = await new Promise<boolean>((resolve) => {
      const s = net.connect(port, '127.0.0.1');
      s.once('connect', () => { s.destroy(); resolve(true); });
      s.once('error', () => resolve(false));
    });
    if (ok) return;
    if (Date.now() > deadline) throw new Error(`nothing listens on 127.0.0.1:${port} after ${timeoutMs} ms`);
    await sleep(20);
  }
}

/** Stops a child: `signal`, then SIGKILL after `graceMs`; resolves once it has exited. */
export async function stopChild(child: ChildProcess, signal: NodeJS.Signals = 'SIGTERM', graceMs = 10_000): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.kill(signal);
  const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
  await exited;
  clearTimeout(timer);
}

const clockTicks = 100; // USER_HZ on Linux; /proc/<pid>/stat counts CPU time in these

/** CPU seconds (user + system) used so far by `pid`, or NaN when it cannot be read. */
export function cpuSeconds(pid: number): number {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the parenthesised command name; utime and stime are fields 14 and 15.
    const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(rest[11]) + Number(rest[12])) / clockTicks;
  } catch {
    return NaN;
  }
}

/** `pid` and its direct children (nginx's master and workers). */
export function withChildren(pid: number): number[] {
  try {
    const kids = fs.readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number);
    return [pid, ...kids];
  } catch {
    return [pid];
  }
}

/** CPU seconds of a set of processes together. */
export function cpuSecondsOf(pids: readonly number[]): number {
  return pids.reduce((n, p) => n + cpuSeconds(p), 0);
}
