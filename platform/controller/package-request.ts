// What an upload asks for (PROTOCOL.md §2): the resource list of pooled files, a delta's base
// package and deleted names, and the checks on every app path and link target in them.
import { SHA1_HEX } from './atomic-file';
import { CcError, ErrorCodes } from './errors';

export interface ResourceEntry {
  fn: string;
  size: number;
  sha1: string;
  /** Permission bits; absent means 0644. An addition over v1's `{fn, size, sha1}`. */
  mode: number | null;
}

/** A delta upload: the new package is this base package minus `deleted`, plus the upload. */
export interface PackageDelta {
  /** Hash of the package the upload changes: the app's current package. */
  basePackage: string;
  /** Normalised names (files, links or folders) of the base package to leave out. */
  deleted: readonly string[];
}

const MAX_RESOURCES = 500_000;
export const MAX_LINK_TARGET = 4096;

export class UnsafePathError extends Error {
  override name = 'UnsafePathError';
}

/** A relative path inside the app, normalised (`a/./b` -> `a/b`); throws for blank, absolute or escaping names. */
export function normalizeAppPath(raw: string): string {
  if (typeof raw !== 'string' || raw.trim() === '') throw new UnsafePathError('blank name');
  if (raw.includes('\0')) throw new UnsafePathError('name contains a NUL byte');
  if (raw.includes('\\')) throw new UnsafePathError('name contains a backslash');
  if (raw.startsWith('/') || /^[A-Za-z]:/.test(raw)) throw new UnsafePathError('absolute path');
  const out: string[] = [];
  for (const seg of raw.split('/')) {
    if (seg === '' || seg === '.') continue;
    if (seg === '..') {
      if (out.length === 0) throw new UnsafePathError('escapes the app folder');
      out.pop();
    } else {
      out.push(seg);
    }
  }
  if (out.length === 0) throw new UnsafePathError('blank name');
  return out.join('/');
}

/** Checks that a symlink at `linkPath` pointing to `target` stays inside the app. */
export function checkLinkTarget(linkPath: string, target: string): void {
  if (target === '' || target.includes('\0')) throw new UnsafePathError('empty link target');
  if (target.startsWith('/') || /^[A-Za-z]:/.test(target) || target.includes('\\')) throw new UnsafePathError(`link to an absolute path (${target})`);
  const parts = linkPath.split('/').slice(0, -1);
  for (const seg of target.split('/')) {
    if (seg === '' || seg === '.') continue;
    if (seg === '..') {
      if (parts.length === 0) throw new UnsafePathError(`link escapes the app folder (${target})`);
      parts.pop();
    } else {
      parts.push(seg);
    }
  }
}

function parseMode(v: unknown, fn: string): number | null {
  if (v === undefined || v === null) return null;
  let n: number;
  if (typeof v === 'number' && Number.isInteger(v)) n = v;
  else if (typeof v === 'string' && /^[0-7]{1,7}$/.test(v)) n = parseInt(v, 8);
  else throw new CcError(ErrorCodes.badResources, `resources: ${fn}: mode must be an integer or an octal string`);
  if (n < 0) throw new CcError(ErrorCodes.badResources, `resources: ${fn}: bad mode`);
  return n & 0o777;
}

/** Parses the `resources` part: a JSON array of `{fn, size, sha1[, mode]}`. Code 400 for anything wrong. */
export function parseResources(text: string | undefined): ResourceEntry[] {
  if (text === undefined || text.trim() === '') return [];
  let raw: unknown;
  try { raw = JSON.parse(text); } catch { throw new CcError(ErrorCodes.badResources, 'resources: not valid JSON'); }
  if (!Array.isArray(raw)) throw new CcError(ErrorCodes.badResources, 'resources: expected a JSON array of {fn, size, sha1}');
  if (raw.length > MAX_RESOURCES) throw new CcError(ErrorCodes.badResources, `resources: more than ${MAX_RESOURCES} entries`);
  return raw.map((r: unknown, i) => {
    if (!r || typeof r !== 'object' || Array.isArray(r)) throw new CcError(ErrorCodes.badResources, `resources[${i}]: expected an object {fn, size, sha1}`);
    const o = r as Record<string, unknown>;
    if (typeof o.fn !== 'string') throw new CcError(ErrorCodes.badResources, `resources[${i}]: fn must be a string`);
    if (typeof o.size !== 'number' || !Number.isSafeInteger(o.size) || o.size < 0) throw new CcError(ErrorCodes.badResources, `resources[${i}] (${o.fn}): size must be a non-negative integer`);
    if (typeof o.sha1 !== 'string' || !SHA1_HEX.test(o.sha1.toLowerCase())) throw new CcError(ErrorCodes.badResources, `resources[${i}] (${o.fn}): sha1 must be 40 hex digits`);
    return { fn: o.fn, size: o.size, sha1: o.sha1.toLowerCase(), mode: parseMode(o.mode, o.fn) };
  });
}

/** Parses the `deleted` field of a delta upload: a JSON array of names in the base package. Code 400 for anything wrong. */
export function parseDeleted(text: string | undefined): string[] {
  if (text === undefined || text.trim() === '') return [];
  let raw: unknown;
  try { raw = JSON.parse(text); } catch { throw new CcError(ErrorCodes.badResources, 'deleted: not valid JSON'); }
  if (!Array.isArray(raw)) throw new CcError(ErrorCodes.badResources, 'deleted: expected a JSON array of file names');
  if (raw.length > MAX_RESOURCES) throw new CcError(ErrorCodes.badResources, `deleted: more than ${MAX_RESOURCES} entries`);
  const seen = new Set<string>();
  return raw.map((v: unknown, i) => {
    if (typeof v !== 'string') throw new CcError(ErrorCodes.badResources, `deleted[${i}]: expected a file name (a string)`);
    let name: string;
    try { name = normalizeAppPath(v); } catch (err) { throw new CcError(ErrorCodes.badResources, `deleted[${i}] ${JSON.stringify(v)}: ${(err as Error).message}`); }
    if (seen.has(name)) throw new CcError(ErrorCodes.badResources, `deleted: ${name} listed twice`);
    seen.add(name);
    return name;
  });
}

/**
 * The delta of an upload from its `base_package` and `deleted` fields, or undefined for a whole
 * (v1) upload. Code 400 when they are malformed.
 */
export function parseDelta(fields: Readonly<Record<string, string>>): PackageDelta | undefined {
  const base = fields.base_package;
  if (base === undefined || base.trim() === '') {
    if (fields.deleted !== undefined && fields.deleted.trim() !== '') throw new CcError(ErrorCodes.badResources, 'deleted: only allowed with base_package');
    return undefined;
  }
  const hash = base.trim().toLowerCase();
  if (!SHA1_HEX.test(hash)) throw new CcError(ErrorCodes.badResources, 'base_package: expected a package hash (40 hex digits)');
  return { basePackage: hash, deleted: parseDeleted(fields.deleted) };
}

export function staleBase(hash: string, why = 'is not the app\'s current package'): CcError {
  return new CcError(ErrorCodes.staleBasePackage, `base package is stale: ${hash} ${why}; push every file again`);
}
