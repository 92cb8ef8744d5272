// A node's state: its id, its server's port, and every instance with its bindings and secrets.
// One small JSON file (0600) under the node's folder, rewritten atomically after every change.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { writeFileAtomic } from '../atomic-file';
import { newIdentifier } from './system';

export interface BindingRecord {
  user: string;
  password: string;
  created: string;
}

export interface InstanceRecord {
  /** Database name (postgresql, mysql) or instance name (redis); v1's credentials `name`. */
  name: string;
  plan: string;
  user: string;
  password: string;
  /** Redis: the port of this instance's own server. */
  port?: number;
  created: string;
  bindings: Record<string, BindingRecord>;
}

export interface NodeStateData {
  nodeId: string;
  /** PostgreSQL and MySQL: the one server's port and admin password. */
  server?: { port: number; adminPassword: string };
  instances: Record<string, InstanceRecord>;
}

export class NodeState {
  readonly data: NodeStateData;

  private constructor(private readonly file: string, data: NodeStateData) {
    this.data = data;
  }

  /** Reads `<dir>/node.json`, or starts a new state with a fresh node id. */
  static load(dir: string, type: string): NodeState {
    const file = path.join(dir, 'node.json');
    let data: NodeStateData;
    try {
      data = JSON.parse(fs.readFileSync(file, 'utf8')) as NodeStateData;
      if (typeof data.nodeId !== 'string' || typeof data.instances !== 'object' || data.instances === null) throw new Error('bad node state');
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw new Error(`cannot read ${file}: ${(e as Error).message}`, { cause: e });
      data = { nodeId: `${type}_node_${newIdentifier('').slice(0, 8)}`, instances: {} };
    }
    const s = new NodeState(file, data);
    s.save();
    return s;
  }

  save(): void {
    writeFileAtomic(this.file, JSON.stringify(this.data, null, 2) + '\n');
  }

  instance(name: string): InstanceRecord | undefined {
    return Object.hasOwn(this.data.instances, name) ? this.data.instances[name] : undefined;
  }

  get instanceCount(): number {
    return Object.keys(this.data.instances).length;
  }
}
