// Packages and droplets: whole files stored by their SHA-1 (`<dir>/<sha1><ext>`), written to a temp
// name in the same directory, verified, synced and renamed.
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Readable } from 'node:stream';
import { SHA1_HEX, commitFile, writeTemp } from './atomic-file';

export interface StoredFile {
  sha1: string;
  size: number;
  /** False when identical content was already stored. */
  created: boolean;
}

export class ContentStore {
  constructor(readonly dir: string, private readonly ext: string) {
    fs.mkdirSync(dir, { recursive: true });
  }

  pathOf(sha1: string): string {
    if (!SHA1_HEX.test(sha1)) throw new Error(`not a SHA-1: ${sha1}`);
    return path.join(this.dir, `${sha1}${this.ext}`);
  }

  has(sha1: string): boolean {
    try { return fs.statSync(this.pathOf(sha1)).isFile(); } catch { return false; }
  }

  /** Stores the stream; rejects (leaving nothing behind) on a read error, a cap or an unexpected hash. */
  async put(source: Readable, opts: { maxBytes?: number; onTooLarge?: () => Error; expectedSha1?: string } = {}): Promise<StoredFile> {
    const w = await writeTemp(source, this.dir, { maxBytes: opts.maxBytes, onTooLarge: opts.onTooLarge, sync: true, hint: 'put' });
    if (opts.expectedSha1 && opts.expectedSha1 !== w.sha1) {
      await fs.promises.rm(w.tempPath, { force: true });
      throw new Error(`content is ${w.sha1}, expected ${opts.expectedSha1}`);
    }
    const created = await commitFile(w.tempPath, this.pathOf(w.sha1), w.size);
    return { sha1: w.sha1, size: w.size, created };
  }

  async remove(sha1: string): Promise<void> {
    await fs.promises.rm(this.pathOf(sha1), { force: true });
  }

  /** Names of stored files (sha1s); temp files are left out. */
  list(): string[] {
    return fs.readdirSync(this.dir).filter((f) => f.endsWith(this.ext) && !f.startsWith('.')).map((f) => f.slice(0, -this.ext.length));
  }

  /** Removes temp files left by a crash. */
  sweepTemps(): void {
    for (const f of fs.readdirSync(this.dir)) if (f.startsWith('.') && f.endsWith('.tmp')) fs.rmSync(path.join(this.dir, f), { force: true });
  }
}
