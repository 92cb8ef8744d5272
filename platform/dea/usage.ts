// Resource usage of an instance: cpu and memory summed over its process group (pidusage), disk as
// the bytes under its folder.
import * as fs from 'node:fs';
import * as path from 'node:path';
import pidusage from 'pidusage';
import { groupMembers } from './process-group';

export interface ProcessUsage {
  /** Percent of one core, summed over the group (may exceed 100 on several cores). */
  cpu: number;
  /** Resident memory in bytes, summed over the group. */
  memBytes: number;
  pids: number[];
}

/** `historyMs`: how long pidusage keeps a pid's previous reading (cpu is the delta since then). */
export async function sampleGroup(pgid: number, historyMs: number): Promise<ProcessUsage> {
  const pids = groupMembers(pgid);
  // One pid at a time: a process that exits between listing and sampling must not spoil the rest
  const results = await Promise.allSettled(pids.map((pid) => pidusage(pid, { maxage: historyMs })));
  let cpu = 0;
  let memBytes = 0;
  for (const r of results) {
    if (r.status !== 'fulfilled') continue;
    cpu += Number.isFinite(r.value.cpu) ? r.value.cpu : 0;
    memBytes += r.value.memory;
  }
  return { cpu, memBytes, pids };
}

/** Bytes of regular files under `dir` (links not followed); stops counting after `maxEntries`. */
export async function directoryBytes(dir: string, maxEntries = 200_000): Promise<number> {
  let total = 0;
  let seen = 0;
  const stack = [dir];
  while (stack.length && seen < maxEntries) {
    const d = stack.pop() as string;
    let entries: fs.Dirent[];
    try { entries = await fs.promises.readdir(d, { withFileTypes: true }); } catch { continue; }
    for (const e of entries) {
      if (++seen > maxEntries) break;
      const full = path.join(d, e.name);
      if (e.isDirectory()) stack.push(full);
      else if (e.isFile()) {
        try { total += (await fs.promises.lstat(full)).size; } catch { /* vanished */ }
      }
    }
  }
  return total;
}

/** pidusage asks the system for its clock tick and page size on first use (a child process): do it early. */
export function warmUpSampling(): void {
  pidusage(process.pid).catch(() => undefined);
}

/** Forgets pidusage's per-pid history (open /proc handles) for pids that are gone. */
export function forgetPids(): void {
  pidusage.clear();
}
