// A TCP port free right now, for the servers the platform starts itself (nats-server, service servers).
import * as net from 'node:net';

/** A port free on `host` right now (the kernel picks it). */
export function freePort(host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once('error', reject);
    srv.listen(0, host, () => {
      const port = (srv.address() as net.AddressInfo).port;
      srv.close(() => resolve(port));
    });
  });
}
