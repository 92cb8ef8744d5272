// Service nodes and gateways with the real servers: provision, bind, write and read with the
// credentials, isolation between instances, unbind revokes, unprovision drops the data.
import { strict as assert } from 'node:assert';
import type { ServiceType } from '../../platform/bus';
import { alive, bind, dataOps, gatewayCall, installedTypes, pgrep, provision, query, startServicesHarness, type ServicesHarness } from './support/services';
import { waitFor } from './support/wait';

const uriScheme: Record<ServiceType, RegExp> = {
  postgresql: /^postgres:\/\/u[0-9a-f]+:[\w-]+@127\.0\.0\.1:\d+\/d[0-9a-f]+$/,
  mysql: /^mysql:\/\/u[0-9a-f]+:[\w-]+@127\.0\.0\.1:\d+\/d[0-9a-f]+$/,
  redis: /^redis:\/\/(default|b[0-9a-f]+):[\w-]+@127\.0\.0\.1:\d+$/,
};

for (const type of installedTypes) {
  describe(`services: ${type}`, function () {
    this.timeout(120_000);
    let h: ServicesHarness;
    before(async () => { h = await startServicesHarness([type]); });
    after(async () => {
      const pids = h.services.nodes.flatMap((n) => n.servers().map((s) => s.pid ?? 0));
      const dir = h.dataDir;
      await h.stop();
      assert.deepEqual(await pgrep(dir), [], 'no server process left on the data dir');
      assert.deepEqual(pids.filter(alive), [], 'no server process left');
    });

    it('announces its offering with the installed version, and starts no server before a provision', async () => {
      const g = h.gateway(type);
      const o = await waitFor('offering', () => h.offerings.find((x) => x.label === g.label));
      assert.match(o.label, new RegExp(`^${type}-\\d+(\\.\\d+)?$`));
      assert.equal(o.url, g.url);
      assert.deepEqual(o.plans, ['free']);
      assert.ok(o.tags.includes(type));
      assert.deepEqual(h.services.nodes[0].servers(), []);
    });

    it('provisions and binds: the credentials connect, write and read, and bindings share the data', async () => {
      const g = h.gateway(type);
      const svc = await provision(g);
      assert.equal(svc.configuration.plan, 'free');
      assert.equal(svc.credentials.name, svc.service_id);
      assert.equal(svc.credentials.user, svc.credentials.username);
      assert.equal(svc.credentials.host, svc.credentials.hostname);
      assert.match(svc.credentials.uri, uriScheme[type]);
      const b1 = await bind(g, svc.service_id);
      const b2 = await bind(g, svc.service_id);
      assert.notEqual(b1.credentials.password, b2.credentials.password);
      assert.notEqual(b1.service_id, b2.service_id);
      assert.equal(b1.credentials.name, svc.credentials.name);
      await query(type, b1.credentials, dataOps[type].write('hello'));
      assert.equal(await query(type, b2.credentials, dataOps[type].read), 'hello');
      assert.equal(await query(type, svc.credentials, dataOps[type].read), 'hello');
    });

    it('keeps two instances apart: one\'s users cannot reach the other\'s data', async () => {
      const g = h.gateway(type);
      const a = await bind(g, (await provision(g, 'a')).service_id);
      const bSvc = await provision(g, 'b');
      const b = await bind(g, bSvc.service_id);
      await query(type, a.credentials, dataOps[type].write('secret-a'));
      if (type === 'redis') {
        assert.notEqual(a.credentials.port, b.credentials.port);
        assert.equal(await query(type, b.credentials, dataOps.redis.read), '');
        await assert.rejects(query(type, { ...b.credentials, port: a.credentials.port, uri: b.credentials.uri.replace(`:${b.credentials.port}`, `:${a.credentials.port}`) }, 'PING'));
      } else {
        // a's user on b's database, and b's user on a's database, are refused at login.
        await assert.rejects(query(type, { ...a.credentials, name: bSvc.credentials.name, uri: a.credentials.uri.replace(/\/d[0-9a-f]+$/, `/${bSvc.credentials.name}`) }, 'SELECT 1'));
        await assert.rejects(query(type, { ...b.credentials, name: a.credentials.name, uri: b.credentials.uri.replace(/\/d[0-9a-f]+$/, `/${a.credentials.name}`) }, 'SELECT 1'));
        // MySQL names databases in queries: b's user cannot read a's table from its own session.
        if (type === 'mysql') await assert.rejects(query(type, b.credentials, `SELECT count(*) FROM ${a.credentials.name}.notes`));
      }
    });

    it('unbind revokes the binding\'s credentials and leaves the others working', async () => {
      const g = h.gateway(type);
      const svc = await provision(g, 'revoke');
      const keep = await bind(g, svc.service_id);
      const drop = await bind(g, svc.service_id);
      await query(type, drop.credentials, dataOps[type].write('x'));
      const r = await gatewayCall(g, 'DELETE', `/gateway/v1/configurations/${svc.service_id}/handles/${drop.service_id}`);
      assert.equal(r.status, 200);
      assert.deepEqual(r.json, {});
      await assert.rejects(query(type, drop.credentials, dataOps[type].read));
      assert.equal(await query(type, keep.credentials, dataOps[type].read), 'x');
      const again = await gatewayCall(g, 'DELETE', `/gateway/v1/configurations/${svc.service_id}/handles/${drop.service_id}`);
      assert.equal(again.status, 404);
      assert.equal((again.json as { code: number }).code, 30300);
    });

    it('unprovision drops the data and every credential of the instance', async () => {
      const g = h.gateway(type);
      const svc = await provision(g, 'gone');
      const b = await bind(g, svc.service_id);
      await query(type, b.credentials, dataOps[type].write('y'));
      const r = await gatewayCall(g, 'DELETE', `/gateway/v1/configurations/${svc.service_id}`);
      assert.equal(r.status, 200);
      await assert.rejects(query(type, b.credentials, dataOps[type].read));
      await assert.rejects(query(type, svc.credentials, dataOps[type].read));
      const b2 = await gatewayCall(g, 'POST', `/gateway/v1/configurations/${svc.service_id}/handles`, { service_id: svc.service_id, label: g.label, email: 'e', binding_options: {} });
      assert.equal(b2.status, 404);
      if (type === 'postgresql') {
        const other = await bind(g, (await provision(g, 'probe')).service_id);
        assert.equal(await query(type, other.credentials, `SELECT count(*) FROM pg_database WHERE datname = '${svc.credentials.name}'`), '0');
      }
    });
  });
}

for (const type of installedTypes) {
  describe(`services: ${type} listening on every interface`, function () {
    this.timeout(120_000);
    let h: ServicesHarness;
    before(async () => { h = await startServicesHarness([type], { host: '0.0.0.0', advertise: '127.0.0.2' }); });
    after(async () => { await h?.stop(); });

    it('hands out the advertised address, never 0.0.0.0, in the gateway URL and the credentials', async () => {
      const g = h.gateway(type);
      assert.match(g.url, /^http:\/\/127\.0\.0\.2:\d+$/);
      const svc = await provision(g);
      const b = await bind(g, svc.service_id);
      assert.equal(b.credentials.host, '127.0.0.2');
      assert.equal(b.credentials.hostname, '127.0.0.2');
      assert.match(b.credentials.uri, type === 'redis' ? /@127\.0\.0\.2:\d+$/ : /@127\.0\.0\.2:\d+\//);
      assert.equal(await query(type, b.credentials, type === 'redis' ? 'PING' : 'SELECT 1'), type === 'redis' ? 'PONG' : '1', 'the server answers at the advertised address');
    });
  });
}
