// Which service servers are installed here, and their versions as v1 labels carry them
// (`postgresql-15`, `redis-7.0`, `mysql-10.11`). Only these types are offered.
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { ServiceType } from '../bus';
import type { Installation } from './driver';
import { versionOutput } from './system';

function onPath(name: string): string | undefined {
  const dirs = [...(process.env.PATH ?? '').split(path.delimiter), '/usr/sbin', '/usr/local/sbin', '/sbin'];
  for (const d of dirs) {
    if (!d) continue;
    const p = path.join(d, name);
    try { fs.accessSync(p, fs.constants.X_OK); return p; } catch { /* next */ }
  }
  return undefined;
}

function postgresql(): Installation | undefined {
  const root = '/usr/lib/postgresql';
  const majors = fs.existsSync(root) ? fs.readdirSync(root).filter((d) => /^\d+$/.test(d)).sort((a, b) => Number(b) - Number(a)) : [];
  const dirs = [...majors.map((m) => path.join(root, m, 'bin'))];
  const pgConfig = onPath('postgres');
  if (pgConfig) dirs.push(path.dirname(pgConfig));
  for (const bin of dirs) {
    const v = versionOutput(path.join(bin, 'postgres'))?.match(/\(PostgreSQL\) (\d+)/);
    const bins = { server: path.join(bin, 'postgres'), init: path.join(bin, 'initdb'), client: path.join(bin, 'psql'), ready: path.join(bin, 'pg_isready') };
    if (v && Object.values(bins).every((b) => fs.existsSync(b))) return { type: 'postgresql', version: v[1], bins };
  }
  return undefined;
}

function redis(): Installation | undefined {
  const server = onPath('redis-server');
  const v = server && versionOutput(server)?.match(/v=(\d+\.\d+)/);
  return server && v ? { type: 'redis', version: v[1], bins: { server } } : undefined;
}

function mysql(): Installation | undefined {
  const server = onPath('mariadbd') ?? onPath('mysqld');
  const init = onPath('mariadb-install-db') ?? onPath('mysql_install_db');
  const client = onPath('mariadb') ?? onPath('mysql');
  const v = server && versionOutput(server)?.match(/Ver (\d+\.\d+)/);
  return server && init && client && v ? { type: 'mysql', version: v[1], bins: { server, init, client } } : undefined;
}

const finders: Record<ServiceType, () => Installation | undefined> = { postgresql, redis, mysql };

/** The installed servers among `types` (default: all), each with its version and binaries. */
export function findInstallations(types: readonly ServiceType[] = ['postgresql', 'redis', 'mysql']): Installation[] {
  return types.map((t) => finders[t]()).filter((i): i is Installation => i !== undefined);
}
