// Operating-system helpers of the service nodes: the account a server runs as (databases refuse to
// run as root), commands run to completion, random secrets, stale server processes.
import { execFile, execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';

/** The account a server process runs as; undefined: the platform's own. */
export interface RunAs {
  user: string;
  uid: number;
  gid: number;
}

/** As root, the Debian package's system account (`postgres`, `mysql`, `redis`); otherwise ourselves. */
export function serviceAccount(user: string): RunAs | undefined {
  if (process.getuid?.() !== 0) return undefined;
  const line = fs.readFileSync('/etc/passwd', 'utf8').split('\n').find((l) => l.startsWith(`${user}:`));
  if (!line) throw new Error(`running as root and there is no '${user}' account to run the server as`);
  const [, , uid, gid] = line.split(':');
  return { user, uid: Number(uid), gid: Number(gid) };
}

/** Makes a directory the server's own (0700), and every ancestor searchable by it (o+x, never listable). */
export function prepareServerDir(dir: string, runAs: RunAs | undefined): void {
  fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
  if (!runAs) return;
  fs.chownSync(dir, runAs.uid, runAs.gid);
  for (let d = path.dirname(dir); d !== path.dirname(d); d = path.dirname(d)) {
    const st = fs.statSync(d);
    if ((st.mode & 0o001) === 0) fs.chmodSync(d, (st.mode & 0o7777) | 0o001);
  }
}

/** Writes a file only the server's account (and root) can read. */
export function writeServerFile(file: string, content: string, runAs: RunAs | undefined): void {
  fs.writeFileSync(file, content, { mode: 0o600 });
  if (runAs) fs.chownSync(file, runAs.uid, runAs.gid);
}

export interface RunResult { stdout: string; stderr: string }

/** Runs a command to completion; rejects with its stderr on a non-zero exit. */
export function run(cmd: string, args: readonly string[], opts: { runAs?: RunAs; env?: NodeJS.ProcessEnv; input?: string; timeoutMs?: number } = {}): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = execFile(cmd, args, {
      uid: opts.runAs?.uid, gid: opts.runAs?.gid, env: { ...process.env, ...opts.env },
      timeout: opts.timeoutMs ?? 60_000, maxBuffer: 4 * 1024 * 1024, cwd: '/',
    }, (err, stdout, stderr) => {
      if (err) reject(new Error(`${path.basename(cmd)} failed: ${(stderr || err.message).trim()}`, { cause: err }));
      else resolve({ stdout, stderr });
    });
    // A client that exits early (server not up yet) closes its stdin: its exit code is the answer.
    child.stdin?.on('error', () => undefined);
    if (opts.input !== undefined) child.stdin?.end(opts.input);
  });
}

/** The first line of `<bin> --version`, or undefined when the binary is missing. */
export function versionOutput(bin: string): string | undefined {
  try {
    return execFileSync(bin, ['--version'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'], timeout: 10_000 }).split('\n')[0];
  } catch {
    return undefined;
  }
}

/** A random secret in an alphabet that is safe in SQL literals, config files and URIs. */
export function newSecret(bytes = 24): string {
  return randomBytes(bytes).toString('base64url');
}

/** A new identifier: a letter then hex (database, user and instance names). */
export function newIdentifier(prefix: string): string {
  return `${prefix}${randomBytes(12).toString('hex')}`;
}

/** Kills what a pid file names when it is still a live `<command>` (left behind by a platform that was killed). */
export async function killStale(pidFile: string, command: string): Promise<void> {
  let pid: number;
  try {
    pid = Number(fs.readFileSync(pidFile, 'utf8').split('\n')[0].trim());
  } catch {
    return;
  }
  if (!Number.isInteger(pid) || pid <= 1 || !isProcess(pid, command)) return;
  process.kill(pid, 'SIGTERM');
  for (let i = 0; i < 100 && isProcess(pid, command); i++) await sleep(100);
  if (isProcess(pid, command)) process.kill(pid, 'SIGKILL');
  for (let i = 0; i < 50 && isProcess(pid, command); i++) await sleep(100);
}

function isProcess(pid: number, command: string): boolean {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    if (stat.slice(stat.lastIndexOf(')') + 2).startsWith('Z')) return false;
    return fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes(command);
  } catch {
    return false;
  }
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
