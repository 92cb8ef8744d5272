// The droplet: app/ (sources and dependencies), logs/staging.log, pocket/ (support files, when
// needed), `startup` and `stop`; packed as a gzip tar. The scripts' contract with the DEA:
//   - the DEA runs `bash ./startup` in the unpacked droplet folder, as the leader of its own process
//     group, with the instance's environment (PORT, VCAP_APP_PORT, VCAP_APP_HOST, VCAP_APPLICATION,
//     HOME, user env ...); startup only fills in defaults for what is missing;
//   - the app's pid goes to run.pid, its output to logs/stdout.log and logs/stderr.log;
//   - startup exits with the app's exit status (128+N when killed by signal N);
//   - `./stop` (or SIGTERM to startup) stops the app: TERM, then KILL after a grace period.
import { createHash } from 'node:crypto';
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { createGzip } from 'node:zlib';
import type { StartPlan } from './plan';
import { killGroup, probe, type ProcessGroupSet } from './processes';

/** `'...'` for bash, safe for any string. */
export function shellQuote(s: string): string {
  return `'${s.replace(/'/g, `'\\''`)}'`;
}

/** No operators, grouping, substitution or line breaks: bash runs it as one process. */
export function isSimpleCommand(command: string): boolean {
  return !/[;&|()<>`\n\r]|\$\(/.test(command);
}

export function startupScript(plan: StartPlan): string {
  const lines = [
    '#!/bin/bash',
    `# Pocket Foundry droplet: framework ${plan.framework}, runtime ${plan.runtime}.`,
    '# Run by the DEA in this folder with the instance environment; only missing values get defaults.',
    'cd "$(dirname "$0")" || exit 1',
    'export PORT="${PORT:-${VCAP_APP_PORT:-8080}}"',
    'export VCAP_APP_PORT="${VCAP_APP_PORT:-$PORT}"',
    'export VCAP_APP_HOST="${VCAP_APP_HOST:-127.0.0.1}"',
    'export HOME="${HOME:-$PWD}"',
    'export PATH="${PATH:-/usr/local/bin:/usr/bin:/bin}"',
  ];
  for (const [k, v] of Object.entries(plan.env)) lines.push(`export ${k}="\${${k}:-${v.replace(/["\\$`]/g, '\\$&')}}"`);
  if (plan.interpreter) {
    const dir = path.dirname(plan.interpreter.executable);
    lines.push(`# The ${plan.runtime} found when staging; PATH's own is used where that one is absent.`);
    lines.push(`if [ -d ${shellQuote(dir)} ]; then export PATH=${shellQuote(dir)}":$PATH"; fi`);
  }
  lines.push('mkdir -p logs');
  lines.push('cd app || exit 1');
  if (plan.runtime === 'node') lines.push('export PATH="$PWD/node_modules/.bin:$PATH"');
  lines.push(
    'child=',
    'trap \'[ -n "$child" ] && kill -TERM "$child" 2>/dev/null\' TERM INT HUP',
    // A simple command is exec'd by the background child, so $! is the app itself.
    isSimpleCommand(plan.command)
      ? `${plan.command} >>../logs/stdout.log 2>>../logs/stderr.log &`
      : `{\n${plan.command}\n} >>../logs/stdout.log 2>>../logs/stderr.log &`,
    'child=$!',
    'echo "$child" > ../run.pid',
    'wait "$child"',
    'status=$?',
    '# wait returns early when a trapped signal arrives; wait again for the real status',
    'while kill -0 "$child" 2>/dev/null; do wait "$child"; status=$?; done',
    'exit "$status"',
    '',
  );
  return lines.join('\n');
}

