// Errors of a staging task. A StagingError's message is for the person who pushed the app: it goes
// into the staging log and the reply's `error` as it is.
import { UserFacingError } from '../log';

/** Error codes of a staging reply (PROTOCOL.md §1). */
export const StagingErrorCodes = {
  failed: 310,
  timeout: 800,
  /** Cancelled (`staging.stop`), stager stopping, or the droplet could not be uploaded. */
  cancelled: 801,
} as const;

export class StagingError extends UserFacingError {
  override name = 'StagingError';
  constructor(message: string, readonly code: number = StagingErrorCodes.failed, options?: { cause?: unknown }) {
    super(message, options);
  }
}

/** Why a task's AbortSignal fired. */
export type AbortReason = 'timeout' | 'cancelled' | 'shutdown';

export class StagingAborted extends Error {
  override name = 'StagingAborted';
  constructor(readonly reason: AbortReason) {
    super(`staging ${reason}`);
  }
}
