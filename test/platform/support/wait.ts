// Waiting in tests: one sleep and one poll, shared by the platform suites and (bundled) by the
// extension suites, so this file must stay free of vscode and of native modules.

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

export interface WaitOptions {
  /** How long to keep polling before failing (default 10 s). */
  timeoutMs?: number;
  /** The pause between two polls (default 50 ms). */
  everyMs?: number;
}

/** A probe's answer: undefined, null or false mean "not yet"; anything else is the result. */
export type Probe<T> = () => Promise<T | undefined | null | false> | T | undefined | null | false;

/**
 * Polls `probe` until it answers something other than undefined, null or false, and returns that.
 * A probe that throws is polled again; the last error or value explains a timeout.
 */
export async function waitFor<T>(what: string, probe: Probe<T>, opts: WaitOptions = {}): Promise<T> {
  const timeoutMs = opts.timeoutMs ?? 10_000;
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await probe();
      if (v !== undefined && v !== null && v !== false) return v;
      last = v;
    } catch (e) {
      last = e;
    }
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}; last: ${last instanceof Error ? last.message : JSON.stringify(last)}`);
    await sleep(opts.everyMs ?? 50);
  }
}
