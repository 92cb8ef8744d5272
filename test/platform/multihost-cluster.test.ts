// NATS cluster nodes as `pocket up --nats-routes` and `pocket nats` make them, on loopback: routes
// authenticated with a secret derived from the platform token, clients failing over between the
// URLs they were given, and TLS on client and route connections with openssl-made certificates.
import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Bus, natsServerConfig, newToken, startEmbeddedNats, Subjects, type EmbeddedNats, type TlsFiles } from '../../platform/bus';
import { silentLog } from '../../platform/log';
import { makeCa } from './support/certs';
import { sleep, waitFor } from './support/wait';

const base = 24_000 + (process.pid % 1000) * 10;

describe('multi-host: NATS cluster nodes', function () {
  this.timeout(60_000);
  let dir: string;
  const nodes: EmbeddedNats[] = [];
  const buses: Bus[] = [];

  beforeEach(() => { dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pocket-cluster-')); });
  afterEach(async () => {
    for (const b of buses.splice(0)) await b.close().catch(() => undefined);
    for (const n of nodes.splice(0)) await n.stop().catch(() => undefined);
    fs.rmSync(dir, { recursive: true, force: true });
  });

  const node = async (i: number, token: string, tls?: TlsFiles): Promise<EmbeddedNats> => {
    const routes = [0, 1].map((j) => `nats://127.0.0.1:${base + 5 + j}`);
    const n = await startEmbeddedNats({ log: silentLog, dir: path.join(dir, `n${i}`), token, port: base + i, cluster: { port: base + 5 + i, routes }, tls });
    nodes.push(n);
    return n;
  };
  const connect = async (url: string, token: string, tls?: TlsFiles): Promise<Bus> => {
    const b = await Bus.connect({ url, token, tls, name: 'cluster-test', log: silentLog });
    buses.push(b);
    return b;
  };
  /** True once a message published on `from` reaches a subscriber on `to`. */
  const crosses = async (from: Bus, to: Bus, ms: number): Promise<boolean> => {
    let got = false;
    to.subscribe(Subjects.deaLocate, () => { got = true; });
    await to.flush();
    const end = Date.now() + ms;
    while (!got && Date.now() < end) { from.publish(Subjects.deaLocate, {}); await sleep(100); }
    return got;
  };

  it('writes routes with credentials, no_advertise and quick pings into the config', () => {
    const conf = natsServerConfig({ token: 't0k', listen: '10.0.0.1', port: 4222, advertise: '10.0.0.1', cluster: { routes: ['nats://10.0.0.2:6222'] } });
    assert.match(conf, /listen: "10\.0\.0\.1:4222"/);
    assert.match(conf, /no_advertise: true/);
    assert.match(conf, /"nats:\/\/pocket-route:[0-9a-f]{64}@10\.0\.0\.2:6222"/);
    assert.match(conf, /ping_interval: "1s"/);
    assert.doesNotMatch(conf, /tls \{/);
  });

  it('two nodes with the same token form a cluster; a client fails over to the other node', async () => {
    const token = newToken();
    const [n0, n1] = [await node(0, token), await node(1, token)];
    const a = await connect(n0.url, token);
    const b = await connect(`${n1.url},${n0.url}`, token);
    assert.ok(await crosses(a, b, 10_000), 'a message crosses the route');
    let back = 0;
    b.onReconnect(() => { back++; });
    await n1.stop();
    await waitFor('the client on the stopped node reconnects to the other', () => back > 0, { timeoutMs: 10_000 });
    assert.ok(await crosses(a, b, 5_000), 'still delivered after the failover');
  });

  it('a node with another token cannot route to the cluster', async () => {
    const [n0, n1] = [await node(0, newToken()), await node(1, 'another-token')];
    const a = await connect(n0.url, n0.token);
    const b = await connect(n1.url, n1.token);
    assert.equal(await crosses(a, b, 3_000), false, 'no message crosses an unauthenticated route');
  });

  it('TLS on client and route connections with certificates made by openssl', async () => {
    const tls = makeCa(dir).issue('node', ['127.0.0.1']);
    const token = newToken();
    const [n0, n1] = [await node(0, token, tls), await node(1, token, tls)];
    const a = await connect(n0.url, token, { caFile: tls.caFile });
    const b = await connect(n1.url, token, { caFile: tls.caFile });
    assert.ok(await crosses(a, b, 10_000), 'a message crosses the TLS route');
    await assert.rejects(Bus.connect({ url: n0.url, token, name: 'no-tls', log: silentLog }).then((x) => { buses.push(x); }), 'a client without TLS is refused');
  });
});
