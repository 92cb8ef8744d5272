// The controller's waits and grace periods, in one place so tests can shorten them.
export interface ControllerTimings {
  /** How long `dea.discover` waits for a DEA's answer. */
  discoverWaitMs: number;
  /** How long `dea.find.droplet` collects answers. */
  findWaitMs: number;
  /** Time limit of a `healthmanager.status` request. */
  hmStatusWaitMs: number;
  /** How long `router.status` collects answers. */
  routerStatusWaitMs: number;
  /** After a restart, how long to let heartbeats arrive before re-placing missing instances. */
  restoreSettleMs: number;
  /** Zero-downtime replacement: the longest wait for the new instances to be RUNNING and routed. */
  rolloutTimeoutMs: number;
  rolloutPollMs: number;
  /** A START the controller just sent covers its index this long, so HM does not start it twice. */
  startGraceMs: number;
  /** A DEA silent this long (before its heartbeat interval is known) loses its instances. */
  instanceLostMs: number;
  /** Beyond the staging time limit, how long the stager may take to report its own timeout. */
  stagingReplyGraceMs: number;
  /** With no stager answering (one being restarted), how long to keep asking before the staging fails. */
  stagerWaitMs: number;
}

export const defaultControllerTimings: ControllerTimings = {
  discoverWaitMs: 1000,
  findWaitMs: 400,
  hmStatusWaitMs: 400,
  routerStatusWaitMs: 300,
  restoreSettleMs: 1500,
  rolloutTimeoutMs: 120_000,
  rolloutPollMs: 250,
  startGraceMs: 8000,
  instanceLostMs: 10_000,
  stagingReplyGraceMs: 10_000,
  stagerWaitMs: 5000,
};
