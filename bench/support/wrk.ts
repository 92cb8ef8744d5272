// Runs `wrk` (Debian package) and parses its report: requests/s, request count, latency percentiles, errors.
import { spawn } from 'node:child_process';

export interface WrkOptions {
  url: string;
  threads: number;
  connections: number;
  durationSec: number;
  headers?: Record<string, string>;
  /** wrk's per-request timeout (its default is 2 s). */
  timeoutSec?: number;
}

export interface WrkResult {
  requestsPerSec: number;
  requests: number;
  /** Wall time wrk reported for the run, seconds. */
  seconds: number;
  p50Ms: number;
  p99Ms: number;
  /** Non-2xx/3xx responses. */
  non2xx: number;
  /** Socket errors (connect, read, write, timeout). */
  socketErrors: number;
  /** CPU seconds (user + system) wrk itself used, from bash's `times`; NaN when unknown. */
  cpuSec: number;
  raw: string;
}

function toMs(value: string, unit: string): number {
  const v = Number(value);
  switch (unit) {
    case 'us': return v / 1000;
    case 'ms': return v;
    case 's': return v * 1000;
    case 'm': return v * 60_000;
    default: return NaN;
  }
}

export function parseWrk(out: string): WrkResult {
  const num = (re: RegExp): number => { const m = re.exec(out); return m ? Number(m[1]) : NaN; };
  const pct = (p: string): number => {
    const m = new RegExp(`^\\s*${p}%\\s+([\\d.]+)(us|ms|s|m)\\s*$`, 'm').exec(out);
    return m ? toMs(m[1], m[2]) : NaN;
  };
  const done = /(\d+) requests in ([\d.]+)(us|ms|s|m)/.exec(out);
  const sock = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(out);
  const non2xx = num(/Non-2xx or 3xx responses: (\d+)/);
  return {
    requestsPerSec: num(/Requests\/sec:\s+([\d.]+)/),
    requests: done ? Number(done[1]) : NaN,
    seconds: done ? toMs(done[2], done[3]) / 1000 : NaN,
    p50Ms: pct('50'),
    p99Ms: pct('99'),
    non2xx: Number.isNaN(non2xx) ? 0 : non2xx,
    socketErrors: sock ? sock.slice(1, 5).reduce((n, x) => n + Number(x), 0) : 0,
    cpuSec: NaN,
    raw: out,
  };
}

/** The children's line of bash's `times` (`0m1.234s 0m0.567s`): user + system seconds. */
function parseTimes(stderr: string): number {
  const lines = stderr.trim().split('\n').filter((l) => /^\d+m[\d.]+s \d+m[\d.]+s$/.test(l.trim()));
  const last = lines[lines.length - 1];
  if (!last) return NaN;
  return last.trim().split(' ').reduce((n, t) => {
    const m = /^(\d+)m([\d.]+)s$/.exec(t);
    return m ? n + Number(m[1]) * 60 + Number(m[2]) : NaN;
  }, 0);
}

export function runWrk(o: WrkOptions): Promise<WrkResult> {
  const args = [`-t${o.threads}`, `-c${o.connections}`, `-d${o.durationSec}s`, '--latency', '--timeout', `${o.timeoutSec ?? 2}s`];
  for (const [k, v] of Object.entries(o.headers ?? {})) args.push('-H', `${k}: ${v}`);
  args.push(o.url);
  return new Promise((resolve, reject) => {
    // Through bash, whose `times` reports the CPU time of wrk once it has exited.
    const child = spawn('bash', ['-c', 'wrk "$@"; s=$?; times >&2; exit $s', 'wrk', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (c: Buffer) => { out += c.toString('utf8'); });
    child.stderr.on('data', (c: Buffer) => { err += c.toString('utf8'); });
    child.on('error', (e) => reject(new Error(`bash could not run wrk: ${e.message}`)));
    child.on('exit', (code) => {
      if (code === 127) { reject(new Error('wrk is not installed: apt-get install wrk')); return; }
      if (code !== 0) { reject(new Error(`wrk exited with ${code}: ${err || out}`)); return; }
      const r = { ...parseWrk(out), cpuSec: parseTimes(err) };
      if (!Number.isFinite(r.requestsPerSec)) { reject(new Error(`could not read wrk's report:\n${out}`)); return; }
      resolve(r);
    });
  });
}
