// Test support: one in-memory service gateway speaking v1's gateway interface (the real gateways and
// nodes live in platform/services/). It announces its offering like a real one and hands out
// credentials per provision and per binding; revoked handles are remembered so tests can check them.
import { randomBytes } from 'node:crypto';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';

export interface FakeGatewayOptions {
  /** The controller to announce to, and the service token. */
  api: string;
  token: string;
  name?: string;
  version?: string;
  tags?: string[];
  /** URI scheme of the credentials (`postgres`, `redis`, ...). */
  scheme?: string;
  /** Answer every provision with this error instead. */
  failProvision?: boolean;
}

export interface FakeHandle { id: string; serviceId: string; credentials: Record<string, unknown> }

export interface FakeGateway {
  url: string;
  label: string;
  /** Live service instances by service_id. */
  instances: Map<string, { name: string; plan: string; email: string }>;
  /** Live bindings by handle id, and the ids of revoked ones. */
  handles: Map<string, FakeHandle>;
  revoked: Set<string>;
  /** Every request the controller made, `METHOD path`. */
  calls: string[];
  announce(): Promise<number>;
  stop(): Promise<void>;
}

export async function startFakeGateway(o: FakeGatewayOptions): Promise<FakeGateway> {
  const name = o.name ?? 'postgresql';
  const version = o.version ?? '15';
  const label = `${name}-${version}`;
  const scheme = o.scheme ?? 'postgres';
  const instances = new Map<string, { name: string; plan: string; email: string }>();
  const handles = new Map<string, FakeHandle>();
  const revoked = new Set<string>();
  const calls: string[] = [];
  const creds = (db: string): Record<string, unknown> => {
    const user = `u${randomBytes(4).toString('hex')}`;
    const password = randomBytes(8).toString('hex');
    return { name: db, hostname: '127.0.0.1', host: '127.0.0.1', port: 5432, user, username: user, password, uri: `${scheme}://${user}:${password}@127.0.0.1:5432/${db}` };
  };
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const send = (status: number, body: unknown): void => { res.writeHead(status, { 'content-type': 'application/json' }); res.end(JSON.stringify(body)); };
      const p = (req.url ?? '/').split('?')[0];
      calls.push(`${req.method} ${p}`);
      if (req.headers['x-vcap-service-token'] !== o.token) { send(403, { code: 200, description: 'bad service token' }); return; }
      let body: Record<string, unknown>;
      try { body = chunks.length ? JSON.parse(Buffer.concat(chunks).toString('utf8')) as Record<string, unknown> : {}; } catch { send(400, { code: 100, description: 'bad json' }); return; }
      const parts = p.split('/').filter(Boolean).map(decodeURIComponent); // gateway v1 configurations [:id [handles [:hid]]]
      if (parts[0] !== 'gateway' || parts[1] !== 'v1' || parts[2] !== 'configurations') { send(404, { code: 404, description: 'no such route' }); return; }
      const [, , , sid, h, hid] = parts;
      if (req.method === 'POST' && !sid) {
        if (o.failProvision) { send(500, { code: 30500, description: 'node out of capacity' }); return; }
        const id = `d${randomBytes(6).toString('hex')}`;
        instances.set(id, { name: String(body.name), plan: String(body.plan), email: String(body.email) });
        send(200, { service_id: id, configuration: { plan: body.plan }, credentials: creds(id) });
      } else if (req.method === 'DELETE' && sid && !h) {
        if (!instances.delete(sid)) { send(404, { code: 30300, description: `no instance ${sid}` }); return; }
        for (const [k, v] of handles) if (v.serviceId === sid) { handles.delete(k); revoked.add(k); }
        send(200, {});
      } else if (req.method === 'POST' && sid && h === 'handles' && !hid) {
        if (!instances.has(sid)) { send(404, { code: 30300, description: `no instance ${sid}` }); return; }
        const id = `h${randomBytes(6).toString('hex')}`;
        const handle = { id, serviceId: sid, credentials: creds(sid) };
        handles.set(id, handle);
        send(200, { service_id: id, configuration: {}, credentials: handle.credentials });
      } else if (req.method === 'DELETE' && sid && h === 'handles' && hid) {
        if (!handles.delete(hid)) { send(404, { code: 30300, description: `no handle ${hid}` }); return; }
        revoked.add(hid);
        send(200, {});
      } else {
        send(404, { code: 404, description: 'no such route' });
      }
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const announce = async (): Promise<number> => {
    const r = await fetch(`${o.api}/services/v1/offerings`, {
      method: 'POST', headers: { 'content-type': 'application/json', 'x-vcap-service-token': o.token },
      body: JSON.stringify({ label, url, plans: ['free'], tags: o.tags ?? [name, 'relational'], description: `${name} ${version} (fake)` }),
    });
    await r.arrayBuffer();
    return r.status;
  };
  const status = await announce();
  if (status !== 200) throw new Error(`the controller refused the offering: ${status}`);
  return {
    url, label, instances, handles, revoked, calls, announce,
    stop: () => new Promise<void>((r) => { server.close(() => r()); server.closeAllConnections(); }),
  };
}
