import { strict as assert } from 'node:assert';
import { connect } from '@nats-io/transport-node';
import { z } from 'zod';
import { Bus, Subjects, deaHeartbeat, dropletUpdated, decode, requestSubject, subject, BusDecodeError, BusEncodeError, type Payload } from '../../platform/bus';
import { silentLog } from '../../platform/log';
import { anyReply, publishRaw, startTestNats, type TestNats } from './support/nats';
import { sleep } from './support/wait';

describe('bus', () => {
  let t: TestNats;
  before(async () => { t = await startTestNats(); });
  after(async () => { await t.stop(); });

  /** A bus with payload checks set explicitly (the suites turn them on through POCKET_BUS_CHECK). */
  async function connectChecked(checkPayloads: boolean): Promise<Bus> {
    return Bus.connect({ url: t.nats.url, token: t.nats.token, name: `checked-${checkPayloads}`, log: silentLog, checkPayloads });
  }

  it('refuses a connection without the token', async () => {
    await assert.rejects(connect({ servers: t.nats.url, maxReconnectAttempts: 0, reconnect: false }));
    await assert.rejects(connect({ servers: t.nats.url, token: 'wrong', maxReconnectAttempts: 0, reconnect: false }));
  });

  it('delivers decoded messages and drops bad ones without stopping', async () => {
    const a = await t.connect('a');
    const b = await t.connect('b');
    const got: number[] = [];
    a.subscribe(Subjects.dropletUpdated, (m) => { got.push(m.droplet); });
    await a.flush();
    b.nc.publish(Subjects.dropletUpdated.subject, 'not json');
    publishRaw(b, Subjects.dropletUpdated, { droplet: 'seven' });
    publishRaw(b, Subjects.dropletUpdated, { droplet: -1 });
    b.publish(Subjects.dropletUpdated, { droplet: 7 });
    await b.flush();
    await sleep(100);
    assert.deepEqual(got, [7]);
    assert.equal(a.counters.dropped, 3);
  });

  it('answers requests, turns a throwing handler into an error reply, and keeps serving', async () => {
    const a = await t.connect('a');
    const b = await t.connect('b');
    const echo = z.object({ n: z.number() });
    const Echo = requestSubject('t.echo', echo, echo);
    let calls = 0;
    a.subscribe(Echo, (m) => { calls++; if (m.n < 0) throw new Error('negative'); return { n: m.n * 2 }; });
    await a.flush();
    assert.deepEqual(await b.request(Echo, { n: 2 }, 1000), { n: 4 });
    await assert.rejects(b.request(Echo, { n: -1 }, 1000), /negative/);
    assert.deepEqual(await b.request(Echo, { n: 3 }, 1000), { n: 6 });
    assert.equal(calls, 3);
    assert.equal(a.counters.handlerErrors, 1);
  });

  it('collects several replies with requestMany, dropping and counting one that does not decode', async () => {
    const a = await t.connect('a');
    const b = await t.connect('b');
    const Many = requestSubject('t.many', z.object({}), z.object({ i: z.number() }));
    // The responder answers with any shape, so the bad reply really goes on the wire.
    a.subscribe(anyReply(Many), (_m, ctx) => { ctx.respond({ i: 1 }); ctx.respond({ i: 2 }); ctx.respond({ bad: true }); });
    await a.flush();
    const replies = await b.requestMany(Many, {}, { maxWait: 200 });
    assert.deepEqual(replies.map((r) => r.i).sort(), [1, 2]);
    assert.equal(b.counters.dropped, 1);
    assert.deepEqual(await b.requestMany(requestSubject('t.nobody', z.object({}), Many.reply), {}, { maxWait: 100 }), []);
  });

  it('decode fills defaults and names the bad field', () => {
    const hb = decode('dea.heartbeat', Buffer.from(JSON.stringify({ dea: 'd1', droplets: [] })), deaHeartbeat);
    assert.deepEqual(hb, { dea: 'd1', droplets: [] });
    assert.throws(
      () => decode('dea.heartbeat', Buffer.from(JSON.stringify({ dea: 'd1', droplets: [{ droplet: 1 }] })), deaHeartbeat),
      (e: unknown) => e instanceof BusDecodeError && /droplets\.0\.version/.test(e.message),
    );
  });

  describe('descriptors', () => {
    it('carry the wire subject and its schema together, parameterised ones included', () => {
      assert.equal(Subjects.deaHeartbeat.subject, 'dea.heartbeat');
      assert.equal(Subjects.deaHeartbeat.schema, deaHeartbeat);
      assert.equal(Subjects.dropletUpdated.schema, dropletUpdated);
      assert.equal(Subjects.routerUnregister.schema, Subjects.routerRegister.schema);
      assert.equal(Subjects.deaStart('dea-1').subject, 'dea.dea-1.start');
      assert.equal(Subjects.deaStart('dea-1').schema, Subjects.deaStartAll.schema);
      assert.equal(Subjects.deaStartAll.subject, 'dea.*.start');
      assert.equal(Subjects.stagingLog(12).subject, 'staging.log.12');
      assert.equal(Subjects.stagingLog(12).schema, Subjects.stagingLogAll.schema);
      assert.equal(Subjects.stagingLogAll.subject, 'staging.log.*');
      assert.equal(Subjects.ccBulkApps.subject, 'cloudcontrollers.bulk.apps');
      assert.ok(Subjects.ccBulkApps.reply.safeParse({ apps: [] }).success);
      // The payload type follows the descriptor: a number where the schema wants one, nothing else.
      const ok: Payload<typeof Subjects.dropletUpdated> = { droplet: 1 };
      // @ts-expect-error a string droplet id does not compile
      const wrong: Payload<typeof Subjects.dropletUpdated> = { droplet: 'one' };
      assert.notDeepEqual(ok, wrong);
    });

    it('a wildcard descriptor receives every concrete subject of its family, decoded', async () => {
      const a = await t.connect('a');
      const b = await t.connect('b');
      const got: string[] = [];
      a.subscribe(Subjects.stagingLogAll, (m, ctx) => { got.push(`${ctx.subject} ${m.seq}`); });
      await a.flush();
      b.publish(Subjects.stagingLog(3), { app_id: 3, task_id: 't', seq: 0, line: 'x' });
      b.publish(Subjects.stagingLog(4), { app_id: 4, task_id: 't', seq: 1, done: true, ok: true });
      await b.flush();
      await sleep(100);
      assert.deepEqual(got.sort(), ['staging.log.3 0', 'staging.log.4 1']);
    });

    it('with payload checks on, a bad outbound payload or request throws before it leaves', async () => {
      const a = await t.connect('a');
      const b = await connectChecked(true);
      let got = 0;
      a.subscribe(Subjects.dropletUpdated, () => { got++; });
      await a.flush();
      const bad = { droplet: -1 } as Payload<typeof Subjects.dropletUpdated>;
      assert.throws(() => b.publish(Subjects.dropletUpdated, bad), (e: unknown) => e instanceof BusEncodeError && /droplet/.test(e.message));
      const badStatus = { droplet: 1, state: 'SLEEPING' } as unknown as Payload<typeof Subjects.healthmanagerStatus>;
      await assert.rejects(b.request(Subjects.healthmanagerStatus, badStatus, 500), BusEncodeError);
      await assert.rejects(b.requestMany(Subjects.healthmanagerStatus, badStatus, { maxWait: 100 }), BusEncodeError);
      await b.flush();
      await sleep(100);
      assert.equal(got, 0, 'nothing reached the subscriber');
      assert.equal(a.counters.dropped, 0);
      await b.close();
    });

    it('with payload checks on, a bad reply becomes an error reply and a handler error', async () => {
      const a = await connectChecked(true);
      const b = await t.connect('b');
      const Ask = requestSubject('t.ask', z.object({}), z.object({ n: z.number() }));
      a.subscribe(Ask, () => ({ n: 'many' } as unknown as { n: number }));
      await a.flush();
      await assert.rejects(b.request(Ask, {}, 1000), /refusing to send a bad payload on t\.ask: n:/);
      assert.equal(a.counters.handlerErrors, 1);
      await a.close();
    });

    it('without payload checks, a bad payload is sent as given and dropped and counted by the receiver', async () => {
      const a = await t.connect('a');
      const b = await connectChecked(false);
      try {
        const T = subject('t.unchecked', dropletUpdated);
        let got = 0;
        a.subscribe(T, () => { got++; });
        await a.flush();
        b.publish(T, { droplet: -1 });
        b.publish(T, { droplet: 2 });
        await b.flush();
        await sleep(100);
        assert.equal(got, 1);
        assert.equal(a.counters.dropped, 1);
      } finally {
        await b.close();
      }
    });
  });
});
