// Starting an app and following it: staging log lines from the event stream, then the instances
// until they are RUNNING. The app's own state decides success or failure, not the stream.
import { ErrorCodes, type App, type AppUpdateRequest, type InstanceInfo, type PlatformEvent } from '../contract';
import type { CloudControllerClient } from './cloud-controller';
import { CloudControllerError, PushError } from './errors';
import type { PushProgress } from './pusher';

export interface StartAppOptions {
  client: CloudControllerClient;
  name: string;
  /** Other changes sent with `state: STARTED` in the same PUT. */
  changes?: AppUpdateRequest;
  routerUrl?: string | null;
  /** Staging plus instances RUNNING. Default 180 s. */
  timeoutMs?: number;
  signal?: AbortSignal;
  onStagingLog?: (line: string) => void;
  onProgress?: (p: Extract<PushProgress, { step: 'staging' | 'starting' }>) => void;
}

export interface StartResult {
  app: App;
  running: number;
  /** The package was staged on this start. */
  staged: boolean;
  url: string | null;
  stagingMs: number;
  startMs: number;
}

/**
 * Starts an app (`PUT state: STARTED`), printing staging lines as they arrive when the package
 * needs staging, and waits until its instances are RUNNING.
 */
export async function startApp(opts: StartAppOptions): Promise<StartResult> {
  const app = await opts.client.app(opts.name, { signal: opts.signal });
  if (!app) throw new CloudControllerError(ErrorCodes.appNotFound, 404, `App ${opts.name} not found`);
  const watch = watchApp(opts.client, opts.name, opts.onStagingLog);
  try {
    return await startWithWatch({ ...opts, lockVersion: app.meta.version, stagingNeeded: app.package_state === 'PENDING' }, watch, { signal: opts.signal });
  } catch (e) {
    if (opts.signal?.aborted) await stopStaging(opts.client, opts.name);
    throw e;
  } finally {
    watch.close();
  }
}

export async function startWithWatch(
  opts: StartAppOptions & { lockVersion: number; stagingNeeded: boolean; packageHash?: string | null }, watch: AppWatch, call: { signal?: AbortSignal; meter?: { bytesSent: number } },
): Promise<StartResult> {
  const { client, name, signal } = opts;
  const t0 = Date.now();
  const deadline = t0 + (opts.timeoutMs ?? 180_000);
  await watch.ready;
  if (opts.stagingNeeded) opts.onProgress?.({ step: 'staging' });
  const putStarted = client.updateApp(name, { ...opts.changes, state: 'STARTED', meta: { version: opts.lockVersion } }, { ...call, timeoutMs: 0 });
  // The app's own state decides success or failure (with the controller's error code), not the event stream.
  await putStarted;
  const staged = await waitForStaged(client, name, watch, opts.stagingNeeded, deadline, signal, opts.packageHash ?? null);
  const tStaged = Date.now();
  const running = await waitForRunning(client, staged, watch, deadline, signal, (r, expected) => opts.onProgress?.({ step: 'starting', running: r, expected }));
  return {
    app: staged, running, staged: opts.stagingNeeded, url: appUrl(staged.uris, opts.routerUrl),
    stagingMs: tStaged - t0, startMs: Date.now() - tStaged,
  };
}

export interface AppWatch {
  ready: Promise<void>;
  /** From now on, ignore the staging tasks seen so far (another push's, cancelled by this one's upload). */
  follow(): void;
  /** Resolves when this push's staging task reported done (ok or not). */
  stagingDone: Promise<{ ok: boolean; error?: string | null }>;
  /** Resolves on the next app/instances event (re-armed by `nextChange`). */
  nextChange(): Promise<void>;
  live: boolean;
  close(): void;
}

export function watchApp(client: CloudControllerClient, name: string, onLine?: (line: string) => void): AppWatch {
  let taskId: string | null = null;
  let nextSeq = 0;
  let resolveDone!: (v: { ok: boolean; error?: string | null }) => void;
  const stagingDone = new Promise<{ ok: boolean; error?: string | null }>((r) => { resolveDone = r; });
  const seenTasks = new Set<string>();
  let foreignTasks = new Set<string>();
  let waiters: (() => void)[] = [];
  const w: AppWatch = {
    ready: Promise.resolve(),
    follow: () => { foreignTasks = new Set(seenTasks); },
    stagingDone,
    live: false,
    nextChange: () => new Promise<void>((r) => { waiters.push(r); }),
    close: () => sub.close(),
  };
  const wake = (): void => { const ws = waiters; waiters = []; for (const f of ws) f(); };
  const onEvent = (e: PlatformEvent): void => {
    if (e.name !== name) return;
    if (e.type === 'staging' && !foreignTasks.has(e.task_id)) {
      seenTasks.add(e.task_id);
      if (taskId !== e.task_id) { taskId = e.task_id; nextSeq = 0; }
      if (e.line !== undefined && e.seq >= nextSeq) { nextSeq = e.seq + 1; onLine?.(e.line); }
      if (e.done) resolveDone({ ok: e.ok === true, error: e.error });
    }
    wake();
  };
  const sub = client.events({ app: name }, onEvent, { onOpen: () => { w.live = true; wake(); }, onError: () => { w.live = false; } });
  // Without an event stream (an older controller) the push still works, by polling.
  w.ready = Promise.race([sub.ready, new Promise<void>((r) => setTimeout(r, 3000).unref())]).catch(() => undefined);
  return w;
}

