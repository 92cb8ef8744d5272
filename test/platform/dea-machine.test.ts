// The DEA instance state machine and its effects, with the effects recorded instead of sent on NATS.
import { strict as assert } from 'node:assert';
import type { InstanceState } from '../../platform/bus';
import { IllegalPhaseError, InstanceMachine, type InstanceEffects, type InstancePhase } from '../../platform/dea/lifecycle';

function recorder(): { effects: InstanceEffects; log: string[]; reaped: () => void } {
  const log: string[] = [];
  let finishReap: () => void = () => undefined;
  const effects: InstanceEffects = {
    registerRoutes: () => log.push('register'),
    unregisterRoutes: () => log.push('unregister'),
    exited: (reason) => log.push(`exited ${reason}`),
    reap: () => { log.push('reap'); return new Promise<void>((r) => { finishReap = r; }); },
    releasePort: () => log.push('release'),
    changed: (from: InstanceState, to: InstanceState) => log.push(`${from}>${to}`),
  };
  return { effects, log, reaped: () => finishReap() };
}

function running(effects: InstanceEffects, now?: () => number): InstanceMachine {
  const m = new InstanceMachine('app[0] abc', effects, now);
  m.advance('launching');
  m.advance('starting');
  m.advance('running');
  return m;
}

describe('dea instance state machine', () => {
  it('maps its states to the wire states and registers routes once on entering running', () => {
    const r = recorder();
    let now = 5_000;
    const m = new InstanceMachine('app[0] abc', r.effects, () => now);
    const seen: Array<[InstancePhase, InstanceState]> = [[m.phase, m.state]];
    for (const p of ['launching', 'starting', 'running'] as const) {
      now += 1000;
      m.advance(p);
      seen.push([m.phase, m.state]);
    }
    assert.deepEqual(seen, [['downloading', 'STARTING'], ['launching', 'STARTING'], ['starting', 'STARTING'], ['running', 'RUNNING']]);
    assert.equal(m.stateTimestamp, 8, 'stamped only when the wire state changes');
    assert.deepEqual(r.log, ['STARTING>RUNNING', 'register']);
    assert.ok(m.live);
  });

  it('a crash while running: unregister, exited CRASHED, reap, then release the port', async () => {
    const r = recorder();
    let now = 10_000;
    const m = running(r.effects, () => now);
    r.log.length = 0;
    now = 12_500;
    const ended = m.crashed('exited with status 1');
    assert.ok(ended);
    assert.deepEqual(r.log, ['unregister', 'RUNNING>CRASHED', 'exited CRASHED', 'reap']);
    assert.equal(m.crashTimestamp, 12.5);
    assert.equal(m.exitDescription, 'exited with status 1');
    assert.ok(m.signal.aborted);
    r.reaped();
    await ended;
    assert.deepEqual(r.log.slice(4), ['release']);
    assert.equal(m.crashed('again'), false, 'a second crash report is ignored');
    m.deleted();
    assert.deepEqual([m.phase, m.state], ['deleted', 'DELETED']);
  });

  it('a crash while starting sends no unregister', () => {
    const r = recorder();
    const m = new InstanceMachine('app[0] abc', r.effects);
    m.advance('launching');
    assert.ok(m.crashed('no startup script'));
    assert.deepEqual(r.log, ['STARTING>CRASHED', 'exited CRASHED', 'reap']);
  });

  it('a stop: unregister on leaving running, wire state kept while stopping, exited with the reason', () => {
    const r = recorder();
    const m = running(r.effects);
    r.log.length = 0;
    m.stopping('DEA_SHUTDOWN');
    assert.deepEqual([m.phase, m.state, m.stopReason, m.live, m.signal.aborted], ['stopping', 'RUNNING', 'DEA_SHUTDOWN', true, true]);
    assert.deepEqual(r.log, ['unregister']);
    assert.equal(m.crashed('exit after the stop'), false, 'an exit after a stop is not a crash');
    m.stopped();
    assert.deepEqual(r.log, ['unregister', 'RUNNING>STOPPED', 'exited DEA_SHUTDOWN', 'release']);
    assert.ok(!m.live);
  });

  it('a stop during the download needs no route and no reap', () => {
    const r = recorder();
    const m = new InstanceMachine('app[0] abc', r.effects);
    m.stopping('STOPPED');
    m.stopped();
    assert.deepEqual(r.log, ['STARTING>STOPPED', 'exited STOPPED', 'release']);
  });

  it('throws IllegalPhaseError on a move the table forbids, and keeps its state and effects', () => {
    const cases: Array<[(m: InstanceMachine) => void, (m: InstanceMachine) => void]> = [
      [() => undefined, (m) => m.advance('running')],
      [() => undefined, (m) => m.stopped()],
      [() => undefined, (m) => m.deleted()],
      [(m) => { m.stopping('STOPPED'); }, (m) => m.advance('launching')],
      [(m) => { m.stopping('STOPPED'); }, (m) => m.stopping('STOPPED')],
      [(m) => { m.stopping('STOPPED'); m.stopped(); m.deleted(); }, (m) => m.deleted()],
    ];
    for (const [walk, bad] of cases) {
      const r = recorder();
      const m = new InstanceMachine('app[3] abc', r.effects);
      walk(m);
      const before = { phase: m.phase, state: m.state, effects: [...r.log] };
      assert.throws(() => bad(m), (e: unknown) => e instanceof IllegalPhaseError && e.from === before.phase && /app\[3\] abc/.test(e.message));
      assert.deepEqual({ phase: m.phase, state: m.state, effects: r.log }, before);
    }
  });
});
