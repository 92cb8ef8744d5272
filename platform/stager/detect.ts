// Framework detection (PROTOCOL.md §4): the first test that matches, in v1's order, decides. Reads
// the unpacked app only; whether the runtime is installed is checked later (plan.ts).
import * as fs from 'node:fs';
import * as path from 'node:path';
import { FrameworkNames, frameworkNamed, type FrameworkName } from '../bus';
import { StagingError } from './errors';

/** What detection finds: a catalog framework, or flask (a wsgi app started by its own module). */
export type DetectedFramework = FrameworkName | 'flask';

/** What a request can name: `python` means whichever of wsgi/flask the files say. */
type Requested = Exclude<FrameworkName, 'wsgi'> | 'python';

/** Values that mean "detect it": cc fills `framework` with these when the user named none. */
const autodetect = new Set(['', 'auto', 'detect', 'unknown', 'none', 'default']);

export const nodeEntryFiles = ['server.js', 'app.js', 'index.js', 'main.js'] as const;

export interface Detection {
  framework: DetectedFramework;
  /** What decided it, for the staging log: `server.js`, `config.ru`, `app.rb requires sinatra`. */
  evidence: string;
  /** The file or module the default start command runs (`app.rb`, `server.js`, the flask module). */
  entry?: string;
  /** node: package.json `scripts.start`, when there is one. */
  startScript?: string;
}

export interface PackageJson {
  scripts?: Record<string, unknown>;
  dependencies?: Record<string, unknown>;
  optionalDependencies?: Record<string, unknown>;
}

/** package.json parsed; null when absent; throws StagingError when present but not a JSON object. */
export function readPackageJson(appDir: string): PackageJson | null {
  const file = path.join(appDir, 'package.json');
  let text: string;
  try { text = fs.readFileSync(file, 'utf8'); } catch { return null; }
  let v: unknown;
  try { v = JSON.parse(text); } catch (e) { throw new StagingError(`package.json is not valid JSON: ${(e as Error).message}`); }
  if (!v || typeof v !== 'object' || Array.isArray(v)) throw new StagingError('package.json must hold a JSON object');
  return v as PackageJson;
}

function isFile(p: string): boolean {
  try { return fs.statSync(p).isFile(); } catch { return false; }
}

/** Root-level files with `ext`, `preferred` first, then by name. */
function rootFiles(appDir: string, ext: string, preferred: string): string[] {
  let names: string[];
  try { names = fs.readdirSync(appDir); } catch { return []; }
  return names.filter((n) => n.endsWith(ext) && isFile(path.join(appDir, n)))
    .sort((a, b) => (a === preferred ? -1 : b === preferred ? 1 : a.localeCompare(b)));
}

function readHead(file: string, max = 256 * 1024): string {
  try {
    const fd = fs.openSync(file, 'r');
    try {
      const buf = Buffer.alloc(Math.min(max, fs.fstatSync(fd).size));
      fs.readSync(fd, buf, 0, buf.length, 0);
      return buf.toString('utf8');
    } finally { fs.closeSync(fd); }
  } catch { return ''; }
}