const pollMs = 1000;

async function waitForStaged(
  client: CloudControllerClient, name: string, watch: AppWatch, stagingNeeded: boolean, deadline: number, signal: AbortSignal | undefined, packageHash: string | null,
): Promise<App> {
  let doneSeen = false;
  void watch.stagingDone.then(() => { doneSeen = true; });
  let stagedSince: number | null = null;
  for (;;) {
    const app = await client.app(name, { signal });
    if (!app) throw new CloudControllerError(ErrorCodes.appNotFound, 404, `App ${name} was deleted while it was being pushed`);
    if (packageHash && app.package_hash && app.package_hash !== packageHash) {
      throw new PushError(`${name} was pushed again (or its staging cancelled) while this push was staging; this push's package does not run`);
    }
    const state = app.package_state;
    if (state === 'FAILED') {
      const r = doneSeen ? await watch.stagingDone : null;
      const why = app.staging_error?.description ?? r?.error;
      const kept = app.state === 'STARTED' && app.staged_hash ? ` The previous version (${app.version}) keeps running.` : '';
      throw new CloudControllerError(app.staging_error?.code ?? ErrorCodes.stagingFailed, 500, `Staging failed${why ? `: ${why}` : ''}.${kept} See \`pocket logs ${name} --staging\`.`);
    }
    if (state === 'STAGED' || state === undefined) {
      // Let the last log lines arrive before reporting: the done event closes the log.
      if (!stagingNeeded || doneSeen || !watch.live) return app;
      stagedSince ??= Date.now();
      if (Date.now() - stagedSince > 1500) return app;
    }
    if (Date.now() > deadline) throw new PushError(`Staging of ${name} did not finish in time; it may still be running. See \`pocket logs ${name} --staging\`.`);
    await sleepUntil(Promise.race([watch.nextChange(), watch.stagingDone.then(() => undefined)]), pollMs, signal);
  }
}

async function waitForRunning(
  client: CloudControllerClient, app: App, watch: AppWatch, deadline: number, signal: AbortSignal | undefined,
  report: (running: number, expected: number) => void,
): Promise<number> {
  const expected = app.instances;
  if (expected === 0) return 0;
  let lastRunning = -1;
  for (;;) {
    const current = await client.app(app.name, { signal });
    if (!current) throw new CloudControllerError(ErrorCodes.appNotFound, 404, `App ${app.name} was deleted while it was starting`);
    // `/instances` lists the live version only: an older one still running during a replacement is not in it.
    const live: InstanceInfo[] = await client.instances(app.name, { signal }).catch((e: unknown) => {
      if (e instanceof CloudControllerError && e.httpStatus < 500) return [];
      throw e;
    });
    const running = live.filter((i) => i.state === 'RUNNING').length;
    if (running !== lastRunning) { lastRunning = running; report(running, current.instances); }
    if (running >= current.instances) return running;
    if (current.state === 'STOPPED') throw new PushError(`App ${app.name} was stopped while it was starting`);
    if (live.some((i) => i.state === 'FLAPPING')) {
      throw new PushError(`App ${app.name} is crashing (FLAPPING) instead of starting. See \`pocket crashes ${app.name}\` and \`pocket logs ${app.name}\`.`);
    }
    if (Date.now() > deadline) {
      if (current.placement_error) throw new PushError(`${app.name} cannot start: ${current.placement_error}`);
      throw new PushError(`Only ${running} of ${current.instances} instances of ${app.name} are RUNNING after waiting; see \`pocket instances ${app.name}\` and \`pocket logs ${app.name}\`.`);
    }
    await sleepUntil(watch.nextChange(), pollMs, signal);
  }
}

/** Waits for `p` or `ms`, whichever first; rejects when the signal aborts. */
async function sleepUntil(p: Promise<void>, ms: number, signal?: AbortSignal): Promise<void> {
  if (signal?.aborted) throw signal.reason instanceof Error ? signal.reason : new Error('aborted');
  let timer: NodeJS.Timeout | undefined;
  let onAbort: (() => void) | undefined;
  try {
    await Promise.race([
      p,
      new Promise<void>((r) => { timer = setTimeout(r, ms); }),
      new Promise<void>((_r, rej) => {
        onAbort = () => rej(signal?.reason instanceof Error ? signal.reason : new Error('aborted'));
        signal?.addEventListener('abort', onAbort, { once: true });
      }),
    ]);
  } finally {
    if (timer) clearTimeout(timer);
    if (onAbort) signal?.removeEventListener('abort', onAbort);
  }
}

/** Tells the controller to cancel this app's staging task; the running droplet stays. */
export async function stopStaging(client: CloudControllerClient, name: string): Promise<void> {
  try {
    await client.cancelStaging(name, { timeoutMs: 5000 });
  } catch { /* best effort: the push is reported as cancelled either way */ }
}

export function appUrl(uris: string[], routerUrl?: string | null): string | null {
  if (uris.length === 0) return null;
  let port = '';
  if (routerUrl) {
    try { const u = new URL(routerUrl); port = u.port ? `:${u.port}` : ''; } catch { /* no port */ }
  }
  return `http://${uris[0]}${port}/`;
}

