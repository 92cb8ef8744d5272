// Receives `PUT /apps/:name/application` (multipart: `application` zip, `resources` JSON, and vmc's
// `_method=put`) with busboy. The zip goes to a temp file; the request body is capped.
import * as fs from 'node:fs';
import type { IncomingMessage } from 'node:http';
import { Transform, type Readable, type TransformCallback } from 'node:stream';
import * as zlib from 'node:zlib';
import busboy from 'busboy';
import { writeTemp } from './atomic-file';
import { CcError, ErrorCodes, diskFullError, isDiskFull } from './errors';
import { bodyEncodingOf, encodedLimit } from './http-util';

export interface ReceivedUpload {
  /** The `application` zip in a temp file, or null when the part was absent. */
  zipPath: string | null;
  zipBytes: number;
  resources: string | undefined;
  fields: Record<string, string>;
  /** Bytes of the whole request body. */
  bodyBytes: number;
  discard(): Promise<void>;
}

export interface UploadLimits {
  maxBodyBytes: number;
  maxResourcesBytes: number;
}

class ByteCap extends Transform {
  bytes = 0;
  constructor(private readonly max: number) { super(); }
  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    this.bytes += chunk.length;
    if (this.bytes > this.max) { cb(tooLarge(this.max)); return; }
    cb(null, chunk);
  }
}

const tooLarge = (max: number): CcError => new CcError(ErrorCodes.packageTooLarge, `upload larger than ${max} bytes`);

export function receiveUpload(req: IncomingMessage, tmpDir: string, limits: UploadLimits): Promise<ReceivedUpload> {
  const type = String(req.headers['content-type'] ?? '');
  if (!/^multipart\/form-data/i.test(type)) {
    return Promise.reject(new CcError(ErrorCodes.badRequest, 'expected a multipart/form-data body with parts `application` (zip) and `resources` (JSON)'));
  }
  let encoding: 'identity' | 'gzip';
  try { encoding = bodyEncodingOf(req); } catch (e) { return Promise.reject(e); }
  // A gzipped body is capped twice: on the wire, and decoded (the limit that counts; stops gzip bombs).
  const wireMax = encoding === 'gzip' ? encodedLimit(limits.maxBodyBytes) : limits.maxBodyBytes;
  const declared = Number(req.headers['content-length'] ?? NaN);
  if (Number.isFinite(declared) && declared > wireMax) return Promise.reject(tooLarge(limits.maxBodyBytes));

  return new Promise<ReceivedUpload>((resolve, reject) => {
    let bb: busboy.Busboy;
    try {
      bb = busboy({ headers: req.headers, limits: { fieldSize: limits.maxResourcesBytes, fields: 16, files: 4, parts: 24 } });
    } catch (e) {
      reject(new CcError(ErrorCodes.badRequest, `bad multipart request: ${(e as Error).message}`));
      return;
    }
    const cap = new ByteCap(limits.maxBodyBytes);
    const wireCap = encoding === 'gzip' ? new ByteCap(wireMax) : null;
    const inflate = encoding === 'gzip' ? zlib.createGunzip() : null;
    const fields: Record<string, string> = {};
    let resources: string | undefined;
    let zip: { path: string; size: number } | null = null;
    const pending: Promise<void>[] = [];
    const temps: string[] = [];
    const active = new Set<NodeJS.ReadableStream & { destroy(e?: Error): void }>();
    let settled = false;
    const discard = async (): Promise<void> => { await Promise.all(temps.map((t) => fs.promises.rm(t, { force: true }))); };
    const fail = (e: unknown): void => {
      if (settled) return;
      settled = true;
      req.unpipe();
      wireCap?.unpipe();
      inflate?.unpipe();
      inflate?.destroy();
      cap.unpipe(bb);
      // Stop part writers (their temp files are removed) and wait for them before discarding the rest.
      for (const s of active) s.destroy(new Error('upload refused'));
      bb.destroy();
      req.resume();
      const err = e instanceof CcError ? e
        : isDiskFull(e) ? diskFullError(e)
          : new CcError(ErrorCodes.badRequest, `bad multipart request: ${(e as Error).message}`);
      // Answered once the temp files are gone, so a client never sees one left behind.
      void Promise.allSettled(pending).then(discard).finally(() => reject(err));
    };

    bb.on('file', (name, stream, info) => {
      if (name === 'application' && zip === null) {
        zip = { path: '', size: 0 };
        const slot = zip;
        active.add(stream);
        pending.push(writeTemp(stream, tmpDir, { hint: 'upload' }).then((w) => {
          active.delete(stream);
          if (settled) { void fs.promises.rm(w.tempPath, { force: true }); return; }
          temps.push(w.tempPath);
          slot.path = w.tempPath;
          slot.size = w.size;
        }, (e: unknown) => { active.delete(stream); fail(e); }));
      } else if ((name === 'resources' && resources === undefined) || ((name === 'deleted' || name === 'base_package') && fields[name] === undefined)) {
        // Some clients send the resources list (and so, perhaps, the delta's fields) as a file part.
        const chunks: Buffer[] = [];
        let n = 0;
        stream.on('data', (c: Buffer) => {
          n += c.length;
          if (n > limits.maxResourcesBytes) { fail(new CcError(ErrorCodes.badResources, `${name} part larger than ${limits.maxResourcesBytes} bytes`)); stream.resume(); return; }
          chunks.push(c);
        });
        stream.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          if (name === 'resources') resources = text; else fields[name] = text;
        });
      } else {
        void info;
        stream.resume();
      }
    });
    bb.on('field', (name, value, info) => {
      if (info.valueTruncated) {
        fail(name === 'resources'
          ? new CcError(ErrorCodes.badResources, `resources part larger than ${limits.maxResourcesBytes} bytes`)
          : new CcError(ErrorCodes.badRequest, `form field ${name} too large`));
        return;
      }
      if (name === 'resources') resources = value;
      else fields[name] = value;
    });
    bb.on('partsLimit', () => fail(new CcError(ErrorCodes.badRequest, 'too many parts in the upload')));
    bb.on('filesLimit', () => fail(new CcError(ErrorCodes.badRequest, 'too many files in the upload')));
    bb.on('fieldsLimit', () => fail(new CcError(ErrorCodes.badRequest, 'too many fields in the upload')));
    bb.on('error', (e) => fail(e));
    cap.on('error', (e) => fail(e));
    wireCap?.on('error', () => fail(tooLarge(limits.maxBodyBytes)));
    inflate?.on('error', (e) => fail(new CcError(ErrorCodes.badRequest, `the gzipped request body is damaged (${e.message})`)));
    req.on('error', (e) => fail(e));
    req.on('aborted', () => fail(new Error('request aborted')));
    bb.on('close', () => {
      void Promise.all(pending).then(() => {
        if (settled) return;
        settled = true;
        const z = zip as { path: string; size: number } | null;
        resolve({ zipPath: z?.path || null, zipBytes: z?.size ?? 0, resources, fields, bodyBytes: cap.bytes, discard });
      }, (e: unknown) => fail(e));
    });
    const decoded: Readable = wireCap && inflate ? req.pipe(wireCap).pipe(inflate) : req;
    decoded.pipe(cap).pipe(bb);
  });
}
