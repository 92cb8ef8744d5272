// The smallest honest Node reverse proxy (keep-alive agent, streamed both ways, nothing else): a
// reference for what Node's own HTTP stack costs, beside the router, which adds routing by Host,
// header rewriting, retries and sticky sessions on top of the same stack.
//   node --import tsx bench/support/bare-proxy.ts LISTEN_PORT BACKEND_PORT
import * as http from 'node:http';

const [listenPort, backendPort] = process.argv.slice(2).map(Number);
if (!listenPort || !backendPort) throw new Error('usage: bare-proxy.ts LISTEN_PORT BACKEND_PORT');
const agent = new http.Agent({ keepAlive: true, maxFreeSockets: 256 });

http.createServer((req, res) => {
  const up = http.request({ host: '127.0.0.1', port: backendPort, method: req.method, path: req.url, headers: req.headers, agent }, (ures) => {
    res.writeHead(ures.statusCode ?? 502, ures.headers);
    ures.pipe(res);
  });
  up.on('error', () => res.destroy());
  req.pipe(up);
}).listen(listenPort, '127.0.0.1');

process.on('SIGTERM', () => process.exit(0));
process.on('SIGINT', () => process.exit(0));