export const stopScript = [
  '#!/bin/bash',
  '# Stops the app started by ./startup: TERM to its process group (when it has one of its own,',
  '# i.e. startup leads a group that is not ours), else to the app; KILL after STOP_GRACE seconds.',
  'cd "$(dirname "$0")" || exit 1',
  '[ -s run.pid ] || exit 0',
  'pid=$(cat run.pid)',
  'case "$pid" in ""|*[!0-9]*) exit 0 ;; esac',
  'kill -0 "$pid" 2>/dev/null || exit 0',
  'target="$pid"',
  'pgid=$(ps -o pgid= -p "$pid" 2>/dev/null | tr -d " ")',
  'mine=$(ps -o pgid= -p $$ 2>/dev/null | tr -d " ")',
  'if [ -n "$pgid" ] && [ "$pgid" != "$mine" ] && [ "$pgid" != "1" ]; then target="-$pgid"; fi',
  'kill -TERM -- "$target" 2>/dev/null',
  'grace=$(( ${STOP_GRACE:-5} * 10 ))',
  'for _ in $(seq 1 "$grace"); do',
  '  kill -0 "$pid" 2>/dev/null || exit 0',
  '  sleep 0.1',
  'done',
  'kill -KILL -- "$target" 2>/dev/null',
  'exit 0',
  '',
].join('\n');

/** Writes startup, stop and the support files into the droplet folder. */
export async function writeDropletScripts(dropletDir: string, plan: StartPlan): Promise<void> {
  await fs.promises.writeFile(path.join(dropletDir, 'startup'), startupScript(plan), { mode: 0o755 });
  await fs.promises.writeFile(path.join(dropletDir, 'stop'), stopScript, { mode: 0o755 });
  if (plan.supportFiles.length > 0) {
    await fs.promises.mkdir(path.join(dropletDir, 'pocket'), { recursive: true });
    for (const f of plan.supportFiles) await fs.promises.writeFile(path.join(dropletDir, 'pocket', f.name), f.content, { mode: f.mode });
  }
}

let gnuTar: Promise<boolean> | null = null;
/** GNU tar can sort entries and drop owner names, which makes droplets more reproducible. */
function isGnuTar(): Promise<boolean> {
  gnuTar ??= probe('tar', ['--version']).then((r) => r.ok && /GNU tar/.test(r.stdout));
  return gnuTar;
}

export interface PackedDroplet {
  sha1: string;
  bytes: number;
}

/** Packs `dropletDir` into `outFile` (.tgz) with the system's tar; killed with the task on abort. */
export async function packDroplet(dropletDir: string, outFile: string, signal: AbortSignal, groups: ProcessGroupSet): Promise<PackedDroplet> {
  signal.throwIfAborted();
  const entries = ['app', 'logs', 'startup', 'stop', 'pocket'].filter((e) => fs.existsSync(path.join(dropletDir, e)));
  const args = (await isGnuTar()) ? ['--sort=name', '--owner=0', '--group=0', '--numeric-owner', '-cf', '-', ...entries] : ['-cf', '-', ...entries];
  const tar = spawn('tar', args, { cwd: dropletDir, detached: true, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, LC_ALL: 'C' } });
  const pgid = tar.pid;
  if (pgid !== undefined) groups.add(pgid);
  const onAbort = (): void => { if (pgid !== undefined) killGroup(pgid); };
  signal.addEventListener('abort', onAbort, { once: true });
  let stderr = '';
  tar.stderr.on('data', (c: Buffer) => { if (stderr.length < 2000) stderr += c.toString('utf8'); });
  const hash = createHash('sha1');
  let bytes = 0;
  const gzip = createGzip({ level: 6 });
  const out = fs.createWriteStream(outFile, { mode: 0o600 });
  gzip.on('data', (c: Buffer) => { hash.update(c); bytes += c.length; });
  const written = new Promise<void>((resolve, reject) => {
    out.on('finish', resolve);
    out.on('error', reject);
    gzip.on('error', reject);
  });
  tar.stdout.pipe(gzip).pipe(out);
  try {
    const [code] = await Promise.all([
      new Promise<number | null>((resolve, reject) => { tar.on('error', reject); tar.on('close', (c) => resolve(c)); }),
      written,
    ]);
    signal.throwIfAborted();
    if (code !== 0) throw new Error(`tar exited with code ${code}: ${stderr.trim()}`);
  } finally {
    signal.removeEventListener('abort', onAbort);
    if (pgid !== undefined) groups.delete(pgid);
  }
  return { sha1: hash.digest('hex'), bytes };
}
