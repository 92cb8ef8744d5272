// The controller's event stream (`GET /events`) against readers that stop reading: a real HTTP
// server and real sockets on 127.0.0.1, the hub the controller uses.
import { strict as assert } from 'node:assert';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import * as net from 'node:net';
import { EventHub, type EventHubOptions } from '../../platform/controller/event-stream';
import { silentLog, type Log } from '../../platform/log';
import { sleep, waitFor } from './support/wait';

interface Rig {
  hub: EventHub;
  warnings: string[];
  port: number;
  close(): Promise<void>;
}

async function startRig(opts: EventHubOptions = {}): Promise<Rig> {
  const warnings: string[] = [];
  const log: Log = { ...silentLog, warn: (m) => { warnings.push(m); } };
  const hub = new EventHub({ log, ...opts });
  const server = http.createServer((req, res) => hub.open(req, res, null));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    hub, warnings, port: (server.address() as AddressInfo).port,
    close: async () => { hub.close(); server.closeAllConnections(); await new Promise<void>((r) => server.close(() => r())); },
  };
}

/** A reader that sends its request and then never reads a byte. */
function silentReader(port: number): net.Socket {
  const s = net.connect(port, '127.0.0.1', () => s.write('GET /events HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n'));
  s.pause();
  s.on('error', () => undefined);
  return s;
}

const line = 'x'.repeat(16 * 1024);
const event = (seq: number): Parameters<EventHub['emit']>[0] => ({ type: 'staging', name: 'web', droplet: 1, task_id: 't', seq, line });

/** Emits `count` events of 16 KiB, letting the sockets flush between batches as a live controller would. */
async function emitMany(hub: EventHub, count: number): Promise<void> {
  for (let i = 0; i < count; i++) {
    hub.emit(event(i));
    if (i % 8 === 7) await new Promise((r) => setImmediate(r));
  }
}

const heapAndBuffers = (): number => { const m = process.memoryUsage(); return m.heapUsed + m.external; };

describe('controller event stream: back-pressure', function () {
  this.timeout(30_000);

  it('drops a reader that never reads instead of buffering every event; memory stays bounded', async () => {
    const rig = await startRig();
    const reader = silentReader(rig.port);
    const fast = new http.Agent();
    let received = 0;
    // A reader that reads keeps its stream through the same burst.
    const good = http.get({ port: rig.port, host: '127.0.0.1', path: '/events', agent: fast }, (res) => { res.on('data', (b: Buffer) => { received += b.length; }); });
    good.on('error', () => undefined);
    try {
      await waitFor('both readers connected', () => rig.hub.size === 2, { timeoutMs: 5000, everyMs: 20 });
      global.gc?.();
      const before = heapAndBuffers();
      await emitMany(rig.hub, 4096); // 64 MiB of events
      global.gc?.();
      const grown = heapAndBuffers() - before;
      assert.equal(rig.hub.size, 1, 'the silent reader is dropped, the reading one kept');
      assert.ok(grown < 32 * 1024 * 1024, `memory grew by ${Math.round(grown / 1024 / 1024)} MiB`);
      assert.match(rig.warnings.join('\n'), /dropped an event stream reader that stopped reading \(\d+ KiB unsent/);
      await waitFor('the silent socket closed', () => reader.destroyed || reader.readableEnded || (reader.resume(), false), { timeoutMs: 5000, everyMs: 20 });
      await waitFor('the reading reader got everything', () => received >= 4096 * line.length, { timeoutMs: 10_000, everyMs: 20 });
    } finally {
      reader.destroy();
      good.destroy();
      fast.destroy();
      await rig.close();
    }
  });

  it('drops a reader whose socket stays full longer than the stall limit, even under the byte limit', async () => {
    const rig = await startRig({ maxBufferedBytes: 1024 ** 3, maxStallMs: 3000 });
    const reader = silentReader(rig.port);
    try {
      await waitFor('the reader connected', () => rig.hub.size === 1, { timeoutMs: 5000, everyMs: 20 });
      // Fill the kernel's buffers until writes are refused, then wait past the limit.
      await emitMany(rig.hub, 2048);
      assert.equal(rig.hub.size, 1, 'not dropped while the stall is young');
      await sleep(3100);
      rig.hub.emit(event(0));
      assert.equal(rig.hub.size, 0);
      assert.match(rig.warnings.join('\n'), /its socket full for \d+ s/);
    } finally {
      reader.destroy();
      await rig.close();
    }
  });
});
