// The router's header rules: what crosses a hop, what the router adds (`X-Forwarded-*`, the sticky
// `__VCAP_ID__` cookie), and raw header lines for upgrade replies written on a bare socket.
import * as http from 'node:http';
import type { Backend } from './route-table';

export const STICKY_COOKIE = '__VCAP_ID__';

/** Hop-by-hop request headers (RFC 9110 7.6.1) plus `expect`, which this hop has already answered. */
const requestHopHeaders = new Set(['connection', 'keep-alive', 'proxy-connection', 'te', 'trailer', 'upgrade', 'expect']);
/** Response hop-by-hop headers; transfer-encoding goes too since the body is re-framed on this hop. */
const responseHopHeaders = new Set(['connection', 'keep-alive', 'proxy-connection', 'te', 'trailer', 'upgrade', 'transfer-encoding']);
/**
 * Never removed because a client lists them in `Connection`: without its framing a body reaches a
 * keep-alive backend as a second request (request smuggling); without Host it cannot be routed.
 */
const notNameable = new Set(['content-length', 'transfer-encoding', 'host']);
/** Set by the router alone; client-sent values would let any client claim https or another host. */
const routerOwned = new Set(['x-forwarded-proto', 'x-forwarded-host', 'x-forwarded-port']);

function connectionListed(value: string | undefined): string[] {
  return value ? value.toLowerCase().split(',').map((s) => s.trim()).filter(Boolean) : [];
}

/** The request headers sent to a backend: hop-by-hop ones removed, framing kept, `X-Forwarded-*` set. */
export function forwardedHeaders(req: http.IncomingMessage, upgrade: boolean): http.OutgoingHttpHeaders {
  const out: http.OutgoingHttpHeaders = {};
  const listed = connectionListed(req.headers.connection).filter((h) => !notNameable.has(h));
  for (const k in req.headers) {
    const v = req.headers[k];
    if (v === undefined || requestHopHeaders.has(k) || routerOwned.has(k) || listed.includes(k)) continue;
    out[k] = v;
  }
  if (upgrade && req.headers.upgrade) { out.connection = 'Upgrade'; out.upgrade = req.headers.upgrade; }
  const remote = clientAddress(req.socket.remoteAddress);
  const prior = out['x-forwarded-for'];
  out['x-forwarded-for'] = prior ? `${String(prior)}, ${remote}` : remote;
  out['x-forwarded-proto'] = 'http';
  if (req.headers.host) out['x-forwarded-host'] = req.headers.host;
  if (req.socket.localPort !== undefined) out['x-forwarded-port'] = String(req.socket.localPort);
  return out;
}

function clientAddress(a: string | undefined): string {
  if (!a) return 'unknown';
  return a.startsWith('::ffff:') ? a.slice(7) : a;
}

/** A backend's response headers minus the hop-by-hop ones. */
export function responseHeaders(ures: http.IncomingMessage): http.OutgoingHttpHeaders {
  const out: http.OutgoingHttpHeaders = {};
  const listed = connectionListed(typeof ures.headers.connection === 'string' ? ures.headers.connection : undefined);
  for (const k in ures.headers) {
    const v = ures.headers[k];
    if (v === undefined || responseHopHeaders.has(k) || listed.includes(k)) continue;
    out[k] = v;
  }
  return out;
}

/** `__VCAP_ID__` from a Cookie header; one that does not decode is ignored, as if absent. */
export function stickyId(cookie: string | undefined): string | undefined {
  if (!cookie || !cookie.includes(STICKY_COOKIE)) return undefined;
  for (const part of cookie.split(';')) {
    const p = part.trim();
    if (!p.startsWith(STICKY_COOKIE + '=')) continue;
    try {
      return decodeURIComponent(p.slice(STICKY_COOKIE.length + 1)) || undefined;
    } catch {
      return undefined;
    }
  }
  return undefined;
}

/** A backend that starts a JSESSIONID session gets its instance pinned by `__VCAP_ID__`. */
export function addStickyCookie(headers: http.OutgoingHttpHeaders, ures: http.IncomingMessage, b: Backend): void {
  const set = ures.headers['set-cookie'];
  if (!set || !b.private_instance_id) return;
  if (!set.some((c) => c.slice(0, Math.max(0, c.indexOf('='))).includes('JSESSIONID'))) return;
  headers['set-cookie'] = [...set, `${STICKY_COOKIE}=${encodeURIComponent(b.private_instance_id)}; Path=/; HttpOnly`];
}

export function statusLine(ures: http.IncomingMessage): string {
  const code = ures.statusCode ?? 502;
  return `HTTP/1.1 ${code} ${ures.statusMessage || http.STATUS_CODES[code] || ''}\r\n`;
}

export function rawHeaderLines(raw: string[], extra: [string, string][]): string {
  let s = '';
  for (let i = 0; i + 1 < raw.length; i += 2) s += `${raw[i]}: ${raw[i + 1]}\r\n`;
  for (const [k, v] of extra) s += `${k}: ${v}\r\n`;
  return s;
}
