// What the last push of an app folder sent, kept in the user's cache folder: with it an unchanged
// file is not read again (its stat matches), and an unchanged app whose package the controller still
// holds is not uploaded at all. Losing the cache only costs time.
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { writeFileAtomic } from '../atomic-file';
import type { AppFile, FingerprintCache } from './fingerprint';

/** `$XDG_CACHE_HOME/pocket-foundry/push`, else `~/.cache/pocket-foundry/push`. */
export function defaultPushCacheDir(env: NodeJS.ProcessEnv = process.env): string {
  const base = env.XDG_CACHE_HOME ? path.resolve(env.XDG_CACHE_HOME) : path.join(os.homedir(), '.cache');
  return path.join(base, 'pocket-foundry', 'push');
}

export interface PushRecord {
  api: string;
  app: string;
  root: string;
  packageHash: string;
  /** When hashing began (ms): files changed since then are read again. */
  takenAt: number;
  files: AppFile[];
}

type StoredFile = [fn: string, size: number, sha1: string, mode: number, mtimeMs: number, ctimeMs: number, ino: number];

interface Stored {
  v: 1;
  api: string;
  app: string;
  root: string;
  packageHash: string;
  takenAt: number;
  files: StoredFile[];
}

const keepRecords = 200;

function fileFor(dir: string, api: string, app: string, root: string): string {
  return path.join(dir, createHash('sha1').update(`${api}\n${app}\n${root}`).digest('hex') + '.json');
}

export function loadPushRecord(dir: string, api: string, app: string, root: string): PushRecord | null {
  try {
    const s = JSON.parse(fs.readFileSync(fileFor(dir, api, app, root), 'utf8')) as Stored;
    if (s.v !== 1 || s.api !== api || s.app !== app || s.root !== root || !Array.isArray(s.files)) return null;
    return {
      api, app, root, packageHash: s.packageHash, takenAt: s.takenAt,
      files: s.files.map(([fn, size, sha1, mode, mtimeMs, ctimeMs, ino]) => ({ fn, abs: path.join(root, fn), size, sha1, mode, mtimeMs, ctimeMs, ino })),
    };
  } catch {
    return null;
  }
}

export function savePushRecord(dir: string, r: PushRecord): void {
  try {
    fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
    const stored: Stored = {
      v: 1, api: r.api, app: r.app, root: r.root, packageHash: r.packageHash, takenAt: r.takenAt,
      files: r.files.map((f) => [f.fn, f.size, f.sha1, f.mode, f.mtimeMs ?? -1, f.ctimeMs ?? -1, f.ino ?? -1]),
    };
    writeFileAtomic(fileFor(dir, r.api, r.app, r.root), JSON.stringify(stored));
    prune(dir);
  } catch { /* a cache that cannot be written is only slower */ }
}

/** Keeps the most recently written records. */
function prune(dir: string): void {
  const names = fs.readdirSync(dir).filter((n) => n.endsWith('.json'));
  if (names.length <= keepRecords) return;
  const byAge = names.map((n) => ({ n, t: fs.statSync(path.join(dir, n)).mtimeMs })).sort((a, b) => b.t - a.t);
  for (const { n } of byAge.slice(keepRecords)) fs.rmSync(path.join(dir, n), { force: true });
}

export function asFingerprintCache(r: PushRecord): FingerprintCache {
  const byFn = new Map(r.files.map((f) => [f.fn, f]));
  return { get: (fn) => byFn.get(fn), takenAt: r.takenAt };
}

/** The same files with the same content and modes, in the same order (both lists are sorted by fn). */
export function sameFiles(a: AppFile[], b: AppFile[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) {
    const x = a[i];
    const y = b[i];
    if (x.fn !== y.fn || x.size !== y.size || x.sha1 !== y.sha1 || x.mode !== y.mode) return false;
  }
  return true;
}
