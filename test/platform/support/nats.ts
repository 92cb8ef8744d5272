// Test support: a real embedded nats-server per suite, and connected buses.
import { z, type ZodType } from 'zod';
import { Bus, decode, requestSubject, startEmbeddedNats, type EmbeddedNats, type Reply, type RequestSubject, type Subject } from '../../../platform/bus';
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

/** Puts a payload on a descriptor's subject as it is, unchecked: for tests that send bad messages. */
export function publishRaw(bus: Bus, d: Subject, payload: unknown): void {
  bus.nc.publish(d.subject, JSON.stringify(payload));
}

/** One request with an unchecked payload; the reply is decoded as `Bus.request` does. */
export async function requestRaw<D extends RequestSubject>(bus: Bus, d: D, payload: unknown, timeoutMs: number): Promise<Reply<D>> {
  const m = await bus.nc.request(d.subject, JSON.stringify(payload), { timeout: timeoutMs });
  return decode(d.subject, m.data, d.reply as ZodType<Reply<D>>);
}

/** The same subject with a reply of any shape: for a fake responder that answers nonsense on purpose. */
export function anyReply<D extends RequestSubject>(d: D): RequestSubject<D['schema'], z.ZodUnknown> {
  return requestSubject(d.subject, d.schema, z.unknown());
}
