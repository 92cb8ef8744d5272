// A bound service in a running instance's environment, through a real DEA: VCAP_SERVICES keyed by
// label, VMC_SERVICES and DATABASE_URL; unbinding restarts the app without them.
import { strict as assert } from 'node:assert';
import { e2eWait, fixture, hostOf, pushApp, startE2ePlatform, viaRouter, type TestPlatform } from './support/e2e';
import { startFakeGateway, type FakeGateway } from './support/fake-gateway';
import { waitFor } from './support/wait';

interface EnvAnswer { VCAP_SERVICES: string | null; VMC_SERVICES: string | null; DATABASE_URL: string | null; REDIS_URL: string | null }

describe('e2e: services in the app\'s environment', function () {
  this.timeout(180_000);
  let t: TestPlatform;
  let gw: FakeGateway;
  before(async () => {
    t = await startE2ePlatform();
    gw = await startFakeGateway({ api: t.api, token: t.token });
  });
  after(async () => { await gw?.stop(); await t?.stop(); });

  const env = async (): Promise<EnvAnswer> => JSON.parse((await viaRouter(t, hostOf('env-echo'))).text) as EnvAnswer;

  it('binding restarts the app with VCAP_SERVICES, VMC_SERVICES and DATABASE_URL; unbinding without them', async () => {
    await pushApp(t, fixture('env-echo'));
    assert.equal((await env()).VCAP_SERVICES, '{}');
    await t.client.createService({ name: 'db', vendor: 'postgresql', version: '15', tier: 'free' });
    await t.client.bindService('db', 'env-echo');
    const handle = await waitFor('one binding at the gateway', async () => (gw.handles.size === 1 ? [...gw.handles.values()][0] : undefined), e2eWait);
    const seen = await waitFor('DATABASE_URL in the env', async () => { const e = await env().catch(() => undefined); return e?.DATABASE_URL ? e : undefined; }, e2eWait);
    const vcap = JSON.parse(seen.VCAP_SERVICES ?? '{}') as Record<string, Array<{ name: string; label: string; plan: string; tags: string[]; credentials: Record<string, unknown> }>>;
    assert.deepEqual(Object.keys(vcap), ['postgresql-15']);
    assert.equal(vcap['postgresql-15'][0].name, 'db');
    assert.equal(vcap['postgresql-15'][0].plan, 'free');
    assert.deepEqual(vcap['postgresql-15'][0].credentials, handle.credentials, 'the binding\'s own credentials');
    assert.equal(seen.DATABASE_URL, handle.credentials.uri);
    assert.equal(seen.REDIS_URL, null);
    const legacy = JSON.parse(seen.VMC_SERVICES ?? '[]') as Array<{ name: string; vendor: string; tier: string; options: unknown }>;
    assert.deepEqual(legacy.map((s) => [s.name, s.vendor, s.tier]), [['db', 'postgresql', 'free']]);
    await t.client.unbindService('db', 'env-echo');
    const after = await waitFor('the env without services', async () => { const e = await env().catch(() => undefined); return e && e.DATABASE_URL === null ? e : undefined; }, e2eWait);
    assert.equal(after.VCAP_SERVICES, '{}');
    assert.ok(gw.revoked.has(handle.id));
  });
});
