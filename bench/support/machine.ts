// What a figure was measured on: date, cores, memory, kernel, Node, load average (the machine is shared).
import { execSync } from 'node:child_process';
import * as os from 'node:os';

function sh(cmd: string): string {
  try { return execSync(cmd, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim(); } catch { return 'n/a'; }
}

export function loadAverage(): string {
  return os.loadavg().map((l) => l.toFixed(2)).join(', ');
}

/** Markdown lines naming the machine; `loadBefore` is the load average read when the benchmark began. */
export function machineLines(loadBefore: string, extra: readonly string[] = []): string {
  const memGiB = (os.totalmem() / 2 ** 30).toFixed(1);
  const cpu = os.cpus()[0]?.model?.trim() ?? 'unknown cpu';
  return [
    `- Date: ${sh('date -u')}`,
    `- Machine: ${sh('nproc')} cores (${cpu}), ${memGiB} GiB RAM, Linux ${sh('uname -r')}, Node ${process.version}` +
      (extra.length > 0 ? `, ${extra.join(', ')}` : ''),
    `- Load average (1, 5, 15 min): ${loadBefore} at the start, ${loadAverage()} at the end (a shared machine: other work was running)`,
  ].join('\n');
}
