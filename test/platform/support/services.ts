// Test support for the service nodes and gateways: a harness (real NATS, a stand-in controller
// that records offerings, the real servers on a temp data dir), a gateway client, the servers'
// own command-line clients, and the check that no server process is left behind.
import { execFile } from 'node:child_process';
import * as fs from 'node:fs';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import type { Bus, ServiceType } from '../../../platform/bus';
import { silentLog } from '../../../platform/log';
import { findInstallations, serviceOffering, serviceTokenHeader, startServices, type RunningServices, type ServiceGateway, type ServiceOffering } from '../../../platform/services';
import { httpRequest, type HttpReply } from './controller';
import { startTestNats, type TestNats } from './nats';

export const serviceToken = 'test-service-token-0123456789';

export interface ServicesHarness {
  nats: TestNats;
  /** The bus the nodes and gateways use (its counters count what they dropped). */
  bus: Bus;
  dataDir: string;
  services: RunningServices;
  offerings: ServiceOffering[];
  gateway(type: ServiceType): ServiceGateway;
  /** Stops the nodes and gateways, keeping NATS and the data dir (a restart starts them again). */
  restart(): Promise<void>;
  stop(): Promise<void>;
}

/** The types whose servers are installed here (the suites test each one that is). */
export const installedTypes = findInstallations().map((i) => i.type);

export async function startServicesHarness(types: readonly ServiceType[], addresses: { host?: string; advertise?: string } = {}): Promise<ServicesHarness> {
  const nats = await startTestNats();
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'pocket-services-'));
  const offerings: ServiceOffering[] = [];
  const cc = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const ok = req.method === 'POST' && req.url === '/services/v1/offerings' && req.headers[serviceTokenHeader.toLowerCase()] === serviceToken;
      if (ok) offerings.push(serviceOffering.parse(JSON.parse(Buffer.concat(chunks).toString('utf8'))));
      res.writeHead(ok ? 200 : 403, { 'Content-Type': 'application/json' }).end('{}');
    });
  });
  await new Promise<void>((r) => cc.listen(0, '127.0.0.1', r));
  const api = `http://127.0.0.1:${(cc.address() as AddressInfo).port}`;
  const bus = await nats.connect('services');
  const start = (): Promise<RunningServices> => startServices({ bus, log: silentLog, dataDir, api, serviceToken, types, ...addresses });
  const h: ServicesHarness = {
    nats, bus, dataDir, offerings, services: await start(),
    gateway(type) {
      const g = h.services.gateways.find((x) => x.label.startsWith(`${type}-`));
      if (!g) throw new Error(`no ${type} gateway`);
      return g;
    },
    async restart() {
      await h.services.stop();
      h.services = await start();
    },
    async stop() {
      await h.services.stop();
      await nats.stop();
      await new Promise<void>((r) => cc.close(() => r()));
      fs.rmSync(dataDir, { recursive: true, force: true });
    },
  };
  return h;
}

/** One gateway call with the service token (or another `token`). */
export function gatewayCall(g: ServiceGateway, method: string, urlPath: string, body?: unknown, token: string | null = serviceToken): Promise<HttpReply> {
  const headers: Record<string, string> = { 'content-type': 'application/json' };
  if (token !== null) headers[serviceTokenHeader] = token;
  return httpRequest(`${g.url}${urlPath}`, { method, headers, body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body) });
}

export interface Creds {
  name: string; host: string; hostname: string; port: number; user: string; username: string; password: string; uri: string;
}

export interface Handle { service_id: string; configuration: { plan: string; version: string }; credentials: Creds }

export async function provision(g: ServiceGateway, name = 'db'): Promise<Handle> {
  const r = await gatewayCall(g, 'POST', '/gateway/v1/configurations', { label: g.label, name, plan: 'free', email: 'dev@example.com' });
  if (r.status !== 200) throw new Error(`provision: ${r.status} ${r.text}`);
  return r.json as Handle;
}

export async function bind(g: ServiceGateway, serviceId: string): Promise<Handle> {
  const r = await gatewayCall(g, 'POST', `/gateway/v1/configurations/${serviceId}/handles`, { service_id: serviceId, label: g.label, email: 'dev@example.com', binding_options: {} });
  if (r.status !== 200) throw new Error(`bind: ${r.status} ${r.text}`);
  return r.json as Handle;
}

function exec(cmd: string, args: readonly string[], env: NodeJS.ProcessEnv = {}): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(cmd, args, { env: { ...process.env, ...env }, timeout: 20_000 }, (err, stdout, stderr) => {
      if (err) reject(new Error((stderr || err.message).trim()));
      else resolve(stdout.trim());
    });
  });
}

/** Runs SQL (or a Redis command line) with an app's credentials through the server's own client. */
export function query(type: ServiceType, c: Creds, command: string): Promise<string> {
  switch (type) {
    case 'postgresql':
      return exec('psql', [c.uri, '-X', '-q', '-A', '-t', '-v', 'ON_ERROR_STOP=1', '-c', command], { PGCONNECT_TIMEOUT: '5' });
    case 'mysql':
      return exec('mariadb', ['--no-defaults', '-h', c.host, '-P', String(c.port), '-u', c.username, '-D', c.name, '--batch', '--skip-column-names', '-e', command], { MYSQL_PWD: c.password });
    case 'redis':
      return exec('redis-cli', ['-u', c.uri, '--no-auth-warning', ...command.split(' ')]).then((out) => {
        if (/^(ERR|WRONGPASS|NOAUTH|NOPERM)/.test(out)) throw new Error(out);
        return out;
      });
  }
}

/** The SQL (or commands) that create, fill and read a table: the same test for every type. */
export const dataOps: Record<ServiceType, { write(v: string): string; read: string }> = {
  postgresql: { write: (v) => `CREATE TABLE IF NOT EXISTS notes (v text); INSERT INTO notes VALUES ('${v}')`, read: 'SELECT v FROM notes ORDER BY v' },
  mysql: { write: (v) => `CREATE TABLE IF NOT EXISTS notes (v varchar(64)); INSERT INTO notes VALUES ('${v}')`, read: 'SELECT v FROM notes ORDER BY v' },
  redis: { write: (v) => `SET note ${v}`, read: 'GET note' },
};

/** Process ids of every live process whose command line names `needle`. */
export async function pgrep(needle: string): Promise<number[]> {
  const out = await exec('pgrep', ['-f', needle]).catch(() => '');
  return out.split('\n').filter(Boolean).map(Number).filter((p) => p !== process.pid);
}

export function alive(pid: number): boolean {
  try { process.kill(pid, 0); return true; } catch { return false; }
}
