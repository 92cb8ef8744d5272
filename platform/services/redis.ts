// Redis: one `redis-server` per instance (as v1 did), its own folder and port, the instance's
// password on the `default` user (`requirepass`), and one ACL user per binding (Redis 6+), so an
// unbind deletes that user (which also drops its connections) and leaves the other bindings alone.
// Data is kept in an append-only file synced on every write. URIs name the user, `default` too
// (redis-cli 7.0 sends no AUTH for `redis://:pass@...`).
import * as fs from 'node:fs';
import * as path from 'node:path';
import { freePort } from '../free-port';
import type { DriverContext, ServiceDriver } from './driver';
import type { BindingRecord, InstanceRecord } from './node-state';
import { RespError, respCommands, type RespValue } from './resp';
import { ServerProcess } from './server-process';
import { prepareServerDir, serviceAccount, writeServerFile, type RunAs } from './system';

/** The instance's own user in its credentials: Redis's `default` user, whose password is `requirepass`. */
export const redisDefaultUser = 'default';

export class RedisDriver implements ServiceDriver {
  private readonly servers_ = new Map<string, ServerProcess>();
  private readonly runAs: RunAs | undefined = serviceAccount('redis');

  constructor(private readonly ctx: DriverContext) {}

  async restore(): Promise<void> {
    for (const inst of Object.values(this.ctx.state.data.instances)) await this.startServer(inst);
  }

  async provision(inst: InstanceRecord): Promise<void> {
    inst.user = redisDefaultUser;
    inst.port = await freePort(this.ctx.host);
    try {
      await this.startServer(inst);
    } catch (e) {
      await this.unprovision(inst);
      throw e;
    }
  }

  async unprovision(inst: InstanceRecord): Promise<void> {
    await this.servers_.get(inst.name)?.stop();
    this.servers_.delete(inst.name);
    fs.rmSync(this.instanceDir(inst), { recursive: true, force: true });
  }

  async bind(inst: InstanceRecord, b: BindingRecord): Promise<void> {
    await this.admin(inst, ['ACL', 'SETUSER', b.user, 'reset', 'on', `>${b.password}`, '~*', '&*', '+@all']);
    this.writeConfig(inst, { ...inst.bindings, [b.user]: b });
  }

  async unbind(inst: InstanceRecord, b: BindingRecord): Promise<void> {
    const rest = { ...inst.bindings };
    delete rest[b.user];
    this.writeConfig(inst, rest);
    await this.admin(inst, ['ACL', 'DELUSER', b.user]);
  }

  port(inst: InstanceRecord): number {
    if (!inst.port) throw new Error(`redis instance ${inst.name} has no port`);
    return inst.port;
  }

  uri(inst: InstanceRecord, user: string, password: string): string {
    return `redis://${user}:${password}@${this.ctx.advertise}:${this.port(inst)}`;
  }

  servers(): ServerProcess[] {
    return [...this.servers_.values()];
  }

  async stop(): Promise<void> {
    await Promise.all([...this.servers_.values()].map((s) => s.stop()));
    this.servers_.clear();
  }

  private instanceDir(inst: InstanceRecord): string {
    return path.join(this.ctx.dir, inst.name);
  }

  /** Runs one command as the instance's default user; a Redis error reply rejects. */
  private async admin(inst: InstanceRecord, cmd: readonly string[]): Promise<RespValue> {
    const [auth, reply] = await respCommands(this.ctx.local, this.port(inst), [['AUTH', inst.password], cmd]);
    if (auth instanceof RespError) throw auth;
    if (reply instanceof RespError) throw reply;
    return reply;
  }

  /** redis.conf with every binding's user, written before each start so ACL users survive restarts. */
  private writeConfig(inst: InstanceRecord, bindings: Record<string, BindingRecord>): void {
    const dir = this.instanceDir(inst);
    writeServerFile(path.join(dir, 'redis.conf'), [
      `bind ${this.ctx.host}`,
      `port ${this.port(inst)}`,
      'daemonize no',
      `dir ${dir}`,
      `pidfile ${path.join(dir, 'redis.pid')}`,
      'appendonly yes',
      'appendfsync always',
      'save ""',
      `requirepass ${inst.password}`,
      ...Object.values(bindings).map((b) => `user ${b.user} on >${b.password} ~* &* +@all`),
      '',
    ].join('\n'), this.runAs);
  }

  private async startServer(inst: InstanceRecord): Promise<void> {
    const dir = this.instanceDir(inst);
    prepareServerDir(dir, this.runAs);
    this.writeConfig(inst, inst.bindings);
    const server = new ServerProcess({
      name: `redis ${inst.name}`,
      command: this.ctx.install.bins.server,
      args: [path.join(dir, 'redis.conf')],
      runAs: this.runAs,
      logFile: path.join(this.ctx.dir, `${inst.name}.log`),
      pidFile: path.join(dir, 'redis.pid'),
      ready: async () => (await this.admin(inst, ['PING'])) === 'PONG',
    }, this.ctx.log);
    this.servers_.set(inst.name, server);
    try {
      await server.start();
    } catch (e) {
      this.servers_.delete(inst.name);
      await server.stop();
      throw e;
    }
  }
}
