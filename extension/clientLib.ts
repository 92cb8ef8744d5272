// platform/client, loaded on first use rather than at activation: it carries yaml, jszip and the
// pusher, which activation does not need. It ships as its own bundle (dist/client.js, built by
// scripts/build.js) so the extension's bundle stays small to parse.
import * as path from 'node:path';
import type * as ClientLib from '../platform/client';

let lib: typeof ClientLib | undefined;

export function clientLib(): typeof ClientLib {
  // eslint-disable-next-line @typescript-eslint/no-require-imports -- a lazy load is the point
  lib ??= require(path.join(__dirname, 'client.js')) as typeof ClientLib;
  return lib;
}
