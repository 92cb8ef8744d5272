// manifest.yml: `applications: [{name, memory, instances, command, env, path, host, framework}]`.
// Keys at the top level (beside `applications`) are defaults for every app, as cf allowed.
// Errors name the file, the line and the field.
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Node, Pair, YAMLMap } from 'yaml';
import { ManifestError } from './errors';

export interface ManifestApp {
  name?: string;
  /** MB. */
  memory?: number;
  instances?: number;
  /** null asks for the framework's default command. */
  command?: string | null;
  env?: Record<string, string>;
  /** Absolute: resolved against the manifest's folder. */
  path?: string;
  host?: string;
  framework?: string;
  /** Names of the services to bind (a list, or vmc's map keyed by name). */
  services?: string[];
  /** Line of this app's entry, for messages. */
  line?: number;
}

export interface Manifest {
  file: string;
  applications: ManifestApp[];
  /** Keys that were ignored (unknown, or known to cf but not used here). */
  warnings: string[];
}

export const manifestFileNames = ['manifest.yml', 'manifest.yaml'] as const;
const appKeys = new Set(['name', 'memory', 'instances', 'command', 'env', 'path', 'host', 'framework', 'services']);
const unsupportedKeys = new Set(['buildpack', 'buildpacks', 'domain', 'domains', 'disk_quota', 'stack', 'timeout', 'inherit', 'hosts', 'routes', 'runtime', 'url', 'no-route', 'random-route']);

/** Parses memory given as `256`, `256M`, `256MB`, `1G` or `1GB`; returns MB, or throws with `what` in the message. */
export function parseMemory(value: unknown, what = 'memory'): number {
  let mb: number | undefined;
  if (typeof value === 'number' && Number.isInteger(value)) mb = value;
  else if (typeof value === 'string') {
    const m = /^\s*(\d+)\s*(m|mb|g|gb)?\s*$/i.exec(value);
    if (m) mb = Number(m[1]) * (m[2] && m[2].toLowerCase().startsWith('g') ? 1024 : 1);
  }
  if (mb === undefined || !Number.isSafeInteger(mb) || mb <= 0) {
    throw new Error(`${what} must be a positive size like 256, 256M or 1G (got ${JSON.stringify(value)})`);
  }
  return mb;
}

/** Finds manifest.yml in a folder, or returns the file itself if given one; null when there is none. */
export function findManifest(dirOrFile: string): string | null {
  let st: fs.Stats;
  try { st = fs.statSync(dirOrFile); } catch { return null; }
  if (st.isFile()) return path.resolve(dirOrFile);
  for (const n of manifestFileNames) {
    const p = path.join(dirOrFile, n);
    if (fs.existsSync(p)) return path.resolve(p);
  }
  return null;
}

export async function readManifest(file: string): Promise<Manifest> {
  let text: string;
  try {
    text = await fs.promises.readFile(file, 'utf8');
  } catch (e) {
    throw new ManifestError(`cannot read: ${(e as Error).message}`, file);
  }
  return parseManifest(text, file);
}

