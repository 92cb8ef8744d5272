// What a node needs from the server behind a service type: the installed binaries, and the
// operations that make, bind and drop an instance on them. One implementation per type.
import type { ServiceType } from '../bus';
import type { Log } from '../log';
import type { BindingRecord, InstanceRecord, NodeState } from './node-state';
import type { ServerProcess } from './server-process';

/** The installed server of one type, found on this machine. */
export interface Installation {
  type: ServiceType;
  /** Major (and minor for redis, mysql) version as v1's labels carry it: `15`, `7.0`, `10.11`. */
  version: string;
  /** Absolute paths by role: `server`, `init`, `client`, ... */
  bins: Record<string, string>;
}

export interface DriverContext {
  /** `<dataDir>/services/<type>`. */
  dir: string;
  /** Address the servers listen on (0.0.0.0: every interface). */
  host: string;
  /** Address the credentials name: where apps, on this host or another, reach the servers. */
  advertise: string;
  /** Address the node itself reaches its servers at (`host`, or loopback when that is every interface). */
  local: string;
  state: NodeState;
  install: Installation;
  log: Log;
}

export interface ServiceDriver {
  /** Starts the servers of the instances already in the state (after a restart). */
  restore(): Promise<void>;
  /** Creates the instance's database (or server) and its user; starts the server if needed. */
  provision(inst: InstanceRecord): Promise<void>;
  /** Drops the instance's data, its user and every binding's user. */
  unprovision(inst: InstanceRecord): Promise<void>;
  bind(inst: InstanceRecord, binding: BindingRecord): Promise<void>;
  /** Revokes the binding's credentials and ends its open sessions. */
  unbind(inst: InstanceRecord, binding: BindingRecord): Promise<void>;
  port(inst: InstanceRecord): number;
  uri(inst: InstanceRecord, user: string, password: string): string;
  /** The running server processes (one for postgresql and mysql, one per instance for redis). */
  servers(): ServerProcess[];
  stop(): Promise<void>;
}

/** Serialises async work: each operation waits for the previous one (state writes, server start). */
export class SerialQueue {
  private tail: Promise<unknown> = Promise.resolve();

  run<T>(fn: () => Promise<T>): Promise<T> {
    const next = this.tail.then(fn, fn);
    this.tail = next.catch(() => undefined);
    return next;
  }
}
