// Free ports for instances: the kernel picks one (bind to port 0, read it, release it). A port handed
// out stays ours while the instance lives and for a cool-down after, so two instances never share
// one and a router entry that lags behind never reaches a newer app on a recycled port.
import * as net from 'node:net';

function bindZero(host?: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.unref();
    srv.once('error', reject);
    // No host: the wildcard address, so the port is free for whatever address the app binds
    srv.listen({ port: 0, host, exclusive: true }, () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      srv.close(() => (port ? resolve(port) : reject(new Error('no port assigned'))));
    });
  });
}

export class PortAllocator {
  private readonly held = new Set<number>();
  private readonly coolingUntil = new Map<number, number>();

  constructor(private readonly coolDownMs = 30_000) {}

  async allocate(): Promise<number> {
    const now = Date.now();
    for (const [port, until] of this.coolingUntil) if (until <= now) this.coolingUntil.delete(port);
    for (let attempt = 0; attempt < 50; attempt++) {
      let port: number;
      try { port = await bindZero(); } catch { port = await bindZero('127.0.0.1'); }
      if (this.held.has(port) || this.coolingUntil.has(port)) continue;
      this.held.add(port);
      return port;
    }
    throw new Error('no free port found after 50 attempts');
  }

  release(port: number | null): void {
    if (port === null || !this.held.delete(port)) return;
    this.coolingUntil.set(port, Date.now() + this.coolDownMs);
  }
}
