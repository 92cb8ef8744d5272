// Runtimes installed on this machine and the frameworks they make available. The names, aliases and
// frameworks come from the shared catalog (platform/bus/catalog.ts); this file only probes versions.
import { execFile } from 'node:child_process';
import { frameworkNamed, frameworks, runtimeFamily, runtimes as catalogRuntimes, type Framework, type Runtime, type RuntimeName } from '../bus';

/** A catalog runtime found on this machine, with the version it reports. */
export interface InstalledRuntime {
  /** Canonical name: `node`, `ruby`, `python3`. */
  name: RuntimeName;
  version: string;
  description: string;
}

/** The runtimes the controller offers, each with how to ask its version. */
const versionArgs: Partial<Record<RuntimeName, string[]>> = {
  node: ['-p', 'process.versions.node'],
  ruby: ['-e', 'print RUBY_VERSION'],
  python3: ['-c', 'import platform; print(platform.python_version())'],
};

const offered: readonly Runtime[] = catalogRuntimes.filter((r) => versionArgs[r.name] !== undefined);

function probe(r: Runtime, timeoutMs: number): Promise<InstalledRuntime | undefined> {
  return new Promise((resolve) => {
    execFile(r.executables[0], versionArgs[r.name] ?? [], { timeout: timeoutMs, windowsHide: true }, (err, stdout) => {
      const version = String(stdout ?? '').trim().split(/\s+/)[0];
      if (err || !/^\d+(\.\d+)*/.test(version)) { resolve(undefined); return; }
      resolve({ name: r.name, version, description: `${r.label} ${version}` });
    });
  });
}

/** Probing costs up to seconds (interpreter shims); one probe per process and PATH is enough. */
const detected = new Map<string, Promise<RuntimeCatalog>>();

export class RuntimeCatalog {
  constructor(readonly runtimes: readonly InstalledRuntime[]) {}

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
    const found = await Promise.all(offered.map((r) => probe(r, timeoutMs)));
    if (!found[0]) {
      const v = process.versions.node;
      found[0] = { name: 'node', version: v, description: `Node.js ${v}` };
    }
    return new RuntimeCatalog(found.filter((r): r is InstalledRuntime => r !== undefined));
  }

  /** The installed runtime a (possibly v1-style) name stands for. */
  resolve(name: string): InstalledRuntime | undefined {
    const family = runtimeFamily(name);
    return this.runtimes.find((r) => r.name === family);
  }

  framework(name: string): Framework | undefined {
    return frameworkNamed(name);
  }

  /** Frameworks that can run here, with the runtimes they can use. */
  available(): { framework: Framework; runtimes: InstalledRuntime[] }[] {
    return frameworks
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
