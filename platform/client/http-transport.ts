// The request plumbing under the REST client: node:http with keep-alive, the raw token in
// `Authorization`, gzip request bodies when the controller says it takes them, and decoding by schema.
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as https from 'node:https';
import * as tls from 'node:tls';
import type { Readable } from 'node:stream';
import { gzipSync } from 'node:zlib';
import type { z } from 'zod';
import { decode } from '../contract';
import { CloudControllerError, CloudControllerUnreachableError, controllerErrorOf } from './errors';

/** Per-call options: cancellation and a meter that adds up request body bytes (for push summaries). */
export interface CallOptions {
  signal?: AbortSignal;
  meter?: { bytesSent: number };
  timeoutMs?: number;
}

export interface RawResponse {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: Buffer;
}

export interface RequestSpec extends CallOptions {
  method: string;
  path: string;
  /** The route in errors, e.g. `GET /apps/:name` (default: method and path). */
  route?: string;
  body?: Buffer | string;
  /** Gzip the body when the controller accepts gzip request bodies (RFC 7694 `Accept-Encoding` in its responses). */
  compressible?: boolean;
  contentType?: string;
  headers?: Record<string, string>;
}

export class HttpTransport {
  readonly api: string;
  private readonly agent: http.Agent;
  /** Learnt from the controller's `Accept-Encoding` response header (RFC 7694); a 415 turns it off again. */
  private acceptsGzip = false;

  constructor(api: string, private readonly token: string, private readonly timeoutMs: number, ca?: string) {
    let u: URL;
    try { u = new URL(api); } catch { throw new CloudControllerError(0, 0, `Not a valid API URL: ${api}`); }
    if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new CloudControllerError(0, 0, `Not an http(s) API URL: ${api}`);
    this.api = api.replace(/\/+$/, '');
    this.agent = u.protocol === 'https:' ? new https.Agent({ keepAlive: true, ...(ca ? { ca: [...tls.rootCertificates, readCa(ca)] } : {}) }) : new http.Agent({ keepAlive: true });
  }

  /** Closes idle keep-alive sockets so a short-lived process can exit at once. */
  close(): void {
    this.agent.destroy();
  }

  /** The response decoded by its contract schema; a mismatch is a ContractError naming the route and field. */
  async json<S extends z.ZodType>(schema: S, spec: RequestSpec): Promise<z.infer<S>> {
    const r = await this.request(spec);
    let body: unknown = {};
    if (r.body.length > 0) {
      try {
        body = JSON.parse(r.body.toString('utf8'));
      } catch {
        throw new CloudControllerError(0, r.status, `${spec.method} ${spec.path}: the controller answered with something that is not JSON`);
      }
    }
    return decode(schema, body, spec.route ?? `${spec.method} ${spec.path}`);
  }

  async request(spec: RequestSpec): Promise<RawResponse> {
    const gzipped = spec.compressible === true && this.acceptsGzip;
    let res = await this.send(spec);
    if (gzipped && res.statusCode === 415) {
      // The controller no longer takes gzip bodies: send it plain.
      await readAll(res);
      this.acceptsGzip = false;
      res = await this.send(spec);
    }
    const body = await readAll(res);
    const status = res.statusCode ?? 0;
    if (status >= 400) throw toControllerError(status, body);
    return { status, headers: res.headers, body };
  }

  /** The response body as a stream, once the status says it is not an error. */
  async stream(spec: RequestSpec): Promise<Readable> {
    const res = await this.send(spec);
    if (res.statusCode && res.statusCode >= 400) {
      const body = await readAll(res);
      throw toControllerError(res.statusCode, body);
    }
    return res;
  }

  /** Sends one request and resolves with the response head; maps socket failures to an unreachable error. */
  send(spec: RequestSpec): Promise<http.IncomingMessage> {
    const url = new URL(this.api + spec.path);
    let body = typeof spec.body === 'string' ? Buffer.from(spec.body) : spec.body;
    const headers: Record<string, string> = { Authorization: this.token, ...spec.headers };
    if (body) {
      headers['Content-Type'] = spec.contentType ?? 'application/octet-stream';
      if (spec.compressible && this.acceptsGzip && body.length >= 1024) {
        body = gzipSync(body, { level: 6 });
        headers['Content-Encoding'] = 'gzip';
      }
      headers['Content-Length'] = String(body.length);
    }
    const mod = url.protocol === 'https:' ? https : http;
    const timeoutMs = spec.timeoutMs ?? this.timeoutMs;
    const attempt = (firstTry: boolean): Promise<http.IncomingMessage> => new Promise<http.IncomingMessage>((resolve, reject) => {
      if (spec.signal?.aborted) { reject(abortError(spec.signal)); return; }
      let answered = false;
      const req = mod.request(url, { method: spec.method, headers, agent: this.agent, signal: spec.signal }, (res) => {
        answered = true;
        if (spec.meter && body) spec.meter.bytesSent += body.length;
        const accepted = res.headers['accept-encoding'];
        if (typeof accepted === 'string' && /\bgzip\b/i.test(accepted)) this.acceptsGzip = true;
        resolve(res);
      });
      if (timeoutMs > 0) {
        req.setTimeout(timeoutMs, () => req.destroy(Object.assign(new Error(`no answer within ${Math.round(timeoutMs / 1000)} s`), { code: 'ETIMEDOUT' })));
      }
      req.on('error', (err: NodeJS.ErrnoException) => {
        if (spec.signal?.aborted) { reject(abortError(spec.signal)); return; }
        // A kept-alive socket the server closed while idle fails at once: the request never reached it, so send it again.
        if (firstTry && !answered && req.reusedSocket && (err.code === 'ECONNRESET' || err.code === 'EPIPE')) { resolve(attempt(false)); return; }
        reject(new CloudControllerUnreachableError(this.api, err.code ?? err.message, { cause: err }));
      });
      req.end(body);
    });
    return attempt(true);
  }
}

/** Whether the API is on this machine (a big upload is then not worth compressing). */
export function isLocal(api: string): boolean {
  const h = new URL(api).hostname;
  return h === 'localhost' || h.endsWith('.localhost') || h.startsWith('127.') || h === '[::1]';
}

export function jsonBody(value: unknown): { body: string; contentType: string } {
  return { body: JSON.stringify(value), contentType: 'application/json' };
}

async function readAll(res: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of res) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

function toControllerError(status: number, body: Buffer): CloudControllerError {
  const text = body.toString('utf8');
  const snippet = text.trim().split('\n')[0]?.slice(0, 200);
  return controllerErrorOf(status, text, `HTTP ${status}${snippet ? `: ${snippet}` : ''}`);
}

function abortError(signal: AbortSignal): Error {
  const reason: unknown = signal.reason;
  if (reason instanceof Error) return reason;
  const e = new Error('The operation was aborted');
  e.name = 'AbortError';
  return e;
}

function readCa(file: string): Buffer {
  try { return fs.readFileSync(file); } catch (e) {
    throw new CloudControllerError(0, 0, `Cannot read the CA file ${file} (${(e as NodeJS.ErrnoException).code ?? (e as Error).message}); it is set by POCKET_CA or the platform's endpoint.json`);
  }
}
