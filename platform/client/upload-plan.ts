// The upload of a push: which fingerprinted files to send, which the controller's pool already
// holds, and, when the app still runs this folder's last package, only what changed since.
import type { Resource } from '../contract';
import type { CallOptions, CloudControllerClient } from './cloud-controller';
import type { AppFile } from './fingerprint';
import type { PushRecord } from './push-cache';

export function toResource(f: AppFile): Resource {
  return { fn: f.fn, size: f.size, sha1: f.sha1 };
}

/** A pooled file in the upload's `resources`, with its mode unless it is the default 0644 (as a zipped file keeps its mode). */
export function toUploadResource(f: AppFile): Resource {
  const mode = (f.mode & 0o777) | 0o400;
  return mode === 0o644 ? toResource(f) : { ...toResource(f), mode };
}

export interface UploadPlan {
  /** Pooled files the upload lists in `resources`. */
  matched: Resource[];
  /** Files sent in the zip. */
  missing: AppFile[];
  zip: Buffer;
  /** Set for a delta upload: the package it changes. */
  basePackage: string | null;
  deleted: string[];
}

/** What changed since the pushed record: new or changed files (content or mode), and files gone. */
export function deltaOf(files: AppFile[], base: PushRecord): { changed: AppFile[]; deleted: string[]; basePackage: string } {
  const before = new Map(base.files.map((f) => [f.fn, f]));
  const changed = files.filter((f) => {
    const b = before.get(f.fn);
    return !b || b.size !== f.size || b.sha1 !== f.sha1 || b.mode !== f.mode;
  });
  const now = new Set(files.map((f) => f.fn));
  const deleted = base.files.filter((f) => !now.has(f.fn)).map((f) => f.fn);
  return { changed, deleted, basePackage: base.packageHash };
}

/** Whether the controller assembles delta uploads (`/info` lists `base_package` in `features`). */
export async function takesDelta(client: CloudControllerClient, call: CallOptions): Promise<boolean> {
  try {
    const info = await client.info(call);
    return Array.isArray(info.features) && info.features.includes('base_package');
  } catch {
    return false;
  }
}

