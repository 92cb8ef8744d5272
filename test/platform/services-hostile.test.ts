// Hostile input to the service nodes (NATS) and gateways (HTTP): each gets v1's error (or is
// dropped and counted by the Bus) and nothing changes: no instance made or lost, the data intact.
import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { ServiceSubjects, type Bus } from '../../platform/bus';
import { serviceTokenHeader } from '../../platform/services';
import { httpRequest } from './support/controller';
import { requestRaw } from './support/nats';
import { waitFor } from './support/wait';
import { bind, dataOps, gatewayCall, installedTypes, provision, query, serviceToken, startServicesHarness, type Creds, type ServicesHarness } from './support/services';

// One type is enough here (the paths are shared); PostgreSQL when it is installed.
const hostileTypes = installedTypes.includes('postgresql') ? ['postgresql' as const] : installedTypes.slice(0, 1);

for (const type of hostileTypes) describe(`services: hostile messages and requests (${type})`, function () {
  this.timeout(120_000);
  let h: ServicesHarness;
  let bus: Bus;
  let nodeId: string;
  let serviceId: string;
  let creds: Creds;
  const snapshot = (): string => ['node.json', 'gateway.json'].map((f) => fs.readFileSync(path.join(h.dataDir, 'services', type, f), 'utf8')).join('\n');

  before(async () => {
    h = await startServicesHarness([type]);
    bus = await h.nats.connect('hostile');
    nodeId = h.services.nodes[0].id;
    const svc = await provision(h.gateway(type));
    serviceId = svc.service_id;
    creds = (await bind(h.gateway(type), serviceId)).credentials;
    await query(type, creds, dataOps[type].write('intact'));
  });
  after(async () => { await h.stop(); });

  afterEach(async () => {
    assert.equal(await query(type, creds, dataOps[type].read), 'intact');
  });

  it('drops and counts malformed NATS messages on every node subject, and answers v1 errors for bad requests', async () => {
    const before = snapshot();
    const dropped = (): number => h.bus.counters.dropped;
    const d0 = dropped();
    const t = type;
    const bad: [ReturnType<typeof ServiceSubjects.provision>, unknown][] = [
      [ServiceSubjects.provision(t, nodeId), { plan: 5 }],
      [ServiceSubjects.provision(t, nodeId), 'not an object'],
      [ServiceSubjects.provision(t, nodeId), { plan: 'free', version: '15; DROP' }],
    ];
    for (const [d, p] of bad) await assert.rejects(requestRaw(bus, d, p, 2000), /remote error/);
    await assert.rejects(requestRaw(bus, ServiceSubjects.unprovision(t, nodeId), { name: `${serviceId}; DROP DATABASE postgres` }, 2000), /remote error/);
    await assert.rejects(requestRaw(bus, ServiceSubjects.bind(t, nodeId), { name: "x' OR '1'='1" }, 2000), /remote error/);
    await assert.rejects(requestRaw(bus, ServiceSubjects.unbind(t, nodeId), { credentials: { name: serviceId, username: 'u"; DROP ROLE' } }, 2000), /remote error/);
    bus.nc.publish(ServiceSubjects.bind(t, nodeId).subject, 'not json');
    // No reply for a plain publish: wait until the node's bus has seen it.
    await waitFor('the seventh drop', () => dropped() - d0 === 7, { timeoutMs: 5000 });

    const gold = await bus.request(ServiceSubjects.provision(t, nodeId), { plan: 'gold' }, 5000);
    assert.deepEqual([gold.success, gold.error?.msg.code, gold.error?.status], [false, 30003, 400]);
    const oldVersion = await bus.request(ServiceSubjects.provision(t, nodeId), { plan: 'free', version: '1.0' }, 5000);
    assert.deepEqual([oldVersion.success, oldVersion.error?.msg.code], [false, 30002]);
    const unknown = await bus.request(ServiceSubjects.unprovision(t, nodeId), { name: 'dnothere', bindings: [] }, 5000);
    assert.deepEqual([unknown.success, unknown.error?.msg.code, unknown.error?.status], [false, 30300, 404]);
    const bindUnknown = await bus.request(ServiceSubjects.bind(t, nodeId), { name: 'dnothere', bind_opts: {} }, 5000);
    assert.deepEqual([bindUnknown.success, bindUnknown.error?.msg.code], [false, 30300]);
    const unbindOther = await bus.request(ServiceSubjects.unbind(t, nodeId), { credentials: { name: serviceId, username: creds.name } }, 5000);
    assert.deepEqual([unbindOther.success, unbindOther.error?.msg.code], [false, 30300]);
    assert.equal(snapshot(), before);
  });

  it('refuses gateway requests without the token, malformed, for unknown labels, plans, services and routes', async () => {
    const before = snapshot();
    const g = h.gateway(type);
    const ok = { label: g.label, name: 'x', plan: 'free', email: 'e@example.com' };
    const cases: [string, string, unknown, string | null | undefined, number, number][] = [
      ['POST', '/gateway/v1/configurations', ok, null, 401, 30100],
      ['POST', '/gateway/v1/configurations', ok, 'wrong-token', 401, 30100],
      ['DELETE', `/gateway/v1/configurations/${serviceId}`, undefined, 'x'.repeat(29), 401, 30100],
      ['POST', '/gateway/v1/configurations', '{not json', undefined, 400, 30001],
      ['POST', '/gateway/v1/configurations', { label: g.label, plan: 'free' }, undefined, 400, 30001],
      ['POST', '/gateway/v1/configurations', { ...ok, label: 'mongodb-2.0' }, undefined, 400, 30002],
      ['POST', '/gateway/v1/configurations', { ...ok, plan: 'gold' }, undefined, 400, 30003],
      ['POST', '/gateway/v1/configurations', { ...ok, name: 'n'.repeat(70_000) }, undefined, 400, 30001],
      ['DELETE', '/gateway/v1/configurations/dnothere', undefined, undefined, 404, 30300],
      ['DELETE', '/gateway/v1/configurations/..%2F..%2Fnode.json', undefined, undefined, 404, 30300],
      ['DELETE', '/gateway/v1/configurations/%E0%A4%A', undefined, undefined, 404, 30300],
      ['POST', `/gateway/v1/configurations/${serviceId}/handles`, { service_id: 'dother', label: g.label, email: 'e' }, undefined, 400, 30001],
      ['POST', '/gateway/v1/configurations/dnothere/handles', { service_id: 'dnothere', label: g.label, email: 'e' }, undefined, 404, 30300],
      ['DELETE', `/gateway/v1/configurations/${serviceId}/handles/${creds.name}`, undefined, undefined, 404, 30300],
      ['GET', '/gateway/v1/configurations', undefined, undefined, 404, 30300],
      ['POST', '/v2/service_instances', ok, undefined, 404, 30300],
    ];
    for (const [method, p, body, token, status, code] of cases) {
      const r = await gatewayCall(g, method, p, body, token);
      assert.equal(r.status, status, `${method} ${p}: ${r.text}`);
      assert.deepEqual(Object.keys(r.json as object).sort(), ['code', 'description']);
      assert.equal((r.json as { code: number }).code, code, `${method} ${p}`);
    }
    const wrongType = await httpRequest(`${g.url}/gateway/v1/configurations`, { method: 'POST', headers: { 'content-type': 'text/plain', [serviceTokenHeader]: serviceToken }, body: JSON.stringify(ok) });
    assert.deepEqual([wrongType.status, (wrongType.json as { code: number }).code], [400, 30000]);
    assert.equal(snapshot(), before);
  });
});
