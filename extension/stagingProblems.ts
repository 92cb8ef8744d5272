// Reads a failed staging log for places in the app's own files (stack frames, `file:line` syntax
// errors, Python tracebacks, Ruby errors) so they can go to the Problems panel. Pure: no vscode.
import * as fs from 'node:fs';
import * as path from 'node:path';

export interface StagingProblem {
  /** Absolute path of the file inside the pushed folder. */
  file: string;
  /** 1-based. */
  line: number;
  /** 1-based; undefined when the log gave none. */
  column: number | undefined;
  message: string;
}

interface Location { file: string; line: number; column: number | undefined; kind: 'frame' | 'header' | 'python' | 'plain' }

const timestampPrefix = /^\[\d{4}-\d\d-\d\d[ T]\d\d:\d\d:\d\d(?:\.\d+)?Z?\]\s?/;
const errorLine = /^\s*(?:Uncaught\s+)?(?:[A-Z][\w.]*(?:Error|Exception)\b|Error\b|[\w./-]+:\d+:\s*(?:syntax error|error)).*$/;

/** Finds where in `root` a staging log says things went wrong; at most `limit` problems. */
export function findStagingProblems(logLines: readonly string[], root: string, limit = 20): StagingProblem[] {
  const lines = logLines.map((l) => l.replace(timestampPrefix, ''));
  const out: StagingProblem[] = [];
  const seen = new Set<string>();
  let inStackReported = false;
  for (let i = 0; i < lines.length && out.length < limit; i++) {
    const loc = locate(lines[i] ?? '');
    if (!loc) {
      // A runtime frame (node:internal, node_modules) still belongs to the stack being read.
      if (!/^\s*at /.test(lines[i] ?? '')) inStackReported = false;
      continue;
    }
    // Only the innermost frame of the app's own code per stack: the rest are its callers.
    if (loc.kind === 'frame' && inStackReported) continue;
    const file = resolveInFolder(loc.file, root);
    if (!file) continue;
    const key = `${file}:${loc.line}`;
    if (seen.has(key)) { if (loc.kind === 'frame') inStackReported = true; continue; }
    seen.add(key);
    if (loc.kind === 'frame') inStackReported = true;
    out.push({ file, line: loc.line, column: loc.column, message: messageNear(lines, i, loc) });
  }
  if (out.length < limit) out.push(...dependencyProblems(lines, root, seen).slice(0, limit - out.length));
  return out;
}

/** npm could not install a dependency: point at its line in package.json. */
function dependencyProblems(lines: readonly string[], root: string, seen: Set<string>): StagingProblem[] {
  const pkgFile = path.join(root, 'package.json');
  let pkgText: string;
  try { pkgText = fs.readFileSync(pkgFile, 'utf8'); } catch { return []; }
  const pkgLines = pkgText.split('\n');
  const out: StagingProblem[] = [];
  for (const l of lines) {
    const name = missingPackage(l);
    if (!name) continue;
    const at = pkgLines.findIndex((pl) => pl.includes(`"${name}"`));
    if (at < 0) continue;
    const key = `${pkgFile}:${at + 1}`;
    if (seen.has(key)) continue;
    seen.add(key);
    const column = (pkgLines[at] ?? '').indexOf(`"${name}"`) + 1;
    const message = l.replace(/^npm (?:error|ERR!)\s*/, '').trim();
    out.push({ file: pkgFile, line: at + 1, column: column > 0 ? column : undefined, message: `Cannot install ${name}: ${message}` });
  }
  return out;
}

function missingPackage(line: string): string | undefined {
  const pkg = '(@[\\w.-]+(?:/|%2[fF])[\\w.-]+|[\\w.-]+)';
  const patterns = [
    new RegExp(`404 Not Found - GET https?://\\S+?/${pkg}(?:/-/\\S*)?\\s*(?:-|$)`),
    new RegExp(`'${pkg}@[^']*' is not in (?:this|the npm) registry`),
    new RegExp(`No matching version found for ${pkg}@`),
    new RegExp(`request to https?://\\S+?/${pkg} failed`),
  ];
  for (const re of patterns) {
    const m = re.exec(line);
    if (m?.[1]) return decodeURIComponent(m[1]);
  }
  return undefined;
}

