// The DEA's file server: instance folders over HTTP for `files` and `logs`, as v1's DEA served them.
// Loopback by default (the DEA's address across hosts, over HTTPS with --tls-cert), basic auth with credentials made up at start, every path confined to its instance
// folder (no `..`, no symlink leading out). `?tail=1` on a file sends it and then keeps the response
// open, streaming bytes as they are appended, until the client goes away.
import { randomBytes, timingSafeEqual } from 'node:crypto';
import * as fs from 'node:fs';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import * as path from 'node:path';
import { decodeFilePath, escapeListingName } from '../contract';
import { describeError, type Log } from '../log';
import { HttpTls, type HttpServer } from '../tls';

export interface FileServerOptions {
  /** Listen address. */
  host: string;
  /** Address in file URIs (default: `host`). */
  advertise?: string;
  /** HTTPS across hosts (default: plain HTTP). */
  tls?: HttpTls;
  /** The folder of a live or crashed instance, or null when the DEA has no such instance. */
  instanceDir(instanceId: string): string | null;
  /** How often a tailed file is checked for new bytes. */
  tailPollMs?: number;
  log: Log;
}

const sizeUnits: Array<[string, number]> = [['G', 1024 ** 3], ['M', 1024 ** 2], ['K', 1024]];

/** v1's human sizes: `1.5M`, `12.0K`, `731B`. */
export function formatSize(bytes: number): string {
  for (const [unit, n] of sizeUnits) if (bytes >= n) return `${(bytes / n).toFixed(1)}${unit}`;
  return `${bytes}B`;
}

/** v1's listing: one line per entry, `%-35s %10s`, directories with a trailing `/` and size `-`; odd names escaped. */
export function formatListing(entries: Array<{ name: string; dir: boolean; size: number }>): string {
  return entries
    .slice()
    .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))
    .map((e) => `${(e.dir ? `${escapeListingName(e.name)}/` : escapeListingName(e.name)).padEnd(35)} ${(e.dir ? '-' : formatSize(e.size)).padStart(10)}\n`)
    .join('');
}

function within(root: string, p: string): boolean {
  return p === root || p.startsWith(root + path.sep);
}

export class InstanceFileServer {
  readonly credentials: [string, string] = [randomBytes(8).toString('hex'), randomBytes(18).toString('hex')];
  private readonly server: HttpServer;
  private readonly expectedAuth: Buffer;
  private readonly tails = new Set<() => void>();
  private boundPort = 0;

  private constructor(private readonly opts: FileServerOptions) {
    this.expectedAuth = Buffer.from(`Basic ${Buffer.from(this.credentials.join(':')).toString('base64')}`);
    this.server = (opts.tls ?? HttpTls.plain).createServer((req, res) => {
      this.handle(req, res).catch((e: unknown) => {
        opts.log.warn(`file server: ${describeError(e)}`);
        if (!res.headersSent) this.reply(res, 500, 'file retrieval error\n');
        else res.destroy();
      });
    });
    this.server.headersTimeout = 10_000;
  }

  static async start(opts: FileServerOptions): Promise<InstanceFileServer> {
    const fsrv = new InstanceFileServer(opts);
    await new Promise<void>((resolve, reject) => {
      fsrv.server.once('error', reject);
      fsrv.server.listen(0, opts.host, () => { fsrv.server.off('error', reject); resolve(); });
    });
    fsrv.boundPort = (fsrv.server.address() as AddressInfo).port;
    return fsrv;
  }

  get port(): number { return this.boundPort; }

  /** `file_uri` of an instance, as sent in `dea.find.droplet` replies. */
  fileUri(instanceId: string): string {
    return `${(this.opts.tls ?? HttpTls.plain).origin(this.opts.advertise ?? this.opts.host, this.boundPort)}/instances/${instanceId}/`;
  }

  async stop(): Promise<void> {
    for (const end of this.tails) end();
    await new Promise<void>((resolve) => {
      this.server.close(() => resolve());
      this.server.closeAllConnections();
    });
  }

  private reply(res: http.ServerResponse, status: number, body: string, headers: Record<string, string> = {}): void {
    res.writeHead(status, { 'Content-Type': 'text/plain; charset=utf-8', 'Cache-Control': 'no-store', ...headers });
    res.end(body);
  }

  private authorized(req: http.IncomingMessage): boolean {
    const got = Buffer.from(req.headers.authorization ?? '');
    return got.length === this.expectedAuth.length && timingSafeEqual(got, this.expectedAuth);
  }

