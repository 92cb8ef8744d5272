// The users routes (v1's users and user tokens controllers): login, a user's info, and user
// management for admins. Tokens are revoked by `DELETE /users/:email/tokens`, a password change or
// the user's deletion.
import { tokenRequest, userCreateRequest, userUpdateRequest, type TokenIssued, type UserInfo } from '../contract';
import type { z } from 'zod';
import type { Ctx, Register } from './api';
import { CcError, ErrorCodes } from './errors';
import { readJson, sendJson } from './http-util';
import { normalizeEmail, type User, type Users } from './users';

export interface UserRouteDeps {
  users: Users;
  dataDir: string;
}

const seg = '([^/]+)';

function parse<S extends z.ZodType>(schema: S, body: unknown): z.infer<S> {
  const r = schema.safeParse(body);
  if (!r.success) throw new CcError(ErrorCodes.badRequest, r.error.issues[0]?.message ?? 'bad request');
  return r.data;
}

export function userRoutes(r: Register, d: UserRouteDeps): void {
  const info = (u: User): UserInfo => ({ email: u.email, admin: u.admin, apps: d.users.appsOf(u.id) });
  /** The named user, when it is the caller or the caller is an admin. */
  const subject = (c: Ctx): User => {
    const email = normalizeEmail(c.params[0]);
    if (c.user.email !== email && !c.user.admin) throw new CcError(ErrorCodes.forbidden, 'only an admin may see or change another user');
    const u = c.user.email === email ? c.user : d.users.byEmail(email);
    if (!u) throw new CcError(ErrorCodes.userNotFound, `user ${email} not found`);
    return u;
  };
  const adminOnly = (c: Ctx): void => {
    if (!c.user.admin) throw new CcError(ErrorCodes.forbidden, 'only an admin may manage users');
  };

  r('POST', `/users/${seg}/tokens`, async (c) => {
    const { password } = parse(tokenRequest, await readJson(c.req, 64 * 1024));
    let email: string;
    try { email = normalizeEmail(c.params[0]); } catch { throw new CcError(ErrorCodes.forbidden, 'login failed: unknown email or wrong password'); }
    sendJson(c.res, 200, { token: await d.users.login(email, password) } satisfies TokenIssued);
  }, 'public');
  r('DELETE', `/users/${seg}/tokens`, (c) => {
    d.users.revokeTokens(subject(c).id);
    sendJson(c.res, 200, {});
  });
  r('GET', '/users', (c) => {
    adminOnly(c);
    sendJson(c.res, 200, d.users.list().map(info) satisfies UserInfo[]);
  });
  r('POST', '/users', async (c) => {
    adminOnly(c);
    const body = parse(userCreateRequest, await readJson(c.req, 64 * 1024));
    await d.users.create(normalizeEmail(body.email), body.password, body.admin ?? false);
    sendJson(c.res, 200, {});
  });
  r('GET', `/users/${seg}`, (c) => sendJson(c.res, 200, info(subject(c)) satisfies UserInfo));
  r('PUT', `/users/${seg}`, async (c) => {
    const u = subject(c);
    const { password } = parse(userUpdateRequest, await readJson(c.req, 64 * 1024));
    await d.users.setPassword(u, password, d.dataDir);
    sendJson(c.res, 200, {});
  });
  r('DELETE', `/users/${seg}`, (c) => {
    adminOnly(c);
    d.users.delete(subject(c));
    sendJson(c.res, 200, {});
  });
}