export async function parseManifest(text: string, file: string): Promise<Manifest> {
  // Loaded on first use: the YAML parser is the heaviest module of the CLI, and most commands never need it.
  const { isMap, isScalar, isSeq, LineCounter, parseDocument } = await import('yaml');
  const lc = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lc, prettyErrors: false, uniqueKeys: true });
  if (doc.errors.length > 0) {
    const e = doc.errors[0];
    const line = e.linePos?.[0]?.line ?? lc.linePos(e.pos[0]).line;
    throw new ManifestError(`not valid YAML: ${e.message.split('\n')[0]}`, file, line);
  }
  const lineOf = (n: Node | Pair | null | undefined): number | undefined => {
    const r = n && 'range' in n ? n.range : n && 'key' in n && n.key && typeof n.key === 'object' && 'range' in n.key ? (n.key as Node).range : undefined;
    return r ? lc.linePos(r[0]).line : undefined;
  };
  const fail = (msg: string, n?: Node | Pair | null): never => { throw new ManifestError(msg, file, lineOf(n)); };
  const warnings: string[] = [];
  const root = doc.contents;
  if (root === null || (isScalar(root) && (root.value === null || root.value === ''))) fail('the manifest is empty; expected `applications:` with a list of apps');
  if (!isMap(root)) fail('the manifest must be a mapping with an `applications:` list', root);
  const top = root as YAMLMap;
  const baseDir = path.dirname(path.resolve(file));

  const readApp = (m: YAMLMap, where: string): ManifestApp => {
    const app: ManifestApp = { line: lineOf(m) };
    for (const pair of m.items) {
      const key = isScalar(pair.key) ? String(pair.key.value) : '';
      if (where === '' && key === 'applications') continue;
      const v = pair.value as Node | null;
      const val: unknown = isScalar(v) ? v.value : v === null ? null : v.toJSON();
      const field = `${where}${key}`;
      const bad = (msg: string): never => fail(`${field}: ${msg}`, v ?? pair as Pair);
      switch (key) {
        case 'name':
          if ((typeof val !== 'string' && typeof val !== 'number') || !/^[\w-]+$/.test(String(val))) bad('must be letters, digits, `_` or `-` (got ' + JSON.stringify(val) + ')');
          app.name = String(val);
          break;
        case 'memory':
          try { app.memory = parseMemory(val, field); } catch (e) { fail((e as Error).message, v ?? pair as Pair); }
          break;
        case 'instances':
          if (typeof val !== 'number' || !Number.isInteger(val) || val < 0) bad(`must be a whole number, 0 or more (got ${JSON.stringify(val)})`);
          app.instances = val as number;
          break;
        case 'command':
          if (val !== null && typeof val !== 'string') bad('must be a string (or null for the default)');
          app.command = val as string | null;
          break;
        case 'env': {
          if (val === null) { app.env = {}; break; }
          if (!isMap(v)) bad('must be a mapping of NAME: value');
          const env: Record<string, string> = {};
          for (const ep of (v as YAMLMap).items) {
            const k = isScalar(ep.key) ? String(ep.key.value) : '';
            const ev = ep.value as Node | null;
            if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(k)) fail(`${field}: ${JSON.stringify(k)} is not a valid variable name`, ep as Pair);
            if (/^(vcap|vmc)_/i.test(k)) fail(`${field}.${k}: names starting with VCAP_ or VMC_ are reserved for the platform`, ep as Pair);
            const x: unknown = isScalar(ev) ? ev.value : ev === null ? '' : undefined;
            if (x === undefined || (typeof x === 'object' && x !== null)) fail(`${field}.${k}: must be a string, number or boolean`, ev ?? ep as Pair);
            env[k] = x === null ? '' : String(x);
          }
          app.env = env;
          break;
        }
        case 'path':
          if (typeof val !== 'string' || val.trim() === '') bad('must be a folder path');
          app.path = path.resolve(baseDir, val as string);
          break;
        case 'host':
          if (typeof val !== 'string' || !/^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/i.test(val)) bad('must be a host name label: letters, digits and `-` (got ' + JSON.stringify(val) + ')');
          app.host = (val as string).toLowerCase();
          break;
        case 'framework':
          if (typeof val !== 'string' || val.trim() === '') bad('must be a framework name such as node, static, sinatra');
          app.framework = val as string;
          break;
        case 'services': {
          const names = Array.isArray(val) ? val : val && typeof val === 'object' ? Object.keys(val) : val === null ? [] : bad('must be a list of service names');
          if (!names.every((n): n is string => typeof n === 'string' && /^[\w.-]+$/.test(n))) bad('must be a list of service names (letters, digits, _, - and .)');
          app.services = names as string[];
          break;
        }
        default:
          warnings.push(`${file}:${lineOf(pair as Pair) ?? '?'}: ${field} is ${unsupportedKeys.has(key) ? 'not supported by Pocket Foundry' : 'not a known manifest key'}; ignored`);
      }
    }
    return app;
  };

  const defaults = readApp(top, '');
  const appsNode = top.get('applications', true) as Node | undefined;
  const apps: ManifestApp[] = [];
  if (appsNode === undefined || (isScalar(appsNode) && appsNode.value === null)) {
    // A manifest with only top-level keys describes one app.
    if (!Object.keys(defaults).some((k) => appKeys.has(k))) fail('no `applications:` list found');
    apps.push(defaults);
  } else {
    if (!isSeq(appsNode)) fail('applications: must be a list (each item starting with `- name: ...`)', appsNode);
    const seq = appsNode as unknown as { items: unknown[] };
    seq.items.forEach((item, i) => {
      if (!isMap(item)) fail(`applications[${i}]: must be a mapping with name, memory, ...`, item as Node);
      const { line: _l, ...inherited } = defaults;
      apps.push({ ...inherited, ...readApp(item as YAMLMap, `applications[${i}].`) });
    });
    if (apps.length === 0) fail('applications: the list is empty', appsNode);
  }
  const seen = new Set<string>();
  for (const a of apps) {
    if (a.name && seen.has(a.name)) throw new ManifestError(`app ${a.name} is listed twice`, file, a.line);
    if (a.name) seen.add(a.name);
  }
  return { file: path.resolve(file), applications: apps, warnings };
}
