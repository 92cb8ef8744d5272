// MySQL (MariaDB): one server per node, a database and a user per instance with privileges on
// that database only, and a further user per binding. Admin work goes through the `mariadb`
// client over TCP as an admin account the server re-creates from its init file at every start.
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { freePort } from '../free-port';
import type { DriverContext, ServiceDriver } from './driver';
import type { BindingRecord, InstanceRecord } from './node-state';
import { ServerProcess, SharedServer } from './server-process';
import { newSecret, prepareServerDir, run, serviceAccount, writeServerFile, type RunAs } from './system';

const admin = 'pocket_admin';

export class MysqlDriver implements ServiceDriver {
  private readonly server: SharedServer;
  private readonly runAs: RunAs | undefined = serviceAccount('mysql');
  private readonly data: string;
  /** Kept short (sun_path is ~107 bytes): a name in the temp dir, by data folder. */
  private readonly socket: string;

  constructor(private readonly ctx: DriverContext) {
    this.server = new SharedServer(ctx.state, 'mysql');
    this.data = path.join(ctx.dir, 'data');
    this.socket = path.join(os.tmpdir(), `pocket-mysql-${createHash('sha1').update(this.data).digest('hex').slice(0, 12)}.sock`);
  }

  async restore(): Promise<void> {
    if (this.ctx.state.instanceCount > 0) await this.ensureServer();
  }

  async provision(inst: InstanceRecord): Promise<void> {
    await this.ensureServer();
    await this.sql([
      `CREATE DATABASE \`${inst.name}\``,
      `CREATE USER '${inst.user}'@'%' IDENTIFIED BY '${inst.password}'`,
      `GRANT ALL PRIVILEGES ON \`${inst.name}\`.* TO '${inst.user}'@'%'`,
    ]).catch(async (e: unknown) => {
      await this.sql([`DROP DATABASE IF EXISTS \`${inst.name}\``, `DROP USER IF EXISTS '${inst.user}'@'%'`]).catch(() => undefined);
      throw e;
    });
  }

  async unprovision(inst: InstanceRecord): Promise<void> {
    await this.ensureServer();
    const users = [...Object.values(inst.bindings).map((b) => b.user), inst.user];
    await this.sql([
      ...users.map((u) => `DROP USER IF EXISTS '${u}'@'%'`),
      ...users.map((u) => `KILL CONNECTION USER '${u}'`),
      `DROP DATABASE IF EXISTS \`${inst.name}\``,
    ]);
  }

  async bind(inst: InstanceRecord, b: BindingRecord): Promise<void> {
    await this.ensureServer();
    await this.sql([
      `CREATE USER '${b.user}'@'%' IDENTIFIED BY '${b.password}'`,
      `GRANT ALL PRIVILEGES ON \`${inst.name}\`.* TO '${b.user}'@'%'`,
    ]);
  }

  async unbind(_inst: InstanceRecord, b: BindingRecord): Promise<void> {
    await this.ensureServer();
    await this.sql([`DROP USER IF EXISTS '${b.user}'@'%'`, `KILL CONNECTION USER '${b.user}'`]);
  }

  port(): number {
    return this.server.settings().port;
  }

  uri(inst: InstanceRecord, user: string, password: string): string {
    return `mysql://${user}:${password}@${this.ctx.advertise}:${this.port()}/${inst.name}`;
  }

  servers(): ServerProcess[] {
    return this.server.servers();
  }

  async stop(): Promise<void> {
    await this.server.stop();
    // A server killed with SIGKILL leaves its socket behind.
    fs.rmSync(this.socket, { force: true });
  }

  private async sql(statements: readonly string[]): Promise<string> {
    const s = this.server.settings();
    const r = await run(this.ctx.install.bins.client, ['--no-defaults', '-h', this.ctx.local, '-P', String(s.port), '-u', admin, '--batch', '--skip-column-names', '--connect-timeout=10'], {
      env: { MYSQL_PWD: s.adminPassword }, input: statements.map((x) => `${x};\n`).join(''),
    });
    return r.stdout;
  }

  private async ensureServer(): Promise<void> {
    if (this.server.started) return;
    const state = this.ctx.state;
    if (!state.data.server || !fs.existsSync(path.join(this.data, 'mysql'))) await this.initData();
    const { port, adminPassword } = state.data.server!;
    const initFile = path.join(this.ctx.dir, 'admin.sql');
    // One statement a line, no comments: the init file's format.
    writeServerFile(initFile, [
      `CREATE USER IF NOT EXISTS '${admin}'@'${this.ctx.local}' IDENTIFIED BY '${adminPassword}'`,
      `ALTER USER '${admin}'@'${this.ctx.local}' IDENTIFIED BY '${adminPassword}'`,
      `GRANT ALL PRIVILEGES ON *.* TO '${admin}'@'${this.ctx.local}' WITH GRANT OPTION`,
      "DELETE FROM mysql.global_priv WHERE User = ''",
      'FLUSH PRIVILEGES',
      '',
    ].join(';\n'), this.runAs);
    const pidFile = path.join(this.data, 'mariadbd.pid');
    const server = new ServerProcess({
      name: 'mysql',
      command: this.ctx.install.bins.server,
      args: ['--no-defaults', `--datadir=${this.data}`, `--port=${port}`, `--bind-address=${this.ctx.host}`, `--socket=${this.socket}`,
        `--pid-file=${pidFile}`, `--init-file=${initFile}`, '--skip-name-resolve', '--innodb-buffer-pool-size=32M'],
      runAs: this.runAs,
      logFile: path.join(this.ctx.dir, 'server.log'),
      pidFile,
      ready: async () => { await this.sql(['SELECT 1']); return true; },
      readyTimeoutMs: 60_000,
    }, this.ctx.log);
    await this.server.start(server);
  }

  private async initData(): Promise<void> {
    fs.rmSync(this.data, { recursive: true, force: true });
    prepareServerDir(this.data, this.runAs);
    const user = this.runAs?.user ?? os.userInfo().username;
    await run(this.ctx.install.bins.init, ['--no-defaults', `--datadir=${this.data}`, `--user=${user}`, '--auth-root-authentication-method=socket',
      '--skip-test-db', '--skip-name-resolve'], { timeoutMs: 120_000 });
    this.ctx.state.data.server = { port: await freePort(this.ctx.host), adminPassword: newSecret() };
    this.ctx.state.save();
  }
}
