// The services and login commands as a user runs them (the bundled CLI in child processes) against
// a real controller and the in-memory fake gateway of test/platform/support.
import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { maskCredentials } from '../../platform/cli/services-commands';
import { buildCli, type CliHarness, type CliRun } from './support/cli';
import { restRequest, startTestController, type TestController } from './support/controller';
import { startFakeGateway, type FakeGateway } from './support/fake-gateway';

describe('cli: services, login and logout', function () {
  this.timeout(90_000);
  let h: CliHarness;
  let t: TestController;
  let gw: FakeGateway;
  let dataDir: string;
  const pocket = (args: string[], env: Record<string, string> = {}): Promise<CliRun> => h.run(['--data', dataDir, ...args], env);
  const asOwner = (args: string[]): Promise<CliRun> => pocket(['--api', t.controller.url, '--token', t.token, ...args]);

  before(async () => {
    h = await buildCli();
    dataDir = path.join(h.outDir, 'data');
    t = await startTestController();
    gw = await startFakeGateway({ api: t.controller.url, token: t.token });
  });
  after(async () => { await gw?.stop(); await t?.stop(); h?.cleanup(); });

  it('marketplace, create-service, services, bind-service, service (masked and --show), unbind-service, delete-service', async () => {
    let r = await asOwner(['marketplace']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /postgresql\s+15\s+database\s+free/);
    r = await asOwner(['create-service', 'oracle', 'x']);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /No service oracle is offered/);
    r = await asOwner(['create-service', 'postgresql', 'db']);
    assert.equal(r.code, 0, r.stderr);
    assert.equal((await restRequest(t, 'POST', '/apps', { json: { name: 'web', staging: { framework: 'node' } } })).status, 302);
    r = await asOwner(['bind-service', 'db', 'web']);
    assert.equal(r.code, 0, r.stderr);
    r = await asOwner(['services']);
    assert.match(r.stdout, /db\s+postgresql\s+15\s+free\s+web/);
    r = await asOwner(['service', 'db']);
    const creds = (JSON.parse((await restRequest(t, 'GET', '/services/db')).text) as { credentials: { password: string } }).credentials;
    assert.ok(!r.stdout.includes(creds.password), 'the password is masked');
    assert.match(r.stdout, /password: \*{8}/);
    assert.match(r.stdout, /uri: postgres:\/\/\w+:\*{8}@127\.0\.0\.1/);
    r = await asOwner(['service', 'db', '--show']);
    assert.ok(r.stdout.includes(creds.password));
    r = await asOwner(['delete-service', 'db']);
    assert.equal(r.code, 1, 'no terminal: asks for -f, naming the bound apps');
    assert.match(r.stderr, /bound to web/);
    r = await asOwner(['unbind-service', 'db', 'web']);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(gw.handles.size, 0);
    r = await asOwner(['unbind-service', 'db', 'web']);
    assert.equal(r.code, 1);
    r = await asOwner(['delete-service', 'db', '-f']);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(gw.instances.size, 0);
    r = await asOwner(['service', 'db']);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /Service db not found/);
  });

  it('login saves a token for the target; logout forgets it', async () => {
    const password = t.controller.owner.password as string;
    let r = await pocket(['--api', t.controller.url, 'login', 'owner@pocket.local', '--password', 'wrong']);
    assert.equal(r.code, 1);
    r = await pocket(['--api', t.controller.url, 'login', 'owner@pocket.local', '--password', password]);
    assert.equal(r.code, 0, r.stderr);
    const saved = JSON.parse(fs.readFileSync(path.join(dataDir, 'target.json'), 'utf8')) as { api: string; token: string };
    assert.equal(saved.api, t.controller.url);
    assert.notEqual(saved.token, t.token);
    r = await pocket(['services']);
    assert.equal(r.code, 0, r.stderr);
    r = await pocket(['logout']);
    assert.equal(r.code, 0, r.stderr);
    r = await pocket(['services']);
    assert.notEqual(r.code, 0, 'logged out: the controller refuses');
    assert.match(r.stderr, /token/);
  });

  it('masks secrets and URI passwords unless shown', () => {
    assert.deepEqual(maskCredentials({ password: 'p', uri: 'redis://:p@h:1', port: 1 }, false), [['password', '********'], ['uri', 'redis://:********@h:1'], ['port', '1']]);
    assert.deepEqual(maskCredentials({ password: 'p' }, true), [['password', 'p']]);
  });
});
