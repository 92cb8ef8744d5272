// The interpreters a droplet needs, found on this machine: node, ruby, python3, and the libraries a
// framework cannot run without (sinatra, rails, flask, django, rackup).
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { RuntimeName } from '../bus';
import { probe } from './processes';

/** The catalog runtimes the stager can build droplets for. */
export type StagedRuntime = Extract<RuntimeName, 'node' | 'ruby' | 'python3'>;

/** A catalog runtime's interpreter as found on this machine. */
export interface Interpreter {
  name: StagedRuntime;
  /** Absolute path of the interpreter as found here (the real file, not a version-manager shim). */
  executable: string;
  version: string;
}

/** The first executable called `name` on PATH, or null. */
export function which(name: string, pathVar: string = process.env.PATH ?? ''): string | null {
  if (name.includes('/')) return isExecutable(name) ? name : null;
  for (const dir of pathVar.split(path.delimiter)) {
    if (!dir) continue;
    const p = path.join(dir, name);
    if (isExecutable(p)) return p;
  }
  return null;
}

function isExecutable(p: string): boolean {
  try { fs.accessSync(p, fs.constants.X_OK); return fs.statSync(p).isFile(); } catch { return false; }
}

export class RuntimeMissing extends Error {
  override name = 'RuntimeMissing';
  /** `library`: the interpreter is there, a library the framework needs is not. */
  constructor(message: string, readonly kind: 'runtime' | 'library' = 'runtime') {
    super(message);
  }
}

const installHint: Record<StagedRuntime, string> = {
  node: 'install Node.js (apt-get install nodejs)',
  ruby: 'install Ruby (apt-get install ruby)',
  python3: 'install Python 3 (apt-get install python3)',
};

/**
 * Interpreter probes cost 50 ms to 1 s each (more behind version-manager shims such as pyenv) and
 * would otherwise run on every staging; answers are kept a minute, keyed by PATH. Failures are not kept.
 */
const probeCache = new Map<string, { at: number; value: Promise<unknown> }>();
const probeCacheMs = 60_000;

function cachedProbe<T>(key: string, env: NodeJS.ProcessEnv, run: () => Promise<T>): Promise<T> {
  const k = `${key}\0${env.PATH ?? ''}`;
  const hit = probeCache.get(k);
  if (hit && Date.now() - hit.at < probeCacheMs) return hit.value as Promise<T>;
  const value = run();
  probeCache.set(k, { at: Date.now(), value });
  value.catch(() => { if (probeCache.get(k)?.value === value) probeCache.delete(k); });
  return value;
}

export function findNode(env: NodeJS.ProcessEnv): Promise<Interpreter> {
  return cachedProbe('node', env, () => probeNode(env));
}

async function probeNode(env: NodeJS.ProcessEnv): Promise<Interpreter> {
  const exe = which('node', env.PATH) ?? which('nodejs', env.PATH);
  if (!exe) throw new RuntimeMissing(`the node runtime is not installed on this stager: ${installHint.node}`);
  const r = await probe(exe, ['-e', 'process.stdout.write(process.execPath + "\\n" + process.version)'], { env });
  if (!r.ok) throw new RuntimeMissing(`node (${exe}) does not run: ${r.stderr || r.stdout}`);
  const [real, version] = r.stdout.split('\n');
  return { name: 'node', executable: real || exe, version: version ?? '' };
}

export function findRuby(env: NodeJS.ProcessEnv): Promise<Interpreter> {
  return cachedProbe('ruby', env, () => probeRuby(env));
}

async function probeRuby(env: NodeJS.ProcessEnv): Promise<Interpreter> {
  const exe = which('ruby', env.PATH);
  if (!exe) throw new RuntimeMissing(`the ruby runtime is not installed on this stager: ${installHint.ruby}`);
  const r = await probe(exe, ['-e', 'print RbConfig.ruby, "\\n", RUBY_VERSION'], { env });
  if (!r.ok) throw new RuntimeMissing(`ruby (${exe}) does not run: ${r.stderr || r.stdout}`);
  const [real, version] = r.stdout.split('\n');
  return { name: 'ruby', executable: real || exe, version: version ?? '' };
}

/** A ruby library check: `require` (or `gem`, which also finds gems not yet loadable); the version or null. */
export function rubyLibrary(ruby: Interpreter, code: string, env: NodeJS.ProcessEnv): Promise<string | null> {
  return cachedProbe(`ruby-lib\0${ruby.executable}\0${code}`, env, async () => {
    const r = await probe(ruby.executable, ['-e', code], { env });
    return r.ok ? r.stdout || 'present' : null;
  });
}

interface PythonProbe {
  runtime: Interpreter;
  /** Of the modules asked about, those it can import. */
  has: Set<string>;
}

function probePython(exe: string, modules: string[], env: NodeJS.ProcessEnv): Promise<PythonProbe | null> {
  return cachedProbe(`python\0${exe}\0${modules.join(',')}`, env, () => runPythonProbe(exe, modules, env));
}

async function runPythonProbe(exe: string, modules: string[], env: NodeJS.ProcessEnv): Promise<PythonProbe | null> {
  const code = 'import sys, platform, importlib.util\n' +
    'print(sys.executable)\nprint(platform.python_version())\n' +
    `print(",".join(m for m in ${JSON.stringify(modules)} if importlib.util.find_spec(m) is not None))`;
  const r = await probe(exe, ['-c', code], { env });
  let result: PythonProbe | null = null;
  if (r.ok) {
    const [real, version, found] = r.stdout.split('\n');
    result = { runtime: { name: 'python3', executable: real || exe, version: version ?? '' }, has: new Set((found ?? '').split(',').filter(Boolean)) };
  }
  return result;
}

/**
 * The first python3 that can import `modules` (PATH's python3 first, then the system's), so an app
 * that needs Flask gets the interpreter that has it, not merely the first one.
 */
export async function findPython(env: NodeJS.ProcessEnv, modules: string[] = []): Promise<Interpreter> {
  const candidates = [which('python3', env.PATH), '/usr/bin/python3', '/usr/local/bin/python3']
    .filter((p): p is string => p !== null && isExecutable(p));
  if (candidates.length === 0) throw new RuntimeMissing(`the python3 runtime is not installed on this stager: ${installHint.python3}`);
  let runs = false;
  const tried: string[] = [];
  for (const exe of [...new Set(candidates)]) {
    tried.push(exe);
    const p = await probePython(exe, modules, env);
    if (!p) continue;
    runs = true;
    if (modules.every((m) => p.has.has(m))) return p.runtime;
  }
  if (!runs) throw new RuntimeMissing(`python3 does not run on this stager (tried ${tried.join(', ')})`);
  throw new RuntimeMissing(`python module ${modules.join(', ')} is not installed for python3 (tried ${tried.join(', ')})`, 'library');
}
