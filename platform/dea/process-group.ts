// Process groups: every instance runs `startup` as the leader of its own group, so the whole tree
// (bash, the app, whatever the app forks) is signalled, sampled and awaited as one.
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';

const hasProc = fs.existsSync('/proc/self/stat');

interface ProcEntry { pid: number; ppid: number; pgid: number; zombie: boolean }

function readProcStat(pid: number): ProcEntry | null {
  let text: string;
  try { text = fs.readFileSync(`/proc/${pid}/stat`, 'utf8'); } catch { return null; }
  // `pid (comm) state ppid pgrp ...`; comm may hold spaces and parentheses, so cut at the last ')'
  const fields = text.slice(text.lastIndexOf(')') + 2).split(' ');
  return { pid, ppid: Number(fields[1]), pgid: Number(fields[2]), zombie: fields[0] === 'Z' || fields[0] === 'X' };
}

function allPids(): number[] {
  const out: number[] = [];
  for (const name of fs.readdirSync('/proc')) {
    const n = Number(name);
    if (Number.isInteger(n) && n > 0) out.push(n);
  }
  return out;
}

/** Living (non-zombie) members of process group `pgid`. Zombies count as gone: nothing runs in them. */
export function groupMembers(pgid: number): number[] {
  if (hasProc) {
    const out: number[] = [];
    for (const pid of allPids()) {
      const e = readProcStat(pid);
      if (e && e.pgid === pgid && !e.zombie) out.push(pid);
    }
    return out;
  }
  try {
    const text = execFileSync('ps', ['-A', '-o', 'pid=,pgid=,stat='], { encoding: 'utf8' });
    const out: number[] = [];
    for (const line of text.split('\n')) {
      const [pid, pg, stat] = line.trim().split(/\s+/);
      if (Number(pg) === pgid && !String(stat).startsWith('Z')) out.push(Number(pid));
    }
    return out;
  } catch {
    return groupAlive(pgid) ? [pgid] : [];
  }
}

function groupAlive(pgid: number): boolean {
  try { process.kill(-pgid, 0); return true; } catch (e) { return (e as NodeJS.ErrnoException).code === 'EPERM'; }
}

/** Sends `signal` to every process of the group; a group that is already gone is fine. */
export function signalGroup(pgid: number, signal: NodeJS.Signals): void {
  try { process.kill(-pgid, signal); } catch { /* ESRCH: nothing left to signal */ }
}

/** Resolves true once no living member is left, false if some remain after `timeoutMs`. */
export async function waitGroupGone(pgid: number, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (groupMembers(pgid).length === 0) return true;
    if (Date.now() >= deadline) return false;
    await new Promise((r) => setTimeout(r, 25));
  }
}

/** SIGTERM, up to `graceMs` to exit, then SIGKILL; resolves when the group is gone (or given up on). */
export async function terminateGroup(pgid: number, graceMs: number): Promise<boolean> {
  signalGroup(pgid, 'SIGTERM');
  if (await waitGroupGone(pgid, graceMs)) return true;
  signalGroup(pgid, 'SIGKILL');
  return waitGroupGone(pgid, 5000);
}

/** Synchronous last resort (process exit): SIGKILL the groups, no waiting. */
export function killGroupsNow(pgids: Iterable<number>): void {
  for (const pgid of pgids) signalGroup(pgid, 'SIGKILL');
}

/**
 * App processes an earlier DEA on `appsDir` started (Linux only; elsewhere an empty list): those whose
 * environment has the `HOME` of an instance folder under it. Used at start-up to find apps a DEA
 * left running when it died; a user's shell that merely `cd`s there is not one of them.
 */
export function appProcessesUnder(appsDir: string): Array<{ pid: number; pgid: number }> {
  if (!hasProc) return [];
  const root = appsDir.endsWith(path.sep) ? appsDir : appsDir + path.sep;
  const out: Array<{ pid: number; pgid: number }> = [];
  for (const pid of allPids()) {
    if (pid === process.pid) continue;
    let environ: string;
    try { environ = fs.readFileSync(`/proc/${pid}/environ`, 'utf8'); } catch { continue; }
    const home = environ.split('\0').find((v) => v.startsWith('HOME='))?.slice(5);
    const isApp = environ.startsWith('VCAP_APPLICATION=') || environ.includes('\0VCAP_APPLICATION=');
    if (!home || !home.startsWith(root) || !isApp) continue;
    const e = readProcStat(pid);
    if (e && !e.zombie) out.push({ pid, pgid: e.pgid });
  }
  return out;
}

/** True while `pid` exists and is not a zombie. */
export function pidAlive(pid: number): boolean {
  if (hasProc) {
    const e = readProcStat(pid);
    return e !== null && !e.zombie;
  }
  try { process.kill(pid, 0); return true; } catch (e) { return (e as NodeJS.ErrnoException).code === 'EPERM'; }
}
