// The instance lifecycle as an explicit state machine: every state change goes through `transition`,
// and a change the table does not allow is a programming error, thrown rather than papered over.
import type { InstanceState } from '../bus';

const allowed: Readonly<Record<InstanceState, readonly InstanceState[]>> = {
  STARTING: ['RUNNING', 'CRASHED', 'STOPPED'],
  RUNNING: ['CRASHED', 'STOPPED'],
  CRASHED: ['DELETED'],
  STOPPED: ['DELETED'],
  DELETED: [],
};

export class IllegalTransitionError extends Error {
  override name = 'IllegalTransitionError';
  constructor(readonly from: InstanceState, readonly to: InstanceState, what: string) {
    super(`illegal instance state transition ${from} -> ${to} (${what})`);
  }
}

export function canTransition(from: InstanceState, to: InstanceState): boolean {
  return allowed[from].includes(to);
}

/** States in which an instance holds memory, a port and (possibly) processes: the bus's one `isLive`. */
import { isLive } from '../bus';
export { isLive };

export class InstanceLifecycle {
  private current: InstanceState = 'STARTING';
  private timestamp: number;

  /** `what` names the instance in error messages. `now` returns milliseconds since the epoch. */
  constructor(private readonly what: string, private readonly now: () => number = Date.now) {
    this.timestamp = now() / 1000;
  }

  get state(): InstanceState { return this.current; }

  /** Seconds since the epoch (fractional) of the last transition. */
  get stateTimestamp(): number { return this.timestamp; }

  /** Moves to `to` and stamps the time; throws IllegalTransitionError when the table forbids it. */
  transition(to: InstanceState): void {
    if (!canTransition(this.current, to)) throw new IllegalTransitionError(this.current, to, this.what);
    this.current = to;
    this.timestamp = this.now() / 1000;
  }
}

/** The instance's own states; each maps to a wire state (`stopping` keeps the one it came from). */
export type InstancePhase = 'downloading' | 'launching' | 'starting' | 'running' | 'stopping' | 'crashed' | 'stopped' | 'deleted';

export type StopReason = 'STOPPED' | 'DEA_SHUTDOWN';

const phases: Readonly<Record<InstancePhase, { wire: InstanceState | null; next: readonly InstancePhase[] }>> = {
  downloading: { wire: 'STARTING', next: ['launching', 'stopping', 'crashed'] },
  launching: { wire: 'STARTING', next: ['starting', 'stopping', 'crashed'] },
  starting: { wire: 'STARTING', next: ['running', 'stopping', 'crashed'] },
  running: { wire: 'RUNNING', next: ['stopping', 'crashed'] },
  stopping: { wire: null, next: ['stopped'] },
  crashed: { wire: 'CRASHED', next: ['deleted'] },
  stopped: { wire: 'STOPPED', next: ['deleted'] },
  deleted: { wire: 'DELETED', next: [] },
};

export class IllegalPhaseError extends Error {
  override name = 'IllegalPhaseError';
  constructor(readonly from: InstancePhase, readonly to: InstancePhase, what: string) {
    super(`illegal instance transition ${from} -> ${to} (${what})`);
  }
}

/** What entering and leaving states does outside the instance (bus messages, ports, processes). */
export interface InstanceEffects {
  /** `router.register` for the instance's uris. */
  registerRoutes(): void;
  /** `router.unregister` for the instance's uris. */
  unregisterRoutes(): void;
  /** `droplet.exited`. */
  exited(reason: StopReason | 'CRASHED'): void;
  /** Kills what is left of the instance's processes and waits until they are gone. */
  reap(): Promise<void>;
  releasePort(): void;
  /** The wire state changed. */
  changed(from: InstanceState, to: InstanceState): void;
}

/**
 * The instance lifecycle with its effects attached once: routes on entering and leaving `running`,
 * `droplet.exited` and the port on entering `crashed` or `stopped`, the abort signal on any end.
 */
export class InstanceMachine {
  private current: InstancePhase = 'downloading';
  private readonly wire: InstanceLifecycle;
  private reason: StopReason | null = null;
  private crash: { at: number; description: string } | null = null;
  private readonly aborter = new AbortController();

  constructor(private readonly what: string, private readonly effects: InstanceEffects, now: () => number = Date.now) {
    this.wire = new InstanceLifecycle(what, now);
  }

  get phase(): InstancePhase { return this.current; }
  get state(): InstanceState { return this.wire.state; }
  /** Seconds since the epoch (fractional) of the last wire state change. */
  get stateTimestamp(): number { return this.wire.stateTimestamp; }
  /** Holds memory, a port and (possibly) processes. */
  get live(): boolean { return isLive(this.wire.state); }
  /** Set once a stop was asked for; an exit after that is not a crash. */
  get stopReason(): StopReason | null { return this.reason; }
  get crashTimestamp(): number | null { return this.crash?.at ?? null; }
  get exitDescription(): string | null { return this.crash?.description ?? null; }
  /** Aborted when the instance stops or crashes: cancels the download wait and the readiness loop. */
  get signal(): AbortSignal { return this.aborter.signal; }

  can(to: InstancePhase): boolean { return phases[this.current].next.includes(to); }

  /** The next step of a launch: `launching`, `starting` or `running`. */
  advance(to: 'launching' | 'starting' | 'running'): void { this.move(to); }

  /** Ends a live instance that was not asked to stop; false when it is past that. */
  crashed(description: string): Promise<void> | false {
    if (!this.can('crashed')) return false;
    this.move('crashed', () => { this.crash = { at: this.wire.stateTimestamp, description }; });
    this.effects.exited('CRASHED');
    return this.effects.reap().then(() => this.effects.releasePort());
  }

  stopping(reason: StopReason): void {
    this.move('stopping', () => { this.reason = reason; });
  }

  stopped(): void {
    this.move('stopped');
    this.effects.exited(this.reason ?? 'STOPPED');
    this.effects.releasePort();
  }

  deleted(): void { this.move('deleted'); }

  private move(to: InstancePhase, enter?: () => void): void {
    const from = this.current;
    if (!this.can(to)) throw new IllegalPhaseError(from, to, this.what);
    if (from === 'running') this.effects.unregisterRoutes();
    if (to === 'stopping' || to === 'crashed') this.aborter.abort();
    const wireTo = phases[to].wire;
    const wireFrom = this.wire.state;
    if (wireTo !== null && wireTo !== wireFrom) this.wire.transition(wireTo);
    this.current = to;
    enter?.();
    if (wireTo !== null && wireTo !== wireFrom) this.effects.changed(wireFrom, wireTo);
    if (to === 'running') this.effects.registerRoutes();
  }
}
