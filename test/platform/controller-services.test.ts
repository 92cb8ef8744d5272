// Services and users on a real controller (real NATS, SQLite, HTTP) with the in-memory fake gateway
// of test/platform/support (the real gateways and nodes are platform/services/): every route, v1's
// error codes with nothing changed, per-user visibility, login and revocation, and a v1 client's calls.
import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as path from 'node:path';
import BetterSqlite3 from 'better-sqlite3';
import * as contract from '../../platform/contract';
import { restRequest, startTestController, type HttpReply, type TestController } from './support/controller';
import { startFakeGateway, type FakeGateway } from './support/fake-gateway';

const owner = 'owner@pocket.local';

function expectError(r: HttpReply, status: number, code: number): void {
  assert.equal(r.status, status, r.text);
  assert.equal((r.json as { code: number }).code, code, r.text);
}

function ok<T>(r: HttpReply, schema: { parse(v: unknown): T }, status = 200): T {
  assert.equal(r.status, status, r.text);
  return schema.parse(r.json);
}

/** Services, bindings, users and tokens as rows: "no change" compares these (and the apps). */
function rows(t: TestController): string {
  const db = new BetterSqlite3(path.join(t.dataDir, 'controller.db'), { readonly: true });
  try {
    return JSON.stringify(['apps', 'services', 'bindings', 'users', 'user_tokens'].map((tb) => db.prepare(`SELECT * FROM ${tb} ORDER BY rowid`).all()));
  } finally { db.close(); }
}

async function unchanged(t: TestController, gw: FakeGateway, fn: () => Promise<void>): Promise<void> {
  const before = rows(t);
  const calls = gw.calls.length;
  await fn();
  assert.equal(rows(t), before, 'no database change');
  assert.equal(gw.calls.length, calls, 'the gateway was not called');
}

