// A node-hello lookalike that does a fixed amount of CPU work on every request before answering
// (SHA-256 over WORK_KIB KiB), standing in for an app whose handlers do real work (templates,
// queries), so the router's fixed cost per request can be seen against a realistic handler.
//   PORT=... WORK_KIB=256 node --import tsx bench/support/work-app.ts
import { createHash } from 'node:crypto';
import * as http from 'node:http';

const port = Number(process.env.PORT);
const work = Buffer.alloc(Math.max(0, Number(process.env.WORK_KIB ?? '0')) * 1024, 7);
if (!port) throw new Error('PORT is required');

http.createServer((_req, res) => {
  const digest = createHash('sha256').update(work).digest('hex').slice(0, 8);
  res.writeHead(200, { 'content-type': 'text/plain; charset=utf-8', 'x-work': digest });
  res.end('Hello from node-hello, instance 0\n');
}).listen(port, '127.0.0.1');

process.on('SIGTERM', () => process.exit(0));
