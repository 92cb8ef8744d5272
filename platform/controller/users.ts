// Users and their login tokens: scrypt password hashes with a per-user salt, random tokens stored
// hashed (SHA-256), the owner account made on first start. The platform token is the owner's.
import { createHash, randomBytes, scrypt as scryptCb, timingSafeEqual, type ScryptOptions } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Store } from './store';
import { nowSeconds } from './store';
import { CcError, ErrorCodes } from './errors';
import { tokenMatches } from './http-util';

export interface User {
  id: number;
  email: string;
  admin: boolean;
}

/** The owner account as the platform shows it: `password` only while the generated one is unchanged. */
export interface OwnerAccount {
  email: string;
  password: string | null;
  /** True on the start that made the account. */
  created: boolean;
}

const scryptParams = { N: 16384, r: 8, p: 1, maxmem: 64 * 1024 * 1024 } as const;
const keyLength = 32;

function scrypt(password: string, salt: Buffer, o: ScryptOptions): Promise<Buffer> {
  return new Promise((resolve, reject) => scryptCb(password.normalize('NFC'), salt, keyLength, o, (e, k) => (e ? reject(e) : resolve(k))));
}

/** `scrypt$N$r$p$<salt b64>$<key b64>`: the parameters travel with the hash, so they can grow later. */
export async function hashPassword(password: string): Promise<string> {
  const salt = randomBytes(16);
  const key = await scrypt(password, salt, scryptParams);
  return ['scrypt', scryptParams.N, scryptParams.r, scryptParams.p, salt.toString('base64'), key.toString('base64')].join('$');
}

export async function verifyPassword(password: string, stored: string): Promise<boolean> {
  const [kind, n, r, p, salt, key] = stored.split('$');
  if (kind !== 'scrypt' || !salt || !key) return false;
  const want = Buffer.from(key, 'base64');
  const got = await scrypt(password, Buffer.from(salt, 'base64'), { N: Number(n), r: Number(r), p: Number(p), maxmem: scryptParams.maxmem });
  return got.length === want.length && timingSafeEqual(got, want);
}

const tokenHash = (token: string): string => createHash('sha256').update(token).digest('hex');
// Compared against when the email is unknown, so a login takes as long whether or not the user exists.
let dummyHash: Promise<string> | null = null;

export function normalizeEmail(raw: string): string {
  const email = raw.trim().toLowerCase();
  if (email.length > 254 || !/^[^@\s/\\]+@[^@\s/\\]+$/.test(email)) throw new CcError(ErrorCodes.badRequest, `not an email address: ${JSON.stringify(raw.slice(0, 100))}`);
  return email;
}

type Row = Record<string, unknown>;
const toUser = (r: Row): User => ({ id: Number(r.id), email: String(r.email), admin: Boolean(r.admin) });

export class Users {
  constructor(private readonly store: Store, private readonly platformToken: string) {}

  byEmail(email: string): User | undefined {
    const r = this.store.db.prepare('SELECT * FROM users WHERE email = ?').get(email) as Row | undefined;
    return r ? toUser(r) : undefined;
  }

  byId(id: number): User | undefined {
    const r = this.store.db.prepare('SELECT * FROM users WHERE id = ?').get(id) as Row | undefined;
    return r ? toUser(r) : undefined;
  }

  list(): User[] {
    return (this.store.db.prepare('SELECT * FROM users ORDER BY id').all() as Row[]).map(toUser);
  }

  /** The owner: the first admin, made on first start with a generated password kept in `<dataDir>/owner.json` (0600). */
  async ensureOwner(email: string, dataDir: string): Promise<OwnerAccount> {
    const file = path.join(dataDir, 'owner.json');
    const existing = this.owner();
    if (existing) {
      let password: string | null = null;
      try { password = (JSON.parse(fs.readFileSync(file, 'utf8')) as { password?: string }).password ?? null; } catch { /* changed or removed */ }
      return { email: existing.email, password, created: false };
    }
    const password = randomBytes(12).toString('base64url');
    const user = await this.create(normalizeEmail(email), password, true);
    // Apps made before users existed belong to the owner.
    this.store.db.prepare('UPDATE apps SET owner_id = ? WHERE owner_id IS NULL').run(user.id);
    fs.writeFileSync(file, JSON.stringify({ email: user.email, password }) + '\n', { mode: 0o600 });
    return { email: user.email, password, created: true };
  }

  owner(): User | undefined {
    const r = this.store.db.prepare('SELECT * FROM users WHERE admin = 1 ORDER BY id LIMIT 1').get() as Row | undefined;
    return r ? toUser(r) : undefined;
  }

