// The one catalog of runtimes and frameworks (PROTOCOL.md §4). It lives beside the messages because
// its names are what travels in them (`dea.start` runtime and framework, `dea.advertise` runtimes),
// and every component may import platform/bus. Each component adds only its own probes.

/** Canonical runtime names; v1's versioned names (`ruby19`, `node08`) are aliases of these. */
export const RuntimeNames = ['node', 'ruby', 'python3', 'java', 'php', 'erlang', 'go'] as const;
export type RuntimeName = (typeof RuntimeNames)[number];

export interface Runtime {
  name: RuntimeName;
  /** Shown in descriptions: `Node.js 20.1.0`. */
  label: string;
  /** Executables that provide it, first found wins. */
  executables: readonly string[];
  /** What a DEA that has it advertises, in this order. */
  advertised: readonly string[];
  /** Name stems a v1 name starts with before its version suffix (`node` in `node08`). */
  stems: readonly string[];
}

export const runtimes: readonly Runtime[] = [
  { name: 'node', label: 'Node.js', executables: ['node', 'nodejs'], advertised: ['node', 'node06', 'node08', 'node10'], stems: ['nodejs', 'node'] },
  { name: 'ruby', label: 'Ruby', executables: ['ruby'], advertised: ['ruby', 'ruby18', 'ruby19'], stems: ['ruby'] },
  { name: 'python3', label: 'Python', executables: ['python3', 'python'], advertised: ['python', 'python2', 'python3'], stems: ['python'] },
  { name: 'java', label: 'Java', executables: ['java'], advertised: ['java', 'java7'], stems: ['java'] },
  { name: 'php', label: 'PHP', executables: ['php'], advertised: ['php'], stems: ['php'] },
  { name: 'erlang', label: 'Erlang', executables: ['erl'], advertised: ['erlang', 'erlangR14B02'], stems: ['erlang'] },
  { name: 'go', label: 'Go', executables: ['go'], advertised: ['go'], stems: ['go'] },
];

/** A version suffix after the stem: digits (`19`, `2.7`, `-1.9`) or an Erlang release (`r14b02`). */
const versionSuffix = /^([\d._-][\w.-]*|r\d\w*)?$/;

/** The runtime a (v1-style) name stands for: `ruby19` -> ruby, `python2` -> python3; null when none. */
export function runtimeFamily(name: string | null | undefined): RuntimeName | null {
  const n = (name ?? '').trim().toLowerCase();
  for (const r of runtimes) {
    if (n === r.name) return r.name;
    for (const stem of r.stems) if (n.startsWith(stem) && versionSuffix.test(n.slice(stem.length))) return r.name;
  }
  return null;
}

/** Runtime names that need no interpreter of their own (the droplet's startup brings what it runs). */
export const needsNoRuntime: ReadonlySet<string> = new Set(['', 'none', 'static', 'standalone', 'shell', 'bash', 'sh']);

export const FrameworkNames = ['rails3', 'rack', 'sinatra', 'django', 'wsgi', 'node', 'static', 'standalone'] as const;
export type FrameworkName = (typeof FrameworkNames)[number];

export interface Framework {
  name: FrameworkName;
  /** Runtimes it runs on; empty: any installed runtime. */
  runtimes: RuntimeName[];
  /** v1's detection rules as `GET /info` shows them. */
  detection: Record<string, string | boolean>[];
  /** Default memory in MB. */
  memory: number;
}

/** Frameworks of PROTOCOL.md §4, in detection order. */
export const frameworks: readonly Framework[] = [
  { name: 'rails3', runtimes: ['ruby'], detection: [{ 'config/environment.rb': true }], memory: 256 },
  { name: 'rack', runtimes: ['ruby'], detection: [{ 'config.ru': true }], memory: 128 },
  { name: 'sinatra', runtimes: ['ruby'], detection: [{ '*.rb': "require 'sinatra'|require \"sinatra\"" }, { 'config/environment.rb': false }], memory: 128 },
  { name: 'django', runtimes: ['python3'], detection: [{ 'manage.py': true }, { 'settings.py': true }], memory: 128 },
  { name: 'wsgi', runtimes: ['python3'], detection: [{ 'wsgi.py': true }], memory: 128 },
  { name: 'node', runtimes: ['node'], detection: [{ '*.js': '.' }, { 'package.json': 'scripts.start' }], memory: 64 },
  { name: 'static', runtimes: [], detection: [{ 'index.html': true }], memory: 64 },
  { name: 'standalone', runtimes: [], detection: [], memory: 128 },
];

/** v1 and common names accepted for a framework. */
const frameworkAliases: Readonly<Record<string, FrameworkName>> = {
  rails: 'rails3', rails2: 'rails3', python: 'wsgi', flask: 'wsgi',
  nodejs: 'node', 'node.js': 'node', express: 'node', html: 'static',
};

/** The framework a (possibly aliased) name stands for, case-insensitive; undefined when none. */
export function frameworkNamed(name: string | null | undefined): Framework | undefined {
  const n = (name ?? '').trim().toLowerCase();
  const canonical = frameworkAliases[n] ?? n;
  return frameworks.find((f) => f.name === canonical);
}