const requiresSinatra = /^\s*require\s*\(?\s*['"]sinatra['"]/m;
const importsFlask = /^\s*(from\s+flask\s+import\b|import\s+flask\b)/m;

function rails(appDir: string): Detection | null {
  return isFile(path.join(appDir, 'config', 'environment.rb')) ? { framework: 'rails3', evidence: 'config/environment.rb' } : null;
}

function rack(appDir: string): Detection | null {
  return isFile(path.join(appDir, 'config.ru')) ? { framework: 'rack', evidence: 'config.ru', entry: 'config.ru' } : null;
}

function sinatra(appDir: string): Detection | null {
  for (const f of rootFiles(appDir, '.rb', 'app.rb')) {
    if (requiresSinatra.test(readHead(path.join(appDir, f)))) return { framework: 'sinatra', evidence: `${f} requires sinatra`, entry: f };
  }
  return null;
}

function django(appDir: string): Detection | null {
  if (!isFile(path.join(appDir, 'manage.py'))) return null;
  if (isFile(path.join(appDir, 'settings.py'))) return { framework: 'django', evidence: 'manage.py and settings.py' };
  let dirs: fs.Dirent[];
  try { dirs = fs.readdirSync(appDir, { withFileTypes: true }); } catch { return null; }
  for (const d of dirs) {
    if (d.isDirectory() && isFile(path.join(appDir, d.name, 'settings.py'))) {
      return { framework: 'django', evidence: `manage.py and ${d.name}/settings.py` };
    }
  }
  return null;
}

function python(appDir: string): Detection | null {
  if (isFile(path.join(appDir, 'wsgi.py'))) return { framework: 'wsgi', evidence: 'wsgi.py', entry: 'wsgi' };
  for (const f of rootFiles(appDir, '.py', 'app.py')) {
    const mod = f.slice(0, -3);
    if (/^[A-Za-z_]\w*$/.test(mod) && importsFlask.test(readHead(path.join(appDir, f)))) {
      return { framework: 'flask', evidence: `${f} imports flask`, entry: mod };
    }
  }
  return null;
}

function node(appDir: string): Detection | null {
  let pkg: PackageJson | null = null;
  try { pkg = readPackageJson(appDir); } catch { /* reported when the droplet is planned */ }
  const start = pkg?.scripts?.start;
  const entry = nodeEntryFiles.find((f) => isFile(path.join(appDir, f)));
  if (typeof start === 'string' && start.trim()) {
    return { framework: 'node', evidence: 'package.json scripts.start', entry, startScript: start.trim() };
  }
  return entry ? { framework: 'node', evidence: entry, entry } : null;
}

function staticSite(appDir: string): Detection | null {
  return isFile(path.join(appDir, 'index.html')) ? { framework: 'static', evidence: 'index.html', entry: 'index.html' } : null;
}

/** The tests of §4, in order. */
const detectors: readonly ((appDir: string) => Detection | null)[] = [rails, rack, sinatra, django, python, node, staticSite];

const byFramework: Readonly<Record<Exclude<Requested, 'standalone'>, (appDir: string) => Detection | null>> = {
  rails3: rails, rack, sinatra, django, python, node, static: staticSite,
};

const requirement: Readonly<Record<Exclude<Requested, 'standalone'>, string>> = {
  rails3: 'config/environment.rb',
  rack: 'config.ru',
  sinatra: "a *.rb file with require 'sinatra'",
  django: 'manage.py and settings.py',
  python: 'wsgi.py or a *.py file that imports flask',
  node: `one of ${nodeEntryFiles.join(', ')} or a package.json with scripts.start`,
  static: 'index.html at the top of the app',
};

export function normalizeFramework(name: string | null | undefined): Requested | null {
  const n = (name ?? '').trim().toLowerCase();
  if (autodetect.has(n)) return null;
  const f = frameworkNamed(n)?.name;
  if (!f) throw new StagingError(`framework ${JSON.stringify(name)} is not supported here (supported: ${FrameworkNames.join(', ')}; leave it empty to detect)`);
  return f === 'wsgi' ? 'python' : f;
}

/**
 * Detects the framework of the app in `appDir`, honouring an explicit framework and command. An
 * explicit framework whose files are missing is an error unless a command says how to start it.
 */
export function detectFramework(appDir: string, explicit?: { framework?: string | null; command?: string | null }): Detection {
  const command = explicit?.command?.trim() || '';
  const wanted = normalizeFramework(explicit?.framework);
  if (wanted === 'standalone') {
    if (!command) throw new StagingError('framework standalone needs a start command (manifest `command:`)');
    return { framework: 'standalone', evidence: 'requested' };
  }
  if (wanted) {
    const found = byFramework[wanted](appDir);
    if (found) return { ...found, evidence: `requested; ${found.evidence}` };
    if (command) return { framework: wanted === 'python' ? 'wsgi' : wanted, evidence: 'requested, with a start command' };
    throw new StagingError(`framework ${explicit?.framework} was requested, but the app has no ${requirement[wanted]}`);
  }
  for (const d of detectors) {
    const found = d(appDir);
    if (found) return found;
  }
  if (command) return { framework: 'standalone', evidence: 'no framework detected; a start command was given' };
  throw new StagingError(
    'could not detect the framework: the app has no config/environment.rb, config.ru, sinatra *.rb, ' +
    'manage.py, wsgi.py or flask *.py, server.js/app.js/index.js/main.js, package.json scripts.start or index.html. ' +
    'Give a start command (manifest `command:`) to run it as a standalone app.',
  );
}