  async create(email: string, password: string, admin: boolean): Promise<User> {
    if (this.byEmail(email)) throw new CcError(ErrorCodes.badRequest, `a user ${email} already exists`);
    const hash = await hashPassword(password);
    try {
      const info = this.store.db.prepare('INSERT INTO users (email, admin, password_hash, created_at) VALUES (?, ?, ?, ?)').run(email, admin ? 1 : 0, hash, nowSeconds());
      return { id: Number(info.lastInsertRowid), email, admin };
    } catch (e) {
      if (String(e).includes('UNIQUE')) throw new CcError(ErrorCodes.badRequest, `a user ${email} already exists`, { cause: e });
      throw e;
    }
  }

  /** A new login token for the user, or a 200 (forbidden) when the email or the password is wrong. */
  async login(email: string, password: string): Promise<string> {
    const r = this.store.db.prepare('SELECT * FROM users WHERE email = ?').get(email) as Row | undefined;
    let ok = false;
    if (r) ok = await verifyPassword(password, String(r.password_hash));
    else await verifyPassword(password, await (dummyHash ??= hashPassword('x')));
    if (!r || !ok) throw new CcError(ErrorCodes.forbidden, 'login failed: unknown email or wrong password');
    const token = randomBytes(32).toString('base64url');
    this.store.db.prepare('INSERT INTO user_tokens (token_hash, user_id, created_at) VALUES (?, ?, ?)').run(tokenHash(token), Number(r.id), nowSeconds());
    return token;
  }

  /** Whose token this is: the platform token is the owner's; undefined for none or an unknown one. */
  authenticate(token: string | undefined): User | undefined {
    if (!token) return undefined;
    if (tokenMatches(token, this.platformToken)) return this.owner();
    const r = this.store.db.prepare('SELECT users.* FROM user_tokens JOIN users ON users.id = user_tokens.user_id WHERE token_hash = ?').get(tokenHash(token)) as Row | undefined;
    return r ? toUser(r) : undefined;
  }

  /** Revokes every login token of the user (the platform token stays: it is the platform's). */
  revokeTokens(userId: number): number {
    return this.store.db.prepare('DELETE FROM user_tokens WHERE user_id = ?').run(userId).changes;
  }

  async setPassword(user: User, password: string, dataDir: string): Promise<void> {
    const hash = await hashPassword(password);
    this.store.tx(() => {
      this.store.db.prepare('UPDATE users SET password_hash = ? WHERE id = ?').run(hash, user.id);
      this.revokeTokens(user.id);
    });
    // The generated password no longer works: stop handing it out.
    if (this.owner()?.id === user.id) fs.rmSync(path.join(dataDir, 'owner.json'), { force: true });
  }

  /** Deletes a user that owns nothing (its tokens go with it). */
  delete(user: User): void {
    if (this.owner()?.id === user.id) throw new CcError(ErrorCodes.forbidden, 'the owner account cannot be deleted');
    const owns = this.store.db.prepare('SELECT (SELECT COUNT(*) FROM apps WHERE owner_id = @id) + (SELECT COUNT(*) FROM services WHERE owner_id = @id) AS n').get({ id: user.id }) as Row;
    if (Number(owns.n) > 0) throw new CcError(ErrorCodes.badRequest, `${user.email} still owns apps or services; delete them first`);
    this.store.db.prepare('DELETE FROM users WHERE id = ?').run(user.id);
  }

  // ---- ownership of apps -----------------------------------------------------------------

  ownerOfApp(appId: number): number | null {
    const r = this.store.db.prepare('SELECT owner_id FROM apps WHERE id = ?').get(appId) as Row | undefined;
    return r && r.owner_id !== null ? Number(r.owner_id) : null;
  }

  setAppOwner(appId: number, userId: number): void {
    this.store.db.prepare('UPDATE apps SET owner_id = ? WHERE id = ?').run(userId, appId);
  }

  /** Ids of the apps the user may see: their own, or all for an admin. */
  appIdsOf(user: User): Set<number> | 'all' {
    if (user.admin) return 'all';
    return new Set((this.store.db.prepare('SELECT id FROM apps WHERE owner_id = ?').all(user.id) as Row[]).map((r) => Number(r.id)));
  }

  appsOf(userId: number): Array<{ name: string; state: string }> {
    return (this.store.db.prepare('SELECT name, state FROM apps WHERE owner_id = ? ORDER BY id').all(userId) as Row[]).map((r) => ({ name: String(r.name), state: String(r.state) }));
  }
}
