// The one actual-state model, in both of its uses: the controller's (a heartbeat is a DEA's whole
// list, silent DEAs expire) and the health manager's (instances expire one by one, exits are remembered).
import { strict as assert } from 'node:assert';
import { ActualState, isLive, liveStates, type InstanceState } from '../../platform/bus';

describe('actual state', () => {
  it("expiry 'dea' (the controller's): heartbeats replace a DEA's list, exits remove, silent DEAs expire", () => {
    let now = 1000;
    const changed: number[] = [];
    const a = new ActualState({ expiry: 'dea', lostAfterMs: 5000, onChange: (d) => changed.push(d), now: () => now });
    const hb = (dea: string, droplets: { droplet: number; index: number; instance: string; state: 'STARTING' | 'RUNNING' }[]): void =>
      a.heartbeat({ dea, droplets: droplets.map((d) => ({ ...d, version: 'v1', state_timestamp: 1 })) });
    hb('d1', [{ droplet: 1, index: 0, instance: 'i0', state: 'STARTING' }, { droplet: 1, index: 1, instance: 'i1', state: 'RUNNING' }]);
    assert.equal(a.runningCount(1, 'v1', 2), 1);
    assert.ok(a.isUp(1, 'v1', 0));
    now += 1000;
    hb('d1', [{ droplet: 1, index: 0, instance: 'i0', state: 'RUNNING' }]);
    assert.equal(a.runningCount(1, 'v1', 2), 1);
    assert.ok(!a.isUp(1, 'v1', 1), 'i1 left the heartbeat');
    a.exited({ droplet: 1, instance: 'i0' });
    assert.equal(a.instancesOf(1).length, 0);
    hb('d2', [{ droplet: 2, index: 0, instance: 'j0', state: 'RUNNING' }]);
    now += 1000;
    hb('d2', [{ droplet: 2, index: 0, instance: 'j0', state: 'RUNNING' }]);
    now += 2500;
    a.sweep();
    assert.equal(a.instancesOf(2).length, 1, 'within 3 intervals (at least 3 s)');
    now += 1000;
    a.sweep();
    assert.equal(a.instancesOf(2).length, 0, 'a silent DEA loses its instances');
    assert.ok(changed.includes(1) && changed.includes(2));
  });

  it("expiry 'instance' (the health manager's): live only, unreported instances go DOWN, exits stay gone", () => {
    let now = 1000;
    const a = new ActualState({ expiry: 'instance', lostAfterMs: 5000, liveOnly: true, exitMemoryMs: 60_000, now: () => now });
    const hb = (dea: string, droplets: { droplet: number; index: number; instance: string; state: InstanceState }[]): void =>
      a.heartbeat({ dea, droplets: droplets.map((d) => ({ ...d, version: 'v1', state_timestamp: 1 })) });
    hb('d1', [{ droplet: 1, index: 0, instance: 'i0', state: 'RUNNING' }, { droplet: 1, index: 1, instance: 'i1', state: 'CRASHED' }]);
    assert.deepEqual(a.live(1).map((i) => i.instance), ['i0'], 'a crashed instance is not kept');
    now += 3000;
    hb('d1', [{ droplet: 1, index: 1, instance: 'i2', state: 'STARTING' }]);
    assert.deepEqual(a.live(1).map((i) => i.instance).sort(), ['i0', 'i2'], 'a heartbeat adds; i0 is still within droplet_lost');
    now += 2500;
    assert.deepEqual(a.live(1).map((i) => i.instance), ['i2'], 'i0 was not named for 5 s: DOWN');
    assert.ok(a.isUp(1, 'v1', 1) && !a.isUp(1, 'v1', 0));
    assert.equal(a.exited({ droplet: 1, instance: 'i2' }), true);
    assert.equal(a.exited({ droplet: 1, instance: 'i2' }), false, 'the second exit of one instance is a duplicate');
    hb('d1', [{ droplet: 1, index: 1, instance: 'i2', state: 'RUNNING' }]);
    assert.equal(a.live(1).length, 0, 'a heartbeat sent before the exit does not bring it back');
    now += 60_000;
    a.sweep();
    hb('d1', [{ droplet: 1, index: 1, instance: 'i2', state: 'RUNNING' }]);
    assert.equal(a.live(1).length, 1, 'an exit is forgotten after exitMemoryMs');
  });

  it("expiry 'dea' with a declared heartbeat period: lost after 2.5 periods, at once for queries, reported once by the sweep", () => {
    let now = 1000;
    const lost: [string, number[]][] = [];
    const a = new ActualState({ expiry: 'dea', lostAfterMs: 10_000, now: () => now, onDeaLost: (dea, ds) => lost.push([dea, [...ds]]) });
    const hb = (dea: string, droplet: number): void =>
      a.heartbeat({ dea, interval_ms: 1000, droplets: [{ droplet, version: 'v1', index: 0, instance: `${dea}-i0`, state: 'RUNNING', state_timestamp: 1 }] });
    hb('d1', 1);
    hb('d2', 2);
    now += 2400;
    hb('d2', 2);
    assert.ok(a.isUp(1, 'v1', 0), 'silent for 2.4 periods: still there');
    now += 200;
    assert.ok(!a.isUp(1, 'v1', 0), 'past 2.5 periods: gone for every query, before any sweep');
    assert.ok(a.isUp(2, 'v1', 0), 'the DEA that heartbeats stays');
    assert.deepEqual(lost, []);
    a.sweep();
    a.sweep();
    assert.deepEqual(lost, [['d1', [1]]], 'the sweep reports the loss once, with its droplets');
  });

  it('isLive: STARTING and RUNNING, and nothing else', () => {
    const all: InstanceState[] = ['STARTING', 'RUNNING', 'CRASHED', 'STOPPED', 'DELETED'];
    assert.deepEqual(all.filter(isLive), [...liveStates]);
  });
});
