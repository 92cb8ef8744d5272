// Which catalog runtimes this machine can run. v1 names carry a version (`node08`, `ruby19`); a DEA
// here runs whatever version of the family is installed, so the family decides.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { needsNoRuntime, runtimeFamily, runtimes, type RuntimeName } from '../bus';

/** What this DEA can run: advertised on `dea.advertise` and checked on every start. */
export interface RuntimeSupport {
  /** Names for `dea.advertise`. */
  readonly advertised: string[];
  supports(runtime: string): boolean;
}

function onPath(exe: string, pathVar: string): boolean {
  for (const dir of pathVar.split(path.delimiter)) {
    if (!dir) continue;
    try {
      const p = path.join(dir, exe);
      fs.accessSync(p, fs.constants.X_OK);
      if (fs.statSync(p).isFile()) return true;
    } catch { /* next */ }
  }
  return false;
}

/** The DEA's probe: a runtime is present when one of its executables is on PATH. */
export function detectRuntimes(pathVar: string = process.env.PATH ?? ''): RuntimeSupport {
  const present = runtimes.filter((r) => r.executables.some((e) => onPath(e, pathVar)));
  const names = new Set<RuntimeName>(present.map((r) => r.name));
  return {
    advertised: [...new Set(present.flatMap((r) => r.advertised))],
    supports(runtime: string): boolean {
      if (needsNoRuntime.has(runtime.trim().toLowerCase())) return true;
      const family = runtimeFamily(runtime);
      return family !== null && names.has(family);
    },
  };
}
