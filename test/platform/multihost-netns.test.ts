// Several hosts for real: three network namespaces (A, B, C) on a private test range, a 3-node NATS
// cluster (`pocket nats` on each), the controller, stager, health manager and router on A, DEAs on
// B and C. An app of 4 instances is spread over B and C; host B is lost (link cut, processes
// killed); the test measures the time until 4 instances run again and the requests that failed
// through the router, then kills C's NATS node and checks the control plane still works, then
// brings B back and checks it takes new instances. Every host has its own certificate (its address
// in subjectAltName) from one CA: NATS and every HTTP surface between the hosts run over TLS.
import { strict as assert } from 'node:assert';
import type { ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { newToken } from '../../platform/bus';
import { makeCa } from './support/certs';
import { buildCli, type CliHarness } from './support/cli';
import { copyFixture } from './support/e2e';
import { makeTestNetwork, type TestHost, type TestNetwork } from './support/netns';
import { sleep, waitFor } from './support/wait';

const API_PORT = 9022;
const ROUTER_PORT = 8080;
const APP = 'spread';

// Runs inside host A: a request through the router every 100 ms (not waiting for the previous one,
// at most 50 in flight), and the app's stats every 250 ms (RUNNING instances by DEA address), one
// JSON line each; bounded by count (1500 requests) and time.
const probeSource = `
const http = require('node:http');
const https = require('node:https');
const fs = require('node:fs');
const [routerHost, apiUrl, token, appHost, app, maxMs, caFile] = process.argv.slice(2);
const ca = fs.readFileSync(caFile);
const end = Date.now() + Number(maxMs);
const get = (url, headers, timeout) => new Promise((resolve) => {
  const req = (url.startsWith('https:') ? https : http).get(url, { headers, agent: false, timeout, ca }, (res) => {
    let body = ''; res.setEncoding('utf8'); res.on('data', (d) => { body += d; }); res.on('end', () => resolve({ status: res.statusCode, body }));
  });
  req.on('timeout', () => req.destroy(new Error('timeout')));
  req.on('error', (e) => resolve({ status: 0, body: String(e.message) }));
});
const print = (o) => process.stdout.write(JSON.stringify(o) + '\\n');
let sent = 0, inFlight = 0;
const tick = setInterval(() => {
  if (sent >= 1500 || Date.now() > end) { clearInterval(tick); return; }
  if (inFlight >= 50) return;
  sent++; inFlight++;
  const t = Date.now();
  get('http://' + routerHost + '/', { Host: appHost }, 15000).then((r) => { inFlight--; print({ k: 'r', t, s: r.status, ms: Date.now() - t }); });
}, 100);
(async () => { while (Date.now() < end) {
  const t = Date.now(); const r = await get(apiUrl + '/apps/' + app + '/stats', { Authorization: token }, 5000);
  const hosts = {};
  try { for (const v of Object.values(JSON.parse(r.body))) if (v.state === 'RUNNING' && v.stats) hosts[v.stats.host] = (hosts[v.stats.host] || 0) + 1; } catch {}
  print({ k: 's', t, hosts }); await new Promise((f) => setTimeout(f, 250));
} process.exit(0); })();
`;

interface Probe { t: number; k: 'r' | 's'; s?: number; ms?: number; hosts?: Record<string, number> }

describe('multi-host: three network namespaces, a NATS cluster, a host lost', function () {
  this.timeout(240_000);
  let net: TestNetwork | undefined;
  let cli: CliHarness;
  let root: string;
  let appDir: string;
  const token = newToken();
  const natsNodes = new Map<string, ChildProcess>();
  const logs: string[] = [];
  /** Each host's TLS flags (its own certificate and key, the shared CA). */
  const tlsFlags = new Map<string, string[]>();
  let caFile = '';
  /** When the router said it dropped a lost DEA's routes. */
  let routerDroppedAt = 0;

  const node = (h: TestHost, args: string[]): ChildProcess => {
    assert.ok(net);
    const env: NodeJS.ProcessEnv = { ...process.env, POCKET_LOG_LEVEL: 'warn', POCKET_HOME: path.join(root, h.name) };
    for (const k of Object.keys(env)) if (k.startsWith('POCKET_') && k !== 'POCKET_LOG_LEVEL' && k !== 'POCKET_HOME' && k !== 'POCKET_NATS_SERVER') delete env[k];
    env.POCKET_CA = caFile; // the CLI's client trusts the platform's CA
    const component = ['nats', 'controller', 'stager', 'health', 'router', 'dea'].includes(args[0]);
    const child = net.spawn(h, process.execPath, [cli.script, '--data', path.join(root, h.name), ...args, ...(component ? tlsFlags.get(h.name) ?? [] : [])], env);
    child.stdout?.on('data', (d: Buffer) => logs.push(`[${h.name} ${args[0]}] ${d.toString().trimEnd()}`));
    child.stderr?.on('data', (d: Buffer) => logs.push(`[${h.name} ${args[0]}!] ${d.toString().trimEnd()}`));
    if (args[0] === 'router') for (const s of [child.stdout, child.stderr]) s?.on('data', (d: Buffer) => { if (!routerDroppedAt && d.toString().includes('lost (heartbeats stopped)')) routerDroppedAt = Date.now(); });
    return child;
  };
  const started = (c: ChildProcess, what: string): Promise<void> => new Promise((resolve, reject) => {
    let out = '';
    const timer = setTimeout(() => reject(new Error(`${what} did not start:\n${out}`)), 60_000);
    c.stdout?.on('data', (d: Buffer) => { out += d.toString(); if (out.includes('Press Ctrl-C')) { clearTimeout(timer); resolve(); } });
    c.stderr?.on('data', (d: Buffer) => { out += d.toString(); });
    c.once('exit', (code) => { clearTimeout(timer); reject(new Error(`${what} exited (${code}):\n${out}`)); });
  });
  const cliIn = (h: TestHost, args: string[]): Promise<{ code: number | null; out: string }> => new Promise((resolve) => {
    const c = node(h, args);
    let out = '';
    c.stdout?.on('data', (d: Buffer) => { out += d.toString(); });
    c.stderr?.on('data', (d: Buffer) => { out += d.toString(); });
    const timer = setTimeout(() => c.kill('SIGKILL'), 120_000);
    c.once('exit', (code) => { clearTimeout(timer); resolve({ code, out }); });
  });

  before(async function () {
    this.timeout(180_000);
    root = fs.mkdtempSync(path.join(os.tmpdir(), 'pocket-multihost-'));
    fs.chmodSync(root, 0o755);
    net = makeTestNetwork(['a', 'b', 'c'], '10.231.0');
    cli = await buildCli();
    appDir = copyFixture('node-hello');
    const [A, B, C] = net.hosts;
    const ca = makeCa(path.join(root, 'certs'));
    caFile = ca.caFile;
    for (const h of net.hosts) {
      const f = ca.issue(`host-${h.name}`, [h.ip, '127.0.0.1']);
      tlsFlags.set(h.name, ['--tls-cert', f.certFile, '--tls-key', f.keyFile, '--tls-ca', f.caFile]);
    }
    const routes = net.hosts.map((h) => `nats://${h.ip}:6222`).join(',');
    const natsOf = (first: TestHost): string => [first, ...net!.hosts.filter((h) => h !== first)].map((h) => `nats://${h.ip}:4222`).join(',');
    for (const h of net.hosts) {
      const c = node(h, ['nats', '--advertise', h.ip, '--routes', routes, '--token', token]);
      natsNodes.set(h.name, c);
      await started(c, `nats on ${h.name}`);
    }
    const joined = (h: TestHost): string[] => ['--nats', natsOf(h), '--advertise', h.ip, '--token', token];
    await started(node(A, ['controller', ...joined(A), '--api-port', String(API_PORT)]), 'controller');
    await Promise.all([
      started(node(A, ['stager', ...joined(A)]), 'stager'),
      started(node(A, ['health', ...joined(A)]), 'health manager'),
      started(node(A, ['router', ...joined(A), '--port', String(ROUTER_PORT)]), 'router'),
      started(node(B, ['dea', ...joined(B)]), 'dea on b'),
      started(node(C, ['dea', ...joined(C)]), 'dea on c'),
    ]);
  });

  after(function () {
    if (this.currentTest?.state === 'failed' || process.env.POCKET_TEST_VERBOSE) process.stderr.write(`${logs.slice(-200).join('\n')}\n`);
    net?.cleanup();
    cli?.cleanup();
    if (root) fs.rmSync(root, { recursive: true, force: true });
    if (appDir) fs.rmSync(appDir, { recursive: true, force: true });
  });

  it('spreads 4 instances over B and C, survives losing B, then losing C\'s NATS node', async () => {
    assert.ok(net);
    const [A, B, C] = net.hosts;
    const api = `https://${A.ip}:${API_PORT}`;
    const admin = ['--api', api, '--token', token];
    const push = await cliIn(A, [...admin, 'push', appDir, '--name', APP, '--instances', '4', '--memory', '64', '--no-manifest']);
    assert.equal(push.code, 0, push.out);

    const seen: Probe[] = [];
    const probeFile = path.join(root, 'probe.js');
    fs.writeFileSync(probeFile, probeSource);
    const probe = net.spawn(A, process.execPath, [probeFile, `${A.ip}:${ROUTER_PORT}`, api, token, `${APP}.localhost`, APP, '120000', caFile], process.env);
    let buf = '';
    probe.stdout?.on('data', (d: Buffer) => {
      buf += d.toString();
      const lines = buf.split('\n'); buf = lines.pop() ?? '';
      for (const l of lines) if (l.trim()) seen.push(JSON.parse(l) as Probe);
    });
    const lastStats = (): Record<string, number> => [...seen].reverse().find((p) => p.k === 's')?.hosts ?? {};

    const spread = await waitFor('4 instances, 2 on each DEA host', () => {
      const h = lastStats();
      return h[B.ip] === 2 && h[C.ip] === 2 ? h : undefined;
    }, { timeoutMs: 30_000, everyMs: 100 });
    assert.deepEqual(spread, { [B.ip]: 2, [C.ip]: 2 });
    await waitFor('requests through the router', () => seen.filter((p) => p.k === 'r' && p.s === 200).length >= 10, { timeoutMs: 10_000 });
    // The controller on A reads an instance's files from the DEA on B or C, over HTTPS.
    const files = await cliIn(A, [...admin, 'files', APP, 'logs/staging.log']);
    assert.equal(files.code, 0, files.out);
    assert.ok(files.out.trim().length > 0, 'the staging log, from a DEA on another host');

    // Host B is lost: its link first (no FIN reaches anyone), then every process on it.
    const lostAt = Date.now();
    net.cutLink(B);
    net.killAll(B);
    const recovered = await waitFor('4 instances RUNNING on C', () => {
      const p = seen.find((x) => x.k === 's' && x.t > lostAt && x.hosts?.[C.ip] === 4 && !x.hosts[B.ip]);
      return p?.t;
    }, { timeoutMs: 60_000, everyMs: 100 });
    const recoveryMs = recovered - lostAt;
    const lostMs = routerDroppedAt ? routerDroppedAt - lostAt : Infinity;
    await sleep(3000); // requests after the recovery, to count failures once the replacements are routed
    // Requests sent from the loss on; those still in flight (at most the 15 s timeout) are awaited.
    await waitFor('answers to the requests sent during the loss', () => seen.filter((p) => p.k === 'r' && p.t >= lostAt && p.t < lostAt + 3000).length >= 25, { timeoutMs: 20_000 });
    const after = seen.filter((p) => p.k === 'r' && p.t >= lostAt);
    const slow = after.filter((p) => p.s === 200 && (p.ms ?? 0) > 1000);
    const failed = after.filter((p) => p.s !== 200);
    const failedAfterRecovery = failed.filter((p) => p.t >= recovered);
    const slowAfterRecovery = slow.filter((p) => p.t >= recovered);
    const lastFailure = failed.length ? failed[failed.length - 1].t - lostAt : 0;

    // C's NATS node goes: C's DEA fails over to A's node; the control plane still places instances.
    const natsKilledAt = Date.now();
    const cNats = natsNodes.get('c');
    if (cNats?.pid) process.kill(-cNats.pid, 'SIGKILL');
    const scale = await cliIn(A, [...admin, 'scale', APP, '--instances', '5']);
    assert.equal(scale.code, 0, scale.out);
    const fifth = await waitFor('5 instances RUNNING on C after C\'s NATS node died', () => {
      const p = seen.find((x) => x.k === 's' && x.t > natsKilledAt && x.hosts?.[C.ip] === 5);
      return p?.t;
    }, { timeoutMs: 30_000, everyMs: 100 });
    const apps = await cliIn(A, [...admin, 'apps']);
    assert.equal(apps.code, 0, apps.out);
    assert.match(apps.out, new RegExp(APP));
    const routedAfterNatsLoss = seen.filter((p) => p.k === 'r' && p.t > natsKilledAt);

    // Host B comes back (link, NATS node, DEA): it rejoins and takes the next instances.
    net.restoreLink(B);
    const bNats = node(B, ['nats', '--advertise', B.ip, '--routes', net.hosts.map((h) => `nats://${h.ip}:6222`).join(','), '--token', token]);
    await started(bNats, 'nats on b again');
    await started(node(B, ['dea', '--nats', [B, A].map((h) => `nats://${h.ip}:4222`).join(','), '--advertise', B.ip, '--token', token]), 'dea on b again');
    const backAt = Date.now();
    const scaleUp = await cliIn(A, [...admin, 'scale', APP, '--instances', '8']);
    assert.equal(scaleUp.code, 0, scaleUp.out);
    const rejoined = await waitFor('new instances RUNNING on B after it came back', () => {
      const p = seen.find((x) => x.k === 's' && x.t > backAt && (x.hosts?.[B.ip] ?? 0) > 0 && (x.hosts?.[B.ip] ?? 0) + (x.hosts?.[C.ip] ?? 0) === 8);
      return p?.hosts;
    }, { timeoutMs: 30_000, everyMs: 100 });
    probe.kill('SIGKILL');

    const figures = {
      lostMs, recoveryMs, requestsDuringLoss: after.length, failedRequests: failed.length, failedAfterRecovery: failedAfterRecovery.length,
      lastFailureMs: lastFailure, slowerThan1s: slow.length, slowestMs: Math.max(0, ...after.map((p) => p.ms ?? 0)), scaleAfterNatsNodeLossMs: fifth - natsKilledAt,
      failedAfterNatsNodeLoss: routedAfterNatsLoss.filter((p) => p.s !== 200).length,
      slowAfterRecovery: slowAfterRecovery.length, rejoinedSpread: rejoined,
    };
    process.stdout.write(`      multi-host figures: ${JSON.stringify(figures)}\n`);
    // The issue's bounds: lost within 3 s, running elsewhere within 5 s, and with 2+ instances no
    // failed request at all. Requests already sent to B's backends before the router dropped them
    // still wait their connect timeout (slow, not failed); none sent after the recovery may.
    assert.ok(lostMs < 3_000, `the router dropped B's routes ${lostMs} ms after the cut`);
    assert.ok(recoveryMs < 5_000, `recovery took ${recoveryMs} ms`);
    assert.equal(failed.length, 0, 'no failed request with 2+ instances');
    assert.equal(failedAfterRecovery.length, 0, 'no failed request once the replacements are routed');
    assert.equal(slowAfterRecovery.length, 0, 'no request waits for a lost backend once the replacements are routed');
    assert.equal(figures.failedAfterNatsNodeLoss, 0, 'losing a NATS node fails no request');
  });
});
