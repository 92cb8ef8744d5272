// The start path of an instance: droplet from the cache, folder, port, `startup`, readiness. Each
// step moves the state machine on; a stop or crash meanwhile leaves the launch at its next check.
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import { userEnvProblem } from '../contract';
import { describeError } from '../log';
import type { DeaContext } from './context';
import { extractDroplet } from './droplet-cache';
import { buildInstanceEnv } from './environment';
import type { Instance } from './instance';
import type { InstancePhase } from './lifecycle';
import type { InstanceEnds } from './stop-path';

class LaunchStopped extends Error { override name = 'LaunchStopped'; }

/** Throws LaunchStopped unless the instance is still where the launch left it. */
function stillIn(inst: Instance, phase: InstancePhase): void {
  if (inst.phase !== phase) throw new LaunchStopped();
}

export class StartPath {
  constructor(private readonly dea: DeaContext, private readonly ends: InstanceEnds, private readonly sampleNow: (inst: Instance) => void) {}

  async launch(inst: Instance): Promise<void> {
    const { cache, ports, listenHost } = this.dea;
    try {
      const tgz = await cache.fetch(inst.start.sha1, inst.start.executableUri, inst.signal);
      stillIn(inst, 'downloading');
      await fs.promises.mkdir(inst.dir, { recursive: true, mode: 0o700 });
      await extractDroplet(tgz, inst.dir);
      stillIn(inst, 'downloading');
      if (!fs.existsSync(path.join(inst.dir, 'startup'))) throw new Error('the droplet has no startup script');
      inst.advance('launching');
      const port = await ports.allocate();
      inst.assignPort(port);
      stillIn(inst, 'launching');
      // Entries stored before the controller checked them by the same rule: say what is left out
      for (const e of inst.start.env) { const problem = userEnvProblem(e); if (problem) this.dea.log.warn(`${inst.label}: left out of the environment: ${problem}`); }
      const exited = inst.spawnStartup(buildInstanceEnv({
        instanceId: inst.id, index: inst.index, name: inst.start.name, uris: [...inst.uris], version: inst.version,
        runtime: inst.start.runtime, host: listenHost, port, limits: inst.start.limits, home: inst.dir,
        startedAt: inst.acceptedAt, stateTimestamp: inst.stateTimestamp, userEnv: inst.start.env, services: inst.start.services,
        path: process.env.PATH ?? '/usr/local/bin:/usr/bin:/bin',
      }));
      inst.advance('starting');
      void exited?.then((e) => this.ends.onProcessExit(inst, e));
      if (inst.uris.length > 0) await this.waitUntilListening(inst, port);
      stillIn(inst, 'starting');
      inst.advance('running');
      this.dea.log.info(`${inst.label} RUNNING on port ${inst.port}`);
      // A first sample now, so stats asked for right after the start are not all zero
      this.sampleNow(inst);
    } catch (e) {
      if (e instanceof LaunchStopped || !inst.can('crashed')) return;
      await this.ends.crash(inst, describeError(e));
    }
  }

  /**
   * Readiness: TCP connects until one succeeds; throws when the limit passes first. The first tries
   * come quicker (25, 50, 100 ms ...) up to the poll period, so a fast app is routed sooner.
   */
  private async waitUntilListening(inst: Instance, port: number): Promise<void> {
    const { readinessLimitMs, readinessPollMs } = this.dea.timings;
    const deadline = Date.now() + readinessLimitMs;
    for (let attempt = 0; ; attempt++) {
      stillIn(inst, 'starting');
      if (inst.exit) throw new LaunchStopped(); // the exit handler reports the crash
      if (await canConnect(this.dea.host, port, Math.max(100, readinessPollMs))) return;
      if (Date.now() >= deadline) {
        throw new Error(`did not start listening on port ${port} within ${Math.round(readinessLimitMs / 100) / 10}s`);
      }
      await sleep(Math.min(readinessPollMs, 25 * 2 ** attempt), inst.signal);
    }
  }
}

function canConnect(host: string, port: number, timeoutMs: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ host, port });
    const done = (ok: boolean): void => { socket.destroy(); resolve(ok); };
    socket.setTimeout(timeoutMs, () => done(false));
    socket.once('connect', () => done(true));
    socket.once('error', () => done(false));
  });
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) { resolve(); return; }
    const t = setTimeout(() => { signal.removeEventListener('abort', onAbort); resolve(); }, ms);
    const onAbort = (): void => { clearTimeout(t); resolve(); };
    signal.addEventListener('abort', onAbort, { once: true });
  });
}
