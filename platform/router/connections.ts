// The router's client connections, counted and capped: the controller, stager and DEAs share this
// process and its file descriptors, so sockets that say nothing must never be able to use them up.
// At the cap the oldest idle connection (nothing in flight, no byte since) makes room, as nginx
// drains its reusable connections; when every connection is busy the newcomer gets a 503.
import { readFileSync } from 'node:fs';
import * as http from 'node:http';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';

export const OVERLOADED_BODY = 'VCAP ROUTER: 503 - SERVICE UNAVAILABLE (too many connections to the router; try again)';

/** How long a refused or evicted socket may take to read its reply before it is destroyed. */
const LINGER_MS = 1_000;

interface Conn {
  /** Requests (or an upgrade) in flight. */
  busy: number;
  /** `bytesRead` when the connection last became idle: more since means a request has begun. */
  readAtIdle: number;
  /** Served a request already: an evicted keep-alive connection is closed without a reply. */
  used: boolean;
}

/**
 * A quarter of the process's open-file limit (Linux: /proc/self/limits; else 1,024 assumed), so client
 * sockets plus one backend socket each take at most half of it; between 16 and 4,096.
 */
export function defaultMaxConnections(): number {
  let limit = 1024;
  try {
    const m = /^Max open files\s+(\d+)/m.exec(readFileSync('/proc/self/limits', 'utf8'));
    if (m) limit = Number(m[1]);
  } catch { /* not Linux: keep the common default */ }
  return Math.min(4096, Math.max(16, Math.floor(limit / 4)));
}

/** Destroys `socket` if its peer has not closed it within LINGER_MS: a reply gets time to be read. */
export function destroyAfterLinger(socket: Duplex): void {
  if (socket.destroyed) return;
  const timer = setTimeout(() => socket.destroy(), LINGER_MS);
  timer.unref();
  socket.once('close', () => clearTimeout(timer));
}

/** Ends a socket with `reply`, and destroys it if the peer has not closed within LINGER_MS. */
export function replyAndClose(socket: Duplex, reply: string): void {
  if (socket.destroyed) return;
  socket.on('error', () => undefined);
  if (!socket.writable) { socket.destroy(); return; }
  destroyAfterLinger(socket);
  socket.end(reply);
}

/** A complete `Connection: close` reply with a plain-text body, for a bare socket. */
export function plainReply(status: number, body: string): string {
  return `HTTP/1.1 ${status} ${http.STATUS_CODES[status] ?? ''}\r\nContent-Type: text/plain; charset=utf-8\r\n` +
    `Content-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`;
}

export class ConnectionGuard {
  /** Open connections, least recently idle first. */
  private readonly open = new Map<Socket, Conn>();
  /** Refused or evicted sockets, still draining their reply: their requests are never handled. */
  private readonly refused = new WeakSet<Duplex>();
  readonly counters = { accepted: 0, refused: 0, evicted: 0 };

  constructor(private readonly maxConnections: number) {}

  get size(): number { return this.open.size; }

  attach(server: http.Server): void {
    // A hard ceiling above the cap, for sockets still draining a 503: past it the kernel
    // connection is closed at once, unanswered, so descriptors stay bounded even under a flood.
    server.maxConnections = this.maxConnections + Math.max(8, Math.floor(this.maxConnections / 4));
    server.on('connection', (s: Socket) => this.admit(s));
  }

  /** False for a socket that was refused or evicted: its request is not handled. */
  isRefused(socket: Duplex): boolean {
    return this.refused.has(socket);
  }

  /** A request began on `socket`; it is idle again once `res` closes. */
  requestStarted(socket: Socket, res: http.ServerResponse): void {
    const c = this.open.get(socket);
    if (!c) return;
    c.busy++; c.used = true;
    res.once('close', () => {
      c.busy--;
      if (c.busy > 0 || socket.destroyed || !this.open.has(socket)) return;
      c.readAtIdle = socket.bytesRead;
      this.open.delete(socket); this.open.set(socket, c); // now the most recently idle
    });
  }

  /** An upgraded connection (a tunnel) is busy for good; its own idle timeout ends it. */
  upgraded(socket: Duplex): void {
    const c = this.open.get(socket as Socket);
    if (c) { c.busy++; c.used = true; }
  }

  private admit(s: Socket): void {
    if (this.open.size >= this.maxConnections && !this.evictIdle()) {
      this.counters.refused++;
      this.refused.add(s);
      replyAndClose(s, plainReply(503, OVERLOADED_BODY));
      return;
    }
    this.counters.accepted++;
    this.open.set(s, { busy: 0, readAtIdle: 0, used: false });
    s.once('close', () => this.open.delete(s));
  }

  private evictIdle(): boolean {
    for (const [s, c] of this.open) {
      if (c.busy > 0 || s.bytesRead !== c.readAtIdle) continue;
      this.open.delete(s);
      this.counters.evicted++;
      this.refused.add(s);
      // It sent nothing, so nothing unread can turn the close into a reset that loses the reply:
      // closed at once, it frees its descriptor for the newcomer now, not after a linger.
      if (!c.used) s.write(plainReply(503, OVERLOADED_BODY));
      s.destroy();
      return true;
    }
    return false;
  }
}
