// Isolation during huge uploads: while a 400,000-entry zip (refused) and a 100,000-entry zip (at the
// limit, accepted) are uploaded, a running app keeps answering through the router and `GET /info`
// keeps answering, both measured in the same test: once with every component in one process (the
// embedded platform the other e2e suites use), once under `pocket up`, where the router is a process
// of its own, as users run it.
import { spawn } from 'node:child_process';
import * as path from 'node:path';
import { strict as assert } from 'node:assert';
import { writeZip, type ZipSource } from '../../platform/controller/zip-writer';
import { CloudControllerClient, readEndpoint, type Endpoint } from '../../platform/client';
import { buildCli, repoRoot, type CliHarness, type RunningUp } from './support/cli';
import { httpRequest, multipartBody } from './support/controller';
import { fixture, hostOf, pushApp, startE2ePlatform, type TestPlatform } from './support/e2e';
import { sleep } from './support/wait';

/** A stored archive of `n` empty files. */
async function emptyEntries(n: number): Promise<Buffer> {
  function* sources(): Generator<ZipSource> {
    for (let i = 0; i < n; i++) yield { kind: 'file', name: `d${i % 100}/f${String(i).padStart(7, '0')}`, mode: 0o644, size: 0, path: '', data: Buffer.alloc(0) };
  }
  const chunks: Buffer[] = [];
  for await (const c of writeZip(sources()) as AsyncIterable<Buffer>) chunks.push(c);
  return Buffer.concat(chunks);
}

function p(sorted: number[], q: number): number {
  return sorted.length === 0 ? NaN : sorted[Math.min(sorted.length - 1, Math.ceil(q * sorted.length) - 1)];
}

interface Latencies { routed: number[]; info: number[]; failed: number }

interface Target { router: string; api: string; token: string }

// The probes run in a process of their own, as a user's browser would: the test process is busy
// writing tens of MiB of upload, and its own pauses must not count as the platform's.
const probeScript = `
const http = require('node:http');
const [router, host, api] = process.argv.slice(1);
const out = { routed: [], info: [], failed: 0 };
let done = false;
process.stdin.on('data', () => { done = true; });
const get = (url, hostHeader) => new Promise((resolve) => {
  const u = new URL(url);
  const req = http.request({ hostname: u.hostname, port: u.port, path: u.pathname, headers: hostHeader ? { host: hostHeader } : {}, agent: false }, (res) => {
    res.resume(); res.on('end', () => resolve(res.statusCode)); res.on('error', () => resolve(0));
  });
  req.on('error', () => resolve(0));
  req.end();
});
const loop = async (into, url, hostHeader, gapMs) => {
  while (!done) {
    const t0 = performance.now();
    if ((await get(url, hostHeader)) !== 200) out.failed++;
    into.push(performance.now() - t0);
    await new Promise((r) => setTimeout(r, gapMs));
  }
};
Promise.all([loop(out.routed, router + '/', host, 5), loop(out.info, api + '/info', undefined, 20)])
  .then(() => process.stdout.write(JSON.stringify(out)));
`;

/** Requests to the app through the router and to `GET /info`, one after another each, until `stop`. */
function probe(t: Target, stop: { done: boolean }): { result: Promise<Latencies> } {
  const child = spawn(process.execPath, ['-e', probeScript, t.router, hostOf('steady'), t.api], { stdio: ['pipe', 'pipe', 'inherit'] });
  let text = '';
  child.stdout.on('data', (d: Buffer) => { text += d.toString('utf8'); });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const result = (async (): Promise<Latencies> => {
    while (!stop.done) await sleep(20);
    child.stdin.end('stop\n');
    await exited;
    return JSON.parse(text) as Latencies;
  })();
  return { result };
}

interface Figures { entries: number; text: string; failed: number; routedP99: number; infoP99: number }

