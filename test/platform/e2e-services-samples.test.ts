// The two sample apps on a real `pocket up` with real PostgreSQL and Redis servers: push, create and
// bind a service, the counter grows through the router and survives an app restart and a platform
// restart; two databases are closed to each other; unbind revokes; delete drops the data.
import { strict as assert } from 'node:assert';
import { execFile } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { readEndpoint, type Endpoint } from '../../platform/client';
import { buildCli, repoRoot, type CliHarness, type CliRun, type RunningUp } from './support/cli';
import { httpRequest } from './support/controller';
import { instanceFolders, liveInstances } from './support/e2e';
import { installedTypes, pgrep } from './support/services';
import { waitFor } from './support/wait';

const nodeApp = 'node-postgres';
const pyApp = 'python-redis';
const wait = { timeoutMs: 60_000, everyMs: 200 };

/** psql's exit code and output for `sql` against `uri` (no retries, 5 s connect timeout). */
function psql(uri: string, sql: string): Promise<{ ok: boolean; out: string }> {
  return new Promise((resolve) => {
    execFile('psql', [uri, '-X', '-q', '-A', '-t', '-c', sql], { env: { ...process.env, PGCONNECT_TIMEOUT: '5' }, timeout: 15_000 }, (err, stdout, stderr) => {
      resolve({ ok: err === null, out: `${stdout}${stderr}`.trim() });
    });
  });
}

/** The first bound service's credentials under `label` in the running app's own environment. */
function appCredentials(dataDir: string, app: string, label: string): Record<string, string> {
  const [inst] = liveInstances(instanceFolders(dataDir, app));
  assert.ok(inst, `no running instance of ${app}`);
  const env = fs.readFileSync(`/proc/${inst.pid as number}/environ`, 'utf8').split('\0');
  const vcap = JSON.parse(env.find((e) => e.startsWith('VCAP_SERVICES='))?.slice('VCAP_SERVICES='.length) ?? '{}') as Record<string, Array<{ credentials: Record<string, string> }>>;
  const key = Object.keys(vcap).find((k) => k.startsWith(label));
  assert.ok(key, `${app} has no ${label} service in VCAP_SERVICES`);
  return vcap[key][0].credentials;
}

/** A credentials field as `pocket service NAME --show` prints it. */
function field(r: CliRun, key: string): string {
  const m = new RegExp(`^\\s+${key}: (.+)$`, 'm').exec(r.stdout);
  assert.ok(m, `no ${key} in\n${r.stdout}`);
  return m[1];
}

