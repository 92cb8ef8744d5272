// The controller's HTTP side as the stager and the DEA see it: packages to download and droplets to
// upload (staging), droplets to download (running), all behind the platform token.
import { createHash } from 'node:crypto';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';

export interface Upload {
  key: string;
  body: Buffer;
  sha1: string;
  at: number;
  contentType: string | undefined;
}

/** A droplet as the DEA downloads it. */
export interface Droplet { sha1: string; body: Buffer }

export interface FakeController {
  url: string;
  /** Droplets received from the stager, by key. */
  uploads: Map<string, Upload>;
  /** PUTs that started, including ones that broke off. */
  uploadAttempts: string[];
  /** When a PUT for the key first arrived (ms). */
  uploadStarted: Map<string, number>;
  /** Droplet downloads by the DEA, by SHA-1. */
  downloads: Map<string, number>;
  /** Requests refused for a missing or wrong token. */
  refused: number;
  addPackage(key: string, zip: Buffer): void;
  downloadUri(key: string): string;
  uploadUri(key: string): string;
  /** Serves a droplet to the DEA; `servedBody` sends other bytes than the SHA-1 names. */
  addDroplet(d: Droplet, servedBody?: Buffer): void;
  dropletUri(droplet: number, sha1: string): string;
  close(): Promise<void>;
}

const json = (res: http.ServerResponse, status: number, body: unknown): void => {
  res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
};

export async function startFakeController(token: string): Promise<FakeController> {
  const packages = new Map<string, Buffer>();
  const droplets = new Map<string, Buffer>();
  const uploads = new Map<string, Upload>();
  const uploadAttempts: string[] = [];
  const uploadStarted = new Map<string, number>();
  const downloads = new Map<string, number>();
  const state = { refused: 0 };
  const server = http.createServer((req, res) => {
    if (req.headers.authorization !== token) {
      state.refused++;
      json(res, 403, { code: 200, description: 'forbidden' });
      return;
    }
    const d = /^\/droplets\/(\d+)\/([0-9a-f]{40})$/.exec(req.url ?? '');
    if (d) {
      const body = droplets.get(d[2]);
      if (!body) { res.writeHead(404).end(); return; }
      downloads.set(d[2], (downloads.get(d[2]) ?? 0) + 1);
      res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': body.length }).end(body);
      return;
    }
    const m = /^\/(pkg|droplet)\/([\w.-]+)$/.exec(req.url ?? '');
    if (m && m[1] === 'pkg' && req.method === 'GET') {
      const zip = packages.get(m[2]);
      if (!zip) { json(res, 404, { code: 303, description: 'package not found' }); return; }
      res.writeHead(200, { 'content-type': 'application/zip', 'content-length': zip.length }).end(zip);
      return;
    }
    if (m && m[1] === 'droplet' && req.method === 'PUT') {
      const key = m[2];
      uploadAttempts.push(key);
      if (!uploadStarted.has(key)) uploadStarted.set(key, Date.now());
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const body = Buffer.concat(chunks);
        uploads.set(key, { key, body, sha1: createHash('sha1').update(body).digest('hex'), at: Date.now(), contentType: req.headers['content-type'] });
        res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
      });
      return;
    }
    res.writeHead(404).end();
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    url, uploads, uploadAttempts, uploadStarted, downloads,
    get refused() { return state.refused; },
    addPackage: (key, zip) => { packages.set(key, zip); },
    downloadUri: (key) => `${url}/pkg/${key}`,
    uploadUri: (key) => `${url}/droplet/${key}`,
    addDroplet: (d, servedBody) => { droplets.set(d.sha1, servedBody ?? d.body); },
    dropletUri: (droplet, sha1) => `${url}/droplets/${droplet}/${sha1}`,
    close: () => new Promise<void>((r) => { server.closeAllConnections(); server.close(() => r()); }),
  };
}
