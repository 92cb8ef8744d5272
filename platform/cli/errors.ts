// Errors at the CLI's edge: a user-facing error is printed as it is; anything else is a short
// "internal error" line, with its stack under --verbose (or POCKET_DEBUG=1).
import { describeError, isUserFacing, UserFacingError } from '../log';
import { ExitCodes } from './exit-codes';

/** A user-facing failure that ends `pocket` with its own exit code (the supervisor reads it). */
export class CliFailure extends UserFacingError {
  override name = 'CliFailure';
  constructor(message: string, readonly exitCode: number, options?: { cause?: unknown }) {
    super(message, options);
  }
}

/** Writes `e` for the person at the keyboard and returns the exit code. */
export function reportError(e: unknown, verbose: boolean, write: (s: string) => void): number {
  if (isUserFacing(e)) write(`error: ${e.message}\n`);
  else write(`error: internal error: ${describeError(e)}${verbose ? '' : ' (run again with --verbose for the details)'}\n`);
  if (verbose && e instanceof Error && e.stack) write(e.stack + '\n');
  return e instanceof CliFailure ? e.exitCode : ExitCodes.failure;
}