  private async handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    if (!this.authorized(req)) {
      this.reply(res, 401, 'authorization required\n', { 'WWW-Authenticate': 'Basic realm="dea"' });
      return;
    }
    if (req.method !== 'GET' && req.method !== 'HEAD') { this.reply(res, 405, 'method not allowed\n', { Allow: 'GET, HEAD' }); return; }
    // The raw path, not URL-normalised: a `..` (plain or %2e%2e) must be refused, not resolved away
    const rawUrl = req.url ?? '/';
    const q = rawUrl.indexOf('?');
    const rawPath = q < 0 ? rawUrl : rawUrl.slice(0, q);
    const query = new URLSearchParams(q < 0 ? '' : rawUrl.slice(q + 1));
    const m = /^\/instances\/([^/]+)(?:\/(.*))?$/.exec(rawPath);
    if (!m) { this.reply(res, 404, 'not found\n'); return; }
    const root = this.opts.instanceDir(m[1]);
    if (!root) { this.reply(res, 404, 'instance not found\n'); return; }

    // v1 clients send the path as one encoded segment (`logs%2Fstdout.log`): the controller's rule
    const p = decodeFilePath(m[2] ?? '');
    if (!p.ok) { this.reply(res, p.reason === 'encoding' ? 400 : 403, p.reason === 'encoding' ? 'bad path\n' : 'path outside the instance folder\n'); return; }
    const { segments } = p;
    let realRoot: string;
    let target: string;
    try {
      realRoot = await fs.promises.realpath(root);
      target = await fs.promises.realpath(path.join(root, ...segments));
    } catch {
      this.reply(res, 404, 'file not found\n');
      return;
    }
    if (!within(realRoot, target)) { this.reply(res, 403, 'path outside the instance folder\n'); return; }
    const st = await fs.promises.stat(target);
    if (st.isDirectory()) {
      this.reply(res, 200, await this.listing(realRoot, target));
    } else if (st.isFile()) {
      if (query.get('tail') === '1') this.tail(req, res, target, Number(query.get('offset') ?? 0));
      else await this.raw(req, res, target, st.size);
    } else {
      this.reply(res, 403, 'not a regular file\n');
    }
  }

  private async listing(realRoot: string, dir: string): Promise<string> {
    const entries: Array<{ name: string; dir: boolean; size: number }> = [];
    for (const name of await fs.promises.readdir(dir)) {
      if (name.startsWith('.')) continue; // v1 listed what `Dir["*"]` matched: no dotfiles
      const full = path.join(dir, name);
      try {
        const real = await fs.promises.realpath(full);
        if (!within(realRoot, real)) continue;
        const st = await fs.promises.stat(real);
        if (st.isDirectory() || st.isFile()) entries.push({ name, dir: st.isDirectory(), size: st.size });
      } catch { /* vanished or dangling: leave it out */ }
    }
    return formatListing(entries);
  }

  private async raw(req: http.IncomingMessage, res: http.ServerResponse, file: string, size: number): Promise<void> {
    res.writeHead(200, { 'Content-Type': 'application/octet-stream', 'Content-Length': String(size), 'Cache-Control': 'no-store' });
    if (req.method === 'HEAD') { res.end(); return; }
    // Send the size announced, even if the file grows meanwhile
    const stream = fs.createReadStream(file, { start: 0, end: Math.max(0, size - 1) });
    if (size === 0) { stream.destroy(); res.end(); return; }
    stream.on('error', () => res.destroy());
    stream.pipe(res);
  }

  private tail(req: http.IncomingMessage, res: http.ServerResponse, file: string, offset: number): void {
    let position = Number.isInteger(offset) && offset > 0 ? offset : 0;
    let reading = false;
    let ended = false;
    res.writeHead(200, { 'Content-Type': 'text/plain; charset=utf-8', 'Cache-Control': 'no-store', 'X-Accel-Buffering': 'no' });
    res.flushHeaders();
    const pollMs = this.opts.tailPollMs ?? 250;
    const end = (): void => {
      if (ended) return;
      ended = true;
      clearInterval(timer);
      this.tails.delete(end);
      res.end();
    };
    const pump = async (): Promise<void> => {
      if (reading || ended) return;
      reading = true;
      try {
        const st = await fs.promises.stat(file);
        if (st.size < position) position = 0; // truncated: start over
        while (position < st.size && !ended) {
          const fh = await fs.promises.open(file, 'r');
          try {
            const buf = Buffer.alloc(Math.min(64 * 1024, st.size - position));
            const { bytesRead } = await fh.read(buf, 0, buf.length, position);
            if (bytesRead === 0) break;
            position += bytesRead;
            // Respect back-pressure: wait for the client before reading more
            if (!res.write(buf.subarray(0, bytesRead))) await new Promise((r) => res.once('drain', r));
          } finally {
            await fh.close();
          }
        }
      } catch {
        end(); // the file (or its instance) is gone
      } finally {
        reading = false;
      }
    };
    const timer = setInterval(() => { void pump(); }, pollMs);
    this.tails.add(end);
    req.on('close', end);
    res.on('close', end);
    void pump();
  }
}
