// Errors the client raises. Each is meant to be shown to a person as it is: one line, no stack.
import { z } from 'zod';
import { errorBody } from '../contract';

/** A v1 error body; a missing or non-numeric code reads as 0, the description is still worth showing. */
const lenientErrorBody = errorBody.extend({ code: z.number().int().catch(0) });

/** The error a failed answer carries: its `{code, description}` body, else `fallback` as the message. */
export function controllerErrorOf(status: number, text: string, fallback: string): CloudControllerError {
  try {
    const parsed = lenientErrorBody.safeParse(JSON.parse(text));
    if (parsed.success) return new CloudControllerError(parsed.data.code, status, parsed.data.description);
  } catch { /* not a v1 error body */ }
  return new CloudControllerError(0, status, fallback);
}

/** The controller answered with a v1 error body `{code, description}` (or an unexpected status). */
export class CloudControllerError extends Error {
  override name = 'CloudControllerError';
  constructor(
    /** v1 error code (301 app not found, 102 optimistic lock, ...); 0 when the body had none. */
    readonly code: number,
    readonly httpStatus: number,
    readonly description: string,
    options?: { cause?: unknown },
  ) {
    super(description, options);
  }
}

/** The controller could not be reached at all (refused, reset, unknown host, timed out). */
export class CloudControllerUnreachableError extends Error {
  override name = 'CloudControllerUnreachableError';
  constructor(readonly url: string, reason: string, options?: { cause?: unknown }) {
    super(`Cannot reach the cloud controller at ${url} (${reason}). Is the platform running? Start it with \`pocket up\`, or check \`pocket target\`.`, options);
  }
}

/** A manifest.yml that cannot be used; the message names the file, line and field. */
export class ManifestError extends Error {
  override name = 'ManifestError';
  constructor(message: string, readonly file: string, readonly line?: number) {
    super(line ? `${file}:${line}: ${message}` : `${file}: ${message}`);
  }
}

/** The app folder cannot be pushed as it is (a link escaping it, an unreadable file, ...). */
export class PushError extends Error {
  override name = 'PushError';
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
  }
}

/** The push was cancelled through its AbortSignal; the running version is left as it was. */
export class PushCancelledError extends Error {
  override name = 'PushCancelledError';
  constructor(readonly stage: string) {
    super(`Push cancelled during ${stage}; the running version was left untouched.`);
  }
}

/** No platform to talk to: neither flags, environment, a saved target nor a running `pocket up`. */
export class NoTargetError extends Error {
  override name = 'NoTargetError';
  constructor(dataDir: string) {
    super(`No Pocket Foundry platform found (no ${dataDir}/endpoint.json). Start one with \`pocket up\`, or pass --api URL --token TOKEN (or set POCKET_API and POCKET_TOKEN).`);
  }
}
