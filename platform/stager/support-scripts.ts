// Small programs shipped inside droplets (under `pocket/`) so that some frameworks need nothing
// beyond their interpreter: a static file server (Node) and a WSGI server (Python's standard library).

/** `pocket/static-server.js`: serves the current folder (the droplet's app/) on $PORT. */
export const staticServerJs = String.raw`'use strict';
// Static file server of a Pocket Foundry droplet: serves the current folder on $PORT, with content
// types, index.html for folders, conditional GETs and a plain 404. No dependencies.
const http = require('http');
const fs = require('fs');
const path = require('path');

const root = fs.realpathSync(process.cwd());
const port = Number(process.env.PORT || process.env.VCAP_APP_PORT || 8080);
const host = process.env.VCAP_APP_HOST || '127.0.0.1';
let index = '';
try { const v = JSON.parse(process.env.VCAP_APPLICATION || '{}'); if (v.instance_index !== undefined) index = String(v.instance_index); } catch (e) { /* no index */ }

const types = {
  '.html': 'text/html; charset=utf-8', '.htm': 'text/html; charset=utf-8', '.css': 'text/css; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8', '.mjs': 'text/javascript; charset=utf-8', '.json': 'application/json; charset=utf-8',
  '.map': 'application/json; charset=utf-8', '.txt': 'text/plain; charset=utf-8', '.md': 'text/markdown; charset=utf-8',
  '.xml': 'application/xml; charset=utf-8', '.csv': 'text/csv; charset=utf-8', '.svg': 'image/svg+xml',
  '.png': 'image/png', '.jpg': 'image/jpeg', '.jpeg': 'image/jpeg', '.gif': 'image/gif', '.webp': 'image/webp',
  '.avif': 'image/avif', '.ico': 'image/x-icon', '.bmp': 'image/bmp', '.woff': 'font/woff', '.woff2': 'font/woff2',
  '.ttf': 'font/ttf', '.otf': 'font/otf', '.eot': 'application/vnd.ms-fontobject', '.pdf': 'application/pdf',
  '.wasm': 'application/wasm', '.zip': 'application/zip', '.gz': 'application/gzip', '.mp3': 'audio/mpeg',
  '.ogg': 'audio/ogg', '.wav': 'audio/wav', '.mp4': 'video/mp4', '.webm': 'video/webm', '.webmanifest': 'application/manifest+json',
};

function send(res, status, body, headers) {
  res.writeHead(status, Object.assign({ 'content-type': 'text/html; charset=utf-8', 'content-length': Buffer.byteLength(body) }, headers || {}));
  res.end(res.req.method === 'HEAD' ? undefined : body);
}

function notFound(res) {
  send(res, 404, '<!doctype html><title>404 Not Found</title><h1>404 Not Found</h1>\n');
}

function inside(p) {
  return p === root || p.startsWith(root + path.sep);
}

function serveFile(req, res, file, stat) {
  const mtime = new Date(Math.floor(stat.mtimeMs / 1000) * 1000);
  const etag = 'W/"' + stat.size.toString(16) + '-' + Math.floor(stat.mtimeMs).toString(16) + '"';
  const headers = {
    'content-type': types[path.extname(file).toLowerCase()] || 'application/octet-stream',
    'last-modified': mtime.toUTCString(),
    etag,
    'cache-control': 'no-cache',
  };
  const inm = req.headers['if-none-match'];
  const ims = req.headers['if-modified-since'];
  if ((inm && inm === etag) || (!inm && ims && !isNaN(Date.parse(ims)) && Date.parse(ims) >= mtime.getTime())) {
    res.writeHead(304, headers);
    res.end();
    return;
  }
  headers['content-length'] = stat.size;
  res.writeHead(200, headers);
  if (req.method === 'HEAD') { res.end(); return; }
  const stream = fs.createReadStream(file);
  stream.on('error', () => res.destroy());
  stream.pipe(res);
}

const server = http.createServer((req, res) => {
  if (index) res.setHeader('x-instance-index', index);
  if (req.method !== 'GET' && req.method !== 'HEAD') { send(res, 405, 'Method Not Allowed\n', { allow: 'GET, HEAD', 'content-type': 'text/plain' }); return; }
  let pathname;
  try { pathname = decodeURIComponent(new URL(req.url, 'http://x').pathname); } catch (e) { send(res, 400, 'Bad Request\n', { 'content-type': 'text/plain' }); return; }
  if (pathname.includes('\0')) { send(res, 400, 'Bad Request\n', { 'content-type': 'text/plain' }); return; }
  const wanted = path.join(root, path.normalize(pathname));
  if (!inside(wanted)) { notFound(res); return; }
  fs.realpath(wanted, (err, real) => {
    if (err || !inside(real)) { notFound(res); return; }
    fs.stat(real, (err2, stat) => {
      if (err2) { notFound(res); return; }
      if (stat.isDirectory()) {
        if (!pathname.endsWith('/')) {
          const q = req.url.indexOf('?');
          send(res, 301, '', { location: encodeURI(pathname) + '/' + (q >= 0 ? req.url.slice(q) : '') });
          return;
        }
        const idx = path.join(real, 'index.html');
        fs.stat(idx, (err3, st) => { if (err3 || !st.isFile()) notFound(res); else serveFile(req, res, idx, st); });
        return;
      }
      if (!stat.isFile()) { notFound(res); return; }
      serveFile(req, res, real, stat);
    });
  });
});

server.listen(port, host, () => console.log('static server on ' + host + ':' + port + ' serving ' + root));
const bye = () => { server.close(() => process.exit(0)); setTimeout(() => process.exit(0), 1000).unref(); };
process.on('SIGTERM', bye);
process.on('SIGINT', bye);
`;

/** `pocket/wsgi-runner.py`: serves `module[:callable]` (default `application`, then `app`) on $PORT. */
export const wsgiRunnerPy = String.raw`# WSGI server of a Pocket Foundry droplet: serves module[:callable] from the current folder on $PORT
# with the standard library (threaded wsgiref). Usage: python3 wsgi-runner.py wsgi[:application]
import importlib
import os
import signal
import sys
from socketserver import ThreadingMixIn
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server


class ThreadingWSGIServer(ThreadingMixIn, WSGIServer):
    daemon_threads = True


def main():
    spec = sys.argv[1] if len(sys.argv) > 1 else "wsgi"
    module_name, _, attr = spec.partition(":")
    sys.path.insert(0, os.getcwd())
    module = importlib.import_module(module_name)
    names = [attr] if attr else ["application", "app"]
    app = next((getattr(module, n) for n in names if callable(getattr(module, n, None))), None)
    if app is None:
        sys.exit("wsgi-runner: %s has no callable %s" % (module_name, " or ".join(names)))
    host = os.environ.get("VCAP_APP_HOST", "127.0.0.1")
    port = int(os.environ.get("PORT") or os.environ.get("VCAP_APP_PORT") or "8080")
    httpd = make_server(host, port, app, server_class=ThreadingWSGIServer, handler_class=WSGIRequestHandler)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    print("wsgi-runner: serving %s on %s:%d" % (spec, host, port), flush=True)
    httpd.serve_forever()


if __name__ == "__main__":
    main()
`;
