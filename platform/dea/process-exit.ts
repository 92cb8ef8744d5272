// How an instance's process ended, in words for `droplet.exited` and the log.
import * as fs from 'node:fs';
import * as os from 'node:os';

export interface ProcessExit {
  code: number | null;
  signal: NodeJS.Signals | null;
  /** Set when the process could not be started at all. */
  error?: Error;
}

/** Words for how a process ended. bash reports a signal that killed its child as status 128+n. */
export function describeExit(e: ProcessExit): string {
  if (e.error) return `could not start: ${e.error.message}`;
  if (e.signal) return `killed by ${e.signal}`;
  const code = e.code ?? -1;
  if (code > 128) {
    const name = Object.entries(os.constants.signals).find(([, n]) => n === code - 128)?.[0];
    if (name) return `exited with status ${code} (killed by ${name})`;
  }
  return `exited with status ${code}`;
}

/** The last non-empty line of a (log) file, at most 200 characters; '' when there is none. */
export function lastLine(file: string): string {
  let fd: number;
  try { fd = fs.openSync(file, 'r'); } catch { return ''; }
  try {
    const size = fs.fstatSync(fd).size;
    const len = Math.min(size, 4096);
    const buf = Buffer.alloc(len);
    fs.readSync(fd, buf, 0, len, size - len);
    const lines = buf.toString('utf8').split(/\r?\n/).map((l) => l.trim()).filter(Boolean);
    const last = lines.at(-1) ?? '';
    return last.length > 200 ? `${last.slice(0, 197)}...` : last;
  } catch {
    return '';
  } finally {
    fs.closeSync(fd);
  }
}
