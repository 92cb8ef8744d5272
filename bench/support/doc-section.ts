// Replaces one benchmark's generated block in docs/benchmarks.md (between `<!-- bench:KEY:start -->`
// and `<!-- bench:KEY:end -->`), leaving every other line of the file as it is.
import * as fs from 'node:fs';

export function writeSection(file: string, key: string, body: string): void {
  const start = `<!-- bench:${key}:start -->`;
  const end = `<!-- bench:${key}:end -->`;
  const text = fs.readFileSync(file, 'utf8');
  const a = text.indexOf(start);
  const b = text.indexOf(end);
  if (a < 0 || b < a) throw new Error(`${file} has no ${start} ... ${end} block`);
  const next = `${text.slice(0, a + start.length)}\n${body.trim()}\n${text.slice(b)}`;
  const tmp = `${file}.${process.pid}.tmp`;
  fs.writeFileSync(tmp, next);
  fs.renameSync(tmp, file);
}
