// Decoding `POST /apps` and `PUT /apps/:name` bodies: wrong types are 100, bad values 300 (or the
// closer v1 code: 307 runtime, 308 framework, 700 uri). Unknown keys (vmc echoes the whole app,
// `runningInstances`, `version`, ...) are ignored.
import { appInput, userEnvProblem, type AppState } from '../contract';
import { CcError, ErrorCodes } from './errors';
import type { RuntimeCatalog } from './runtimes';

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

const bad = (msg: string): CcError => new CcError(ErrorCodes.badRequest, msg);
const invalid = (msg: string): CcError => new CcError(ErrorCodes.appInvalid, msg);

function inRange(v: number | null | undefined, name: string, min: number, max: number): number | undefined {
  if (v === undefined || v === null) return undefined;
  if (v < min || v > max) throw invalid(`${name} must be between ${min} and ${max}, not ${v}`);
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

function checkEnv(entries: readonly string[]): string[] {
  return entries.map((e) => {
    const problem = userEnvProblem(e);
    if (problem) throw invalid(problem);
    return e;
  });
}

/** The body decoded by the contract (a wrong type is 100 with the contract's message), then the value rules. */
export function parseAppInput(raw: unknown, runtimes: RuntimeCatalog, opts: { memoryLimitMb: number }): AppInput {
  const decoded = appInput.safeParse(raw);
  if (!decoded.success) throw bad(decoded.error.issues[0]?.message ?? 'request body must be a JSON object');
  const body = decoded.data;
  const out: AppInput = {};
  if (body.name !== undefined) out.name = checkAppName(body.name);

  if (body.staging !== undefined && body.staging !== null) {
    const s = body.staging;
    const framework = s.framework ?? s.model;
    const runtime = s.runtime ?? s.stack;
    const command = s.command;
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

  out.instances = inRange(body.instances, 'instances', 0, MAX_INSTANCES);
  if (body.resources !== undefined && body.resources !== null) {
    out.memory = inRange(body.resources.memory, 'resources.memory', 1, 1024 * 1024);
    out.disk = inRange(body.resources.disk, 'resources.disk', 1, 1024 * 1024 * 1024);
    out.fds = inRange(body.resources.fds, 'resources.fds', 1, 1024 * 1024);
  }
  if (out.memory !== undefined && out.memory > opts.memoryLimitMb) {
    throw new CcError(ErrorCodes.notEnoughMemory, `not enough memory: ${out.memory} MB asked, the account limit is ${opts.memoryLimitMb} MB`);
  }

  if (body.state !== undefined && body.state !== null) {
    const st = body.state.toUpperCase();
    if (st !== 'STARTED' && st !== 'STOPPED') throw invalid(`state must be STARTED or STOPPED, not ${JSON.stringify(body.state)}`);
    out.state = st;
  }
  if (body.env !== undefined && body.env !== null) out.env = checkEnv(body.env);
  if (body.uris !== undefined && body.uris !== null) out.uris = [...new Set(body.uris.map(normalizeUri))];
  // `services` (the names of bound services) is read by the API, which binds before the change.
  if (body.meta !== undefined && body.meta !== null) {
    const m = body.meta;
    if (m.version !== undefined && m.version !== null) out.lockVersion = m.version;
    if (m.debug !== undefined) out.debug = m.debug;
    if (m.console !== undefined) out.console = m.console;
  }
  return out;
}