describe('controller: services and users', function () {
  this.timeout(60_000);
  let t: TestController;
  let gw: FakeGateway;
  let ownerPassword: string;
  const rest = (method: string, p: string, opts: Parameters<typeof restRequest>[3] = {}): Promise<HttpReply> => restRequest(t, method, p, opts);

  before(async () => {
    t = await startTestController({ serviceLimit: 3 });
    gw = await startFakeGateway({ api: t.controller.url, token: t.token });
    assert.equal(t.controller.owner.created, true);
    assert.equal(t.controller.owner.email, owner);
    ownerPassword = t.controller.owner.password ?? '';
    assert.ok(ownerPassword.length >= 12);
  });
  after(async () => { await gw?.stop(); await t?.stop(); });

  it('answers the public routes before the token check; everything else needs a valid token', async () => {
    ok(await rest('GET', '/info', { token: null }), contract.info);
    const login = await rest('POST', `/users/${owner}/tokens`, { token: null, json: { password: ownerPassword } });
    const { token } = ok(login, contract.tokenIssued);
    assert.notEqual(token, t.token);
    const info = ok(await rest('GET', '/info', { token }), contract.info);
    assert.equal(info.user, owner);
    assert.deepEqual(info.limits?.services, 3);
    expectError(await rest('GET', '/services', { token: null }), 403, 200);
    expectError(await rest('GET', '/services', { token: 'nope' }), 403, 200);
    expectError(await rest('GET', '/no/such/route', { token: null }), 403, 200);
    expectError(await rest('POST', '/users/x@y.z/tokens', { token: null, json: { password: 'wrong' } }), 403, 200);
    expectError(await rest('POST', `/users/${owner}/tokens`, { token: null, json: { password: 'wrong' } }), 403, 200);
    expectError(await rest('POST', `/users/${owner}/tokens`, { token: null, json: { password: 7 } }), 400, 100);
    // A gateway's announcement uses its own header, not a user's token.
    expectError(await rest('POST', '/services/v1/offerings', { token: null, json: { label: 'x-1', url: 'http://127.0.0.1:1' } }), 403, 200);
    expectError(await rest('POST', '/services/v1/offerings', { token: null, headers: { 'x-vcap-service-token': 'wrong' }, json: { label: 'x-1', url: 'http://127.0.0.1:1' } }), 403, 200);
    expectError(await rest('POST', '/services/v1/offerings', { token: null, headers: { 'x-vcap-service-token': t.token }, json: { label: 'nolabel', url: 'x' } }), 400, 100);
    // The platform's own transfer routes take the platform token only.
    expectError(await rest('GET', `/droplets/1/${'a'.repeat(40)}`, { token }), 403, 200);
  });

  it('lists live offerings in v1 shape; an offering not announced again expires', async () => {
    const infoServices = ok(await rest('GET', '/info/services'), contract.servicesInfo);
    const pg = infoServices.database?.postgresql?.['15'];
    assert.ok(pg, JSON.stringify(infoServices));
    assert.equal(pg.vendor, 'postgresql');
    assert.equal(pg.type, 'database');
    assert.ok(pg.tiers.free);
    const short = await startTestController({ offeringTtlMs: 300 });
    const g2 = await startFakeGateway({ api: short.controller.url, token: short.token, name: 'redis', version: '7.0', tags: ['redis', 'key-value'], scheme: 'redis' });
    try {
      assert.ok(ok(await restRequest(short, 'GET', '/info/services'), contract.servicesInfo)['key-value']?.redis?.['7.0']);
      await new Promise((r) => setTimeout(r, 500));
      assert.deepEqual(ok(await restRequest(short, 'GET', '/info/services'), contract.servicesInfo), {});
      await g2.announce();
      assert.ok(ok(await restRequest(short, 'GET', '/info/services'), contract.servicesInfo)['key-value']);
    } finally { await g2.stop(); await short.stop(); }
  });

  it('provisions, lists, shows and refuses bad input with v1 codes, changing nothing', async () => {
    assert.deepEqual(ok(await rest('GET', '/services'), contract.serviceInstanceList), []);
    const created = ok(await rest('POST', '/services', { json: { name: 'db', type: 'database', tier: 'free', vendor: 'postgresql', version: '15' } }), contract.serviceInstance);
    assert.equal(created.name, 'db');
    assert.equal(gw.instances.size, 1);
    const list = ok(await rest('GET', '/services'), contract.serviceInstanceList);
    assert.deepEqual(list.map((s) => [s.name, s.type, s.vendor, s.version, s.tier]), [['db', 'database', 'postgresql', '15', 'free']]);
    assert.deepEqual(Object.keys(list[0].meta).sort(), ['created', 'tags', 'updated', 'version']);
    const one = ok(await rest('GET', '/services/db'), contract.serviceInstance);
    assert.match(String(one.credentials?.uri), /^postgres:\/\//);
    await unchanged(t, gw, async () => {
      expectError(await rest('POST', '/services', { json: { name: 'x', vendor: 'oracle', version: '9', tier: 'free' } }), 404, 500);
      expectError(await rest('POST', '/services', { json: { name: 'x', vendor: 'postgresql', version: '15', tier: 'gold' } }), 404, 500);
      expectError(await rest('POST', '/services', { json: { name: 'db', vendor: 'postgresql', version: '15', tier: 'free' } }), 400, 100);
      expectError(await rest('GET', '/services/nope'), 404, 500);
      expectError(await rest('DELETE', '/services/nope'), 404, 500);
      for (const hostile of ['[]', '"db"', '{"name": 5, "vendor": "postgresql"}', '{"name": "../x", "vendor": "postgresql"}', `{"name": "${'a'.repeat(500)}", "vendor": "postgresql"}`, '{"name": "x"}', 'not json']) {
        const r = await rest('POST', '/services', { json: hostile });
        assert.ok(r.status === 400 && [100].includes((r.json as { code: number }).code), `${hostile}: ${r.text}`);
      }
    });
    // vmc falls back to the vendor alone when the version does not match.
    ok(await rest('POST', '/services', { json: { name: 'db2', vendor: 'postgresql', version: '9.0', tier: 'free' } }), contract.serviceInstance);
    ok(await rest('POST', '/services', { json: { name: 'db3', vendor: 'postgresql' } }), contract.serviceInstance);
    await unchanged(t, gw, async () => {
      expectError(await rest('POST', '/services', { json: { name: 'db4', vendor: 'postgresql', version: '15' } }), 403, 504);
    });
    assert.equal(ok(await rest('GET', '/info'), contract.info).usage?.services, 3);
    ok(await rest('DELETE', '/services/db2'), contract.empty);
    ok(await rest('DELETE', '/services/db3'), contract.empty);
    assert.equal(gw.instances.size, 1);
  });

  it('binds through the app\'s services list with one set of credentials per binding, and unbinding revokes it', async () => {
    {
      assert.equal((await rest('POST', '/apps', { json: { name: 'web', staging: { framework: 'node' }, services: ['db'] } })).status, 302);
      const app = ok(await rest('GET', '/apps/web'), contract.app);
      assert.deepEqual(app.services, ['db']);
      assert.equal(gw.handles.size, 1);
      const handle = [...gw.handles.values()][0];
      assert.notEqual(handle.credentials.password, (ok(await rest('GET', '/services/db'), contract.serviceInstance).credentials as { password: string }).password);
      assert.deepEqual(ok(await rest('GET', '/services/db'), contract.serviceInstance).bound_apps, ['web']);
      await unchanged(t, gw, async () => {
        expectError(await rest('PUT', '/apps/web', { json: { services: ['db', 'ghost'] } }), 404, 500);
        expectError(await rest('PUT', '/apps/web', { json: { services: 'db' } }), 400, 100);
        expectError(await rest('PUT', '/apps/web', { json: { services: [{ name: 'db' }] } }), 400, 100);
      });
      // vmc's unbind-service: GET the app, drop the name, PUT it all back.
      const put = ok(await rest('PUT', '/apps/web', { json: { ...app, services: [] } }), contract.app);
      assert.deepEqual(put.services, []);
      assert.ok(gw.revoked.has(handle.id), 'the binding\'s credentials were revoked');
      assert.equal(gw.handles.size, 0);
      ok(await rest('PUT', '/apps/web', { json: { ...put, services: ['db'] } }), contract.app);
      assert.equal(gw.handles.size, 1);
    }
  });

  it('deleting a service drops its bindings; deleting an app revokes its bindings', async () => {
    ok(await rest('POST', '/services', { json: { name: 'cache', vendor: 'postgresql', version: '15' } }), contract.serviceInstance);
    ok(await rest('PUT', '/apps/web', { json: { services: ['db', 'cache'] } }), contract.app);
    assert.equal(gw.handles.size, 2);
    ok(await rest('DELETE', '/services/cache'), contract.empty);
    assert.deepEqual(ok(await rest('GET', '/apps/web'), contract.app).services, ['db']);
    assert.equal(gw.handles.size, 1);
    ok(await rest('DELETE', '/apps/web'), contract.empty);
    assert.equal(gw.handles.size, 0);
    assert.deepEqual(ok(await rest('GET', '/services/db'), contract.serviceInstance).bound_apps, []);
  });

  it('users: admins manage them; each sees and touches only their own apps and services', async () => {
    await unchanged(t, gw, async () => {
      expectError(await rest('POST', '/users', { json: { email: 'not-an-email', password: 'pw' } }), 400, 100);
      expectError(await rest('POST', '/users', { json: { email: 'a@b.c' } }), 400, 100);
      expectError(await rest('POST', '/users', { json: { email: owner, password: 'x' } }), 400, 100);
      expectError(await rest('GET', '/users/ghost@pocket.local'), 403, 201);
    });
    ok(await rest('POST', '/users', { json: { email: 'Ann@Example.com', password: 'ann-secret' } }), contract.empty);
    const ann = ok(await rest('POST', '/users/ann@example.com/tokens', { token: null, json: { password: 'ann-secret' } }), contract.tokenIssued).token;
    const asAnn = (method: string, p: string, json?: unknown): Promise<HttpReply> => rest(method, p, { token: ann, ...(json === undefined ? {} : { json }) });
    assert.deepEqual(ok(await asAnn('GET', '/users/ann@example.com'), contract.userInfo), { email: 'ann@example.com', admin: false, apps: [] });
    expectError(await asAnn('GET', `/users/${owner}`), 403, 200);
    expectError(await asAnn('GET', '/users'), 403, 200);
    expectError(await asAnn('POST', '/users', { email: 'b@b.b', password: 'x' }), 403, 200);
    expectError(await asAnn('GET', '/events'), 403, 200);
    // The owner's app and service are invisible to ann.
    assert.equal((await rest('POST', '/apps', { json: { name: 'owners', staging: { framework: 'node' } } })).status, 302);
    assert.deepEqual(ok(await asAnn('GET', '/apps'), contract.appList), []);
    assert.deepEqual(ok(await asAnn('GET', '/services'), contract.serviceInstanceList), []);
    expectError(await asAnn('GET', '/apps/owners'), 404, 301);
    expectError(await asAnn('PUT', '/apps/owners', { instances: 2 }), 404, 301);
    expectError(await asAnn('DELETE', '/apps/owners'), 404, 301);
    expectError(await asAnn('GET', '/services/db'), 404, 500);
    assert.equal((await asAnn('POST', '/apps', { name: 'anns', staging: { framework: 'node' }, services: ['db'] })).status, 404, 'another user\'s service cannot be bound');
    assert.equal((await asAnn('POST', '/apps', { name: 'anns', staging: { framework: 'node' } })).status, 302);
    ok(await asAnn('POST', '/services', { name: 'db', vendor: 'postgresql', version: '15' }), contract.serviceInstance);
    assert.deepEqual(ok(await asAnn('GET', '/apps'), contract.appList).map((a) => a.name), ['anns']);
    assert.deepEqual(ok(await rest('GET', '/apps'), contract.appList).map((a) => a.name), ['owners'], 'GET /apps lists only yours');
    // An admin touches anyone's.
    ok(await rest('GET', '/apps/anns'), contract.app);
    assert.deepEqual(ok(await rest('GET', '/users/ann@example.com'), contract.userInfo).apps, [{ name: 'anns', state: 'STOPPED' }]);
    expectError(await rest('DELETE', '/users/ann@example.com'), 400, 100);
    ok(await asAnn('DELETE', '/services/db'), contract.empty);
    ok(await asAnn('DELETE', '/apps/anns'), contract.empty);
    // Revocation: by DELETE .../tokens, by a password change, and by deleting the user.
    const second = ok(await rest('POST', '/users/ann@example.com/tokens', { token: null, json: { password: 'ann-secret' } }), contract.tokenIssued).token;
    ok(await asAnn('DELETE', '/users/ann@example.com/tokens'), contract.empty);
    expectError(await asAnn('GET', '/apps'), 403, 200);
    expectError(await rest('GET', '/apps', { token: second }), 403, 200);
    const third = ok(await rest('POST', '/users/ann@example.com/tokens', { token: null, json: { password: 'ann-secret' } }), contract.tokenIssued).token;
    ok(await rest('PUT', '/users/ann@example.com', { token: third, json: { email: 'ann@example.com', admin: false, apps: [], password: 'new-secret' } }), contract.empty);
    expectError(await rest('GET', '/apps', { token: third }), 403, 200);
    expectError(await rest('POST', '/users/ann@example.com/tokens', { token: null, json: { password: 'ann-secret' } }), 403, 200);
    const fourth = ok(await rest('POST', '/users/ann@example.com/tokens', { token: null, json: { password: 'new-secret' } }), contract.tokenIssued).token;
    assert.equal(ok(await rest('GET', '/users'), contract.userList).length, 2);
    ok(await rest('DELETE', '/users/ann@example.com'), contract.empty);
    expectError(await rest('GET', '/apps', { token: fourth }), 403, 200);
    expectError(await rest('DELETE', `/users/${owner}`), 403, 200);
    ok(await rest('DELETE', '/apps/owners'), contract.empty);
  });

  it('stores passwords as salted scrypt and tokens hashed; the owner keeps the platform token and its generated password across restarts', async () => {
    const db = new BetterSqlite3(path.join(t.dataDir, 'controller.db'), { readonly: true });
    try {
      const u = db.prepare('SELECT password_hash FROM users WHERE email = ?').get(owner) as { password_hash: string };
      assert.match(u.password_hash, /^scrypt\$16384\$8\$1\$/);
      assert.ok(!u.password_hash.includes(ownerPassword));
      for (const r of db.prepare('SELECT token_hash FROM user_tokens').all() as Array<{ token_hash: string }>) assert.match(r.token_hash, /^[0-9a-f]{64}$/);
    } finally { db.close(); }
    assert.equal((fs.statSync(path.join(t.dataDir, 'owner.json')).mode & 0o777), 0o600);
    const again = await startTestController({ dataDir: t.dataDir, nats: t.nats });
    try {
      assert.deepEqual(again.controller.owner, { email: owner, password: ownerPassword, created: false });
      assert.equal(ok(await restRequest(again, 'GET', '/info'), contract.info).user, owner);
    } finally { await again.stop(); }
  });

  it('a v1 client\'s calls work unchanged: login, services, create-service, push then GET /services, bind, unbind, delete-service', async () => {
    // As vmc 0.3's client.rb sends them: raw token in Authorization, JSON bodies, whole app sent back on PUT.
    const token = ok(await rest('POST', `/users/${encodeURIComponent(owner)}/tokens`, { token: null, json: { password: ownerPassword } }), contract.tokenIssued).token;
    const vmc = (method: string, p: string, json?: unknown): Promise<HttpReply> => rest(method, p, { token, ...(json === undefined ? {} : { json }) });
    const info = ok(await vmc('GET', '/info'), contract.info);
    assert.ok(info.user && info.usage, 'vmc\'s logged_in? needs user and usage');
    const offered = ok(await vmc('GET', '/info/services'), contract.servicesInfo);
    const [type, vendors] = Object.entries(offered)[0];
    const [vendor, versions] = Object.entries(vendors)[0];
    const version = Object.keys(versions)[0];
    assert.equal((await vmc('POST', '/services', { type, tier: 'free', vendor, version, name: 'mydb' })).status, 200);
    assert.equal((await vmc('POST', '/apps', { name: 'vmcapp', staging: { framework: 'node', runtime: 'node' }, uris: ['vmcapp.localhost'], instances: 1, resources: { memory: 64 } })).status, 302);
    assert.ok(Array.isArray(ok(await vmc('GET', '/services'), contract.serviceInstanceList)), 'push calls GET /services right after POST /apps');
    const app = (await vmc('GET', '/apps/vmcapp')).json as Record<string, unknown> & { services: string[] };
    assert.deepEqual(ok(await vmc('PUT', '/apps/vmcapp', { ...app, services: [...app.services, 'mydb'] }), contract.app).services, ['mydb']);
    const bound = (await vmc('GET', '/apps/vmcapp')).json as Record<string, unknown> & { services: string[] };
    assert.deepEqual(ok(await vmc('PUT', '/apps/vmcapp', { ...bound, services: bound.services.filter((s) => s !== 'mydb') }), contract.app).services, []);
    assert.ok(ok(await vmc('GET', '/services'), contract.serviceInstanceList).some((s) => s.name === 'mydb'));
    assert.equal((await vmc('DELETE', '/services/mydb')).status, 200);
    assert.equal((await vmc('DELETE', '/apps/vmcapp')).status, 200);
  });

  it('a gateway failure is 503 and leaves nothing behind', async () => {
    const bad = await startFakeGateway({ api: t.controller.url, token: t.token, name: 'mysql', version: '8', failProvision: true });
    try {
      const before = rows(t);
      expectError(await rest('POST', '/services', { json: { name: 'm', vendor: 'mysql', version: '8' } }), 502, 503);
      assert.equal(rows(t), before);
    } finally { await bad.stop(); }
  });
});
