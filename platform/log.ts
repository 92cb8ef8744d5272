// One small logger for every component: timestamped lines, a component tag, levels.
export type LogLevel = 'debug' | 'info' | 'warn' | 'error';

export interface Log {
  debug(msg: string): void;
  info(msg: string): void;
  warn(msg: string): void;
  error(msg: string, err?: unknown): void;
  child(component: string): Log;
}

const order: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40 };

export interface LogSink {
  (line: string, level: LogLevel): void;
}

const stderrSink: LogSink = (line) => { process.stderr.write(line + '\n'); };

export function createLog(component: string, opts: { level?: LogLevel; sink?: LogSink } = {}): Log {
  const min = order[opts.level ?? (process.env.POCKET_LOG_LEVEL as LogLevel | undefined) ?? 'info'] ?? order.info;
  const sink = opts.sink ?? stderrSink;
  const write = (level: LogLevel, msg: string): void => {
    if (order[level] < min) return;
    sink(`${new Date().toISOString()} ${level.padEnd(5)} [${component}] ${msg}`, level);
  };
  return {
    debug: (m) => write('debug', m),
    info: (m) => write('info', m),
    warn: (m) => write('warn', m),
    error: (m, err) => write('error', err === undefined ? m : `${m}: ${describeError(err)}`),
    child: (c) => createLog(`${component}.${c}`, opts),
  };
}

/** A log that drops everything: for tests that assert on behaviour, not output. */
export const silentLog: Log = {
  debug: () => undefined, info: () => undefined, warn: () => undefined, error: () => undefined,
  child: () => silentLog,
};

export function describeError(err: unknown): string {
  if (err instanceof Error) return err.message;
  return String(err);
}

/** An error whose message is meant for the person at the keyboard; everything else goes to the log. */
export class UserFacingError extends Error {
  override name = 'UserFacingError';
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
  }
}

// platform/client's errors are written for a person but predate UserFacingError; matched by name,
// because the extension loads the client as a bundle of its own (its classes are other objects).
const userFacingNames = new Set([
  'CloudControllerError', 'CloudControllerUnreachableError', 'ManifestError', 'PushError', 'PushCancelledError', 'NoTargetError',
]);

/** Whether `err`'s message is meant to be shown as it is (anything else is an internal error). */
export function isUserFacing(err: unknown): err is Error {
  return err instanceof UserFacingError || (err instanceof Error && userFacingNames.has(err.name));
}
