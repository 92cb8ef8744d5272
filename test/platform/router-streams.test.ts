// The router as a stream: WebSocket upgrades, 50 MB bodies both ways without buffering them, and
// clients that go away mid-request. Real NATS, real backends on 127.0.0.1, real sockets.
import { strict as assert } from 'node:assert';
import { createHash } from 'node:crypto';
import * as http from 'node:http';
import * as net from 'node:net';
import type { AddressInfo } from 'node:net';
import { WebSocket, WebSocketServer } from 'ws';
import { Subjects, type Bus } from '../../platform/bus';
import { silentLog } from '../../platform/log';
import { startRouter, type Router } from '../../platform/router';
import { startTestNats, type TestNats } from './support/nats';

const MB = 1024 * 1024;
const TOTAL = 50 * MB;
const CHUNK = 64 * 1024;
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Deterministic bytes: chunk i is filled with (i mod 251). */
function chunkAt(i: number): Buffer {
  return Buffer.alloc(CHUNK, i % 251);
}

function expectedSha1(): string {
  const h = createHash('sha1');
  for (let i = 0; i < TOTAL / CHUNK; i++) h.update(chunkAt(i));
  return h.digest('hex');
}

async function listen(server: http.Server): Promise<number> {
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return (server.address() as AddressInfo).port;
}

async function waitFor(what: string, check: () => Promise<boolean> | boolean, timeoutMs = 5000): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (Date.now() < until) {
    if (await check()) return;
    await sleep(20);
  }
  assert.fail(`timed out waiting for ${what}`);
}

/** Writes chunks with back-pressure until `total` bytes went out or the request died. */
async function writeBody(req: http.ClientRequest, total: number, sent: { bytes: number }): Promise<void> {
  for (let i = 0; sent.bytes < total; i++) {
    if (req.destroyed) return;
    const ok = req.write(chunkAt(i));
    sent.bytes += CHUNK;
    if (!ok) {
      await new Promise<void>((r) => {
        const go = (): void => { req.off('drain', go); req.off('close', go); r(); };
        req.on('drain', go); req.on('close', go);
      });
    }
  }
  req.end();
}

