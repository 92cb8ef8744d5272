// Service servers come back: a kill -9 of a server is followed by a restart with the data, and a
// new node process on the same data dir starts the servers of the instances it holds.
import { strict as assert } from 'node:assert';
import { alive, bind, dataOps, installedTypes, pgrep, provision, query, startServicesHarness, type ServicesHarness } from './support/services';
import { waitFor } from './support/wait';

for (const type of installedTypes) {
  describe(`services recovery: ${type}`, function () {
    this.timeout(120_000);
    let h: ServicesHarness;
    before(async () => { h = await startServicesHarness([type]); });
    after(async () => {
      const dir = h.dataDir;
      const pids = h.services.nodes.flatMap((n) => n.servers().map((s) => s.pid ?? 0));
      await h.stop();
      assert.deepEqual(await pgrep(dir), []);
      assert.deepEqual(pids.filter(alive), []);
    });

    it('restarts a server killed with SIGKILL, and the data is still there', async () => {
      const g = h.gateway(type);
      const b = await bind(g, (await provision(g)).service_id);
      await query(type, b.credentials, dataOps[type].write('kept'));
      const [server] = h.services.nodes[0].servers();
      const pid = server.pid!;
      process.kill(pid, 'SIGKILL');
      await waitFor('a new server process', () => server.running && server.pid !== pid, { timeoutMs: 60_000, everyMs: 100 });
      assert.equal(server.restarts, 1);
      assert.equal(await waitFor('the data', () => query(type, b.credentials, dataOps[type].read), { timeoutMs: 30_000, everyMs: 200 }), 'kept');
    });

    it('a restarted node brings its servers back with the data, bindings and ports', async () => {
      const g = h.gateway(type);
      const svc = await provision(g, 'persist');
      const b = await bind(g, svc.service_id);
      await query(type, b.credentials, dataOps[type].write('survives'));
      const nodeId = h.services.nodes[0].id;
      await h.restart();
      assert.equal(h.services.nodes[0].id, nodeId);
      assert.ok(h.services.nodes[0].servers().length > 0, 'servers started on start');
      assert.equal(await query(type, b.credentials, dataOps[type].read), 'survives');
      assert.equal(await query(type, svc.credentials, dataOps[type].read), 'survives');
      // The new gateway knows the instance and its bindings.
      const b2 = await bind(h.gateway(type), svc.service_id);
      assert.equal(await query(type, b2.credentials, dataOps[type].read), 'survives');
    });
  });
}
