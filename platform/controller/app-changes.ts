// What an update changes, compared with the app as it is (so an echoed GET changes nothing), and
// how the change is named in the event log.
import type { CcAppChanged } from '../bus';
import type { AppInput } from './app-input';
import type { RuntimeCatalog } from './runtimes';
import type { AppPatch, AppRecord } from './store';

export function diffApp(app: AppRecord, input: AppInput, uris: readonly string[], runtimes: Pick<RuntimeCatalog, 'resolve'>): { patch: AppPatch; urisChanged: boolean } {
  const patch: AppPatch = {};
  if (input.name !== undefined && input.name !== app.name) patch.name = input.name;
  let restage = false;
  const effFramework = app.framework ?? app.detectedFramework;
  const effRuntime = app.runtime ?? app.detectedRuntime;
  const effCommand = app.command ?? app.detectedCommand;
  if (input.framework !== undefined && input.framework !== effFramework && !(input.framework === null && app.framework === null)) { patch.framework = input.framework; restage = true; }
  if (input.runtime !== undefined && input.runtime !== effRuntime && !(input.runtime === null && app.runtime === null)) {
    const same = input.runtime !== null && effRuntime !== null && runtimes.resolve(input.runtime)?.name === runtimes.resolve(effRuntime)?.name;
    patch.runtime = input.runtime;
    if (!same) restage = true;
  }
  if (input.command !== undefined && input.command !== effCommand && !(input.command === null && app.command === null)) { patch.command = input.command; restage = true; }
  if (restage && app.packageHash) { patch.packageState = 'PENDING'; patch.stagingError = null; patch.stagingErrorCode = null; }
  for (const k of ['instances', 'memory', 'disk', 'fds', 'state', 'debug', 'console'] as const) {
    if (input[k] !== undefined && input[k] !== app[k]) (patch as Record<string, unknown>)[k] = input[k];
  }
  if (input.env !== undefined && JSON.stringify(input.env) !== JSON.stringify(app.env)) patch.env = input.env;
  const urisChanged = input.uris !== undefined && JSON.stringify(input.uris) !== JSON.stringify(uris);
  return { patch, urisChanged };
}

export function eventOf(before: AppRecord, after: AppRecord): CcAppChanged['event'] {
  if (before.state !== after.state) return after.state === 'STARTED' ? 'started' : 'stopped';
  return 'updated';
}

export function summarize(patch: AppPatch, uris: string[] | undefined): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const k of ['name', 'state', 'instances', 'memory', 'disk', 'fds', 'framework', 'runtime', 'command'] as const) if (patch[k] !== undefined) out[k] = patch[k];
  if (patch.env !== undefined) out.env = patch.env.map((e) => e.split('=')[0]);
  if (uris) out.uris = uris;
  return out;
}
