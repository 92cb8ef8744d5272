import { strict as assert } from 'node:assert';
import { connect } from '@nats-io/transport-node';
import { z } from 'zod';
import { Subjects, deaHeartbeat, dropletUpdated, decode, BusDecodeError } from '../../platform/bus';
import { startTestNats, type TestNats } from './support/nats';

describe('bus', () => {
  let t: TestNats;
  before(async () => { t = await startTestNats(); });
  after(async () => { await t.stop(); });

  it('refuses a connection without the token', async () => {
    await assert.rejects(connect({ servers: t.nats.url, maxReconnectAttempts: 0, reconnect: false }));
    await assert.rejects(connect({ servers: t.nats.url, token: 'wrong', maxReconnectAttempts: 0, reconnect: false }));
  });

  it('delivers decoded messages and drops bad ones without stopping', async () => {
    const a = await t.connect('a');
    const b = await t.connect('b');
    const got: number[] = [];
    a.subscribe(Subjects.dropletUpdated, dropletUpdated, (m) => { got.push(m.droplet); });
    await a.flush();
    b.nc.publish(Subjects.dropletUpdated, 'not json');
    b.publish(Subjects.dropletUpdated, { droplet: 'seven' });
    b.publish(Subjects.dropletUpdated, { droplet: -1 });
    b.publish(Subjects.dropletUpdated, { droplet: 7 });
    await b.flush();
    await new Promise((r) => setTimeout(r, 100));
    assert.deepEqual(got, [7]);
    assert.equal(a.counters.dropped, 3);
  });

  it('answers requests, turns a throwing handler into an error reply, and keeps serving', async () => {
    const a = await t.connect('a');
    const b = await t.connect('b');
    const echo = z.object({ n: z.number() });
    let calls = 0;
    a.subscribe('t.echo', echo, (m) => { calls++; if (m.n < 0) throw new Error('negative'); return { n: m.n * 2 }; });
    await a.flush();
    assert.deepEqual(await b.request('t.echo', { n: 2 }, echo, 1000), { n: 4 });
    await assert.rejects(b.request('t.echo', { n: -1 }, echo, 1000), /negative/);
    assert.deepEqual(await b.request('t.echo', { n: 3 }, echo, 1000), { n: 6 });
    assert.equal(calls, 3);
    assert.equal(a.counters.handlerErrors, 1);
  });

  it('collects several replies with requestMany', async () => {
    const a = await t.connect('a');
    const b = await t.connect('b');
    const s = z.object({ i: z.number() });
    a.subscribe('t.many', z.object({}), (_m, ctx) => { ctx.respond({ i: 1 }); ctx.respond({ i: 2 }); ctx.respond({ bad: true }); });
    await a.flush();
    const replies = await b.requestMany('t.many', {}, s, { maxWait: 200 });
    assert.deepEqual(replies.map((r) => r.i).sort(), [1, 2]);
    assert.deepEqual(await b.requestMany('t.nobody', {}, s, { maxWait: 100 }), []);
  });

  it('decode fills defaults and names the bad field', () => {
    const hb = decode('dea.heartbeat', Buffer.from(JSON.stringify({ dea: 'd1', droplets: [] })), deaHeartbeat);
    assert.deepEqual(hb, { dea: 'd1', droplets: [] });
    assert.throws(
      () => decode('dea.heartbeat', Buffer.from(JSON.stringify({ dea: 'd1', droplets: [{ droplet: 1 }] })), deaHeartbeat),
      (e: unknown) => e instanceof BusDecodeError && /droplets\.0\.version/.test(e.message),
    );
  });
});
