// TLS on the HTTP surfaces (`--tls-cert/--tls-key/--tls-ca`): the API, the package and droplet
// transfers, the DEA file servers and the service gateways serve HTTPS with openssl-made
// certificates, are checked against the CA, refuse plain HTTP, and never send a credential in the
// clear to another host. Bad files are refused before anything starts.
import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as https from 'node:https';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { Bus, Subjects } from '../../platform/bus';
import { downloadPackage } from '../../platform/stager/transfer';
import { silentLog } from '../../platform/log';
import { HttpTls, PlainHttpRefused } from '../../platform/tls';
import { makeCa, type TestCa } from './support/certs';
import { buildCli, type CliHarness } from './support/cli';
import { fixture, pushApp, startE2ePlatform, waitServing, type TestPlatform } from './support/e2e';
import { installedTypes } from './support/services';
import { waitFor } from './support/wait';

/** The status of a plain GET, or the error code when the exchange fails. */
function get(url: string, opts: https.RequestOptions = {}): Promise<{ status: number; text: string } | { error: string }> {
  return new Promise((resolve) => {
    const u = new URL(url);
    const mod = u.protocol === 'https:' ? https : http;
    const req = mod.get(u, { ...opts, timeout: 5000 }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => { text += d; });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, text }));
      res.on('error', (e: NodeJS.ErrnoException) => resolve({ error: e.code ?? e.message }));
    });
    req.on('timeout', () => req.destroy(Object.assign(new Error('timeout'), { code: 'ETIMEDOUT' })));
    req.on('error', (e: NodeJS.ErrnoException) => resolve({ error: e.code ?? e.message }));
  });
}

