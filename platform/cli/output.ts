// What the CLI prints: one place for stdout lines and the shapes shared by several commands.
import { formatBytes, formatDuration, type PushSummary } from '../client';

export const out = (s = ''): void => { process.stdout.write(s + '\n'); };

export function since(ts: number): string {
  if (!ts) return '-';
  const d = new Date(ts * 1000);
  const pad = (n: number): string => String(n).padStart(2, '0');
  const stamp = `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
  return `${stamp} (${formatDuration(Date.now() / 1000 - ts)} ago)`;
}

export function printFingerprintSummary(s: PushSummary): void {
  out(`  ${s.created ? 'created' : 'updated'} app ${s.app}`);
  out(`  files:          ${s.files} (${formatBytes(s.totalBytes)})`);
  out(`  matched:        ${s.matched}`);
  out(`  uploaded:       ${s.uploaded} (${formatBytes(s.uploadedBytes)})`);
  out(`  bytes sent:     ${formatBytes(s.bytesSent)}`);
  out(`  package hash:   ${s.packageHash ?? '-'}`);
  out(`  staging needed: ${s.stagingNeeded ? 'yes' : 'no'}`);
  if (s.reusedPackage) out('  (nothing changed since the last push of this folder: the controller\'s package was reused)');
  if (s.delta) out('  (only the changes since the last push of this folder were sent: a delta on the app\'s package)');
}

export function printPushEnd(s: PushSummary): void {
  if (!s.started) {
    out(`${s.app} uploaded, not started (--no-start). Start it with \`pocket start ${s.app}\`.`);
    return;
  }
  out(`${s.app}: ${s.running}/${s.instances} instances running`);
  out(s.url ?? `${s.app} has no uri`);
}
