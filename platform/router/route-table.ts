// The RouteTable: lower-case uri -> the backends (app instances) registered for it. Entries are leases:
// a registration refreshes the timestamp, the sweeper drops what was not refreshed in time.
import { randomInt } from 'node:crypto';

export interface Backend {
  host: string;
  port: number;
  /** `host:port`, the identity of a backend within a uri. */
  key: string;
  app: string;
  private_instance_id?: string;
  dea?: string;
  tags: Record<string, string>;
  /** Milliseconds since the epoch of the last registration. */
  timestamp: number;
}

export type Balancing = 'round-robin' | 'random';

interface Pool {
  backends: Backend[];
  /** Next round-robin position. */
  next: number;
}

export interface Registration {
  host: string;
  port: number;
  uris: string[];
  app?: string | number;
  private_instance_id?: string;
  dea?: string;
  tags?: Record<string, string>;
}

/** Characters a uri (a DNS name, or a bracketed IPv6 literal) may hold once normalized. */
const validUri = /^[a-z0-9_.\-[\]:]+$/;

/**
 * The host part of a Host header or a registered uri, as the table keys it: port stripped,
 * lower-cased, trailing dot dropped. Empty string when nothing usable is left.
 */
export function normalizeHost(raw: string | undefined): string {
  if (!raw) return '';
  let h = raw.trim().toLowerCase();
  if (h.startsWith('[')) {
    const end = h.indexOf(']');
    h = end < 0 ? '' : h.slice(0, end + 1);
  } else {
    const colon = h.indexOf(':');
    if (colon >= 0) h = h.slice(0, colon);
  }
  if (h.endsWith('.')) h = h.slice(0, -1);
  return h;
}

export class RouteTable {
  private readonly pools = new Map<string, Pool>();
  private readonly lostListeners: ((backends: readonly Backend[]) => void)[] = [];

  constructor(private readonly balancing: Balancing = 'round-robin') {}

  /**
   * Adds the backend to each uri, or refreshes its timestamp (and metadata) when the same host:port
   * is already there. Returns the uris that were not usable, so the caller can say so.
   */
  register(r: Registration, now = Date.now()): { added: number; refreshed: number; rejected: string[] } {
    const out = { added: 0, refreshed: 0, rejected: [] as string[] };
    const key = `${r.host}:${r.port}`;
    for (const raw of r.uris) {
      const uri = normalizeHost(raw);
      if (!uri || !validUri.test(uri)) { out.rejected.push(raw); continue; }
      let pool = this.pools.get(uri);
      if (!pool) { pool = { backends: [], next: 0 }; this.pools.set(uri, pool); }
      const existing = pool.backends.find((b) => b.key === key);
      const fields = {
        app: r.app === undefined ? '' : String(r.app),
        private_instance_id: r.private_instance_id,
        dea: r.dea,
        tags: r.tags ?? {},
        timestamp: now,
      };
      if (existing) { Object.assign(existing, fields); out.refreshed++; }
      else { pool.backends.push({ host: r.host, port: r.port, key, ...fields }); out.added++; }
    }
    return out;
  }

  /** Removes host:port from each of the uris. Returns how many entries went. */
  unregister(r: { host: string; port: number; uris: string[] }): number {
    const key = `${r.host}:${r.port}`;
    let removed = 0;
    for (const raw of r.uris) {
      const uri = normalizeHost(raw);
      const pool = this.pools.get(uri);
      if (pool) removed += this.removeFromPool(uri, pool, (b) => b.key === key);
    }
    return removed;
  }

  /** Drops host:port from every uri (it refused a connection); a later registration brings it back. */
  dropBackend(key: string): number {
    return this.dropWhere((b) => b.key === key);
  }

  /**
   * Drops every backend the DEA registered (it is lost); its next registration brings them back.
   * Those entries then go to every `onLost` listener, so requests in flight to them can be cancelled.
   */
  dropDea(dea: string): number {
    const removed: Backend[] = [];
    const n = this.dropWhere((b) => {
      if (b.dea !== dea) return false;
      removed.push(b);
      return true;
    });
    if (removed.length > 0) for (const l of this.lostListeners) l(removed);
    return n;
  }

  /**
   * Calls `listener` with the entries (the objects `choose` returned) dropped because their host is
   * lost, once they are out of the table. Not called for a refusal, an unregistration or an expired
   * lease: those backends may still be answering the requests they have.
   */
  onLost(listener: (backends: readonly Backend[]) => void): void {
    this.lostListeners.push(listener);
  }

  /** Drops every entry registered before `cutoff` (ms since the epoch). Returns how many went. */
  sweep(cutoff: number): number {
    return this.dropWhere((b) => b.timestamp < cutoff);
  }

  /** The backends of a uri (normalized), in registration order; empty when unknown. */
  lookup(uri: string): readonly Backend[] {
    return this.pools.get(uri)?.backends ?? [];
  }

  /**
   * Chooses a backend for a request to `uri`: the sticky one when `stickyId` names a registered
   * instance, else the next by the balancing rule. Backends in `exclude` (keys) are skipped.
   */
  choose(uri: string, stickyId?: string, exclude?: ReadonlySet<string>): Backend | undefined {
    const pool = this.pools.get(uri);
    if (!pool || pool.backends.length === 0) return undefined;
    const bs = pool.backends;
    if (stickyId) {
      const sticky = bs.find((b) => b.private_instance_id === stickyId && !exclude?.has(b.key));
      if (sticky) return sticky;
    }
    const n = bs.length;
    const start = this.balancing === 'random' ? randomInt(n) : pool.next % n;
    for (let i = 0; i < n; i++) {
      const b = bs[(start + i) % n];
      if (exclude?.has(b.key)) continue;
      if (this.balancing === 'round-robin') pool.next = (start + i + 1) % n;
      return b;
    }
    return undefined;
  }

  /** uri -> ["host:port", ...], for `router.status`. */
  snapshot(): Record<string, string[]> {
    const out: Record<string, string[]> = {};
    for (const [uri, pool] of this.pools) out[uri] = pool.backends.map((b) => b.key);
    return out;
  }

  get size(): number {
    return this.pools.size;
  }

  private dropWhere(match: (b: Backend) => boolean): number {
    let removed = 0;
    for (const [uri, pool] of [...this.pools]) removed += this.removeFromPool(uri, pool, match);
    return removed;
  }

  private removeFromPool(uri: string, pool: Pool, match: (b: Backend) => boolean): number {
    const before = pool.backends.length;
    pool.backends = pool.backends.filter((b) => !match(b));
    const removed = before - pool.backends.length;
    if (pool.backends.length === 0) this.pools.delete(uri);
    else if (removed > 0) pool.next %= pool.backends.length;
    return removed;
  }
}
