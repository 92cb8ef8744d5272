// Runtimes installed on this machine and the frameworks they make available. v1 names carry a
// version (`ruby19`, `node08`); here each family is what is installed, and v1 names are aliases.
import { execFile } from 'node:child_process';

export interface Runtime {
  /** Canonical name: `node`, `ruby`, `python3`. */
  name: string;
  version: string;
  description: string;
  /** v1-style names accepted for it (`ruby19`, `node08`, `python`). */
  aliases: RegExp;
}

export interface Framework {
  name: string;
  /** Canonical runtime names it runs on; empty: any installed runtime. */
  runtimes: string[];
  detection: Record<string, string | boolean>[];
  memory: number;
}

/** Frameworks of PROTOCOL.md §4, in detection order. */
export const knownFrameworks: readonly Framework[] = [
  { name: 'rails3', runtimes: ['ruby'], detection: [{ 'config/environment.rb': true }], memory: 256 },
  { name: 'rack', runtimes: ['ruby'], detection: [{ 'config.ru': true }], memory: 128 },
  { name: 'sinatra', runtimes: ['ruby'], detection: [{ '*.rb': "require 'sinatra'|require \"sinatra\"" }, { 'config/environment.rb': false }], memory: 128 },
  { name: 'django', runtimes: ['python3'], detection: [{ 'manage.py': true }, { 'settings.py': true }], memory: 128 },
  { name: 'wsgi', runtimes: ['python3'], detection: [{ 'wsgi.py': true }], memory: 128 },
  { name: 'node', runtimes: ['node'], detection: [{ '*.js': '.' }, { 'package.json': 'scripts.start' }], memory: 64 },
  { name: 'static', runtimes: [], detection: [{ 'index.html': true }], memory: 64 },
  { name: 'standalone', runtimes: [], detection: [], memory: 128 },
];

/** Framework names accepted as another's alias. */
const frameworkAliases: Record<string, string> = { python: 'wsgi', flask: 'wsgi', rails: 'rails3', nodejs: 'node', html: 'static' };

interface Probe {
  name: string;
  exe: string;
  args: string[];
  label: string;
  aliases: RegExp;
}

const probes: readonly Probe[] = [
  { name: 'node', exe: 'node', args: ['-p', 'process.versions.node'], label: 'Node.js', aliases: /^node(js)?[\d.]*$/ },
  { name: 'ruby', exe: 'ruby', args: ['-e', 'print RUBY_VERSION'], label: 'Ruby', aliases: /^ruby[\d.]*$/ },
  { name: 'python3', exe: 'python3', args: ['-c', 'import platform; print(platform.python_version())'], label: 'Python', aliases: /^python(3[\d.]*)?$/ },
];

function probe(p: Probe, timeoutMs: number): Promise<Runtime | undefined> {
  return new Promise((resolve) => {
    execFile(p.exe, p.args, { timeout: timeoutMs, windowsHide: true }, (err, stdout) => {
      const version = String(stdout ?? '').trim().split(/\s+/)[0];
      if (err || !/^\d+(\.\d+)*/.test(version)) { resolve(undefined); return; }
      resolve({ name: p.name, version, description: `${p.label} ${version}`, aliases: p.aliases });
    });
  });
}

/** Probing costs up to seconds (interpreter shims); one probe per process and PATH is enough. */
const detected = new Map<string, Promise<RuntimeCatalog>>();

export class RuntimeCatalog {
  constructor(readonly runtimes: readonly Runtime[]) {}

  /** Probes the executables on PATH (node falls back to the one running this process); memoised. */
  static detect(timeoutMs = 10_000): Promise<RuntimeCatalog> {
    const key = process.env.PATH ?? '';
    let p = detected.get(key);
    if (!p) {
      p = RuntimeCatalog.probeAll(timeoutMs);
      detected.set(key, p);
    }
    return p;
  }

  private static async probeAll(timeoutMs: number): Promise<RuntimeCatalog> {
    const found = await Promise.all(probes.map((p) => probe(p, timeoutMs)));
    if (!found[0]) {
      const v = process.versions.node;
      found[0] = { name: 'node', version: v, description: `Node.js ${v}`, aliases: probes[0].aliases };
    }
    return new RuntimeCatalog(found.filter((r): r is Runtime => r !== undefined));
  }

  /** The installed runtime a (possibly v1-style) name stands for. */
  resolve(name: string): Runtime | undefined {
    const n = name.trim().toLowerCase();
    return this.runtimes.find((r) => r.name === n || r.aliases.test(n));
  }

  framework(name: string): Framework | undefined {
    const n = name.trim().toLowerCase();
    const canonical = frameworkAliases[n] ?? n;
    return knownFrameworks.find((f) => f.name === canonical);
  }

  /** Frameworks that can run here, with the runtimes they can use. */
  available(): { framework: Framework; runtimes: Runtime[] }[] {
    return knownFrameworks
      .map((framework) => ({ framework, runtimes: framework.runtimes.length ? this.runtimes.filter((r) => framework.runtimes.includes(r.name)) : [...this.runtimes] }))
      .filter((f) => f.runtimes.length > 0);
  }

  /** `GET /info/runtimes`. */
  toInfo(): Record<string, { version: string; description: string; debug_modes: string[] }> {
    const out: Record<string, { version: string; description: string; debug_modes: string[] }> = {};
    for (const r of this.runtimes) out[r.name] = { version: r.version, description: r.description, debug_modes: [] };
    return out;
  }

  /** The `frameworks` part of `GET /info`. */
  frameworksInfo(): Record<string, { name: string; runtimes: { name: string; version: string; description: string; default: boolean }[]; detection: Record<string, string | boolean>[] }> {
    const out: ReturnType<RuntimeCatalog['frameworksInfo']> = {};
    for (const { framework, runtimes } of this.available()) {
      out[framework.name] = {
        name: framework.name,
        runtimes: runtimes.map((r, i) => ({ name: r.name, version: r.version, description: r.description, default: i === 0 })),
        detection: framework.detection,
      };
    }
    return out;
  }
}