/** The idle figures, then each upload with the probes running; the app `steady` runs, `bulk` exists. */
async function measureUploads(t: Target): Promise<Figures[]> {
  const idle = { done: false };
  const quiet = probe(t, idle);
  await sleep(1000);
  idle.done = true;
  const q = await quiet.result;
  const qr = [...q.routed].sort((a, b) => a - b);
  console.log(`      no upload: routed ${qr.length} requests, p50 ${p(qr, 0.5).toFixed(1)} p99 ${p(qr, 0.99).toFixed(1)} ms; /info max ${p([...q.info].sort((a, b) => a - b), 1).toFixed(1)} ms`);
  const out: Figures[] = [];
  // The refused upload takes well under a second: five in a row give its percentile enough requests.
  for (const [n, status, rounds] of [[400_000, 400, 5], [100_000, 200, 1]] as const) {
    const zip = await emptyEntries(n);
    const mp = multipartBody([{ name: 'resources', value: '[]' }, { name: 'application', value: zip, filename: 'app.zip', contentType: 'application/zip' }]);
    const stop = { done: false };
    await sleep(200);
    const running = probe(t, stop);
    const t0 = performance.now();
    let r = await httpRequest(`${t.api}/apps/bulk/application`, { method: 'PUT', body: mp.body, token: t.token, headers: { 'content-type': mp.contentType } });
    for (let i = 1; i < rounds && r.status === status; i++) {
      r = await httpRequest(`${t.api}/apps/bulk/application`, { method: 'PUT', body: mp.body, token: t.token, headers: { 'content-type': mp.contentType } });
    }
    const uploadMs = (performance.now() - t0) / rounds;
    await sleep(200);
    stop.done = true;
    const l = await running.result;
    assert.equal(r.status, status, r.text);
    const routed = [...l.routed].sort((a, b) => a - b);
    const info = [...l.info].sort((a, b) => a - b);
    const text = `${n} entries (${(zip.length / 2 ** 20).toFixed(1)} MiB)${rounds > 1 ? ` x${rounds}` : ''} answered ${r.status} in ${Math.round(uploadMs)} ms each; routed: ${routed.length} requests, p50 ${p(routed, 0.5).toFixed(1)} p99 ${p(routed, 0.99).toFixed(1)} max ${p(routed, 1).toFixed(1)} ms; /info: ${info.length}, p99 ${p(info, 0.99).toFixed(1)} max ${p(info, 1).toFixed(1)} ms; failed ${l.failed}`;
    console.log(`      ${text}`);
    out.push({ entries: n, text, failed: l.failed, routedP99: p(routed, 0.99), infoP99: p(info, 0.99) });
  }
  return out;
}

describe('e2e: isolation during huge uploads', function () {
  this.timeout(180_000);
  let t: TestPlatform;
  before(async () => { t = await startE2ePlatform(); });
  after(async () => { await t?.stop(); });

  it('in one process: loses no routed request; routed p99 under 50 ms and GET /info under 200 ms during 400,000 entries', async () => {
    await pushApp(t, fixture('node-hello'), { name: 'steady' });
    await t.client.createApp({ name: 'bulk' });
    const figures = await measureUploads({ router: t.router, api: t.api, token: t.token });
    // The issue's bounds hold for the 400,000-entry upload (refused before any entry is read). The
    // 100,000-entry one is assembled in this very process, which routes too: its figures are printed;
    // under `pocket up` (below) the router is its own process and routing is asserted for both.
    assert.deepEqual(figures.filter((f) => f.failed > 0 || (f.entries === 400_000 && (!(f.infoP99 < 200) || !(f.routedP99 < 50)))).map((f) => f.text), []);
  });
});

describe('e2e: isolation during huge uploads under pocket up (one process per component)', function () {
  this.timeout(240_000);
  let h: CliHarness;
  let up: RunningUp;
  let client: CloudControllerClient;
  let ep: Endpoint;
  before(async () => {
    h = await buildCli();
    const dataDir = path.join(h.outDir, 'data');
    up = await h.up(dataDir);
    ep = readEndpoint(dataDir) as Endpoint;
    client = new CloudControllerClient({ api: ep.api, token: ep.token });
    const r = await h.run(['--data', dataDir, 'push', path.join(repoRoot, 'test/fixtures/node-hello'), '--name', 'steady'], {}, 90_000);
    assert.equal(r.code, 0, r.stderr);
    await client.createApp({ name: 'bulk' });
  });
  after(async () => {
    client?.close();
    if (up && up.child.exitCode === null) { up.child.kill('SIGINT'); await up.exited; }
    h?.cleanup();
  });

  it('routed p99 under 50 ms and no request lost during 400,000 and 100,000 entries; GET /info p99 under 200 ms during 400,000', async () => {
    const figures = await measureUploads({ router: ep.router as string, api: ep.api, token: ep.token });
    // The 100,000-entry upload is accepted and assembled by the controller itself: its own answers
    // (`GET /info`) stall for a few hundred ms then, and that figure is printed, not asserted.
    assert.deepEqual(figures.filter((f) => f.failed > 0 || !(f.routedP99 < 50) || (f.entries === 400_000 && !(f.infoP99 < 200))).map((f) => f.text), []);
  });
});
