// PostgreSQL: one server per node (its own cluster under the node's folder), a database and an
// owning role per instance, a login role per binding that is a member of the owner (and acts as
// it, so every binding sees the same tables). PUBLIC loses CONNECT on each database, so one
// instance's users cannot reach another's. Admin work goes through `psql` on loopback.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { freePort } from '../free-port';
import type { DriverContext, ServiceDriver } from './driver';
import type { BindingRecord, InstanceRecord } from './node-state';
import { ServerProcess, SharedServer } from './server-process';
import { newSecret, prepareServerDir, run, serviceAccount, writeServerFile, type RunAs } from './system';

const admin = 'postgres';

export class PostgresqlDriver implements ServiceDriver {
  private readonly server: SharedServer;
  private readonly runAs: RunAs | undefined = serviceAccount('postgres');
  private readonly cluster: string;

  constructor(private readonly ctx: DriverContext) {
    this.server = new SharedServer(ctx.state, 'postgresql');
    this.cluster = path.join(ctx.dir, 'cluster');
  }

  async restore(): Promise<void> {
    if (this.ctx.state.instanceCount > 0) await this.ensureServer();
  }

  async provision(inst: InstanceRecord): Promise<void> {
    await this.ensureServer();
    await this.sql('postgres', [
      `CREATE ROLE ${inst.user} LOGIN PASSWORD '${inst.password}'`,
      `CREATE DATABASE ${inst.name} OWNER ${inst.user}`,
      `REVOKE ALL ON DATABASE ${inst.name} FROM PUBLIC`,
    ]).catch(async (e: unknown) => {
      await this.sql('postgres', [`DROP DATABASE IF EXISTS ${inst.name}`, `DROP ROLE IF EXISTS ${inst.user}`]).catch(() => undefined);
      throw e;
    });
  }

  async unprovision(inst: InstanceRecord): Promise<void> {
    await this.ensureServer();
    const roles = [...Object.values(inst.bindings).map((b) => b.user), inst.user];
    await this.sql('postgres', [
      // No ALTER ROLE IF EXISTS in PostgreSQL; a retried unprovision may find some roles gone.
      ...roles.map((r) => `DO $$BEGIN IF EXISTS (SELECT FROM pg_roles WHERE rolname = '${r}') THEN ALTER ROLE ${r} NOLOGIN; END IF; END$$`),
      `DROP DATABASE IF EXISTS ${inst.name} WITH (FORCE)`,
      ...roles.map((r) => `DROP ROLE IF EXISTS ${r}`),
    ]);
  }

  async bind(inst: InstanceRecord, b: BindingRecord): Promise<void> {
    await this.ensureServer();
    await this.sql('postgres', [
      `CREATE ROLE ${b.user} LOGIN PASSWORD '${b.password}' IN ROLE ${inst.user}`,
      // Objects a binding creates belong to the instance's owner, so the other bindings see them.
      `ALTER ROLE ${b.user} SET role = '${inst.user}'`,
    ]);
  }

  async unbind(inst: InstanceRecord, b: BindingRecord): Promise<void> {
    await this.ensureServer();
    await this.sql(inst.name, [
      `ALTER ROLE ${b.user} NOLOGIN`,
      `SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE usename = '${b.user}'`,
      `REASSIGN OWNED BY ${b.user} TO ${inst.user}`,
      `DROP OWNED BY ${b.user}`,
      `DROP ROLE ${b.user}`,
    ]);
  }

  port(): number {
    return this.server.settings().port;
  }

  uri(inst: InstanceRecord, user: string, password: string): string {
    return `postgres://${user}:${password}@${this.ctx.advertise}:${this.port()}/${inst.name}`;
  }

  servers(): ServerProcess[] {
    return this.server.servers();
  }

  async stop(): Promise<void> {
    await this.server.stop();
  }

  /** Runs statements one by one in `db` as the cluster's superuser; stops at the first error. */
  private async sql(db: string, statements: readonly string[]): Promise<string> {
    const s = this.server.settings();
    const r = await run(this.ctx.install.bins.client, ['-X', '-q', '-A', '-t', '-v', 'ON_ERROR_STOP=1', '-h', '127.0.0.1', '-p', String(s.port), '-U', admin, '-d', db, '-f', '-'], {
      env: { PGPASSWORD: s.adminPassword, PGCONNECT_TIMEOUT: '10' }, input: statements.map((x) => `${x};\n`).join(''),
    });
    return r.stdout;
  }

  private async ensureServer(): Promise<void> {
    if (this.server.started) return;
    const state = this.ctx.state;
    if (!state.data.server || !fs.existsSync(path.join(this.cluster, 'PG_VERSION'))) await this.initCluster();
    const port = state.data.server!.port;
    // The node's admin connections come over 127.0.0.1 (pg_hba allows the admin nowhere else).
    const { host } = this.ctx;
    const listen = host === '127.0.0.1' || host === '0.0.0.0' || host === '::' ? host : `${host},127.0.0.1`;
    const server = new ServerProcess({
      name: 'postgresql',
      command: this.ctx.install.bins.server,
      args: ['-D', this.cluster, '-p', String(port), '-c', `listen_addresses=${listen}`, '-c', 'unix_socket_directories=', '-c', 'logging_collector=off'],
      runAs: this.runAs,
      logFile: path.join(this.ctx.dir, 'server.log'),
      pidFile: path.join(this.cluster, 'postmaster.pid'),
      ready: async () => { await run(this.ctx.install.bins.ready, ['-q', '-h', '127.0.0.1', '-p', String(port)], { timeoutMs: 5000 }); return true; },
    }, this.ctx.log);
    await this.server.start(server);
  }

  private async initCluster(): Promise<void> {
    const { state } = this.ctx;
    fs.rmSync(this.cluster, { recursive: true, force: true });
    prepareServerDir(this.cluster, this.runAs);
    const adminPassword = newSecret();
    const pwFile = path.join(this.cluster, '..', 'initdb.pw');
    writeServerFile(pwFile, adminPassword + '\n', this.runAs);
    try {
      await run(this.ctx.install.bins.init, ['-D', this.cluster, '-U', admin, '--pwfile', pwFile, '-A', 'scram-sha-256', '-E', 'UTF8', '--locale=C', '--no-instructions'], { runAs: this.runAs, timeoutMs: 120_000 });
    } finally {
      fs.rmSync(pwFile, { force: true });
    }
    // The superuser only from loopback; everyone else by password, limited by CONNECT on databases.
    writeServerFile(path.join(this.cluster, 'pg_hba.conf'), [
      `host all ${admin} 127.0.0.1/32 scram-sha-256`,
      `host all ${admin} ::1/128 scram-sha-256`,
      `host all ${admin} all reject`,
      'host all all all scram-sha-256',
      '',
    ].join('\n'), this.runAs);
    state.data.server = { port: await freePort(this.ctx.host), adminPassword };
    state.save();
  }
}
