// What `pocket up`'s supervisor and a component process it runs say to each other over the IPC channel.
import type { PlatformComponent } from '../platform';

/** Set in a component process's environment by the supervisor. */
export const supervisedEnv = 'POCKET_SUPERVISED';

/** Component -> supervisor: started; the URLs it serves (null where it serves none). */
export interface ReadyMessage {
  type: 'ready';
  component: PlatformComponent;
  api: string | null;
  router: string | null;
  /** The controller's owner account (its password only while the generated one is unchanged). */
  owner?: { email: string; password: string | null; created: boolean };
}

/** Supervisor -> component: stop cleanly and exit 0. */
export interface StopMessage {
  type: 'stop';
}

export function isReadyMessage(m: unknown): m is ReadyMessage {
  return typeof m === 'object' && m !== null && (m as { type?: unknown }).type === 'ready';
}

export function isStopMessage(m: unknown): m is StopMessage {
  return typeof m === 'object' && m !== null && (m as { type?: unknown }).type === 'stop';
}

/** True in a component process started by the supervisor (with an IPC channel to it). */
export function runningUnderSupervisor(): boolean {
  return process.env[supervisedEnv] === '1' && typeof process.send === 'function';
}
