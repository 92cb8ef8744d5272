// A service node (v1's VCAP::Services::Base::Node): holds the instances of one service type on
// this host, answers `<svc>.discover`, announces itself every 30 s, and does provision,
// unprovision, bind and unbind on `<svc>.<op>.<node_id>`. Operations run one at a time, each
// followed by an atomic write of the node's state.
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Subscription } from '@nats-io/transport-node';
import { ServiceSubjects, type Bus, type ServiceAnnounce, type ServiceCredentials, type ServiceCredentialsReply, type ServiceType } from '../bus';
import type { Log } from '../log';
import { SerialQueue, type DriverContext, type Installation, type ServiceDriver } from './driver';
import { ServiceError, toErrorHash } from './errors';
import { MysqlDriver } from './mysql';
import { NodeState, type BindingRecord, type InstanceRecord } from './node-state';
import { PostgresqlDriver } from './postgresql';
import { RedisDriver } from './redis';
import type { ServerProcess } from './server-process';
import { newIdentifier, newSecret } from './system';

export const ServicePlans = ['free'] as const;

export interface ServiceNodeOptions {
  bus: Bus;
  log: Log;
  /** The platform's data dir; the node keeps everything under `<dataDir>/services/<type>/`. */
  dataDir: string;
  install: Installation;
  /** Address the servers listen on (default 127.0.0.1; 0.0.0.0 for every interface). */
  host?: string;
  /** Address the credentials carry, where apps on other hosts reach the servers (default: `host`, or 127.0.0.1 for every interface). */
  advertise?: string;
  /** How many instances the node takes (default 100 for postgresql and mysql, 20 for redis). */
  capacity?: number;
  announceIntervalMs?: number;
}

const drivers: Record<ServiceType, new (ctx: DriverContext) => ServiceDriver> = {
  postgresql: PostgresqlDriver, mysql: MysqlDriver, redis: RedisDriver,
};

export class ServiceNode {
  readonly type: ServiceType;
  private readonly state: NodeState;
  private readonly driver: ServiceDriver;
  private readonly queue = new SerialQueue();
  private readonly subs: Subscription[] = [];
  private readonly host: string;
  private readonly advertised: string;
  private readonly capacity: number;
  private timer: NodeJS.Timeout | undefined;

  private constructor(private readonly opts: ServiceNodeOptions) {
    this.type = opts.install.type;
    this.host = opts.host ?? '127.0.0.1';
    this.advertised = opts.advertise ?? (this.host === '0.0.0.0' || this.host === '::' ? '127.0.0.1' : this.host);
    this.capacity = opts.capacity ?? (this.type === 'redis' ? 20 : 100);
    const dir = path.join(opts.dataDir, 'services', this.type);
    fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
    this.state = NodeState.load(dir, this.type);
    const local = this.host === '0.0.0.0' || this.host === '::' ? '127.0.0.1' : this.host;
    this.driver = new drivers[this.type]({ dir, host: this.host, advertise: this.advertised, local, state: this.state, install: opts.install, log: opts.log });
  }

  /** Starts the servers of existing instances, subscribes, and announces. */
  static async start(opts: ServiceNodeOptions): Promise<ServiceNode> {
    const node = new ServiceNode(opts);
    try {
      await node.driver.restore();
    } catch (e) {
      opts.log.error(`${node.type} node: servers did not come back`, e);
    }
    node.subscribe();
    await opts.bus.flush();
    node.announce();
    node.timer = setInterval(() => node.announce(), opts.announceIntervalMs ?? 30_000);
    node.timer.unref();
    opts.log.info(`${node.type} node ${node.id} up (${node.state.instanceCount} instances)`);
    return node;
  }

  get id(): string { return this.state.data.nodeId; }
  /** The server processes now running (for tests: crash and restart). */
  servers(): ServerProcess[] { return this.driver.servers(); }

