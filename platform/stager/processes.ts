// Child processes of a staging task: each runs as the leader of its own process group, so a timeout
// or a cancellation kills everything it started (npm, its lifecycle scripts, their children).
import { execFile, spawn } from 'node:child_process';

export interface ProcessGroupSet {
  add(pgid: number): void;
  delete(pgid: number): void;
}

export interface RunOptions {
  cwd: string;
  env: NodeJS.ProcessEnv;
  signal: AbortSignal;
  groups: ProcessGroupSet;
  /** Called for every line of stdout and stderr, in arrival order, as it arrives. */
  onLine(line: string): void;
}

export interface RunResult {
  code: number | null;
  signal: NodeJS.Signals | null;
}

// Terminal control sequences some tools still emit with colours off (cursor moves, erase line).
// eslint-disable-next-line no-control-regex
const ansi = /\u001b\[[0-9;?]*[ -/]*[@-~]|\u001b\][^\u0007]*\u0007/g;

export function cleanLine(line: string): string {
  return line.replace(ansi, '').replace(/\s+$/, '');
}

/** Splits a byte stream into lines; `\r` (progress redraws) also ends a line. */
function lineSplitter(onLine: (line: string) => void): { push(chunk: Buffer): void; end(): void } {
  let rest = '';
  const emit = (l: string): void => { const c = cleanLine(l); if (c.length > 0) onLine(c); };
  return {
    push(chunk) {
      const parts = (rest + chunk.toString('utf8')).split(/\r\n|\n|\r/);
      rest = parts.pop() ?? '';
      for (const p of parts) emit(p);
    },
    end() { if (rest) emit(rest); rest = ''; },
  };
}

export function killGroup(pgid: number): void {
  try { process.kill(-pgid, 'SIGKILL'); } catch { /* ESRCH: already gone */ }
}

/**
 * Runs `cmd args` in its own process group with its output streamed line by line. Resolves with the
 * exit status; when `signal` aborts, the whole group is killed and the promise rejects with the
 * signal's reason once the leader has exited.
 */
export function runInGroup(cmd: string, args: string[], opts: RunOptions): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    if (opts.signal.aborted) { reject(opts.signal.reason); return; }
    const child = spawn(cmd, args, { cwd: opts.cwd, env: opts.env, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
    const pgid = child.pid;
    if (pgid !== undefined) opts.groups.add(pgid);
    const out = lineSplitter(opts.onLine);
    const err = lineSplitter(opts.onLine);
    child.stdout.on('data', (c: Buffer) => out.push(c));
    child.stderr.on('data', (c: Buffer) => err.push(c));
    const onAbort = (): void => { if (pgid !== undefined) killGroup(pgid); };
    opts.signal.addEventListener('abort', onAbort, { once: true });
    let settled = false;
    const finish = (fn: () => void): void => {
      if (settled) return;
      settled = true;
      opts.signal.removeEventListener('abort', onAbort);
      fn();
    };
    child.on('error', (e) => finish(() => { if (pgid !== undefined) opts.groups.delete(pgid); reject(e); }));
    child.on('exit', (code, sig) => {
      // The leader is gone; kill what it left in its group (a background child would hold our pipes).
      if (pgid !== undefined) { killGroup(pgid); opts.groups.delete(pgid); }
      // Give the pipes a moment to deliver the last lines, then stop waiting for them.
      const drained = new Promise<void>((r) => {
        let open = 2;
        const one = (): void => { if (--open === 0) r(); };
        child.stdout.once('close', one);
        child.stderr.once('close', one);
      });
      const timer = new Promise<void>((r) => setTimeout(r, 500).unref());
      void Promise.race([drained, timer]).then(() => {
        child.stdout.destroy();
        child.stderr.destroy();
        out.end();
        err.end();
        finish(() => (opts.signal.aborted ? reject(opts.signal.reason) : resolve({ code, signal: sig })));
      });
    });
  });
}

export interface ProbeResult {
  ok: boolean;
  stdout: string;
  stderr: string;
}

/** A short command whose output we want whole (a version, a module check); never throws. */
export function probe(cmd: string, args: string[], opts: { cwd?: string; env?: NodeJS.ProcessEnv; timeoutMs?: number } = {}): Promise<ProbeResult> {
  return new Promise((resolve) => {
    execFile(cmd, args, { cwd: opts.cwd, env: opts.env, timeout: opts.timeoutMs ?? 15_000, killSignal: 'SIGKILL', maxBuffer: 1 << 20 }, (err, stdout, stderr) => {
      resolve({ ok: !err, stdout: String(stdout).trim(), stderr: String(stderr).trim() });
    });
  });
}