describe('TLS on the HTTP surfaces', function () {
  this.timeout(180_000);
  let dir: string;
  let ca: TestCa;
  let files: { certFile: string; keyFile: string; caFile: string };
  let t: TestPlatform;
  let bus: Bus;
  let caPem: Buffer;

  before(async function () {
    this.timeout(120_000);
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pocket-tls-'));
    ca = makeCa(path.join(dir, 'certs'));
    files = ca.issue('host', ['127.0.0.1']);
    caPem = fs.readFileSync(files.caFile);
    assert.ok(installedTypes.includes('redis'), 'redis-server must be installed (scripts/setup.sh installs it)');
    t = await startE2ePlatform({ tls: files, only: ['controller', 'stager', 'dea', 'health', 'router', 'gateways'] });
    bus = await Bus.connect({ url: t.platform.nats, token: t.token, tls: { caFile: files.caFile }, name: 'tls-test', log: silentLog });
  });

  after(async () => {
    await bus?.close();
    await t?.stop();
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  it('serves the API over HTTPS only, with a certificate checked against the CA', async () => {
    assert.match(t.api, /^https:\/\/127\.0\.0\.1:\d+$/);
    assert.equal((await t.client.info()).name, 'pocket-foundry');
    const plain = await get(t.api.replace('https:', 'http:') + '/info');
    assert.ok(!('status' in plain) || plain.status !== 200, `plain HTTP must not be answered: ${JSON.stringify(plain)}`);
    const untrusted = await get(`${t.api}/info`);
    assert.ok('error' in untrusted && /SELF_SIGNED|UNABLE_TO_VERIFY/.test(untrusted.error), `a client without the CA refuses the certificate: ${JSON.stringify(untrusted)}`);
    const trusted = await get(`${t.api}/info`, { ca: caPem });
    assert.ok('status' in trusted && trusted.status === 200, JSON.stringify(trusted));
  });

  it('drops a connection that never starts its TLS handshake after 10 s', async function () {
    this.timeout(30_000);
    const port = Number(new URL(t.api).port);
    const t0 = Date.now();
    const closedAfter = await new Promise<number>((resolve) => {
      const s = net.connect(port, '127.0.0.1');
      s.on('error', () => undefined);
      s.on('close', () => resolve(Date.now() - t0));
    });
    assert.ok(closedAfter >= 9_000 && closedAfter < 14_000, `closed after ${closedAfter} ms`);
  });

  it('stages, downloads and runs an app over HTTPS transfers, and reads its files from the DEA over HTTPS', async () => {
    const p = await pushApp(t, fixture('node-hello'), { name: 'secure' });
    assert.ok(p.stagingLog.length > 0);
    await waitServing(t, 'secure', /Hello/);
    const listing = (await t.client.files('secure', 0, '')).toString();
    assert.match(listing, /app\//, 'the controller fetched the listing from the DEA file server');

    const beats: number[] = [];
    const sub = bus.subscribe(Subjects.deaHeartbeat, (m) => { for (const d of m.droplets) if (d.state === 'RUNNING') beats.push(d.droplet); });
    const droplet = await waitFor('a heartbeat naming the running instance', () => beats[0], { timeoutMs: 10_000, everyMs: 100 });
    sub.unsubscribe();
    const [found] = await bus.requestMany(Subjects.deaFindDroplet, { droplet, indices: [0] }, { maxWait: 2000 });
    assert.ok(found, 'the DEA answers dea.find.droplet');
    assert.match(found.file_uri, /^https:\/\/127\.0\.0\.1:\d+\/instances\//);
    const auth = `Basic ${Buffer.from(found.credentials.join(':')).toString('base64')}`;
    const plain = await get(found.file_uri.replace('https:', 'http:'), { headers: { authorization: auth } });
    assert.ok(!('status' in plain) || plain.status !== 200, `the file server refuses plain HTTP: ${JSON.stringify(plain)}`);
    const noAuth = await get(found.file_uri, { ca: caPem });
    assert.ok('status' in noAuth && noAuth.status === 401, JSON.stringify(noAuth));
    const ok = await get(found.file_uri, { ca: caPem, headers: { authorization: auth } });
    assert.ok('status' in ok && ok.status === 200 && /app\//.test(ok.text), JSON.stringify(ok));
  });

  it('serves the service gateways over HTTPS: offerings announced, a service provisioned and bound', async () => {
    const offerings = await waitFor('the redis offering, announced over HTTPS', async () => {
      const s = await t.client.services();
      return Object.keys(s['key-value'] ?? {}).length > 0 ? s : undefined;
    }, { timeoutMs: 30_000, everyMs: 250 });
    assert.ok(offerings['key-value']?.redis, JSON.stringify(offerings));
    const created = await t.client.createService({ name: 'cache', vendor: 'redis', tier: 'free', type: 'key-value', version: Object.keys(offerings['key-value'].redis)[0] });
    assert.equal(created.name, 'cache');
    const bound = await t.client.bindService('cache', 'secure');
    assert.deepEqual(bound.services, ['cache']);
    const shown = await t.client.serviceInstance('cache');
    assert.match(String(shown?.credentials?.uri ?? ''), /^redis:\/\//);
    await t.client.deleteService('cache');
  });

  it('writes the CA into endpoint.json, and the CLI trusts it for the local platform', async function () {
    const ep = JSON.parse(fs.readFileSync(path.join(t.dataDir, 'endpoint.json'), 'utf8')) as { api: string; ca?: string };
    assert.equal(ep.ca, files.caFile);
    const cli = await buildCli();
    try {
      const r = await cli.run(['--data', t.dataDir, 'apps']);
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stdout, /secure/);
      const other = await cli.run(['--api', t.api, '--token', t.token, 'apps'], { POCKET_CA: path.join(dir, 'missing.pem') });
      assert.notEqual(other.code, 0);
      assert.match(other.stderr, /Cannot read the CA file .*missing\.pem \(ENOENT\)/);
    } finally { cli.cleanup(); }
  });

  it('never sends a credential over plain HTTP to another host while TLS is on', async () => {
    const on = HttpTls.load({ caFile: files.caFile });
    assert.throws(() => on.client(new URL('http://10.9.8.7:9022/x')), (e: unknown) => e instanceof PlainHttpRefused && /refusing plain HTTP to 10\.9\.8\.7:9022/.test((e as Error).message));
    assert.equal(on.client(new URL('http://127.0.0.1:9022/x')).options.ca, undefined, 'loopback stays allowed');
    assert.doesNotThrow(() => HttpTls.plain.client(new URL('http://10.9.8.7:9022/x')), 'without TLS, plain HTTP is the configuration');
    // The stager's package download says why it did not even try.
    const aborter = new AbortController();
    await assert.rejects(downloadPackage('http://10.9.8.7:9022/staging/1/t/package', path.join(dir, 'pkg.zip'), { token: t.token, tls: on }, aborter.signal),
      /could not download the package from http:\/\/10\.9\.8\.7:9022\/staging\/1\/t\/package: refusing plain HTTP/);
    assert.equal(fs.existsSync(path.join(dir, 'pkg.zip')), false);
  });
});

describe('TLS files given on the command line', function () {
  this.timeout(120_000);
  let dir: string;
  let cli: CliHarness;
  let files: { certFile: string; keyFile: string; caFile: string };
  let other: { certFile: string; keyFile: string; caFile: string };

  before(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pocket-tls-cli-'));
    const ca = makeCa(path.join(dir, 'certs'));
    files = ca.issue('host', ['127.0.0.1']);
    other = ca.issue('other', ['127.0.0.1']);
    cli = await buildCli();
  });

  after(() => {
    cli?.cleanup();
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  const refused = async (args: string[], message: RegExp): Promise<void> => {
    const data = path.join(dir, `data-${Math.random().toString(36).slice(2)}`);
    const r = await cli.run(['--data', data, 'up', ...args], {}, 30_000);
    assert.notEqual(r.code, 0, r.stdout);
    assert.match(r.stderr, message);
    assert.equal(fs.existsSync(path.join(data, 'endpoint.json')), false, 'nothing started');
  };

  it('refuses a missing file, a key that is not the certificate\'s, a CA or certificate that is not PEM, and a certificate without its key', async () => {
    await refused(['--tls-cert', path.join(dir, 'nope.pem'), '--tls-key', files.keyFile], /--tls-cert .*nope\.pem: cannot read it \(ENOENT\)/);
    await refused(['--tls-cert', files.certFile, '--tls-key', other.keyFile], /--tls-cert .*host\.pem with --tls-key .*other\.key: the key is not that certificate's \(key values mismatch\)/);
    fs.writeFileSync(path.join(dir, 'junk.pem'), 'not a certificate\n');
    await refused(['--tls-ca', path.join(dir, 'junk.pem')], /--tls-ca .*junk\.pem: not a PEM certificate/);
    await refused(['--tls-cert', files.keyFile, '--tls-key', files.keyFile], /--tls-cert .*host\.key: not a PEM certificate/);
    await refused(['--tls-cert', files.certFile], /--tls-cert and --tls-key go together/);
  });

  it('pocket up with TLS: every supervised component serves HTTPS, and the local CLI works through endpoint.json', async function () {
    const data = path.join(dir, 'data-up');
    const up = await cli.up(data, ['--tls-cert', files.certFile, '--tls-key', files.keyFile, '--tls-ca', files.caFile]);
    try {
      const ep = JSON.parse(fs.readFileSync(path.join(data, 'endpoint.json'), 'utf8')) as { api: string; ca?: string };
      assert.match(ep.api, /^https:\/\//);
      assert.equal(ep.ca, files.caFile);
      const push = await cli.run(['--data', data, 'push', fixture('node-hello'), '--name', 'tls-up', '--no-manifest'], {}, 150_000);
      assert.equal(push.code, 0, `${push.stdout}\n${push.stderr}`);
      const logs = await cli.run(['--data', data, 'files', 'tls-up', 'logs/staging.log']);
      assert.equal(logs.code, 0, logs.stderr);
      assert.ok(logs.stdout.length > 0, 'the staging log, read from the DEA through the controller');
    } finally {
      up.child.kill('SIGINT');
      await up.exited;
    }
  });
});
