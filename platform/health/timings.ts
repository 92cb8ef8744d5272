// Every period, limit and count of the health manager. Local defaults are much shorter than v1's
// (a killed instance must serve again within seconds, not half a minute); v1 values in comments.

export interface HealthTimings {
  /** Full re-read of the expected state (`cloudcontrollers.bulk.apps`) (v1: database_scan 60 s). */
  expectedStateIntervalMs: number;
  /** Until the first expected state arrives, ask again this often (v1: none). */
  expectedStateRetryMs: number;
  /** How long a `cloudcontrollers.bulk.apps` request may take. */
  requestTimeoutMs: number;
  /** Analysis period: missing and extra instances (v1: droplets_analysis 20 s). */
  analysisIntervalMs: number;
  /**
   * An app whose desired state changed less than this long ago is left to the controller, which is
   * starting or stopping its instances itself (v1: stable_state 60 s).
   */
  stableStateMs: number;
  /** After boot, wait this long for the heartbeats `healthmanager.start` asked for (v1: one analysis period). */
  startupGraceMs: number;
  /** A DEA that does not declare its heartbeat period and is silent this long (or 3 observed periods) is lost (v1: droplet_lost 30 s). */
  dropletLostMs: number;
  /**
   * How often silent DEAs are looked for (a DEA declaring its heartbeat period is lost after 2.5 of
   * them); its apps are analysed one such period later, so the controller has seen the loss too.
   */
  lostSweepMs: number;
  /** No second START for an index, nor STOP for an instance, within this (v1: restart_timeout 20 s). */
  restartTimeoutMs: number;
  /** A crash counter starts again when the previous crash is older than this (v1: flapping_timeout 500 s). */
  flappingTimeoutMs: number;
  /** More crashes than this within flappingTimeoutMs make the index FLAPPING (v1: flapping_death 1). */
  flappingDeath: number;
  /** First delayed restart of a FLAPPING index; doubles with each crash (v1: min_restart_delay 60 s). */
  minRestartDelayMs: number;
  /** Longest delay before restarting a FLAPPING index (v1: max_restart_delay 480 s). */
  maxRestartDelayMs: number;
  /**
   * More crashes than this and the index is given up: no restart until the app's desired state
   * changes; 0 never gives up (v1: giveup_crash_number 4).
   */
  giveupCrashNumber: number;
  /** How long crash records stay for `healthmanager.status` CRASHED (v1: the DEA kept crashed instances 1 h). */
  crashRecordTtlMs: number;
}

export const defaultHealthTimings: Readonly<HealthTimings> = Object.freeze({
  expectedStateIntervalMs: 10_000,
  expectedStateRetryMs: 1_000,
  requestTimeoutMs: 5_000,
  analysisIntervalMs: 1_000,
  stableStateMs: 5_000,
  startupGraceMs: 3_000,
  dropletLostMs: 10_000,
  lostSweepMs: 250,
  restartTimeoutMs: 10_000,
  flappingTimeoutMs: 120_000,
  flappingDeath: 1,
  minRestartDelayMs: 1_000,
  maxRestartDelayMs: 30_000,
  giveupCrashNumber: 4,
  crashRecordTtlMs: 3_600_000,
});

/** Delay before restarting an index that crashed `crashes` times: v1's `min(max, base << (crashes - death - 1))`. */
export function restartDelayMs(t: HealthTimings, crashes: number): number {
  const exponent = Math.max(0, crashes - t.flappingDeath - 1);
  return Math.min(t.maxRestartDelayMs, t.minRestartDelayMs * 2 ** Math.min(exponent, 30));
}
