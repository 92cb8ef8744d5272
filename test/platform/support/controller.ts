// Test support: a real controller (real NATS, SQLite, HTTP on 127.0.0.1) in a temp data dir.
import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as os from 'node:os';
import * as path from 'node:path';
import BetterSqlite3 from 'better-sqlite3';
import type { Bus } from '../../../platform/bus';
import { answerSchemaOf, decode, platformEvent, restRouteOf, type PlatformEvent } from '../../../platform/contract';
import { startController, type Controller, type ControllerOptions } from '../../../platform/controller';
import { createLog, silentLog } from '../../../platform/log';
import { startTestNats, type TestNats } from './nats';
import { sleep } from './wait';

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

/**
 * Every JSON answer of a controller route is decoded by the shared contract (platform/contract), as
 * the client does: a test's raw request cannot pass on an answer the contract does not describe.
 */
function checkAnswer(method: string, pathname: string, status: number, headers: http.IncomingHttpHeaders, json: unknown): void {
  if (json === undefined || !String(headers['content-type'] ?? '').startsWith('application/json')) return;
  const schema = answerSchemaOf(method, pathname, status);
  if (!schema) return;
  const route = restRouteOf(method, pathname)?.name ?? `${method} ${pathname}`;
  decode(schema, json, `${route} (${status})`);
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
        const status = res.statusCode ?? 0;
        try {
          checkAnswer(opts.method ?? 'GET', u.pathname, status, res.headers, json);
        } catch (e) { reject(e); return; }
        resolve({ status, headers: res.headers, body: buf, text, json });
      });
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(body);
  });
}

/** A raw REST call to the test controller as its owner (the platform token unless `token` says otherwise); `json` is sent as is when a string. */
export function restRequest(t: TestController, method: string, urlPath: string, opts: HttpRequestOptions & { json?: unknown } = {}): Promise<HttpReply> {
  const headers = { ...opts.headers };
  let body = opts.body;
  if (opts.json !== undefined) { body = typeof opts.json === 'string' ? opts.json : JSON.stringify(opts.json); headers['content-type'] = 'application/json'; }
  return httpRequest(t.controller.url + urlPath, { ...opts, method, headers, body, token: opts.token === undefined ? t.token : opts.token });
}

/** Every file under the data dir except the database, with sizes: "nothing written" compares these. */
function filesUnder(dir: string): string[] {
  const out: string[] = [];
  const walk = (d: string): void => {
    for (const e of fs.readdirSync(d, { withFileTypes: true })) {
      const p = path.join(d, e.name);
      if (e.isDirectory()) walk(p);
      else if (!e.name.startsWith('controller.db')) out.push(`${path.relative(dir, p)}:${fs.statSync(p).size}`);
    }
  };
  walk(dir);
  return out.sort();
}

function dbRows(dataDir: string): string {
  const db = new BetterSqlite3(path.join(dataDir, 'controller.db'), { readonly: true });
  try {
    return JSON.stringify({
      apps: db.prepare('SELECT * FROM apps ORDER BY id').all(),
      uris: db.prepare('SELECT * FROM uris ORDER BY uri').all(),
      packages: db.prepare('SELECT hash FROM packages ORDER BY hash').all(),
    });
  } finally {
    db.close();
  }
}

/** Runs `fn` and checks that neither the database nor any file of the data dir changed. */
export async function nothingWritten(t: TestController, fn: () => Promise<void>): Promise<void> {
  const files = filesUnder(t.dataDir);
  const rows = dbRows(t.dataDir);
  await fn();
  await sleep(50);
  assert.deepEqual(filesUnder(t.dataDir), files, 'no file added, changed or left behind');
  assert.equal(dbRows(t.dataDir), rows, 'no database change');
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

/** The `data:` lines of an event-stream text, each decoded by the contract's event schema. */
export function decodeSseEvents(text: string): PlatformEvent[] {
  return text.split('\n').filter((l) => l.startsWith('data: ')).map((l) => decode(platformEvent, JSON.parse(l.slice(6)), 'GET /events'));
}
