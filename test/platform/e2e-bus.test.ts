// End to end, one real platform: bad messages on every subject the platform uses (garbage bytes, not
// JSON, JSON of the wrong shape or types, oversized and deeply nested payloads, plus well-formed but
// hostile ones), published and sent as requests. Nothing crashes, the running app is untouched and
// keeps answering, and a push, a crash restart and a scale still work afterwards.
import { strict as assert } from 'node:assert';
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import { Bus, Subjects, type Payload, type Subject } from '../../platform/bus';
import { silentLog } from '../../platform/log';
import {
  copyFixture, e2eWait, hostOf, instanceFolders, liveInstances, pidAlive, pushApp, startE2ePlatform, viaRouter, type TestPlatform,
} from './support/e2e';
import { sleep, waitFor } from './support/wait';
import { publishRaw } from './support/nats';

/** A hostile message that still matches its subject's schema (the type says so). */
function wellFormed<D extends Subject>(d: D, payload: Payload<D>): [Subject, unknown] {
  return [d, payload];
}

/** Payloads that are wrong for every subject. */
function garbage(): (string | Uint8Array)[] {
  return [
    randomBytes(64),
    new Uint8Array([0xff, 0xfe, 0x00, 0x7b, 0x22]),
    '{"droplet": 1,',
    'null', '42', '"a string"', 'true', '[]', '[1,2,3]',
    '{"droplet":"1"}', '{"droplet":-1}', '{"droplet":1.5}', '{"droplet":1e400}', '{"droplet":null}',
    '{"id":7,"available_memory":"lots","runtimes":"node"}',
    '{"dea":"x","droplets":"none"}',
    '{"droplet":999999,"indices":"all","instances":{},"states":["ZOMBIE"]}',
    '{"droplet":999999,"op":"EXPLODE","last_updated":"yesterday"}',
    '{"host":"","port":70000,"uris":[]}',
    '{"host":"127.0.0.1","port":0,"uris":[""]}',
    '{"app_id":1,"task_id":"","seq":-1}',
    '{"__proto__":{"polluted":true},"constructor":{"prototype":{"polluted":true}}}',
    // Deep nesting and a large payload (NATS allows 1 MB).
    `${'['.repeat(20_000)}${']'.repeat(20_000)}`,
    JSON.stringify({ droplet: 'x'.repeat(900_000), name: 'x' }),
  ];
}

