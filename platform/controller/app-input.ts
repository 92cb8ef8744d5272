// Decoding `POST /apps` and `PUT /apps/:name` bodies: wrong types are 100, bad values 300 (or the
// closer v1 code: 307 runtime, 308 framework, 700 uri). Unknown keys (vmc echoes the whole app,
// `runningInstances`, `version`, ...) are ignored.
import { CcError, ErrorCodes } from './errors';
import type { RuntimeCatalog } from './runtimes';
import type { AppState } from './store';

export interface AppInput {
  name?: string;
  framework?: string | null;
  runtime?: string | null;
  command?: string | null;
  instances?: number;
  memory?: number;
  disk?: number;
  fds?: number;
  state?: AppState;
  env?: string[];
  uris?: string[];
  debug?: string | null;
  console?: boolean | null;
  /** `meta.version`: the lock version the client last saw. */
  lockVersion?: number;
}

export const APP_NAME = /^[\w-]+$/;
const MAX_NAME = 100;
const MAX_INSTANCES = 256;
const HOST_LABEL = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/;

type Obj = Record<string, unknown>;

const bad = (msg: string): CcError => new CcError(ErrorCodes.badRequest, msg);
const invalid = (msg: string): CcError => new CcError(ErrorCodes.appInvalid, msg);

function isObj(v: unknown): v is Obj {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function optString(o: Obj, key: string, where: string): string | null | undefined {
  const v = o[key];
  if (v === undefined) return undefined;
  if (v === null) return null;
  if (typeof v !== 'string') throw bad(`${where}${key} must be a string`);
  return v;
}

function optInt(o: Obj, key: string, where: string, min: number, max: number): number | undefined {
  const v = o[key];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'number' || !Number.isInteger(v)) throw bad(`${where}${key} must be an integer`);
  if (v < min || v > max) throw invalid(`${where}${key} must be between ${min} and ${max}, not ${v}`);
  return v;
}

/** `name` rules of v1. */
export function checkAppName(name: unknown): string {
  if (typeof name !== 'string') throw bad('name must be a string');
  if (!APP_NAME.test(name)) throw invalid(`invalid app name ${JSON.stringify(name)}: use letters, digits, _ and - only`);
  if (name.length > MAX_NAME) throw invalid(`app name longer than ${MAX_NAME} characters`);
  return name;
}

/** A route: a host name, lower-cased; no scheme, port or path. */
export function normalizeUri(raw: unknown): string {
  if (typeof raw !== 'string') throw bad('uris must be strings');
  const u = raw.trim().toLowerCase().replace(/\.$/, '');
  const fail = (): CcError => new CcError(ErrorCodes.badUri, `invalid uri ${JSON.stringify(raw)}: expected a host name such as myapp.localhost`);
  if (u.length === 0 || u.length > 253) throw fail();
  const labels = u.split('.');
  if (!labels.every((l) => HOST_LABEL.test(l))) throw fail();
  return u;
}

function parseEnv(v: unknown): string[] {
  if (!Array.isArray(v)) throw bad('env must be an array of "KEY=value" strings');
  return v.map((e) => {
    if (typeof e !== 'string') throw bad('env must be an array of "KEY=value" strings');
    const eq = e.indexOf('=');
    if (eq <= 0) throw invalid(`env entry ${JSON.stringify(e)} is not KEY=value`);
    const key = e.slice(0, eq);
    if (e.includes('\0') || /\s/.test(key)) throw invalid(`env entry ${JSON.stringify(e)} has an invalid name`);
    if (/^(vcap_|vmc_)/i.test(key)) throw invalid(`env ${key}: names starting with VCAP_ or VMC_ are reserved for the platform`);
    return e;
  });
}

