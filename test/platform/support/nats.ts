// Test support: a real embedded nats-server per suite, and connected buses.
import { Bus, startEmbeddedNats, type EmbeddedNats } from '../../../platform/bus';
import { silentLog, type Log } from '../../../platform/log';

export interface TestNats {
  nats: EmbeddedNats;
  connect(name?: string, log?: Log): Promise<Bus>;
  stop(): Promise<void>;
}

export async function startTestNats(): Promise<TestNats> {
  const nats = await startEmbeddedNats({ log: silentLog });
  const buses: Bus[] = [];
  return {
    nats,
    async connect(name = 'test', log = silentLog) {
      const bus = await Bus.connect({ url: nats.url, token: nats.token, name, log });
      buses.push(bus);
      return bus;
    },
    async stop() {
      await Promise.all(buses.map((b) => b.close()));
      await nats.stop();
    },
  };
}
