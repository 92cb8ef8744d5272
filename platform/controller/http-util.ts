// Small HTTP helpers for the REST API: loopback Host check, token check, JSON in and out.
import { createHash, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { promisify } from 'node:util';
import * as zlib from 'node:zlib';
import { CcError, ErrorCodes } from './errors';

/** Host names a browser can only reach on this machine: a DNS-rebinding page never has one of these. */
export function isLoopbackHost(hostHeader: string | undefined): boolean {
  if (!hostHeader) return false;
  let host = hostHeader.trim().toLowerCase();
  if (host.startsWith('[')) {
    const end = host.indexOf(']');
    if (end < 0) return false;
    const rest = host.slice(end + 1);
    if (rest !== '' && !/^:\d{1,5}$/.test(rest)) return false;
    return host.slice(1, end) === '::1';
  }
  const colon = host.lastIndexOf(':');
  if (colon >= 0) {
    if (!/^\d{1,5}$/.test(host.slice(colon + 1))) return false;
    host = host.slice(0, colon);
  }
  if (host.endsWith('.')) host = host.slice(0, -1);
  if (host === 'localhost' || host.endsWith('.localhost')) return /^[a-z0-9.-]+$/.test(host);
  const m = /^127\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(host);
  return m !== null && m.slice(1).every((o) => Number(o) <= 255);
}

const digest = (s: string): Buffer => createHash('sha256').update(s, 'utf8').digest();

/** Constant-time comparison (hashing first makes the lengths equal). */
export function tokenMatches(given: string | undefined, token: string): boolean {
  if (given === undefined || token === '') return false;
  return timingSafeEqual(digest(given), digest(token));
}

/** The raw token v1 clients send; a `Bearer ` prefix is tolerated for modern tools. */
export function tokenOf(req: IncomingMessage): string | undefined {
  const h = req.headers.authorization;
  if (h === undefined) return undefined;
  return h.startsWith('Bearer ') ? h.slice(7) : h;
}

export function sendJson(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  if (res.headersSent) { res.destroy(); return; }
  const data = Buffer.from(JSON.stringify(body), 'utf8');
  // `Accept-Encoding` in an answer (RFC 7694): request bodies may be gzipped.
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'content-length': String(data.length), 'cache-control': 'no-store', 'accept-encoding': 'gzip', ...headers });
  res.end(data);
}

export function sendError(res: ServerResponse, err: CcError, headers: Record<string, string> = {}): void {
  sendJson(res, err.status, err.toJSON(), headers);
}

/** The request body's coding: none or gzip; anything else is refused with HTTP 415 (code 100). */
export function bodyEncodingOf(req: IncomingMessage): 'identity' | 'gzip' {
  const h = String(req.headers['content-encoding'] ?? '').trim().toLowerCase();
  if (h === '' || h === 'identity') return 'identity';
  if (h === 'gzip' || h === 'x-gzip') return 'gzip';
  throw new CcError(ErrorCodes.badRequest, `Content-Encoding ${JSON.stringify(h)} is not supported; send gzip or no encoding`, { status: 415 });
}

/** What a gzipped body of at most `decodedMax` bytes may take on the wire (gzip grows incompressible data a little). */
export function encodedLimit(decodedMax: number): number {
  return decodedMax + Math.ceil(decodedMax / 100) + 64 * 1024;
}

const gunzip = promisify(zlib.gunzip);

/**
 * Reads a request body up to `maxBytes` (decoded: a gzipped body is inflated with the same limit,
 * so a gzip bomb stops there); more is refused with `tooLarge`.
 */
export async function readBody(req: IncomingMessage, maxBytes: number, tooLarge: () => CcError): Promise<Buffer> {
  if (bodyEncodingOf(req) === 'identity') return readRawBody(req, maxBytes, tooLarge);
  const raw = await readRawBody(req, encodedLimit(maxBytes), tooLarge);
  try {
    return await gunzip(raw, { maxOutputLength: Math.max(1, maxBytes) });
  } catch (e) {
    if (e instanceof RangeError) throw tooLarge();
    throw new CcError(ErrorCodes.badRequest, `the gzipped request body is damaged (${(e as Error).message})`);
  }
}

function readRawBody(req: IncomingMessage, maxBytes: number, tooLarge: () => CcError): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const declared = Number(req.headers['content-length'] ?? NaN);
    if (Number.isFinite(declared) && declared > maxBytes) { reject(tooLarge()); return; }
    const chunks: Buffer[] = [];
    let n = 0;
    let failed = false;
    req.on('data', (c: Buffer) => {
      if (failed) return;
      n += c.length;
      if (n > maxBytes) { failed = true; reject(tooLarge()); return; }
      chunks.push(c);
    });
    req.on('end', () => { if (!failed) resolve(Buffer.concat(chunks, n)); });
    req.on('error', (e) => { if (!failed) { failed = true; reject(e); } });
    req.on('aborted', () => { if (!failed) { failed = true; reject(new Error('request aborted')); } });
  });
}

export async function readJson(req: IncomingMessage, maxBytes = 4 * 1024 * 1024): Promise<unknown> {
  const body = await readBody(req, maxBytes, () => new CcError(ErrorCodes.badRequest, `request body larger than ${maxBytes} bytes`, { status: 413 }));
  const text = body.toString('utf8').trim();
  if (text === '') throw new CcError(ErrorCodes.badRequest, 'request body is empty; expected JSON');
  try {
    return JSON.parse(text) as unknown;
  } catch {
    throw new CcError(ErrorCodes.badRequest, 'request body is not valid JSON');
  }
}
