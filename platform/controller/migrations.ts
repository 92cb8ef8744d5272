// Versioned schema migrations, applied in order, each in its own transaction. Never edit a shipped
// migration: append a new one.
import type { Database } from 'better-sqlite3';

export interface Migration {
  version: number;
  description: string;
  up(db: Database): void;
}

export const migrations: readonly Migration[] = [
  {
    version: 1,
    description: 'apps, uris, packages, droplets, staging logs, events, crashes',
    up(db) {
      db.exec(`
        CREATE TABLE apps (
          id INTEGER PRIMARY KEY AUTOINCREMENT,
          name TEXT NOT NULL UNIQUE,
          framework TEXT,
          runtime TEXT,
          command TEXT,
          instances INTEGER NOT NULL DEFAULT 1,
          memory INTEGER NOT NULL DEFAULT 256,
          disk INTEGER NOT NULL DEFAULT 2048,
          fds INTEGER NOT NULL DEFAULT 256,
          state TEXT NOT NULL DEFAULT 'STOPPED' CHECK (state IN ('STARTED', 'STOPPED')),
          package_state TEXT NOT NULL DEFAULT 'PENDING' CHECK (package_state IN ('PENDING', 'STAGED', 'FAILED')),
          package_hash TEXT,
          staged_hash TEXT,
          droplet_sha1 TEXT,
          run_count INTEGER NOT NULL DEFAULT 0,
          env TEXT NOT NULL DEFAULT '[]',
          debug TEXT,
          console INTEGER,
          lock_version INTEGER NOT NULL DEFAULT 1,
          created_at INTEGER NOT NULL,
          updated_at REAL NOT NULL,
          staging_error TEXT,
          staging_error_code INTEGER,
          detected_framework TEXT,
          detected_runtime TEXT,
          detected_command TEXT,
          placement_error TEXT
        );
        CREATE TABLE uris (
          uri TEXT PRIMARY KEY,
          app_id INTEGER NOT NULL REFERENCES apps(id) ON DELETE CASCADE,
          position INTEGER NOT NULL
        );
        CREATE INDEX uris_by_app ON uris(app_id, position);
        CREATE TABLE packages (
          hash TEXT PRIMARY KEY,
          size INTEGER NOT NULL,
          files INTEGER NOT NULL,
          manifest TEXT,
          created_at REAL NOT NULL
        );
        CREATE INDEX packages_by_manifest ON packages(manifest);
        CREATE TABLE droplets (
          app_id INTEGER NOT NULL REFERENCES apps(id) ON DELETE CASCADE,
          sha1 TEXT NOT NULL,
          package_hash TEXT,
          task_id TEXT,
          size INTEGER NOT NULL,
          created_at REAL NOT NULL,
          PRIMARY KEY (app_id, sha1)
        );
        CREATE TABLE staging_logs (
          app_id INTEGER PRIMARY KEY REFERENCES apps(id) ON DELETE CASCADE,
          task_id TEXT NOT NULL,
          package_hash TEXT,
          text TEXT NOT NULL DEFAULT '',
          state TEXT NOT NULL CHECK (state IN ('RUNNING', 'SUCCEEDED', 'FAILED', 'CANCELLED')),
          started_at REAL NOT NULL,
          finished_at REAL,
          error TEXT,
          error_code INTEGER
        );
        CREATE TABLE events (
          id INTEGER PRIMARY KEY AUTOINCREMENT,
          app_id INTEGER,
          app_name TEXT NOT NULL,
          event TEXT NOT NULL,
          detail TEXT,
          at REAL NOT NULL
        );
        CREATE INDEX events_by_app ON events(app_id, id);
        CREATE TABLE crashes (
          id INTEGER PRIMARY KEY AUTOINCREMENT,
          app_id INTEGER NOT NULL REFERENCES apps(id) ON DELETE CASCADE,
          instance TEXT NOT NULL,
          idx INTEGER NOT NULL,
          version TEXT,
          since REAL NOT NULL,
          reason TEXT,
          description TEXT,
          UNIQUE (app_id, instance)
        );
      `);
    },
  },
  {
    version: 2,
    description: 'users, login tokens, service instances and bindings; apps belong to a user',
    up(db) {
      db.exec(`
        CREATE TABLE users (
          id INTEGER PRIMARY KEY AUTOINCREMENT,
          email TEXT NOT NULL UNIQUE,
          admin INTEGER NOT NULL DEFAULT 0,
          password_hash TEXT NOT NULL,
          created_at REAL NOT NULL
        );
        CREATE TABLE user_tokens (
          token_hash TEXT PRIMARY KEY,
          user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
          created_at REAL NOT NULL
        );
        CREATE INDEX user_tokens_by_user ON user_tokens(user_id);
        ALTER TABLE apps ADD COLUMN owner_id INTEGER REFERENCES users(id);
        CREATE TABLE services (
          id INTEGER PRIMARY KEY AUTOINCREMENT,
          owner_id INTEGER NOT NULL REFERENCES users(id),
          name TEXT NOT NULL,
          label TEXT NOT NULL,
          type TEXT NOT NULL,
          vendor TEXT NOT NULL,
          version TEXT NOT NULL,
          plan TEXT NOT NULL,
          plan_option TEXT,
          tags TEXT NOT NULL DEFAULT '[]',
          gateway_id TEXT NOT NULL,
          configuration TEXT,
          credentials TEXT NOT NULL,
          created_at REAL NOT NULL,
          updated_at REAL NOT NULL,
          UNIQUE (owner_id, name)
        );
        CREATE TABLE bindings (
          id INTEGER PRIMARY KEY AUTOINCREMENT,
          service_id INTEGER NOT NULL REFERENCES services(id) ON DELETE CASCADE,
          app_id INTEGER NOT NULL REFERENCES apps(id) ON DELETE CASCADE,
          handle_id TEXT NOT NULL,
          credentials TEXT NOT NULL,
          created_at REAL NOT NULL,
          UNIQUE (service_id, app_id)
        );
        CREATE INDEX bindings_by_app ON bindings(app_id);
      `);
    },
  },
];

/** The newest migration applied to the database (0 for a new one). */
export function currentVersion(db: Database): number {
  db.exec('CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)');
  const r = db.prepare('SELECT MAX(version) AS v FROM schema_version').get() as { v: number | null };
  return r.v === null ? 0 : Number(r.v);
}

/** Applies the migrations newer than the database, oldest first; refuses a database newer than the list. */
export function migrate(db: Database, list: readonly Migration[]): void {
  const sorted = [...list].sort((a, b) => a.version - b.version);
  const have = currentVersion(db);
  const newest = sorted.length ? sorted[sorted.length - 1].version : 0;
  if (have > newest) throw new Error(`controller.db has schema version ${have}, newer than this controller knows (${newest}); upgrade Pocket Foundry`);
  for (const m of sorted) {
    if (m.version <= have) continue;
    db.transaction(() => {
      m.up(db);
      db.prepare('INSERT INTO schema_version (version) VALUES (?)').run(m.version);
    })();
  }
}