describe('e2e: the sample apps on PostgreSQL and Redis under pocket up', function () {
  this.timeout(180_000);
  let h: CliHarness;
  let dataDir: string;
  let up: RunningUp;
  let router: string;
  const figures: string[] = [];
  const note = (s: string): void => { figures.push(s); process.stdout.write(`      ${s}\n`); };
  const pocket = async (args: string[], code = 0): Promise<CliRun> => {
    const r = await h.run(['--data', dataDir, ...args], {}, 90_000);
    assert.equal(r.code, code, `pocket ${args.join(' ')}\n${r.stdout}\n${r.stderr}`);
    return r;
  };
  const get = async (app: string): Promise<{ status: number; text: string }> =>
    httpRequest(`${router}/`, { host: `${app}.localhost` }).catch((e: Error) => ({ status: 0, text: e.message }));
  const visits = async (app: string): Promise<number> => {
    const r = await get(app);
    assert.equal(r.status, 200, `${app}: ${r.status} ${r.text}`);
    return (JSON.parse(r.text) as { visits: number }).visits;
  };
  /**
   * The first counted answer (e.g. after a restart) and the ms until it, once the instance it replaced
   * is gone (a binding change starts the new instance before it stops the old one).
   */
  const firstVisit = async (app: string): Promise<[number, number]> => {
    const t0 = Date.now();
    const first = await waitFor(`${app} answers with a counter`, async () => {
      const r = await get(app);
      return r.status === 200 ? (JSON.parse(r.text) as { visits: number }).visits : undefined;
    }, wait);
    const ms = Date.now() - t0;
    await waitFor(`one running instance of ${app}`, () => liveInstances(instanceFolders(dataDir, app)).length === 1, wait);
    return [first, ms];
  };
  const startUp = async (): Promise<void> => {
    up = await h.up(dataDir);
    router = (readEndpoint(dataDir) as Endpoint).router as string;
  };
  const stopUp = async (): Promise<void> => {
    if (up && up.child.exitCode === null) { up.child.kill('SIGINT'); await up.exited; }
  };
  /** create-service + bind-service, then the first counted answer; notes both times. */
  const createAndBind = async (type: string, service: string, app: string): Promise<number> => {
    const t0 = Date.now();
    await pocket(['create-service', type, service]);
    await pocket(['bind-service', service, app]);
    const bound = Date.now() - t0;
    const [first, ms] = await firstVisit(app);
    note(`${type} ${service} -> ${app}: create+bind ${bound} ms, first counted answer ${ms} ms after`);
    return first;
  };

  before(async () => {
    assert.ok(installedTypes.includes('postgresql') && installedTypes.includes('redis'), 'PostgreSQL and Redis are installed (scripts/setup.sh)');
    h = await buildCli();
    dataDir = path.join(h.outDir, 'data');
    await startUp();
  });

  after(async () => {
    await stopUp();
    if (figures.length) process.stdout.write(`      figures:\n${figures.map((f) => `        ${f}`).join('\n')}\n`);
    if (dataDir) {
      const left = await waitFor('no server process left', async () => { const p = await pgrep(dataDir); return p.length === 0 ? p : undefined; }, { timeoutMs: 10_000, everyMs: 100 }).catch(() => pgrep(dataDir));
      assert.deepEqual(left, [], 'postgres, redis-server and mariadbd of this data dir are gone');
    }
    h?.cleanup();
  });

  it('node-postgres: push, create and bind PostgreSQL, the counter grows and survives `pocket restart`', async () => {
    let t = Date.now();
    await pocket(['push', path.join(repoRoot, 'test/fixtures', nodeApp)]);
    note(`push ${nodeApp}: ${Date.now() - t} ms`);
    assert.equal((await get(nodeApp)).status, 500, 'unbound: answers 500, does not crash');
    assert.equal(await createAndBind('postgresql', 'db1', nodeApp), 1);
    assert.deepEqual([await visits(nodeApp), await visits(nodeApp)], [2, 3]);
    t = Date.now();
    await pocket(['restart', nodeApp]);
    assert.equal((await firstVisit(nodeApp))[0], 4);
    note(`restart ${nodeApp}: counting again after ${Date.now() - t} ms`);
  });

  it('python-redis: push, create and bind Redis, the counter grows and survives `pocket restart`', async () => {
    await pocket(['push', path.join(repoRoot, 'test/fixtures', pyApp)]);
    assert.equal(await createAndBind('redis', 'cache1', pyApp), 1);
    assert.deepEqual([await visits(pyApp), await visits(pyApp)], [2, 3]);
    await pocket(['restart', pyApp]);
    assert.equal((await firstVisit(pyApp))[0], 4);
  });

  it('a stopped and restarted pocket up keeps the data, the servers, the bindings and their credentials', async () => {
    const before = appCredentials(dataDir, nodeApp, 'postgresql');
    await stopUp();
    assert.deepEqual(await waitFor('servers stopped with pocket up', async () => { const p = await pgrep(dataDir); return p.length === 0 ? p : undefined; }, { timeoutMs: 10_000, everyMs: 100 }), []);
    const t = Date.now();
    await startUp();
    assert.equal((await firstVisit(nodeApp))[0], 5);
    assert.equal((await firstVisit(pyApp))[0], 5);
    note(`pocket up again: both samples counting after ${Date.now() - t} ms`);
    assert.deepEqual(appCredentials(dataDir, nodeApp, 'postgresql'), before, 'the same binding credentials');
    assert.ok((await psql(before.uri, 'SELECT n FROM counter')).out === '5');
  });

  it('two apps on two PostgreSQL databases cannot read each other\'s', async () => {
    const second = `${nodeApp}-2`;
    await pocket(['push', path.join(repoRoot, 'test/fixtures', nodeApp), '--name', second]);
    assert.equal(await createAndBind('postgresql', 'db2', second), 1);
    assert.equal(await visits(nodeApp), 6, 'the first app counts on in its own database');
    const db1 = appCredentials(dataDir, nodeApp, 'postgresql');
    const shown = await pocket(['service', 'db2', '--show']);
    const viaService = field(shown, 'uri');
    const viaBinding = appCredentials(dataDir, second, 'postgresql').uri;
    for (const uri of [viaService, viaBinding]) {
      assert.equal((await psql(uri, 'SELECT 1')).out, '1', 'db2\'s credentials work on db2');
      const u = new URL(uri);
      u.pathname = `/${db1.name}`;
      const r = await psql(u.toString(), 'SELECT n FROM counter');
      assert.equal(r.ok, false, `db2's credentials read db1: ${r.out}`);
      assert.match(r.out, /permission denied|not permitted|authentication failed|no pg_hba/i);
      note(`db2's ${uri === viaService ? 'service' : 'binding'} credentials on db1: refused (${r.out.split('\n').pop() ?? ''})`);
    }
  });

  it('unbind-service revokes the binding\'s credentials; delete-service -f drops the data', async () => {
    const old = appCredentials(dataDir, nodeApp, 'postgresql');
    assert.equal((await psql(old.uri, 'SELECT n FROM counter')).out, '6');
    await pocket(['unbind-service', 'db1', nodeApp]);
    const r = await psql(old.uri, 'SELECT 1');
    assert.equal(r.ok, false, `the old binding still logs in: ${r.out}`);
    note(`unbound db1's credentials: refused (${r.out.split('\n').pop() ?? ''})`);
    await waitFor(`${nodeApp} restarted without db1`, async () => ((await get(nodeApp)).status === 500 ? true : undefined), wait);
    await pocket(['delete-service', 'db1', '-f']);
    await pocket(['service', 'db1'], 1);
    assert.equal(await createAndBind('postgresql', 'db1', nodeApp), 1, 'a new db1 starts empty');
    assert.equal(await visits(`${nodeApp}-2`), 2, 'db2 is untouched');
  });
});
