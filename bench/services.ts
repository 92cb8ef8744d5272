// Services benchmark (`npm run bench:services`): time to provision and bind a PostgreSQL service
// through the gateway (HTTP -> NATS -> node -> psql), with the server already running ("warm")
// and stopped ("cold": the node starts it on the provision), beside `createdb` on the same server
// measured in the same run. The first provision on a new data dir (initdb) is shown once.
//   npm run bench:services -- [--runs 7]
import { execFile } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { parseArgs } from 'node:util';
import { Bus, startEmbeddedNats } from '../platform/bus';
import { silentLog } from '../platform/log';
import { findInstallations, serviceTokenHeader, startServices, type RunningServices, type ServiceGateway } from '../platform/services';
import { loadAverage, machineLines } from './support/machine';
import { fmtMs, median, min, max, msSince, table } from './support/stats';

const token = 'bench-service-token-0123456789';

async function call(g: ServiceGateway, method: string, p: string, body?: unknown): Promise<{ service_id: string }> {
  const res = await fetch(`${g.url}${p}`, { method, headers: { 'content-type': 'application/json', [serviceTokenHeader]: token }, body: body === undefined ? undefined : JSON.stringify(body) });
  const json = await res.json() as { service_id: string };
  if (!res.ok) throw new Error(`${method} ${p}: ${res.status} ${JSON.stringify(json)}`);
  return json;
}

/** Provision then bind; returns the milliseconds and the service id. */
async function provisionAndBind(g: ServiceGateway): Promise<{ ms: number; id: string }> {
  const t0 = process.hrtime.bigint();
  const svc = await call(g, 'POST', '/gateway/v1/configurations', { label: g.label, name: 'bench', plan: 'free', email: 'bench@example.com' });
  await call(g, 'POST', `/gateway/v1/configurations/${svc.service_id}/handles`, { service_id: svc.service_id, label: g.label, email: 'bench@example.com', binding_options: {} });
  return { ms: msSince(t0), id: svc.service_id };
}

function createdb(bin: string, port: number, password: string, db: string): Promise<number> {
  const t0 = process.hrtime.bigint();
  return new Promise((resolve, reject) => {
    execFile(bin, ['-h', '127.0.0.1', '-p', String(port), '-U', 'postgres', db], { env: { ...process.env, PGPASSWORD: password } }, (err, _o, stderr) => {
      if (err) reject(new Error(stderr || err.message)); else resolve(msSince(t0));
    });
  });
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { runs: { type: 'string', default: '7' } }, strict: true });
  const runs = Math.max(1, Math.min(50, Number(values.runs) || 7));
  const [install] = findInstallations(['postgresql']);
  if (!install) throw new Error('PostgreSQL is not installed');
  const loadBefore = loadAverage();
  const nats = await startEmbeddedNats({ log: silentLog });
  const bus = await Bus.connect({ url: nats.url, token: nats.token, name: 'bench-services', log: silentLog });
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'pocket-bench-services-'));
  const start = (): Promise<RunningServices> => startServices({ bus, log: silentLog, dataDir, serviceToken: token, types: ['postgresql'] });
  let services = await start();
  const gw = (): ServiceGateway => services.gateways[0];
  const unprovision = (id: string): Promise<unknown> => call(gw(), 'DELETE', `/gateway/v1/configurations/${id}`);
  try {
    const first = await provisionAndBind(gw());
    await unprovision(first.id);
    const state = JSON.parse(fs.readFileSync(path.join(dataDir, 'services/postgresql/node.json'), 'utf8')) as { server: { port: number; adminPassword: string } };
    const createdbBin = path.join(path.dirname(install.bins.server), 'createdb');
    const warm: number[] = [];
    const cold: number[] = [];
    const created: number[] = [];
    for (let i = 0; i < runs; i++) {
      // cold: no instance left, so a restarted node leaves the server stopped until the provision
      await services.stop();
      services = await start();
      const c = await provisionAndBind(gw());
      cold.push(c.ms);
      const w = await provisionAndBind(gw());
      warm.push(w.ms);
      created.push(await createdb(createdbBin, state.server.port, state.server.adminPassword, `bench_createdb_${i}`));
      await unprovision(w.id);
      await unprovision(c.id);
    }
    const mw = median(warm);
    const row = (name: string, xs: number[]): string[] => [name, fmtMs(median(xs)), fmtMs(min(xs)), fmtMs(max(xs)), `${(median(xs) / median(created)).toFixed(1)}x`];
    console.log(`## Services: provision and bind a PostgreSQL ${install.version} service\n`);
    console.log(machineLines(loadBefore, [`PostgreSQL ${install.version}`]));
    console.log(`- ${runs} rounds; first provision on a new data dir (initdb, start, create): ${fmtMs(first.ms)}\n`);
    console.log(table(['what', 'median', 'min', 'max', 'vs createdb'], [
      row('provision + bind, server running', warm),
      row('provision + bind, server stopped (cold)', cold),
      row('createdb on the same server', created),
    ]));
    console.log(`\nwarm/createdb ${(mw / median(created)).toFixed(2)}, cold/createdb ${(median(cold) / median(created)).toFixed(2)}, cold/warm ${(median(cold) / mw).toFixed(2)}`);
  } finally {
    await services.stop();
    await bus.close();
    await nats.stop();
    fs.rmSync(dataDir, { recursive: true, force: true });
  }
}

main().catch((e: unknown) => { console.error(e); process.exitCode = 1; });
