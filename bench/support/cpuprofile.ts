// Reads a V8 `.cpuprofile` (from `node --cpu-prof`) and sums self time per function and per file,
// so a benchmark can say where a process spent its CPU.
import * as fs from 'node:fs';
import * as path from 'node:path';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}

interface Profile {
  /** Microseconds on the monotonic clock (the one `process.hrtime` reads). */
  startTime: number;
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

export interface ProfileSummary {
  totalMs: number;
  /** Not idle, not GC-free: every sample that was not `(idle)`. */
  busyMs: number;
  functions: { name: string; where: string; selfMs: number }[];
  /** Self time per source group (node:internal, the router, other node_modules, ...). */
  groups: { group: string; selfMs: number }[];
}

function groupOf(url: string, name: string, root: string): string {
  if (name === '(garbage collector)') return 'garbage collector';
  if (name === '(program)') return '(program: native, outside JS)';
  if (name === '(idle)') return '(idle)';
  if (!url) return 'native / builtins';
  if (url.startsWith('node:')) {
    const m = /^node:(internal\/)?([^/]+)/.exec(url);
    return `node:${m ? m[2] : url}`;
  }
  const file = url.startsWith('file://') ? url.slice(7) : url;
  const rel = path.relative(root, file);
  if (rel.startsWith('node_modules')) return rel.split(path.sep).slice(0, rel.split(path.sep)[1]?.startsWith('@') ? 3 : 2).join('/');
  if (!rel.startsWith('..')) return rel;
  return file;
}

/**
 * `window` (monotonic microseconds, as `process.hrtime.bigint() / 1000n` reads them in any process of
 * this machine) keeps only the samples taken inside it, e.g. while a load generator ran.
 */
export function summarizeProfile(file: string, root: string, window?: { fromUs: number; toUs: number }): ProfileSummary {
  const p = JSON.parse(fs.readFileSync(file, 'utf8')) as Profile;
  const byId = new Map<number, ProfileNode>();
  for (const n of p.nodes) byId.set(n.id, n);
  const self = new Map<number, number>();
  let totalUs = 0;
  let at = p.startTime;
  for (let i = 0; i < p.samples.length; i++) {
    const dt = p.timeDeltas[i] ?? 0;
    at += dt;
    if (window && (at < window.fromUs || at > window.toUs)) continue;
    totalUs += dt;
    self.set(p.samples[i], (self.get(p.samples[i]) ?? 0) + dt);
  }
  const fns = new Map<string, { name: string; where: string; selfMs: number }>();
  const groups = new Map<string, number>();
  let idleUs = 0;
  for (const [id, us] of self) {
    const n = byId.get(id);
    if (!n) continue;
    const { functionName, url, lineNumber } = n.callFrame;
    const name = functionName || '(anonymous)';
    if (name === '(idle)') idleUs += us;
    const where = url ? `${url.replace(`file://${root}/`, '')}:${lineNumber + 1}` : '';
    const key = `${name}@${where}`;
    const f = fns.get(key) ?? { name, where, selfMs: 0 };
    f.selfMs += us / 1000;
    fns.set(key, f);
    const g = groupOf(url, name, root);
    groups.set(g, (groups.get(g) ?? 0) + us / 1000);
  }
  return {
    totalMs: totalUs / 1000,
    busyMs: (totalUs - idleUs) / 1000,
    functions: [...fns.values()].filter((f) => f.name !== '(idle)').sort((a, b) => b.selfMs - a.selfMs),
    groups: [...groups.entries()].filter(([g]) => g !== '(idle)').map(([group, selfMs]) => ({ group, selfMs })).sort((a, b) => b.selfMs - a.selfMs),
  };
}