describe('router streams', function () {
  this.timeout(60_000);
  let t: TestNats;
  let bus: Bus;
  let router: Router;
  const servers: http.Server[] = [];
  const sha1 = expectedSha1();

  // The backend: records what it saw so the tests can tell what travelled and when.
  const seen = {
    uploadBytes: 0,
    uploadSha1: '',
    downloadWritten: 0,
    aborted: [] as string[],
  };

  let backendPort = 0;
  const wsMessages: string[] = [];

  before(async () => {
    t = await startTestNats();
    bus = await t.connect('test');
    router = await startRouter({ bus: await t.connect('router'), log: silentLog });
    const server = http.createServer((req, res) => {
      const path = req.url ?? '/';
      if (path === '/echo-stream') {
        // Answers at once and streams the upload back as it arrives.
        res.writeHead(200, { 'content-type': 'application/octet-stream' });
        req.pipe(res);
        return;
      }
      if (path === '/slow-reader') {
        // Reads one chunk, then stops reading for a while: the uploader must be held back.
        const h = createHash('sha1');
        let bytes = 0;
        let paused = false;
        req.on('data', (c: Buffer) => {
          bytes += c.length; h.update(c);
          if (!paused) {
            paused = true; req.pause();
            setTimeout(() => req.resume(), 800);
          }
        });
        req.on('end', () => { seen.uploadBytes = bytes; seen.uploadSha1 = h.digest('hex'); res.end(`${bytes}`); });
        return;
      }
      if (path === '/download') {
        res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': TOTAL });
        let i = 0;
        const pump = (): void => {
          while (seen.downloadWritten < TOTAL) {
            const ok = res.write(chunkAt(i++));
            seen.downloadWritten += CHUNK;
            if (!ok) { res.once('drain', pump); return; }
          }
          res.end();
        };
        pump();
        return;
      }
      if (path === '/endless') {
        res.writeHead(200, { 'content-type': 'text/plain' });
        const timer = setInterval(() => res.write('tick\n'), 10);
        res.on('close', () => { clearInterval(timer); if (!res.writableFinished) seen.aborted.push('download'); });
        return;
      }
      if (path === '/hang') {
        res.on('close', () => { if (!res.writableFinished) seen.aborted.push('waiting'); });
        return;
      }
      if (path === '/half') {
        res.writeHead(200, { 'content-length': 1000 });
        res.write(Buffer.alloc(100, 1));
        setTimeout(() => req.socket.destroy(), 50);
        return;
      }
      if (path === '/upload-forever') {
        req.on('data', () => undefined);
        req.on('aborted', () => seen.aborted.push('upload'));
        req.on('error', () => undefined);
        req.on('end', () => res.end('complete'));
        return;
      }
      res.end('plain');
    });
    const wss = new WebSocketServer({ server });
    wss.on('connection', (ws, req) => {
      ws.on('message', (data, isBinary) => {
        if (!isBinary) wsMessages.push(data.toString());
        ws.send(data, { binary: isBinary });
      });
      ws.send(`hello ${req.headers.host}`);
    });
    servers.push(server);
    backendPort = await listen(server);
    bus.publish(Subjects.routerRegister, { host: '127.0.0.1', port: backendPort, uris: ['stream.localhost'], private_instance_id: 'i-1' });
    await waitFor('route', async () => {
      const s = await bus.request(Subjects.routerStatus, {}, 1000);
      return s.routes['stream.localhost'] !== undefined;
    });
  });

  after(async () => {
    await router.stop();
    for (const s of servers) { s.closeAllConnections(); await new Promise<void>((r) => s.close(() => r())); }
    await t.stop();
  });

  it('carries a WebSocket through the router, both ways, text and binary', async () => {
    const ws = new WebSocket(`ws://127.0.0.1:${router.port}/chat`, { headers: { host: `stream.localhost:${router.port}` } });
    const inbox: (string | Buffer)[] = [];
    const next = (): Promise<string | Buffer> => new Promise((resolve) => {
      const poll = (): void => { const m = inbox.shift(); if (m !== undefined) resolve(m); else setTimeout(poll, 5); };
      poll();
    });
    ws.on('message', (d, isBinary) => inbox.push(isBinary ? (d as Buffer) : d.toString()));
    await new Promise<void>((resolve, reject) => { ws.once('open', () => resolve()); ws.once('error', reject); });
    assert.equal(await next(), `hello stream.localhost:${router.port}`);
    ws.send('ping 1');
    assert.equal(await next(), 'ping 1');
    const big = Buffer.alloc(2 * MB, 7);
    ws.send(big);
    const back = await next();
    assert.ok(Buffer.isBuffer(back) && back.equals(big), 'binary 2 MB echoed intact');
    for (let i = 0; i < 50; i++) ws.send(`burst ${i}`);
    for (let i = 0; i < 50; i++) assert.equal(await next(), `burst ${i}`);
    ws.close();
    await new Promise((r) => ws.once('close', r));
    assert.ok(wsMessages.includes('burst 49'));
  });

  it('answers a WebSocket upgrade to an unknown host with the 404 body', async () => {
    const ws = new WebSocket(`ws://127.0.0.1:${router.port}/`, { headers: { host: 'nowhere.localhost' } });
    const status = await new Promise<number>((resolve, reject) => {
      ws.once('unexpected-response', (_req, res) => { resolve(res.statusCode ?? 0); res.resume(); });
      ws.once('open', () => reject(new Error('opened')));
      ws.once('error', () => undefined);
    });
    assert.equal(status, 404);
  });

  it('streams a 50 MB upload: the answer starts before the upload ends', async () => {
    const sent = { bytes: 0 };
    let sentAtFirstByte = -1;
    const h = createHash('sha1');
    let received = 0;
    const done = new Promise<void>((resolve, reject) => {
      const req = http.request({ host: '127.0.0.1', port: router.port, method: 'POST', path: '/echo-stream', headers: { host: 'stream.localhost' } }, (res) => {
        res.on('data', (c: Buffer) => { if (sentAtFirstByte < 0) sentAtFirstByte = sent.bytes; received += c.length; h.update(c); });
        res.on('end', resolve);
        res.on('error', reject);
      });
      req.on('error', reject);
      void writeBody(req, TOTAL, sent);
    });
    await done;
    assert.equal(received, TOTAL);
    assert.equal(h.digest('hex'), sha1);
    assert.ok(sentAtFirstByte > 0 && sentAtFirstByte < TOTAL / 2, `first byte back after ${sentAtFirstByte / MB} MB sent`);
  });

  it('holds an uploader back while the backend does not read (no buffering in the router)', async () => {
    const sent = { bytes: 0 };
    const reply = new Promise<string>((resolve, reject) => {
      const req = http.request({ host: '127.0.0.1', port: router.port, method: 'PUT', path: '/slow-reader', headers: { host: 'stream.localhost', 'content-length': TOTAL } }, (res) => {
        let body = ''; res.on('data', (c: Buffer) => { body += c.toString(); }); res.on('end', () => resolve(body));
      });
      req.on('error', reject);
      void writeBody(req, TOTAL, sent);
    });
    await sleep(600); // the backend pauses for 800 ms after its first chunk
    const sentWhilePaused = sent.bytes;
    assert.equal(await reply, String(TOTAL));
    assert.equal(seen.uploadBytes, TOTAL);
    assert.equal(seen.uploadSha1, sha1);
    // Socket buffers on loopback hold a few MB; a router that buffered would have taken all 50.
    assert.ok(sentWhilePaused < 32 * MB, `${sentWhilePaused / MB} MB accepted while the backend was not reading`);
  });

  it('holds a 50 MB download back while the client does not read, then delivers it intact', async () => {
    seen.downloadWritten = 0;
    const h = createHash('sha1');
    let received = 0;
    let writtenWhilePaused = -1;
    await new Promise<void>((resolve, reject) => {
      const req = http.request({ host: '127.0.0.1', port: router.port, path: '/download', headers: { host: 'stream.localhost' } }, (res) => {
        assert.equal(res.headers['content-length'], String(TOTAL));
        let first = true;
        res.on('data', (c: Buffer) => {
          received += c.length; h.update(c);
          if (first) {
            first = false; res.pause();
            setTimeout(() => { writtenWhilePaused = seen.downloadWritten; res.resume(); }, 600);
          }
        });
        res.on('end', resolve);
        res.on('error', reject);
      });
      req.on('error', reject);
      req.end();
    });
    assert.equal(received, TOTAL);
    assert.equal(h.digest('hex'), sha1);
    assert.ok(writtenWhilePaused > 0 && writtenWhilePaused < 32 * MB, `${writtenWhilePaused / MB} MB written by the backend while the client did not read`);
  });

  it('cuts the client response when the backend dies mid-body, so it never looks complete', async () => {
    const outcome = await new Promise<string>((resolve) => {
      const req = http.request({ host: '127.0.0.1', port: router.port, path: '/half', headers: { host: 'stream.localhost' } }, (res) => {
        let n = 0;
        res.on('data', (c: Buffer) => { n += c.length; });
        res.on('end', () => resolve(`complete ${n}`));
        res.on('error', () => resolve(`cut after ${n}`));
        res.on('aborted', () => resolve(`cut after ${n}`));
      });
      req.on('error', () => resolve('request error'));
      req.end();
    });
    assert.match(outcome, /^cut after \d+$|^request error$/);
  });

  it('aborts the upstream request when the client goes away, and keeps serving', async () => {
    seen.aborted = [];
    // Mid-download.
    await new Promise<void>((resolve) => {
      const req = http.request({ host: '127.0.0.1', port: router.port, path: '/endless', headers: { host: 'stream.localhost' } }, (res) => {
        res.once('data', () => { req.destroy(); resolve(); });
      });
      req.on('error', () => undefined);
      req.end();
    });
    // Mid-upload: 1 MB of a declared 10 MB, then the connection drops.
    const s = net.connect(router.port, '127.0.0.1');
    await new Promise((r) => s.once('connect', r));
    s.write(`POST /upload-forever HTTP/1.1\r\nHost: stream.localhost\r\nContent-Length: ${10 * MB}\r\n\r\n`);
    s.write(Buffer.alloc(MB, 1));
    await sleep(200);
    s.destroy();
    await waitFor('both aborts seen by the backend', () => seen.aborted.includes('download') && seen.aborted.includes('upload'));
    // Before the response headers: the client leaves while the backend has not answered yet.
    const waiting = http.get({ host: '127.0.0.1', port: router.port, path: '/hang', headers: { host: 'stream.localhost' } });
    waiting.on('error', () => undefined);
    await sleep(100);
    waiting.destroy();
    await waitFor('the waiting request aborted upstream', () => seen.aborted.includes('waiting'));
    const r = await new Promise<string>((resolve, reject) => {
      http.get({ host: '127.0.0.1', port: router.port, path: '/', headers: { host: 'stream.localhost' } }, (res) => {
        let b = ''; res.on('data', (c: Buffer) => { b += c.toString(); }); res.on('end', () => resolve(b));
      }).on('error', reject);
    });
    assert.equal(r, 'plain');
  });

  it('stops cleanly with open WebSockets and keep-alive connections', async () => {
    const r = await startRouter({ bus: await t.connect('short-lived-router'), log: silentLog });
    bus.publish(Subjects.routerRegister, { host: '127.0.0.1', port: backendPort, uris: ['stream.localhost'] });
    await waitFor('route on the second router', async () => {
      const replies = await bus.requestMany(Subjects.routerStatus, {}, { maxWait: 500, maxMessages: 2 });
      return replies.find((x) => x.id === r.id)?.routes['stream.localhost'] !== undefined;
    });
    const ws = new WebSocket(`ws://127.0.0.1:${r.port}/`, { headers: { host: 'stream.localhost' } });
    await new Promise<void>((resolve, reject) => { ws.once('open', () => resolve()); ws.once('error', reject); });
    const keepAlive = new http.Agent({ keepAlive: true });
    await new Promise<void>((resolve) => http.get({ host: '127.0.0.1', port: r.port, headers: { host: 'stream.localhost' }, agent: keepAlive }, (res) => { res.resume(); res.on('end', resolve); }));
    const closed = new Promise((resolve) => ws.once('close', resolve));
    const t0 = Date.now();
    await r.stop();
    await closed;
    assert.ok(Date.now() - t0 < 2000, `stopped in ${Date.now() - t0} ms`);
    await assert.rejects(new Promise((resolve, reject) => {
      http.get({ host: '127.0.0.1', port: r.port, headers: { host: 'stream.localhost' }, agent: false }, resolve).on('error', reject);
    }), /ECONNREFUSED/);
    keepAlive.destroy();
  });

  it('keeps many concurrent requests apart', async () => {
    const bodies = await Promise.all(Array.from({ length: 200 }, (_, i) => new Promise<string>((resolve, reject) => {
      const req = http.request({ host: '127.0.0.1', port: router.port, method: 'POST', path: '/echo-stream', headers: { host: 'stream.localhost' } }, (res) => {
        let b = ''; res.on('data', (c: Buffer) => { b += c.toString(); }); res.on('end', () => resolve(b));
      });
      req.on('error', reject);
      req.end(`request ${i}`);
    })));
    bodies.forEach((b, i) => assert.equal(b, `request ${i}`));
  });
});
