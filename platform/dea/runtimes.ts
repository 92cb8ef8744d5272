// Which runtimes this machine can run. v1 names carry a version (`node08`, `ruby19`, `python2`); a
// DEA here runs whatever version of the family is installed, so the family decides.
import * as fs from 'node:fs';
import * as path from 'node:path';

/** Family -> executables that provide it (first found wins) and the v1 names advertised for it. */
const families: Readonly<Record<string, { executables: string[]; aliases: string[] }>> = {
  node: { executables: ['node', 'nodejs'], aliases: ['node06', 'node08', 'node10'] },
  ruby: { executables: ['ruby'], aliases: ['ruby18', 'ruby19'] },
  python: { executables: ['python3', 'python'], aliases: ['python2', 'python3'] },
  java: { executables: ['java'], aliases: ['java7'] },
  php: { executables: ['php'], aliases: [] },
  erlang: { executables: ['erl'], aliases: ['erlangR14B02'] },
  go: { executables: ['go'], aliases: [] },
};

/** Runtime names that need no interpreter of their own (the droplet's startup brings what it runs). */
const needsNothing = new Set(['', 'none', 'static', 'standalone', 'shell', 'bash', 'sh']);

export interface RuntimeCatalog {
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

/** The family of a runtime name: `ruby19` -> `ruby`, `node` -> `node`, `erlangR14B02` -> `erlang`. */
export function runtimeFamily(runtime: string): string {
  const r = runtime.trim().toLowerCase().replace(/^nodejs/, 'node');
  // a version suffix: digits (`19`, `2.7`) or an Erlang release (`r14b02`)
  for (const f of Object.keys(families)) if (r === f || (r.startsWith(f) && /^([\d._-]|r\d)/.test(r.slice(f.length)))) return f;
  return r;
}

export function detectRuntimes(pathVar: string = process.env.PATH ?? ''): RuntimeCatalog {
  const present = new Set<string>();
  for (const [family, spec] of Object.entries(families)) {
    if (spec.executables.some((e) => onPath(e, pathVar))) present.add(family);
  }
  const advertised: string[] = [];
  for (const f of present) advertised.push(f, ...families[f].aliases);
  return {
    advertised: [...new Set(advertised)],
    supports(runtime: string): boolean {
      const r = runtime.trim().toLowerCase();
      if (needsNothing.has(r)) return true;
      return present.has(runtimeFamily(r));
    },
  };
}
