// Where the platform is: `<dataDir>/endpoint.json` written by `pocket up`, a saved target
// (`pocket target`), or flags/environment that override both.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { writeFileAtomic } from '../atomic-file';
import { decodeEndpoint, type Endpoint } from '../contract/endpoint';
import { NoTargetError } from './errors';

export type { Endpoint };

/** The API a client should use, and where that came from (shown by `pocket target`). */
export interface Target {
  api: string;
  token: string;
  /** Router base URL when known (only from endpoint.json of a local platform). */
  router?: string | null;
  source: 'flags' | 'environment' | 'saved target' | 'endpoint.json';
  dataDir: string;
  /** A CA (PEM file) to trust besides the system's: `POCKET_CA`, else the local platform's own. */
  ca?: string;
}

export const endpointFileName = 'endpoint.json';
export const targetFileName = 'target.json';

/** `$POCKET_HOME`, else `$XDG_DATA_HOME/pocket-foundry`, else `~/.local/share/pocket-foundry`. */
export function defaultDataDir(env: NodeJS.ProcessEnv = process.env): string {
  if (env.POCKET_HOME) return path.resolve(env.POCKET_HOME);
  if (env.XDG_DATA_HOME) return path.join(path.resolve(env.XDG_DATA_HOME), 'pocket-foundry');
  return path.join(os.homedir(), '.local', 'share', 'pocket-foundry');
}

/** The endpoint of the platform running on `dataDir`, or null when there is none (or it is unreadable). */
export function readEndpoint(dataDir: string): Endpoint | null {
  return decodeEndpoint(readJsonObject(path.join(dataDir, endpointFileName), () => true));
}

/** The target saved by `pocket target URL --token T`, or null. */
export function readSavedTarget(dataDir: string): { api: string; token: string } | null {
  return readJsonObject(path.join(dataDir, targetFileName), (o) => typeof o.api === 'string' && typeof o.token === 'string') as { api: string; token: string } | null;
}

export function saveTarget(dataDir: string, t: { api: string; token: string }): void {
  fs.mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  writeFileAtomic(path.join(dataDir, targetFileName), JSON.stringify({ api: t.api, token: t.token }, null, 2) + '\n');
}

export function clearSavedTarget(dataDir: string): boolean {
  try { fs.unlinkSync(path.join(dataDir, targetFileName)); return true; } catch { return false; }
}

/**
 * Resolves the API to use. Order: `--api`/`--token` flags, `POCKET_API`/`POCKET_TOKEN`, a saved
 * target, then the running platform's endpoint.json. A token alone (flag or env) is combined with
 * whichever API is found.
 */
export function resolveTarget(opts: { api?: string; token?: string; dataDir?: string; env?: NodeJS.ProcessEnv } = {}): Target {
  const env = opts.env ?? process.env;
  const dataDir = opts.dataDir ? path.resolve(opts.dataDir) : defaultDataDir(env);
  const endpoint = readEndpoint(dataDir);
  const saved = readSavedTarget(dataDir);
  const token = opts.token ?? env.POCKET_TOKEN;
  const t = ((): Omit<Target, 'ca'> => {
    if (opts.api) return { api: opts.api, token: token ?? tokenFor(opts.api, saved, endpoint), source: 'flags', dataDir };
    if (env.POCKET_API) return { api: env.POCKET_API, token: token ?? tokenFor(env.POCKET_API, saved, endpoint), source: 'environment', dataDir };
    if (saved) return { api: saved.api, token: token ?? saved.token, source: 'saved target', dataDir, router: endpoint && endpoint.api === saved.api ? endpoint.router : undefined };
    if (endpoint) return { api: endpoint.api, token: token ?? endpoint.token, router: endpoint.router, source: 'endpoint.json', dataDir };
    throw new NoTargetError(dataDir);
  })();
  const ca = env.POCKET_CA || (endpoint?.ca && sameApi(endpoint.api, t.api) ? endpoint.ca : undefined);
  return ca ? { ...t, ca } : t;
}

/** A known token for that API, so `--api` alone works against the local platform. */
function tokenFor(api: string, saved: { api: string; token: string } | null, endpoint: Endpoint | null): string {
  if (saved && sameApi(saved.api, api)) return saved.token;
  if (endpoint && sameApi(endpoint.api, api)) return endpoint.token;
  return '';
}

function sameApi(a: string, b: string): boolean {
  return a.replace(/\/+$/, '') === b.replace(/\/+$/, '');
}

function readJsonObject(file: string, valid: (o: Record<string, unknown>) => boolean): Record<string, unknown> | null {
  try {
    const o = JSON.parse(fs.readFileSync(file, 'utf8')) as unknown;
    if (o && typeof o === 'object' && valid(o as Record<string, unknown>)) return o as Record<string, unknown>;
  } catch { /* missing or half-written: treated as absent */ }
  return null;
}
