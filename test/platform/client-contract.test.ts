// The client decodes every answer with platform/contract: an answer that does not match is a
// ContractError naming the route and the field, never a value of the wrong shape passed on.
import { strict as assert } from 'node:assert';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import { CloudControllerClient, ContractError, type App } from '../../platform/client';

const goodApp: App = {
  name: 'web', staging: { model: 'node', stack: 'node20' }, uris: ['web.localhost'], instances: 1, runningInstances: 1,
  resources: { memory: 64, disk: 2048, fds: 256 }, state: 'STARTED', services: [], version: `${'a'.repeat(40)}-1`, env: [],
  meta: { debug: null, console: null, version: 3, created: 1 },
};

describe('client: answers are decoded by the contract', () => {
  let server: http.Server;
  let client: CloudControllerClient;
  const answers = new Map<string, unknown>();

  before(async () => {
    server = http.createServer((req, res) => {
      req.resume();
      const body = answers.get(`${req.method} ${req.url}`);
      res.writeHead(body === undefined ? 404 : 200, { 'content-type': 'application/json' });
      res.end(JSON.stringify(body ?? { code: 301, description: 'not found' }));
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    client = new CloudControllerClient({ api: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, token: 't' });
  });
  after(async () => {
    client.close();
    await new Promise<void>((r) => server.close(() => r()));
  });

  const rejectsWith = (p: Promise<unknown>, route: string, field: string): Promise<void> => assert.rejects(p, (e: unknown) => {
    assert.ok(e instanceof ContractError, `not a ContractError: ${String(e)}`);
    assert.equal(e.route, route);
    assert.equal(e.field, field);
    assert.ok(e.message.includes(route) && e.message.includes(field), e.message);
    return true;
  });

  it('a well-formed answer is decoded, unknown fields dropped', async () => {
    answers.set('GET /apps/web', { ...goodApp, from_the_future: true });
    assert.deepEqual(await client.app('web'), goodApp);
  });

  it('a field of the wrong type names the route and the field path', async () => {
    answers.set('GET /apps/web', { ...goodApp, meta: { ...goodApp.meta, version: 'three' } });
    await rejectsWith(client.app('web'), 'GET /apps/:name', 'meta.version');
    answers.set('GET /apps', [goodApp, { ...goodApp, state: 'SLEEPING' }]);
    await rejectsWith(client.apps(), 'GET /apps', '[1].state');
    answers.set('GET /apps/web/instances', { instances: [{ index: 0, state: 'RUNNING', since: 1, debug_ip: null, debug_port: null, console_ip: null }] });
    await rejectsWith(client.instances('web'), 'GET /apps/:name/instances', 'instances[0].console_port');
    answers.set('DELETE /apps/web/instances/0', { index: 0, version: 'v', stopped: 'x', started: true, placement_error: null });
    await rejectsWith(client.restartInstance('web', 0), 'DELETE /apps/:name/instances/:index', 'stopped');
  });

  it('a missing required field is named too', async () => {
    const { version: _v, ...noVersion } = goodApp;
    void _v;
    answers.set('GET /apps/web', noVersion);
    await rejectsWith(client.app('web'), 'GET /apps/:name', 'version');
  });
});
