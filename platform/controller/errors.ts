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
