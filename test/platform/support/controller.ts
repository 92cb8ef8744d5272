// Test support: a real controller (real NATS, SQLite, HTTP on 127.0.0.1) in a temp data dir.
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as os from 'node:os';
import * as path from 'node:path';
import type { Bus } from '../../../platform/bus';
import { startController, type Controller, type ControllerOptions } from '../../../platform/controller';
import { createLog, silentLog } from '../../../platform/log';
import { startTestNats, type TestNats } from './nats';

export interface TestControllerOptions extends Partial<Omit<ControllerOptions, 'bus' | 'token' | 'dataDir'>> {
  /** Reuse a data dir (a restart); it is then left in place by stop(). */
  dataDir?: string;
  /** Share a NATS server; it is then left running by stop(). */
  nats?: TestNats;
}

export interface TestController {
  controller: Controller;
  /** The controller's own bus connection. */
  bus: Bus;
  nats: TestNats;
  /** The platform token (NATS and REST). */
  token: string;
  dataDir: string;
  stop(): Promise<void>;
}

export async function startTestController(opts: TestControllerOptions = {}): Promise<TestController> {
  const ownNats = !opts.nats;
  const nats = opts.nats ?? await startTestNats();
  const ownDir = !opts.dataDir;
  const dataDir = opts.dataDir ?? fs.mkdtempSync(path.join(os.tmpdir(), 'pocket-cc-'));
  const { nats: _n, dataDir: _d, ...rest } = opts;
  void _n; void _d;
  const bus = await nats.connect('cc');
  let controller: Controller;
  try {
    controller = await startController({
      log: process.env.CC_TEST_LOG ? createLog("cc") : silentLog, stagingTimeoutSec: 30,
      ...rest,
      timings: { restoreSettleMs: 200, discoverWaitMs: 300, findWaitMs: 250, hmStatusWaitMs: 200, routerStatusWaitMs: 200, ...rest.timings },
      bus, token: nats.nats.token, dataDir,
    });
  } catch (e) {
    await bus.close();
    if (ownNats) await nats.stop();
    throw e;
  }
  return {
    controller, bus, nats, token: nats.nats.token, dataDir,
    async stop() {
      await controller.stop();
      await bus.close();
      if (ownNats) await nats.stop();
      if (ownDir) fs.rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

export interface HttpReply {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: Buffer;
  text: string;
  /** The body parsed as JSON, or undefined when it is not JSON. */
  json: unknown;
}

export interface HttpRequestOptions {
  method?: string;
  headers?: Record<string, string>;
  body?: Buffer | string;
  /** Sent as the raw `Authorization` header; null sends none. */
  token?: string | null;
  /** Overrides the Host header. */
  host?: string;
}

/** One HTTP request with full control over Host and Authorization (fetch cannot set Host). */
export function httpRequest(url: string, opts: HttpRequestOptions = {}): Promise<HttpReply> {
  return new Promise((resolve, reject) => {
    const u = new URL(url);
    const headers: Record<string, string> = { ...opts.headers };
    if (opts.token) headers.authorization = opts.token;
    if (opts.host !== undefined) headers.host = opts.host;
    const body = typeof opts.body === 'string' ? Buffer.from(opts.body) : opts.body;
    if (body) headers['content-length'] ??= String(body.length);
    const req = http.request({ hostname: u.hostname, port: u.port, path: u.pathname + u.search, method: opts.method ?? 'GET', headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const buf = Buffer.concat(chunks);
        const text = buf.toString('utf8');
        let json: unknown;
        try { json = JSON.parse(text); } catch { json = undefined; }
        resolve({ status: res.statusCode ?? 0, headers: res.headers, body: buf, text, json });
      });
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(body);
  });
}

export interface MultipartPart {
  name: string;
  value: string | Buffer;
  filename?: string;
  contentType?: string;
}

/** A multipart/form-data body, as vmc and the pusher send it. */
export function multipartBody(parts: readonly MultipartPart[]): { body: Buffer; contentType: string } {
  const boundary = `----pocket${Math.random().toString(16).slice(2)}`;
  const chunks: Buffer[] = [];
  for (const p of parts) {
    const disp = `form-data; name="${p.name}"${p.filename ? `; filename="${p.filename}"` : ''}`;
    chunks.push(Buffer.from(`--${boundary}\r\nContent-Disposition: ${disp}\r\n${p.contentType ? `Content-Type: ${p.contentType}\r\n` : ''}\r\n`));
    chunks.push(typeof p.value === 'string' ? Buffer.from(p.value) : p.value, Buffer.from('\r\n'));
  }
  chunks.push(Buffer.from(`--${boundary}--\r\n`));
  return { body: Buffer.concat(chunks), contentType: `multipart/form-data; boundary=${boundary}` };
}