  announcement(): ServiceAnnounce {
    const v = this.opts.install.version;
    return { id: this.id, available_capacity: Math.max(0, this.capacity - this.state.instanceCount), plans: [...ServicePlans], version: v, supported_versions: [v] };
  }

  private announce(): void {
    this.opts.bus.publish(ServiceSubjects.announce(this.type), this.announcement());
  }

  private subscribe(): void {
    const { bus } = this.opts;
    const t = this.type;
    const id = this.id;
    this.subs.push(
      bus.subscribe(ServiceSubjects.discover(t), () => this.announcement()),
      bus.subscribe(ServiceSubjects.provision(t, id), (m) => this.op(() => this.provision(m.plan, m.version))),
      bus.subscribe(ServiceSubjects.bind(t, id), (m) => this.op(() => this.bind(m.name))),
      bus.subscribe(ServiceSubjects.unbind(t, id), (m) => this.op(() => this.unbind(m.credentials.name, m.credentials.username))),
      bus.subscribe(ServiceSubjects.unprovision(t, id), (m) => this.op(() => this.unprovision(m.name))),
    );
  }

  /** One operation in the queue, answered in v1's `{success, credentials?, error?}`. */
  private async op(fn: () => Promise<ServiceCredentials | undefined>): Promise<ServiceCredentialsReply> {
    try {
      const credentials = await this.queue.run(fn);
      return credentials ? { success: true, credentials } : { success: true };
    } catch (e) {
      if (!(e instanceof ServiceError) || e.status >= 500) this.opts.log.error(`${this.type} node: operation failed`, e);
      return { success: false, error: toErrorHash(e) };
    }
  }

  private credentials(inst: InstanceRecord, user: string, password: string): ServiceCredentials {
    return {
      name: inst.name, hostname: this.advertised, host: this.advertised, port: this.driver.port(inst), user, username: user, password,
      uri: this.driver.uri(inst, user, password), node_id: this.id,
    };
  }

  private async provision(plan: string, version: string | undefined): Promise<ServiceCredentials> {
    if (!(ServicePlans as readonly string[]).includes(plan)) throw new ServiceError('unknownPlan', plan);
    if (version !== undefined && version !== this.opts.install.version) throw new ServiceError('unknownLabel', `version ${version}`);
    if (this.state.instanceCount >= this.capacity) throw new ServiceError('serviceUnavailable', 'node is full');
    const inst: InstanceRecord = { name: newIdentifier('d'), plan, user: newIdentifier('u'), password: newSecret(), created: new Date().toISOString(), bindings: {} };
    await this.driver.provision(inst);
    this.state.data.instances[inst.name] = inst;
    this.state.save();
    return this.credentials(inst, inst.user, inst.password);
  }

  private async unprovision(name: string): Promise<undefined> {
    const inst = this.instance(name);
    await this.driver.unprovision(inst);
    delete this.state.data.instances[name];
    this.state.save();
    return undefined;
  }

  private async bind(name: string): Promise<ServiceCredentials> {
    const inst = this.instance(name);
    const b: BindingRecord = { user: newIdentifier('b'), password: newSecret(), created: new Date().toISOString() };
    await this.driver.bind(inst, b);
    inst.bindings[b.user] = b;
    this.state.save();
    return this.credentials(inst, b.user, b.password);
  }

  private async unbind(name: string, user: string): Promise<undefined> {
    const inst = this.instance(name);
    const b = Object.hasOwn(inst.bindings, user) ? inst.bindings[user] : undefined;
    if (!b) throw new ServiceError('notFound', `binding ${user}`);
    await this.driver.unbind(inst, b);
    delete inst.bindings[user];
    this.state.save();
    return undefined;
  }

  private instance(name: string): InstanceRecord {
    const inst = this.state.instance(name);
    if (!inst) throw new ServiceError('notFound', `instance ${name}`);
    return inst;
  }

  /** Unsubscribes and stops the servers (their data stays for the next start). */
  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    for (const s of this.subs) s.unsubscribe();
    await this.queue.run(() => this.driver.stop());
  }
}
