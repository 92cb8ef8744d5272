// Moving bits between the stager and the controller: the package down, the droplet up. The platform
// token goes in `Authorization`, over HTTPS across hosts; both directions are streamed and abortable.
import * as fs from 'node:fs';
import type * as http from 'node:http';
import { pipeline } from 'node:stream/promises';
import type { HttpTls } from '../tls';
import { StagingError, StagingErrorCodes } from './errors';

/** What a transfer presents: the platform token, and the TLS settings that check the controller. */
export interface TransferAuth {
  token: string;
  tls: HttpTls;
}

/** The uri without its query (which may carry anything), for messages. */
function shown(uri: string): string {
  try { const u = new URL(uri); return `${u.origin}${u.pathname}`; } catch { return '(bad uri)'; }
}

async function readSome(res: http.IncomingMessage, max = 300): Promise<string> {
  let body = '';
  for await (const c of res) { if (body.length < max) body += String(c); }
  return body.slice(0, max).replace(/\s+/g, ' ').trim();
}

/** Downloads `uri` to `file`; returns the number of bytes. Throws StagingError on any failure. */
export async function downloadPackage(uri: string, file: string, auth: TransferAuth, signal: AbortSignal): Promise<number> {
  const what = `could not download the package from ${shown(uri)}`;
  let res: http.IncomingMessage;
  try {
    const u = new URL(uri);
    res = await new Promise<http.IncomingMessage>((resolve, reject) => {
      const { mod, options } = auth.tls.client(u);
      const req = mod.get(u, { ...options, headers: { Authorization: auth.token }, signal }, resolve);
      req.on('error', reject);
    });
  } catch (e) {
    signal.throwIfAborted();
    throw new StagingError(`${what}: ${(e as Error).message}`);
  }
  if (res.statusCode !== 200) {
    const body = await readSome(res).catch(() => '');
    throw new StagingError(`${what}: HTTP ${res.statusCode} ${res.statusMessage ?? ''}${body ? ` (${body})` : ''}`.replace(/ +\(/, ' ('));
  }
  let bytes = 0;
  res.on('data', (c: Buffer) => { bytes += c.length; });
  try {
    await pipeline(res, fs.createWriteStream(file, { mode: 0o600 }), { signal });
  } catch (e) {
    signal.throwIfAborted();
    throw new StagingError(`${what}: the transfer broke off (${(e as Error).message})`);
  }
  const expected = Number(res.headers['content-length']);
  if (Number.isFinite(expected) && expected !== bytes) throw new StagingError(`${what}: got ${bytes} of ${expected} bytes`);
  return bytes;
}

/** PUTs `file` to `uri`. A refusal or a broken connection is a StagingError with code 801. */
export async function uploadDroplet(uri: string, file: string, auth: TransferAuth, signal: AbortSignal): Promise<void> {
  const what = `could not upload the droplet to ${shown(uri)}`;
  const size = (await fs.promises.stat(file)).size;
  let res: http.IncomingMessage;
  try {
    const u = new URL(uri);
    res = await new Promise<http.IncomingMessage>((resolve, reject) => {
      const { mod, options } = auth.tls.client(u);
      const req = mod.request(u, {
        ...options,
        method: 'PUT',
        signal,
        headers: { Authorization: auth.token, 'Content-Type': 'application/gzip', 'Content-Length': size },
      }, resolve);
      req.on('error', reject);
      const body = fs.createReadStream(file);
      body.on('error', (e) => req.destroy(e));
      body.pipe(req);
    });
  } catch (e) {
    signal.throwIfAborted();
    throw new StagingError(`${what}: ${(e as Error).message}`, StagingErrorCodes.cancelled);
  }
  const body = await readSome(res).catch(() => '');
  if (res.statusCode === undefined || res.statusCode < 200 || res.statusCode >= 300) {
    throw new StagingError(`${what}: HTTP ${res.statusCode} ${res.statusMessage ?? ''}${body ? ` (${body})` : ''}`, StagingErrorCodes.cancelled);
  }
}