describe('e2e: bad messages on every subject', function () {
  this.timeout(90_000);
  let t: TestPlatform;
  let bus: Bus;
  let app: string;

  before(async () => {
    t = await startE2ePlatform();
    bus = await Bus.connect({ url: t.platform.nats, token: t.token, name: 'e2e-hostile', log: silentLog });
    app = copyFixture('node-hello');
  });
  after(async () => {
    await bus?.close();
    await t?.stop();
    fs.rmSync(app, { recursive: true, force: true });
  });

  it('garbage and wrong types everywhere: dropped, the app keeps running untouched, and everything still works', async () => {
    await pushApp(t, app, { name: 'victim', memory: 64 });
    const before = liveInstances(instanceFolders(t.dataDir, 'victim'));
    assert.equal(before.length, 1);
    const view = await t.client.app('victim');
    assert.ok(view);
    const droplet = (await t.client.apps()).findIndex((a) => a.name === 'victim') + 1;
    assert.ok(droplet > 0);

    // The DEA's id, for its start subject.
    const deaId = await new Promise<string>((resolve) => {
      const sub = bus.nc.subscribe(Subjects.deaAdvertise.subject, {
        callback: (_e, m) => { sub.unsubscribe(); resolve((JSON.parse(Buffer.from(m.data).toString()) as { id: string }).id); },
      });
    });

    // Every entry of Subjects, as concrete subjects (the type makes a new entry fail to compile here).
    const concrete: Record<keyof typeof Subjects, string[]> = {
      staging: [Subjects.staging.subject],
      stagingStop: [Subjects.stagingStop.subject],
      stagingLog: [Subjects.stagingLog(droplet).subject, Subjects.stagingLog(999_999).subject],
      stagingLogAll: ['staging.log.not-a-number', 'staging.log.-1'],
      deaAdvertise: [Subjects.deaAdvertise.subject],
      deaLocate: [Subjects.deaLocate.subject],
      deaDiscover: [Subjects.deaDiscover.subject],
      deaStart: [Subjects.deaStart(deaId).subject, Subjects.deaStart('no-such-dea').subject],
      deaStartAll: [], // its concrete subjects are deaStart's
      deaStop: [Subjects.deaStop.subject],
      deaUpdate: [Subjects.deaUpdate.subject],
      deaFindDroplet: [Subjects.deaFindDroplet.subject],
      deaHeartbeat: [Subjects.deaHeartbeat.subject],
      dropletExited: [Subjects.dropletExited.subject],
      dropletUpdated: [Subjects.dropletUpdated.subject],
      routerRegister: [Subjects.routerRegister.subject],
      routerUnregister: [Subjects.routerUnregister.subject],
      routerStart: [Subjects.routerStart.subject],
      routerStatus: [Subjects.routerStatus.subject],
      healthmanagerStart: [Subjects.healthmanagerStart.subject],
      healthmanagerHealth: [Subjects.healthmanagerHealth.subject],
      healthmanagerStatus: [Subjects.healthmanagerStatus.subject],
      hmRequests: [Subjects.hmRequests.subject],
      ccBulkApps: [Subjects.ccBulkApps.subject],
      ccAppChanged: [Subjects.ccAppChanged.subject],
    };
    assert.deepEqual(Object.keys(concrete).sort(), Object.keys(Subjects).sort(), 'every subject is covered');

    // Well-formed but hostile: they name things that do not exist, or lie about versions and times.
    const sha = 'a'.repeat(40);
    const hostile: [Subject, unknown][] = [
      wellFormed(Subjects.staging, { app_id: droplet, task_id: 'evil', name: 'victim', properties: { resources: { memory: 64 } }, download_uri: 'http://127.0.0.1:1/x', upload_uri: 'http://127.0.0.1:1/y' }),
      wellFormed(Subjects.stagingStop, { app_id: droplet, task_id: 'nope' }),
      wellFormed(Subjects.stagingLog(droplet), { app_id: droplet, task_id: 'not-the-task', seq: 0, line: 'forged line', done: true, ok: false, error: 'forged' }),
      wellFormed(Subjects.deaStart(deaId), { droplet, name: '../../escape', runtime: 'node', framework: 'node', sha1: sha, executableUri: 'http://127.0.0.1:1/d', version: 'v', limits: { mem: 64 }, index: 0 }),
      wellFormed(Subjects.deaStart(deaId), { droplet, name: 'victim', runtime: 'node', framework: 'node', sha1: 'not-a-sha', executableUri: 'file:///etc/passwd', version: 'v', limits: { mem: 64 }, index: 0 }),
      wellFormed(Subjects.deaStart(deaId), { droplet, name: 'victim', runtime: 'node', framework: 'node', sha1: sha, executableUri: 'http://127.0.0.1:1/d', version: 'v', limits: { mem: 1_000_000 }, index: 0 }),
      wellFormed(Subjects.deaStart(deaId), { droplet, name: 'victim', runtime: 'cobol', framework: 'node', sha1: sha, executableUri: 'http://127.0.0.1:1/d', version: 'v', limits: { mem: 64 }, index: 0 }),
      wellFormed(Subjects.deaFindDroplet, { droplet: 999_999, include_stats: true }),
      wellFormed(Subjects.deaUpdate, { droplet: 999_999, uris: ['victim.localhost'] }),
      wellFormed(Subjects.dropletExited, { droplet, version: view.version, instance: 'nobody', index: 0, reason: 'CRASHED' }),
      wellFormed(Subjects.dropletUpdated, { droplet: 999_999 }),
      wellFormed(Subjects.routerUnregister, { host: '127.0.0.1', port: 1, uris: ['victim.localhost'] }),
      wellFormed(Subjects.healthmanagerStatus, { droplet: 999_999, state: 'FLAPPING' }),
      wellFormed(Subjects.healthmanagerHealth, { droplets: [{ droplet: 999_999, version: 'x' }] }),
      wellFormed(Subjects.hmRequests, { droplet, op: 'START', last_updated: 0, version: 'not-the-version', indices: [0, 5] }),
      wellFormed(Subjects.hmRequests, { droplet, op: 'STOP', last_updated: 1, instances: [before[0].instanceId] }),
      wellFormed(Subjects.hmRequests, { droplet: 999_999, op: 'STOP', last_updated: 1, instances: ['x'] }),
      wellFormed(Subjects.ccBulkApps, { droplet: 999_999 }),
    ];

    const pending: Promise<unknown>[] = [];
    let sent = 0;
    for (const subjects of Object.values(concrete)) {
      for (const subject of subjects) {
        for (const payload of garbage()) {
          bus.nc.publish(subject, payload);
          pending.push(bus.nc.request(subject, payload, { timeout: 1500 }).catch(() => undefined));
          sent += 2;
        }
      }
    }
    for (const [d, payload] of hostile) {
      publishRaw(bus, d, payload);
      pending.push(bus.nc.request(d.subject, JSON.stringify(payload), { timeout: 1500 }).catch(() => undefined));
      sent += 2;
    }
    await bus.flush();
    await Promise.all(pending);
    console.log(`      ${sent} bad messages sent on ${Object.values(concrete).flat().length} subjects`);
    await sleep(1000);

    // The running instance is the same one, untouched, and still routed.
    const after = liveInstances(instanceFolders(t.dataDir, 'victim'));
    assert.deepEqual(after.map((f) => f.instanceId), [before[0].instanceId]);
    assert.ok(pidAlive(before[0].pid as number));
    const r = await viaRouter(t, hostOf('victim'));
    assert.equal(r.status, 200);
    assert.match(r.text, /^Hello from node-hello, instance 0/);
    const v = await t.client.app('victim');
    assert.equal(v?.state, 'STARTED');
    assert.equal(v?.version, view.version);
    assert.equal(v?.runningInstances, 1);
    assert.deepEqual((await t.client.instances('victim')).map((i) => i.state), ['RUNNING']);
    assert.equal(({} as Record<string, unknown>).polluted, undefined, 'no prototype pollution');
    assert.deepEqual(instanceFolders(t.dataDir, 'escape'), []);

    // Every component still does its work: a push (controller, stager, DEA, router) ...
    const p = await pushApp(t, app, { name: 'after-storm', memory: 64 });
    assert.equal(p.summary.running, 1);
    assert.match((await viaRouter(t, hostOf('after-storm'))).text, /^Hello from node-hello/);
    // ... the health manager restarting a killed instance ...
    const [victim] = liveInstances(instanceFolders(t.dataDir, 'after-storm'));
    process.kill(victim.pid as number, 'SIGKILL');
    await waitFor('after-storm back after kill -9', () => {
      const f = liveInstances(instanceFolders(t.dataDir, 'after-storm'));
      return f.length === 1 && f[0].instanceId !== victim.instanceId ? true : undefined;
    }, { ...e2eWait, timeoutMs: 20_000 });
    await waitFor('after-storm answering', async () => (await viaRouter(t, hostOf('after-storm'))).status === 200 || undefined, { ...e2eWait, timeoutMs: 20_000 });
    // ... and scaling.
    await t.client.updateApp('victim', { instances: 2 });
    await waitFor('victim: 2 RUNNING', async () => {
      const list = await t.client.instances('victim');
      return list.length === 2 && list.every((i) => i.state === 'RUNNING') ? true : undefined;
    }, { ...e2eWait, timeoutMs: 20_000 });
  });
});
