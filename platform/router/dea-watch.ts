// The router's own view of which DEAs are alive, from `dea.heartbeat` with the shared actual-state
// rules (lost after 2.5 declared periods), so a lost host's routes go at once instead of costing
// each request a connect timeout until their lease runs out. Silence is taken for loss only while
// the router demonstrably hears the bus: its connection is up and was not lost since, a round trip
// to its NATS node has just completed (everything queued for it before was delivered), and some
// other DEA is still heard. A NATS outage, or a router cut off from the cluster, drops nothing.
import type { Subscription } from '@nats-io/transport-node';
import { ActualState, Subjects, type Bus } from '../bus';

export interface DeaWatchOptions {
  bus: Bus;
  /** How often silent DEAs are looked for. */
  checkIntervalMs: number;
  /** A DEA is lost: drop its routes. */
  onLost: (dea: string) => void;
  /** A DEA found lost heartbeats again: ask for its registrations. */
  onBack: (dea: string) => void;
  /** How long a lost DEA is remembered for `onBack` (its routes would have expired by then anyway). */
  rememberMs: number;
}

/** Limit for a DEA that declares no heartbeat period (older DEAs): the v1 health manager's figure. */
const undeclaredLostMs = 10_000;

export class DeaWatch {
  private readonly state: ActualState;
  /** Lost DEA id -> when it was found lost. */
  private readonly lost = new Map<string, number>();
  private readonly sub: Subscription;
  private readonly timer: NodeJS.Timeout;
  private connected = true;
  /** Bumped on every disconnect and reconnect, so a check that straddles one does not count. */
  private epoch = 0;
  private checking = false;
  private stopped = false;

  constructor(private readonly o: DeaWatchOptions) {
    this.state = new ActualState({
      expiry: 'dea', lostAfterMs: undeclaredLostMs,
      onDeaLost: (dea) => { this.lost.set(dea, Date.now()); o.onLost(dea); },
    });
    this.sub = o.bus.subscribe(Subjects.deaHeartbeat, (hb) => {
      this.state.heartbeat(hb);
      if (this.lost.delete(hb.dea)) o.onBack(hb.dea);
    });
    void this.followConnection();
    this.timer = setInterval(() => { void this.check(); }, o.checkIntervalMs);
    this.timer.unref();
  }

  stop(): void {
    this.stopped = true;
    clearInterval(this.timer);
    this.sub.unsubscribe();
  }

  private async followConnection(): Promise<void> {
    try {
      for await (const s of this.o.bus.nc.status()) {
        if (this.stopped) return;
        if (s.type === 'disconnect' || s.type === 'staleConnection') { this.connected = false; this.epoch++; }
        // Heartbeats missed while we could not hear are not the DEAs' fault: count from now.
        if (s.type === 'reconnect') { this.connected = true; this.epoch++; this.state.excuseSilence(); }
      }
    } catch { /* the connection closed: nothing more to follow */ }
  }

  private async check(): Promise<void> {
    if (this.checking || !this.connected || this.stopped) return;
    this.checking = true;
    const epoch = this.epoch;
    try {
      if (!(await this.roundTrip())) return;
      if (epoch !== this.epoch || !this.connected || this.stopped) return;
      if (this.state.hearsAny()) this.state.sweep();
      const forgetBefore = Date.now() - this.o.rememberMs;
      for (const [dea, at] of this.lost) if (at < forgetBefore) this.lost.delete(dea);
    } finally {
      this.checking = false;
    }
  }

  /** True when a PING/PONG to our NATS node completes in time: every message it held for us has been handled. */
  private async roundTrip(): Promise<boolean> {
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<boolean>((resolve) => { timer = setTimeout(() => resolve(false), Math.max(500, this.o.checkIntervalMs * 2)); });
    try {
      return await Promise.race([this.o.bus.nc.flush().then(() => true, () => false), late]);
    } finally {
      clearTimeout(timer);
    }
  }
}
