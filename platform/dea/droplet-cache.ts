// Droplets by SHA-1: downloaded once from the controller (with the platform token), verified while
// streaming to a temp name, then renamed into place; concurrent starts of the same droplet share
// one download. Unpacking uses the system tar (GNU or bsd), which refuses absolute and `..` names;
// the links it unpacked are then followed through each other and refused when one leads out.
import { execFile } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import type * as http from 'node:http';
import * as path from 'node:path';
import { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { LinkEscapeError, resolveLinkChain } from '../archive';
import type { Log } from '../log';
import type { HttpTls } from '../tls';

export class DropletFetchError extends Error {
  override name = 'DropletFetchError';
  constructor(message: string, options?: { cause?: unknown }) { super(message, options); }
}

const sha1Pattern = /^[0-9a-f]{40}$/;

export function isSha1(s: string): boolean {
  return sha1Pattern.test(s);
}

export class DropletCache {
  private readonly inFlight = new Map<string, Promise<string>>();

  constructor(private readonly dir: string, private readonly auth: { token: string; tls: HttpTls }, private readonly idleMs: number, private readonly log: Log) {
    fs.mkdirSync(dir, { recursive: true });
    // Temp files of downloads cut short by a previous run
    for (const f of fs.readdirSync(dir)) if (f.endsWith('.tmp')) fs.rmSync(path.join(dir, f), { force: true });
  }

  pathOf(sha1: string): string {
    return path.join(this.dir, `${sha1}.tgz`);
  }

  /** The local path of droplet `sha1`, downloading it from `uri` if needed. `signal` only stops the wait. */
  async fetch(sha1: string, uri: string, signal?: AbortSignal): Promise<string> {
    if (!isSha1(sha1)) throw new DropletFetchError(`droplet sha1 "${sha1}" is not a SHA-1`);
    const target = this.pathOf(sha1);
    if (fs.existsSync(target)) {
      const now = new Date();
      fs.utimes(target, now, now, () => undefined); // recency for prune()
      return target;
    }
    let p = this.inFlight.get(sha1);
    if (!p) {
      p = this.download(sha1, uri, target).finally(() => this.inFlight.delete(sha1));
      this.inFlight.set(sha1, p);
    }
    if (!signal) return p;
    return new Promise<string>((resolve, reject) => {
      if (signal.aborted) { reject(new DropletFetchError('aborted')); return; }
      const onAbort = (): void => reject(new DropletFetchError('aborted'));
      signal.addEventListener('abort', onAbort, { once: true });
      p.then(resolve, reject).finally(() => signal.removeEventListener('abort', onAbort));
    });
  }

  /** Removes cached droplets no instance uses, except the `spare` most recently used ones. */
  async prune(inUse: ReadonlySet<string>, spare = 4): Promise<void> {
    const unused: Array<{ file: string; mtime: number }> = [];
    for (const f of await fs.promises.readdir(this.dir)) {
      const sha1 = f.endsWith('.tgz') ? f.slice(0, -4) : '';
      if (!isSha1(sha1) || inUse.has(sha1) || this.inFlight.has(sha1)) continue;
      try { unused.push({ file: path.join(this.dir, f), mtime: (await fs.promises.stat(path.join(this.dir, f))).mtimeMs }); } catch { /* gone */ }
    }
    unused.sort((a, b) => b.mtime - a.mtime);
    for (const u of unused.slice(spare)) await fs.promises.rm(u.file, { force: true });
  }

  private async download(sha1: string, uri: string, target: string): Promise<string> {
    let url: URL;
    try { url = new URL(uri); } catch { throw new DropletFetchError(`bad droplet uri "${uri}"`); }
    if (url.protocol !== 'http:' && url.protocol !== 'https:') {
      throw new DropletFetchError(`droplet uri must be http or https, not ${url.protocol}`);
    }
    const tmp = `${target}.${randomBytes(6).toString('hex')}.tmp`;
    const started = Date.now();
    const where = `${url.origin}${url.pathname}`;
    try {
      const res = await new Promise<http.IncomingMessage>((resolve, reject) => {
        const { mod, options } = this.auth.tls.client(url);
        const req = mod.get(url, { ...options, headers: { Authorization: this.auth.token } }, resolve);
        req.setTimeout(this.idleMs, () => req.destroy(new DropletFetchError(`droplet download from ${where} stalled for ${this.idleMs} ms`)));
        req.on('error', reject);
      });
      if (res.statusCode !== 200) {
        res.resume();
        throw new DropletFetchError(`droplet download failed: HTTP ${res.statusCode ?? '?'} from ${where}`);
      }
      const hash = createHash('sha1');
      let bytes = 0;
      const counter = new Transform({
        transform(chunk: Buffer, _enc, cb): void { hash.update(chunk); bytes += chunk.length; cb(null, chunk); },
      });
      await pipeline(res, counter, fs.createWriteStream(tmp, { mode: 0o600 }));
      if (!res.complete) throw new DropletFetchError(`droplet download from ${where} was cut short after ${bytes} bytes`);
      const got = hash.digest('hex');
      if (got !== sha1) throw new DropletFetchError(`droplet SHA-1 mismatch: expected ${sha1}, got ${got} (${bytes} bytes)`);
      await fs.promises.rename(tmp, target);
      this.log.info(`droplet ${sha1} cached (${bytes} bytes in ${Date.now() - started} ms)`);
      return target;
    } catch (e) {
      await fs.promises.rm(tmp, { force: true });
      if (e instanceof DropletFetchError) throw e;
      throw new DropletFetchError(`droplet download from ${where} failed: ${e instanceof Error ? e.message : String(e)}`, { cause: e });
    }
  }
}

/** Unpacks a droplet .tgz into `dir` (which must exist); refuses one with a link leading out of `dir`. */
export async function extractDroplet(tgz: string, dir: string): Promise<void> {
  await new Promise<void>((resolve, reject) => {
    execFile('tar', ['-xzf', tgz, '-C', dir, '--no-same-owner'], { timeout: 120_000, maxBuffer: 1 << 20 }, (err, _out, stderr) => {
      if (err) reject(new DropletFetchError(`cannot unpack droplet: ${String(stderr).trim() || err.message}`, { cause: err }));
      else resolve();
    });
  });
  await checkDropletLinks(dir);
}

/** Every link under `dir` by its path relative to `dir`. */
async function linksUnder(dir: string): Promise<Map<string, string>> {
  const links = new Map<string, string>();
  const walk = async (rel: string): Promise<void> => {
    for (const e of await fs.promises.readdir(path.join(dir, rel), { withFileTypes: true })) {
      const p = rel === '' ? e.name : `${rel}/${e.name}`;
      if (e.isSymbolicLink()) links.set(p, await fs.promises.readlink(path.join(dir, p)));
      else if (e.isDirectory()) await walk(p);
    }
  };
  await walk('');
  return links;
}

/**
 * Follows each link of the unpacked droplet through the others, as the kernel would: a chain that
 * leaves the instance folder (or loops) is removed and the droplet refused, whatever the stager checked.
 */
async function checkDropletLinks(dir: string): Promise<void> {
  const links = await linksUnder(dir);
  const refused: string[] = [];
  for (const [rel, target] of links) {
    try { resolveLinkChain(rel, target, (p) => links.get(p)); } catch (e) {
      if (!(e instanceof LinkEscapeError)) throw e;
      refused.push(`${rel} -> ${target}`);
    }
  }
  if (refused.length === 0) return;
  for (const r of refused) await fs.promises.rm(path.join(dir, r.slice(0, r.indexOf(' -> '))), { force: true });
  throw new DropletFetchError(`droplet refused: link ${refused[0]} leads out of the instance folder${refused.length > 1 ? ` (and ${refused.length - 1} more)` : ''}`);
}
