// TLS on the platform's HTTP surfaces across hosts: the controller's API with its package and
// droplet transfers, the DEA file servers and the service gateways. `--tls-cert`/`--tls-key` make a
// component serve HTTPS; `--tls-ca` is the CA its peers' certificates are checked against (the
// system's CAs stay trusted too). With TLS configured, a credential is never sent over plain HTTP
// to another host: such a URL is refused with the reason, not tried.
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as https from 'node:https';
import { isIP } from 'node:net';
import * as tls from 'node:tls';
import { UserFacingError } from './log';

export interface TlsFiles {
  certFile?: string;
  keyFile?: string;
  caFile?: string;
}

export type HttpServer = http.Server | https.Server;

export class PlainHttpRefused extends Error {
  override name = 'PlainHttpRefused';
}

/** How one component serves and calls HTTP: plain on one machine, HTTPS when given certificates. */
export class HttpTls {
  /** Plain HTTP both ways: a single machine, or a deployment without certificates. */
  static readonly plain = new HttpTls(undefined, undefined);

  private constructor(
    private readonly identity: { cert: Buffer; key: Buffer } | undefined,
    private readonly ca: Buffer | undefined,
    /** The CA file, for endpoint.json: local clients trust what the platform serves. */
    readonly caFile?: string,
  ) {}

  /** Reads and checks the files once, at start: a missing file or a key that does not fit is a clear error. */
  static load(files: TlsFiles | undefined): HttpTls {
    if (!files || (!files.certFile && !files.keyFile && !files.caFile)) return HttpTls.plain;
    if (Boolean(files.certFile) !== Boolean(files.keyFile)) throw new UserFacingError('--tls-cert and --tls-key go together.');
    const read = (flag: string, file: string | undefined): Buffer | undefined => {
      if (!file) return undefined;
      try { return fs.readFileSync(file); } catch (e) {
        throw new UserFacingError(`${flag} ${file}: cannot read it (${(e as NodeJS.ErrnoException).code ?? (e as Error).message}).`);
      }
    };
    const cert = read('--tls-cert', files.certFile);
    const key = read('--tls-key', files.keyFile);
    const ca = read('--tls-ca', files.caFile);
    const pem = (b: Buffer | undefined): boolean => b === undefined || /-----BEGIN CERTIFICATE-----/.test(b.toString('latin1'));
    if (!pem(ca)) throw new UserFacingError(`--tls-ca ${files.caFile}: not a PEM certificate.`);
    if (!pem(cert)) throw new UserFacingError(`--tls-cert ${files.certFile}: not a PEM certificate.`);
    if (cert && key) {
      try { tls.createSecureContext({ cert, key }); } catch (e) {
        const why = (e as Error).message.replace(/^error:[0-9A-F]+:/i, '').replace(/^[a-z0-9 ]+routines::/i, '');
        throw new UserFacingError(`--tls-cert ${files.certFile} with --tls-key ${files.keyFile}: ${/key values mismatch/.test(why) ? 'the key is not that certificate\'s (key values mismatch)' : `not a usable certificate and key (${why})`}.`);
      }
    }
    return new HttpTls(cert && key ? { cert, key } : undefined, ca, files.caFile);
  }

  /** True when this component serves HTTPS. */
  get serving(): boolean { return this.identity !== undefined; }

  /** True when TLS is configured at all: then credentials never go to another host in the clear. */
  get enabled(): boolean { return this.identity !== undefined || this.ca !== undefined; }

  get scheme(): 'http' | 'https' { return this.serving ? 'https' : 'http'; }

  /** `scheme://host:port`, with an IPv6 address in brackets. */
  origin(host: string, port: number): string {
    return `${this.scheme}://${isIP(host) === 6 ? `[${host}]` : host}:${port}`;
  }

  createServer(handler: http.RequestListener): HttpServer {
    if (!this.identity) return http.createServer(handler);
    // A client that opens a connection and never finishes the handshake holds it 10 s, not Node's 120 s.
    return https.createServer({ ...this.identity, ...(this.ca ? { ca: this.ca } : {}), handshakeTimeout: 10_000 }, handler);
  }

  /** The CAs a client checks servers against: the system's and, when given, the platform's. */
  private trusted(): Array<string | Buffer> | undefined {
    return this.ca ? [...tls.rootCertificates, this.ca] : undefined;
  }

  /**
   * The module and TLS options for a request to `url`. Throws PlainHttpRefused for plain HTTP to
   * another host while TLS is on (the credential would cross the network in the clear).
   */
  client(url: URL): { mod: typeof http | typeof https; options: https.RequestOptions } {
    if (url.protocol === 'https:') return { mod: https, options: this.ca ? { ca: this.trusted() } : {} };
    if (url.protocol !== 'http:') throw new PlainHttpRefused(`unsupported protocol ${url.protocol}`);
    if (this.enabled && !isLoopback(url.hostname)) {
      throw new PlainHttpRefused(`refusing plain HTTP to ${url.host} while TLS is on: start the component there with --tls-cert and --tls-key`);
    }
    return { mod: http, options: {} };
  }

  /** An agent with keep-alive for repeated calls to one origin. */
  agent(url: URL): http.Agent {
    return url.protocol === 'https:' ? new https.Agent({ keepAlive: true, ...(this.ca ? { ca: this.trusted() } : {}) }) : new http.Agent({ keepAlive: true });
  }

  /** One small request with a JSON or text answer (gateway calls): the status and the body as text. */
  async send(url: string, init: { method: string; headers: Record<string, string>; body?: string; timeoutMs: number }): Promise<{ status: number; text: string }> {
    const u = new URL(url);
    const { mod, options } = this.client(u);
    const body = init.body === undefined ? undefined : Buffer.from(init.body);
    return new Promise((resolve, reject) => {
      const req = mod.request(u, {
        ...options, method: init.method, timeout: init.timeoutMs,
        headers: { ...init.headers, ...(body ? { 'content-length': String(body.length) } : {}) },
      }, (res) => {
        const chunks: Buffer[] = [];
        let size = 0;
        res.on('data', (c: Buffer) => { size += c.length; if (size <= 4 * 1024 * 1024) chunks.push(c); else res.destroy(new Error('answer too large')); });
        res.on('end', () => resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString('utf8') }));
        res.on('error', reject);
      });
      req.on('timeout', () => req.destroy(new Error(`no answer within ${Math.round(init.timeoutMs / 1000)} s`)));
      req.on('error', reject);
      req.end(body);
    });
  }
}

function isLoopback(hostname: string): boolean {
  const h = hostname.replace(/^\[|\]$/g, '');
  return h === 'localhost' || h === '::1' || /^127\./.test(h);
}