function locate(line: string): Location | undefined {
  let m = /^\s*at (?:.*? \()?(.+?):(\d+):(\d+)\)?\s*$/.exec(line);
  if (m) return skipRuntime({ file: m[1] ?? '', line: Number(m[2]), column: Number(m[3]), kind: 'frame' });
  m = /^\s*File "([^"]+)", line (\d+)/.exec(line);
  if (m) return skipRuntime({ file: m[1] ?? '', line: Number(m[2]), column: undefined, kind: 'python' });
  // Node prints `path/to/file.js:3` alone above a syntax error.
  m = /^\s*((?:[A-Za-z]:)?[^\s:()]+\.[A-Za-z0-9]+):(\d+)\s*$/.exec(line);
  if (m) return skipRuntime({ file: m[1] ?? '', line: Number(m[2]), column: undefined, kind: 'header' });
  // `file:line:col: msg`, `file:line: msg` (ruby, gcc, tsc --pretty false) and `file(line,col): msg`.
  m = /^\s*((?:[A-Za-z]:)?[^\s:()]+\.[A-Za-z0-9]+):(\d+)(?::(\d+))?:\s*(?:in\b|\S)/.exec(line);
  if (m) return skipRuntime({ file: m[1] ?? '', line: Number(m[2]), column: m[3] ? Number(m[3]) : undefined, kind: 'plain' });
  m = /^\s*([^\s(]+\.[A-Za-z0-9]+)\((\d+),(\d+)\):\s/.exec(line);
  if (m) return skipRuntime({ file: m[1] ?? '', line: Number(m[2]), column: Number(m[3]), kind: 'plain' });
  return undefined;
}

function skipRuntime(loc: Location): Location | undefined {
  if (!(loc.line > 0)) return undefined;
  if (/^(node|internal|<anonymous>|native)\b/.test(loc.file) || loc.file.startsWith('node:')) return undefined;
  if (/[\\/]node_modules[\\/]|[\\/](site|dist)-packages[\\/]|[\\/]lib[\\/]ruby[\\/]/.test(loc.file)) return undefined;
  return loc;
}

function messageNear(lines: readonly string[], i: number, loc: Location): string {
  const own = lines[i] ?? '';
  if (loc.kind === 'plain') {
    const rest = own.replace(/^\s*\S+?:\d+(?::\d+)?:\s*|^\s*\S+?\(\d+,\d+\):\s*/, '').trim();
    if (rest && !/^in\b/.test(rest)) return rest;
  }
  // A stack's message is above its frames; a syntax error's or traceback's is below its location.
  const forward = loc.kind !== 'frame';
  const order = forward ? [...range(i + 1, i + 8), ...range(i - 1, i - 8)] : [...range(i - 1, i - 12), ...range(i + 1, i + 4)];
  for (const j of order) {
    const l = lines[j];
    if (l !== undefined && errorLine.test(l) && !/^\s*at /.test(l)) return l.trim();
  }
  return 'Staging failed here';
}

function range(from: number, to: number): number[] {
  const out: number[] = [];
  if (from <= to) for (let k = from; k <= to; k++) out.push(k);
  else for (let k = from; k >= to; k--) out.push(k);
  return out.filter((k) => k >= 0);
}

/**
 * The file in `root` a staging path stands for. The stager works in its own folder (`.../app/x.js`),
 * so the longest trailing part of the path that exists under `root` wins.
 */
export function resolveInFolder(file: string, root: string): string | undefined {
  const segs = file.split(/[\\/]+/).filter((s) => s && s !== '.');
  if (segs.some((s) => s === '..')) return undefined;
  for (let k = 0; k < segs.length; k++) {
    const candidate = path.join(root, ...segs.slice(k));
    if (!candidate.startsWith(path.resolve(root) + path.sep)) continue;
    try { if (fs.statSync(candidate).isFile()) return candidate; } catch { /* try a shorter tail */ }
  }
  return undefined;
}
