// Public types of the DEA: options, timings and the handle startDea returns.
import type { Bus } from '../bus';
import type { Log } from '../log';
import type { HttpTls } from '../tls';

/** Every period and limit of the DEA, in milliseconds. Local defaults are shorter than v1's. */
export interface DeaTimings {
  /** `dea.advertise` period (v1: 5 s). */
  advertiseMs: number;
  /** `dea.heartbeat` period (v1: 10 s); receivers count a DEA lost after 2.5 missed periods. */
  heartbeatMs: number;
  /** Readiness: TCP connect attempt period (v1: 0.5 s). */
  readinessPollMs: number;
  /** Readiness: an instance that has not opened its port by then is killed and CRASHED (v1: 60 s). */
  readinessLimitMs: number;
  /** cpu/memory sampling period (v1: 2 s). */
  statsMs: number;
  /** Disk usage sampling period of an instance folder (walks the tree, so less often). */
  diskMs: number;
  /** How long a CRASHED instance's folder stays readable (v1: 1 h). */
  crashRetentionMs: number;
  /** Time between SIGTERM and SIGKILL when stopping an instance. */
  stopGraceMs: number;
  /** A droplet download that stalls this long fails. */
  downloadIdleMs: number;
}

export const defaultDeaTimings: Readonly<DeaTimings> = Object.freeze({
  advertiseMs: 2000,
  heartbeatMs: 1000,
  readinessPollMs: 250,
  readinessLimitMs: 60_000,
  statsMs: 2000,
  diskMs: 10_000,
  crashRetentionMs: 3_600_000,
  stopGraceMs: 5000,
  downloadIdleMs: 60_000,
});

export interface DeaOptions {
  bus: Bus;
  /** Droplet cache, instance folders and the lock file live here; one DEA per folder. */
  baseDir: string;
  /** Sent as `Authorization` when downloading a droplet from `executableUri`. */
  token: string;
  /** Memory this DEA may hand out to instances, in MB (default 4096). */
  maxMemoryMb?: number;
  /** Address the DEA announces: routers and file clients reach its instances and file server there (default 127.0.0.1). */
  host?: string;
  /** Address apps and the file server listen on (default: `host`; 0.0.0.0 for every interface). */
  listen?: string;
  /** HTTPS for the file server, and the CA the controller's droplet server is checked against (default: plain). */
  tls?: HttpTls;
  log: Log;
  timings?: Partial<DeaTimings>;
}

export interface Dea {
  id: string;
  /** Stops every instance (`droplet.exited` reason DEA_SHUTDOWN), waits until no process is left. */
  stop(): Promise<void>;
}
