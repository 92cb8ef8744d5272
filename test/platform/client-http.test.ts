// The client's wire habits on a bare HTTP server: the raw token, v1 error bodies, gzip request
// bodies only once the server says it takes them (RFC 7694), and a plain retry after a 415.
import { strict as assert } from 'node:assert';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import { gunzipSync } from 'node:zlib';
import { CloudControllerClient, CloudControllerError } from '../../platform/client';
import { sleep } from './support/wait';

interface Seen {
  method: string;
  url: string;
  headers: http.IncomingHttpHeaders;
  body: Buffer;
}

describe('client: HTTP details', () => {
  let server: http.Server;
  let api: string;
  const seen: Seen[] = [];
  let acceptGzip = false;
  let refuseGzip = false;
  let sseConnections = 0;
  let dropReused = false;
  let dropped = 0;

  before(async () => {
    server = http.createServer((req, res) => {
      // `/drop-reused`: a kept-alive connection is closed under the second request, as an idle timeout does
      const perSocket = ((req.socket as unknown as { pocketRequests?: number }).pocketRequests ?? 0) + 1;
      (req.socket as unknown as { pocketRequests?: number }).pocketRequests = perSocket;
      if (req.url === '/resources' && dropReused && perSocket > 1) { dropped++; req.socket.destroy(); return; }
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const body = Buffer.concat(chunks);
        seen.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers, body });
        const headers: Record<string, string> = { 'content-type': 'application/json' };
        if (acceptGzip) headers['accept-encoding'] = 'gzip';
        if (req.headers['content-encoding'] === 'gzip' && refuseGzip) { res.writeHead(415, headers); res.end('{"code":100,"description":"gzip not taken"}'); return; }
        if (req.url === '/apps/missing') { res.writeHead(404, headers); res.end('{"code":301,"description":"app missing not found"}'); return; }
        if (req.url === '/events?app=gone') { res.writeHead(404, headers); res.end('{"code":301,"description":"app gone not found"}'); return; }
        if (req.url?.startsWith('/events')) {
          // one event per connection, then the stream drops: the client must come back for the next
          sseConnections++;
          res.writeHead(200, { 'content-type': 'text/event-stream' });
          res.write(': hello\n\n');
          res.write(`data: ${JSON.stringify({ type: 'instances', name: 'web', droplet: sseConnections })}\n\n`);
          res.write('data: not json\n\n');
          res.write(`data: ${JSON.stringify({ type: 'unknown', name: 'x' })}\n\n`);
          setTimeout(() => res.end(), 20);
          return;
        }
        if (req.url === '/info') { res.writeHead(502, { 'content-type': 'text/html' }); res.end('<html>bad gateway</html>'); return; }
        if (req.url === '/resources') {
          const json = req.headers['content-encoding'] === 'gzip' ? gunzipSync(body) : body;
          res.writeHead(200, headers);
          res.end(json);
          return;
        }
        res.writeHead(200, headers);
        res.end('[]');
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    api = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  after(async () => { await new Promise<void>((r) => server.close(() => r())); });
  beforeEach(() => { seen.length = 0; acceptGzip = false; refuseGzip = false; });

  const resources = Array.from({ length: 200 }, (_, i) => ({ fn: `dir/file-${i}.js`, size: i, sha1: i.toString(16).padStart(40, '0') }));

  it('sends the raw token and maps v1 error bodies and other failures', async () => {
    const c = new CloudControllerClient({ api, token: 'tok123' });
    try {
      assert.equal(await c.app('missing'), null);
      assert.equal(seen[0].headers.authorization, 'tok123');
      await assert.rejects(c.info(), (e: unknown) => e instanceof CloudControllerError && e.code === 0 && e.httpStatus === 502 && /^HTTP 502: <html>bad gateway/.test(e.message));
    } finally { c.close(); }
  });

  it('sends plain bodies until the server advertises gzip, then gzips the resource list', async () => {
    const c = new CloudControllerClient({ api, token: 't' });
    try {
      const meter = { bytesSent: 0 };
      assert.deepEqual(await c.matchResources(resources, { meter }), resources);
      assert.equal(seen[0].headers['content-encoding'], undefined);
      const plain = meter.bytesSent;
      assert.equal(plain, JSON.stringify(resources).length);
      acceptGzip = true;
      await c.apps(); // learns Accept-Encoding: gzip from this answer
      meter.bytesSent = 0;
      assert.deepEqual(await c.matchResources(resources, { meter }), resources);
      const last = seen[seen.length - 1];
      assert.equal(last.headers['content-encoding'], 'gzip');
      assert.ok(meter.bytesSent < plain / 2, `${meter.bytesSent} vs ${plain}`);
      // a server that stops taking gzip answers 415: the client retries plain and remembers
      refuseGzip = true;
      acceptGzip = false;
      seen.length = 0;
      assert.deepEqual(await c.matchResources(resources), resources);
      assert.deepEqual(seen.map((s) => s.headers['content-encoding'] ?? 'plain'), ['gzip', 'plain']);
      seen.length = 0;
      await c.matchResources(resources);
      assert.deepEqual(seen.map((s) => s.headers['content-encoding'] ?? 'plain'), ['plain']);
    } finally { c.close(); }
  });

  it('follows the event stream across drops, skips what it cannot read, and gives up on a 4xx', async () => {
    const c = new CloudControllerClient({ api, token: 't' });
    try {
      const got: number[] = [];
      let opens = 0;
      let resolveThree!: () => void;
      const three = new Promise<void>((r) => { resolveThree = r; });
      const sub = c.events({}, (e) => { got.push(e.droplet); if (got.length === 3) resolveThree(); }, { onOpen: () => { opens++; } });
      await sub.ready;
      await three;
      sub.close();
      assert.deepEqual(got.slice(0, 3), [got[0], got[0] + 1, got[0] + 2]);
      assert.ok(opens >= 3);
      const errors: Error[] = [];
      const gone = c.events({ app: 'gone' }, () => undefined, { onError: (e) => errors.push(e) });
      await assert.rejects(gone.ready, (e: unknown) => e instanceof CloudControllerError && e.code === 301);
      await sleep(600);
      assert.equal(errors.length, 1, 'no retry after a 404');
    } finally { c.close(); }
  });

  it('sends a request again when a kept-alive connection turns out closed', async () => {
    const c = new CloudControllerClient({ api, token: 't' });
    dropReused = true;
    try {
      await c.apps();
      const meter = { bytesSent: 0 };
      assert.deepEqual(await c.matchResources(resources, { meter }), resources);
      assert.equal(dropped, 1, 'the first try went over the kept-alive connection and was dropped');
      assert.deepEqual(seen.filter((s) => s.url === '/resources').length, 1);
    } finally {
      dropReused = false;
      c.close();
    }
  });
});
