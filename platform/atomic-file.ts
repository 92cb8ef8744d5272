// One small file write that readers never see half done. Plain node:fs only: platform/client
// imports it, and the editor loads the client in its own process.
import * as fs from 'node:fs';

/** Writes a private file atomically: temp name (0600) then rename. */
export function writeFileAtomic(file: string, content: string, mode = 0o600): void {
  const tmp = `${file}.${process.pid}.${Date.now()}.tmp`;
  fs.writeFileSync(tmp, content, { mode });
  fs.chmodSync(tmp, mode);
  fs.renameSync(tmp, file);
}
