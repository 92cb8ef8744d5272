// The data dir's runtime files: the lock that keeps one platform per data dir, the token that
// survives restarts, and endpoint.json that tells clients where the running platform is.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { writeFileAtomic } from './atomic-file';
import { endpointFileName, readEndpoint, type Endpoint } from './client';
import { newToken } from './bus';
import { UserFacingError } from './log';

export const lockFileName = 'pocket.lock';
export const tokenFileName = 'token';

interface LockRecord {
  pid: number;
  /** Kernel start time of that pid (Linux), so a reused pid is not taken for the owner. */
  startTime?: string;
  started: string;
}

export interface DirLock {
  dir: string;
  release(): void;
}

/** Another platform already runs on this data dir. */
export class PlatformRunningError extends UserFacingError {
  override name = 'PlatformRunningError';
  constructor(readonly dataDir: string, readonly pid: number, readonly api: string | null) {
    super(`Pocket Foundry is already running on ${dataDir} (pid ${pid}${api ? `, api ${api}` : ''}). ` +
      `Use it as it is, stop it first (Ctrl-C in its terminal, or \`kill ${pid}\`), or pick another folder with --data.`);
  }
}

function processStartTime(pid: number): string | undefined {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Field 22 (starttime) counted after the parenthesised command name, which may hold spaces.
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19];
  } catch {
    return undefined;
  }
}

/** True when the process that wrote the lock still runs. */
function lockOwnerAlive(rec: LockRecord): boolean {
  try {
    process.kill(rec.pid, 0);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'EPERM') return false;
  }
  const now = processStartTime(rec.pid);
  return !(rec.startTime && now && now !== rec.startTime);
}

function readLock(file: string): LockRecord | null {
  try {
    const o = JSON.parse(fs.readFileSync(file, 'utf8')) as LockRecord;
    return typeof o.pid === 'number' ? o : null;
  } catch {
    return null;
  }
}

/**
 * Takes `<dir>/pocket.lock` (created exclusively). A lock left by a dead process is taken over; one
 * held by a live process throws PlatformRunningError naming its pid and api.
 */
export function acquireDirLock(dir: string): DirLock {
  fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
  const file = path.join(dir, lockFileName);
  const rec: LockRecord = { pid: process.pid, startTime: processStartTime(process.pid), started: new Date().toISOString() };
  for (let attempt = 0; attempt < 5; attempt++) {
    try {
      fs.writeFileSync(file, JSON.stringify(rec) + '\n', { flag: 'wx', mode: 0o600 });
      let released = false;
      return {
        dir,
        release: () => {
          if (released) return;
          released = true;
          // Remove only our own lock.
          const cur = readLock(file);
          if (cur && cur.pid === rec.pid && cur.started === rec.started) fs.rmSync(file, { force: true });
        },
      };
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
    }
    const owner = readLock(file);
    if (owner && lockOwnerAlive(owner)) {
      throw new PlatformRunningError(dir, owner.pid, readEndpoint(dir)?.api ?? null);
    }
    if (!owner) {
      // Being written right now, or garbage: give a writer a moment before treating it as stale.
      const age = Date.now() - (fs.statSync(file, { throwIfNoEntry: false })?.mtimeMs ?? 0);
      if (age < 2000 && attempt < 4) { sleepSync(100); continue; }
    }
    fs.rmSync(file, { force: true });
    fs.rmSync(path.join(dir, endpointFileName), { force: true });
  }
  throw new UserFacingError(`Could not take the lock ${file}; another process keeps changing it.`);
}

/** `<base>`, else `<base>-2`, `<base>-3`, ...: the first that no live process holds (several DEAs on one host). */
export function claimComponentDir(base: string): DirLock {
  for (let n = 1; n < 100; n++) {
    const dir = n === 1 ? base : `${base}-${n}`;
    try {
      return acquireDirLock(dir);
    } catch (e) {
      if (!(e instanceof PlatformRunningError)) throw e;
    }
  }
  throw new UserFacingError(`Too many components running under ${path.dirname(base)}`);
}

/** The platform's token: kept in `<dataDir>/token` (0600) so a restart keeps what clients know. */
export function loadOrCreateToken(dataDir: string): string {
  const file = path.join(dataDir, tokenFileName);
  try {
    const t = fs.readFileSync(file, 'utf8').trim();
    if (/^[A-Za-z0-9_-]{16,}$/.test(t)) return t;
  } catch { /* create below */ }
  const token = newToken();
  fs.mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  writeFileAtomic(file, token + '\n');
  return token;
}

export function writeEndpoint(dataDir: string, e: Endpoint): void {
  writeFileAtomic(path.join(dataDir, endpointFileName), JSON.stringify(e, null, 2) + '\n');
}

export function removeEndpoint(dataDir: string, pid = process.pid): void {
  const cur = readEndpoint(dataDir);
  if (cur && cur.pid !== undefined && cur.pid !== pid) return;
  fs.rmSync(path.join(dataDir, endpointFileName), { force: true });
}

function sleepSync(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}
