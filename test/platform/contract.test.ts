// The wire contract against the real thing: a whole platform runs an app, and every REST route's
// answer (and every event of the stream) decodes with its schema in platform/contract, losing nothing.
import { strict as assert } from 'node:assert';
import * as http from 'node:http';
import JSZip from 'jszip';
import type { z } from 'zod';
import * as contract from '../../platform/contract';
import { httpRequest, multipartBody, type HttpReply, type HttpRequestOptions } from './support/controller';
import { e2eWait, fixture, pushApp, startE2ePlatform, type TestPlatform } from './support/e2e';
import { startFakeGateway } from './support/fake-gateway';
import { waitFor } from './support/wait';

describe('contract: every route answers what platform/contract says', function () {
  this.timeout(120_000);
  let t: TestPlatform;
  const events: unknown[] = [];
  let stream: http.ClientRequest | undefined;

  const call = (method: string, p: string, opts: HttpRequestOptions & { json?: unknown } = {}): Promise<HttpReply> => {
    const { json, ...rest } = opts;
    return httpRequest(`${t.api}${p}`, {
      method, token: t.token, ...rest,
      ...(json !== undefined ? { body: JSON.stringify(json), headers: { 'content-type': 'application/json' } } : {}),
    });
  };

  /** Decodes the answer with `schema` and checks that decoding dropped or added nothing. */
  function conforms<S extends z.ZodType>(schema: S, route: string, r: HttpReply, status = 200): z.infer<S> {
    assert.equal(r.status, status, `${route}: ${r.text}`);
    const decoded = contract.decode(schema, r.json, route);
    assert.deepEqual(decoded, r.json, `${route}: the answer has fields the contract does not know`);
    return decoded;
  }

  before(async () => {
    t = await startE2ePlatform();
    // The event stream, read raw, for the whole run.
    stream = http.get(`${t.api}/events`, { headers: { authorization: t.token, accept: 'text/event-stream' } }, (res) => {
      let buf = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => {
        buf += chunk;
        let end: number;
        while ((end = buf.indexOf('\n\n')) >= 0) {
          const frame = buf.slice(0, end);
          buf = buf.slice(end + 2);
          for (const line of frame.split('\n')) if (line.startsWith('data: ')) events.push(JSON.parse(line.slice(6)));
        }
      });
    });
    stream.on('error', () => undefined);
    await pushApp(t, fixture('node-hello'), { name: 'contract', instances: 1 });
  });
  after(async () => { stream?.destroy(); await t?.stop(); });

  it('GET /info (with and without a token), /info/runtimes, /info/services', async () => {
    const open = conforms(contract.info, 'GET /info', await call('GET', '/info', { token: null }));
    assert.equal(open.limits, undefined);
    const full = conforms(contract.info, 'GET /info', await call('GET', '/info'));
    assert.ok(full.limits && full.usage && full.user && full.frameworks && full.features);
    assert.ok(Object.keys(conforms(contract.runtimesInfo, 'GET /info/runtimes', await call('GET', '/info/runtimes'))).length > 0);
    conforms(contract.servicesInfo, 'GET /info/services', await call('GET', '/info/services'));
  });

  it('apps: list, one, create (302), update, upload, resources, cancel staging, history, delete', async () => {
    const list = conforms(contract.appList, 'GET /apps', await call('GET', '/apps'));
    assert.deepEqual(list.map((a) => a.name), ['contract']);
    const one = conforms(contract.app, 'GET /apps/:name', await call('GET', '/apps/contract'));
    assert.equal(one.runningInstances, 1);
    assert.ok(one.package_state && one.detected, 'the additions are sent');
    conforms(contract.appCreated, 'POST /apps', await call('POST', '/apps', { json: { name: 'second', staging: { framework: 'node' } } }), 302);
    conforms(contract.app, 'PUT /apps/:name', await call('PUT', '/apps/second', { json: { instances: 2, env: ['A=1'] } }));
    const body = 'hello\n';
    const zip = await new JSZip().file('index.js', body).generateAsync({ type: 'nodebuffer' });
    const up = multipartBody([{ name: 'resources', value: '[]' }, { name: 'application', value: zip, filename: 'application.zip', contentType: 'application/zip' }]);
    const uploaded = conforms(contract.uploadResult, 'PUT /apps/:name/application',
      await call('PUT', '/apps/second/application', { body: up.body, headers: { 'content-type': up.contentType } }));
    contract.decode(contract.uploadResult.required(), uploaded, 'PUT /apps/:name/application');
    const sha1 = (await import('node:crypto')).createHash('sha1').update(body).digest('hex');
    const held = conforms(contract.resourceList, 'POST /resources', await call('POST', '/resources', { json: [{ fn: 'index.js', size: body.length, sha1 }, { fn: 'x', size: 1, sha1: '0'.repeat(40) }] }));
    assert.deepEqual(held.map((r) => r.fn), ['index.js']);
    const cancelled = conforms(contract.stagingCancelled, 'DELETE /apps/:name/staging', await call('DELETE', '/apps/second/staging'));
    assert.equal(cancelled.cancelled, false);
    const history = conforms(contract.appEvents, 'GET /apps/:name/events', await call('GET', '/apps/second/events'));
    assert.ok(history.events.some((e) => e.event === 'created'));
    conforms(contract.empty, 'DELETE /apps/:name', await call('DELETE', '/apps/second'));
  });

  it('instances, stats, crashes, one instance restarted', async () => {
    const inst = conforms(contract.instanceList, 'GET /apps/:name/instances', await call('GET', '/apps/contract/instances'));
    assert.equal(inst.instances?.[0]?.state, 'RUNNING');
    const stats = await waitFor('stats of a running instance', async () => {
      const r = conforms(contract.appStats, 'GET /apps/:name/stats', await call('GET', '/apps/contract/stats'));
      return r['0']?.stats ? r : undefined;
    }, e2eWait);
    assert.equal(stats['0']?.state, 'RUNNING');
    conforms(contract.crashList, 'GET /apps/:name/crashes', await call('GET', '/apps/contract/crashes'));
    const restart = conforms(contract.instanceRestart, 'DELETE /apps/:name/instances/:index', await call('DELETE', '/apps/contract/instances/0'));
    assert.equal(restart.index, 0);
  });

  it('errors are {code, description} with the named codes', async () => {
    const missing = conforms(contract.errorBody, 'GET /apps/:name', await call('GET', '/apps/nope'), 404);
    assert.equal(missing.code, contract.ErrorCodes.appNotFound);
    const refused = conforms(contract.errorBody, 'GET /apps', await call('GET', '/apps', { token: 'wrong' }), 403);
    assert.equal(refused.code, contract.ErrorCodes.forbidden);
    const typed = conforms(contract.errorBody, 'POST /apps', await call('POST', '/apps', { json: { name: 'x', instances: 'two' } }), 400);
    assert.deepEqual(typed, { code: contract.ErrorCodes.badRequest, description: 'instances must be an integer' });
  });

  it('services, offerings and users: every route\'s answer (with the fake gateway of test/platform/support)', async () => {
    const gw = await startFakeGateway({ api: t.api, token: t.token });
    try {
      conforms(contract.empty, 'POST /services/v1/offerings', await call('POST', '/services/v1/offerings', {
        token: null, headers: { 'x-vcap-service-token': t.token, 'content-type': 'application/json' },
        body: JSON.stringify({ label: 'extra-1', url: gw.url, plans: ['free'], tags: [], description: 'x' }),
      }));
      const offered = conforms(contract.servicesInfo, 'GET /info/services', await call('GET', '/info/services'));
      assert.ok(offered.database?.postgresql?.['15']);
      assert.deepEqual(conforms(contract.serviceInstanceList, 'GET /services', await call('GET', '/services')), []);
      conforms(contract.serviceInstance, 'POST /services', await call('POST', '/services', { json: { name: 'cdb', type: 'database', vendor: 'postgresql', version: '15', tier: 'free' } }));
      conforms(contract.serviceInstanceList, 'GET /services', await call('GET', '/services'));
      conforms(contract.app, 'PUT /apps/:name', await call('PUT', '/apps/contract', { json: { services: ['cdb'] } }));
      const one = conforms(contract.serviceInstance, 'GET /services/:name', await call('GET', '/services/cdb'));
      assert.deepEqual(one.bound_apps, ['contract']);
      conforms(contract.empty, 'DELETE /services/:name', await call('DELETE', '/services/cdb'));
      const notFound = conforms(contract.errorBody, 'GET /services/:name', await call('GET', '/services/cdb'), 404);
      assert.equal(notFound.code, contract.ErrorCodes.serviceNotFound);
      conforms(contract.empty, 'DELETE /services/v1/offerings/:label', await call('DELETE', '/services/v1/offerings/extra-1', { token: null, headers: { 'x-vcap-service-token': t.token } }));
      conforms(contract.empty, 'POST /users', await call('POST', '/users', { json: { email: 'c@pocket.local', password: 'pw-c' } }));
      const { token } = conforms(contract.tokenIssued, 'POST /users/:email/tokens', await call('POST', '/users/c@pocket.local/tokens', { token: null, json: { password: 'pw-c' } }));
      conforms(contract.userInfo, 'GET /users/:email', await call('GET', '/users/c@pocket.local', { token }));
      conforms(contract.userList, 'GET /users', await call('GET', '/users'));
      conforms(contract.empty, 'PUT /users/:email', await call('PUT', '/users/c@pocket.local', { token, json: { password: 'pw-d' } }));
      conforms(contract.empty, 'DELETE /users/:email/tokens', await call('DELETE', '/users/c@pocket.local/tokens'));
      conforms(contract.empty, 'DELETE /users/:email', await call('DELETE', '/users/c@pocket.local'));
      for (const r of contract.restRoutes.filter((x) => /services|users/.test(x.name))) assert.ok(r.response, r.name);
    } finally { await gw.stop(); }
  });

  it('every event of the stream (app, instances, staging) decodes', async () => {
    await waitFor('events of every type', () => ['app', 'instances', 'staging'].every((type) => events.some((e) => (e as { type?: unknown }).type === type)), { ...e2eWait, timeoutMs: 10_000 });
    for (const e of events) assert.deepEqual(contract.decode(contract.platformEvent, e, 'GET /events'), e);
  });
});
