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
export { isLive } from '../bus';

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
