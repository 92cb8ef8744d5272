// `<dataDir>/endpoint.json`: where a running platform answers, written by `pocket up` and read by the
// CLI, the client and the editor. Kept free of zod so the editor reads it without loading the client.

export interface Endpoint {
  api: string;
  router?: string | null;
  nats?: string | null;
  token: string;
  pid?: number;
  /** The owner account, and its generated password while unchanged. */
  user?: string;
  password?: string;
  /** The CA (PEM file) that signed the controller's certificate, when it serves HTTPS. */
  ca?: string;
}

/** The file's content as an Endpoint, or null without an `api` and a `token` (half-written, or another file). */
export function decodeEndpoint(raw: unknown): Endpoint | null {
  if (!raw || typeof raw !== 'object' || Array.isArray(raw)) return null;
  const o = raw as Record<string, unknown>;
  if (typeof o.api !== 'string' || typeof o.token !== 'string') return null;
  // Optional fields of another type are left out rather than refusing the whole file.
  const text = (v: unknown): string | null | undefined => (typeof v === 'string' || v === null ? v : undefined);
  const out: Endpoint = { api: o.api, token: o.token };
  if (text(o.router) !== undefined) out.router = text(o.router);
  if (text(o.nats) !== undefined) out.nats = text(o.nats);
  if (typeof o.pid === 'number') out.pid = o.pid;
  if (typeof o.user === 'string') out.user = o.user;
  if (typeof o.password === 'string') out.password = o.password;
  if (typeof o.ca === 'string') out.ca = o.ca;
  return out;
}
