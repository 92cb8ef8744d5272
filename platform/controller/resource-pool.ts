// The resource pool (PROTOCOL.md §2): blobs content-addressed by SHA-1, in v1's layout
// `<pool>/<int(sha1) mod 269>/<int(sha1) mod 251>/<sha1>`. A resource matches only when the blob
// exists AND has the requested size.
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Readable } from 'node:stream';
import { SHA1_HEX, commitFile, tempName, writeTemp } from './atomic-file';

export interface ResourceFingerprint {
  sha1: string;
  size: number;
}

export class ResourcePool {
  constructor(readonly dir: string, private readonly tmpDir: string) {
    fs.mkdirSync(dir, { recursive: true });
    fs.mkdirSync(tmpDir, { recursive: true });
  }

  pathOf(sha1: string): string {
    if (!SHA1_HEX.test(sha1)) throw new Error(`not a SHA-1: ${sha1}`);
    const n = BigInt(`0x${sha1}`);
    return path.join(this.dir, String(n % 269n), String(n % 251n), sha1);
  }

  /** Size of the pooled blob, or undefined when absent. */
  async sizeOf(sha1: string): Promise<number | undefined> {
    try {
      const st = await fs.promises.stat(this.pathOf(sha1));
      return st.isFile() ? st.size : undefined;
    } catch {
      return undefined;
    }
  }

  /** Sync stat: for thousands of small checks it is far faster than fs.promises here. */
  sizeOfSync(sha1: string): number | undefined {
    try {
      const st = fs.statSync(this.pathOf(sha1), { throwIfNoEntry: false });
      return st?.isFile() ? st.size : undefined;
    } catch {
      return undefined;
    }
  }

  async has(r: ResourceFingerprint): Promise<boolean> {
    return SHA1_HEX.test(r.sha1) && (await this.sizeOf(r.sha1)) === r.size;
  }

  /** The subset of `resources` the pool holds (same SHA-1 and size), in the given order. */
  async match<T extends ResourceFingerprint>(resources: readonly T[]): Promise<T[]> {
    const out: T[] = [];
    for (let i = 0; i < resources.length; i++) {
      const r = resources[i];
      if (SHA1_HEX.test(r.sha1) && this.sizeOfSync(r.sha1) === r.size) out.push(r);
      if (i % 1000 === 999) await new Promise((res) => setImmediate(res));
    }
    return out;
  }

  /**
   * Adds a file already written and hashed by this process (see `writeTemp`): renamed into place,
   * or dropped when the pool already holds the blob. The caller's temp file is consumed.
   */
  async adopt(tempPath: string, sha1: string, size: number): Promise<void> {
    const st = await fs.promises.stat(tempPath);
    if (st.size !== size) throw new Error(`pool: ${tempPath} has ${st.size} bytes, expected ${size}`);
    await commitFile(tempPath, this.pathOf(sha1), size);
  }

  private readonly madeDirs = new Set<string>();

  private ensureDir(d: string): void {
    if (this.madeDirs.has(d)) return;
    fs.mkdirSync(d, { recursive: true });
    this.madeDirs.add(d);
  }

  /**
   * Adds content held in memory, already hashed by this process: written to a temp name in the
   * blob's own folder, then renamed. Sync on purpose: thousands of small blobs go much faster so.
   */
  addSync(sha1: string, data: Buffer): void {
    const final = this.pathOf(sha1);
    const st = fs.statSync(final, { throwIfNoEntry: false });
    if (st?.isFile() && st.size === data.length) return;
    this.ensureDir(path.dirname(final));
    const temp = tempName(path.dirname(final), 'blob');
    try {
      fs.writeFileSync(temp, data, { mode: 0o644, flag: 'wx' });
      fs.renameSync(temp, final);
    } catch (e) {
      fs.rmSync(temp, { force: true });
      throw e;
    }
  }

  /** Like `adopt`, synchronously: renames a temp file this process wrote and hashed. */
  adoptSync(tempPath: string, sha1: string, size: number): void {
    const final = this.pathOf(sha1);
    const st = fs.statSync(final, { throwIfNoEntry: false });
    if (st?.isFile() && st.size === size) { fs.rmSync(tempPath, { force: true }); return; }
    if (fs.statSync(tempPath).size !== size) throw new Error(`pool: ${tempPath} is not ${size} bytes`);
    this.ensureDir(path.dirname(final));
    fs.chmodSync(tempPath, 0o644);
    fs.renameSync(tempPath, final);
  }

  /** Streams content into the pool, verifying it against `expected` when given. */
  async put(source: Readable, expected?: ResourceFingerprint): Promise<ResourceFingerprint> {
    const w = await writeTemp(source, this.tmpDir, { hint: 'blob' });
    if (expected && (w.sha1 !== expected.sha1 || w.size !== expected.size)) {
      await fs.promises.rm(w.tempPath, { force: true });
      throw new Error(`pool: content is ${w.sha1}/${w.size}, expected ${expected.sha1}/${expected.size}`);
    }
    await this.adopt(w.tempPath, w.sha1, w.size);
    return { sha1: w.sha1, size: w.size };
  }

  open(sha1: string): fs.ReadStream {
    return fs.createReadStream(this.pathOf(sha1));
  }
}