export function parseAppInput(body: unknown, runtimes: RuntimeCatalog, opts: { memoryLimitMb: number }): AppInput {
  if (!isObj(body)) throw bad('request body must be a JSON object');
  const out: AppInput = {};
  if (body.name !== undefined) out.name = checkAppName(body.name);

  if (body.staging !== undefined && body.staging !== null) {
    if (!isObj(body.staging)) throw bad('staging must be an object');
    const s = body.staging;
    const framework = optString(s, 'framework', 'staging.') ?? optString(s, 'model', 'staging.');
    const runtime = optString(s, 'runtime', 'staging.') ?? optString(s, 'stack', 'staging.');
    const command = optString(s, 'command', 'staging.');
    if (framework !== undefined) {
      const f = framework === null || framework.trim() === '' ? null : framework.trim();
      if (f !== null && !runtimes.framework(f)) throw new CcError(ErrorCodes.invalidFramework, `invalid framework ${JSON.stringify(f)}`);
      out.framework = f;
    }
    if (runtime !== undefined) {
      const r = runtime === null || runtime.trim() === '' ? null : runtime.trim();
      if (r !== null && !runtimes.resolve(r)) {
        const have = runtimes.runtimes.map((x) => x.name).join(', ') || 'none';
        throw new CcError(ErrorCodes.invalidRuntime, `invalid runtime ${JSON.stringify(r)}: installed here: ${have}`);
      }
      out.runtime = r;
    }
    if (command !== undefined) out.command = command === null || command.trim() === '' ? null : command;
    const fw = out.framework ? runtimes.framework(out.framework) : undefined;
    const rt = out.runtime ? runtimes.resolve(out.runtime) : undefined;
    if (fw && rt && fw.runtimes.length > 0 && !fw.runtimes.includes(rt.name)) {
      throw new CcError(ErrorCodes.invalidRuntime, `framework ${fw.name} runs on ${fw.runtimes.join(' or ')}, not ${out.runtime}`);
    }
  }

  out.instances = optInt(body, 'instances', '', 0, MAX_INSTANCES);
  if (body.resources !== undefined && body.resources !== null) {
    if (!isObj(body.resources)) throw bad('resources must be an object');
    out.memory = optInt(body.resources, 'memory', 'resources.', 1, 1024 * 1024);
    out.disk = optInt(body.resources, 'disk', 'resources.', 1, 1024 * 1024 * 1024);
    out.fds = optInt(body.resources, 'fds', 'resources.', 1, 1024 * 1024);
  }
  if (out.memory !== undefined && out.memory > opts.memoryLimitMb) {
    throw new CcError(ErrorCodes.notEnoughMemory, `not enough memory: ${out.memory} MB asked, the account limit is ${opts.memoryLimitMb} MB`);
  }

  if (body.state !== undefined && body.state !== null) {
    if (typeof body.state !== 'string') throw bad('state must be a string');
    const st = body.state.toUpperCase();
    if (st !== 'STARTED' && st !== 'STOPPED') throw invalid(`state must be STARTED or STOPPED, not ${JSON.stringify(body.state)}`);
    out.state = st;
  }
  if (body.env !== undefined && body.env !== null) out.env = parseEnv(body.env);
  if (body.uris !== undefined && body.uris !== null) {
    if (!Array.isArray(body.uris)) throw bad('uris must be an array of strings');
    out.uris = [...new Set(body.uris.map(normalizeUri))];
  }
  if (body.services !== undefined && body.services !== null) {
    if (!Array.isArray(body.services)) throw bad('services must be an array');
    if (body.services.length > 0) throw invalid('services are not supported by this platform');
  }
  if (body.meta !== undefined && body.meta !== null) {
    if (!isObj(body.meta)) throw bad('meta must be an object');
    const m = body.meta;
    if (m.version !== undefined && m.version !== null) {
      if (typeof m.version !== 'number' || !Number.isInteger(m.version)) throw bad('meta.version must be an integer');
      out.lockVersion = m.version;
    }
    if (m.debug !== undefined) {
      if (m.debug !== null && typeof m.debug !== 'string') throw bad('meta.debug must be a string or null');
      out.debug = m.debug as string | null;
    }
    if (m.console !== undefined) {
      if (m.console !== null && typeof m.console !== 'boolean') throw bad('meta.console must be a boolean or null');
      out.console = m.console as boolean | null;
    }
  }
  return out;
}
