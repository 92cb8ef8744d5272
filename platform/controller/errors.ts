// The controller's REST error: a v1 code (the table lives in the contract) with its HTTP status.
import { ErrorCodes, errorHttpStatus, type ErrorBody, type ErrorCode } from '../contract';

export { ErrorCodes, type ErrorCode };

/** An error answered to the REST client as `{code, description}` with the code's HTTP status. */
export class CcError extends Error {
  override name = 'CcError';
  readonly status: number;
  constructor(readonly code: ErrorCode, description: string, options?: { cause?: unknown; status?: number }) {
    super(description, options);
    this.status = options?.status ?? errorHttpStatus[code] ?? 500;
  }

  toJSON(): ErrorBody {
    return { code: this.code, description: this.message };
  }
}

const diskFullCodes = new Set(['ENOSPC', 'EDQUOT', 'SQLITE_FULL']);

/** True for a write refused because the disk (or the user's quota) is full, or an error caused by one. */
export function isDiskFull(e: unknown): boolean {
  for (let c: unknown = e, depth = 0; c instanceof Error && depth < 4; c = c.cause, depth++) {
    if ('code' in c && diskFullCodes.has(String(c.code))) return true;
  }
  return false;
}

/**
 * The platform's disk is full: the server's fault, never the request's, so v1's server-error code
 * (10000) with HTTP 507 Insufficient Storage (RFC 4918), not a 4xx that tells the client to change it.
 */
export function diskFullError(cause: unknown): CcError {
  return new CcError(ErrorCodes.internal, "the platform's disk is full: nothing was stored; free space on the disk of the platform's data folder and try again", { status: 507, cause });
}
