// Users (PROTOCOL.md section 10): v1 login tokens and the user resource.
import { z } from 'zod';

const password = z.string({ error: 'password must be a string' }).min(1, { error: 'password is required' }).max(1024, { error: 'password is longer than 1024 characters' });

/** `POST /users/:email/tokens`. */
export const tokenRequest = z.object({ password }, { error: 'request body must be a JSON object' });
export const tokenIssued = z.object({ token: z.string() });
export type TokenIssued = z.infer<typeof tokenIssued>;

/** `GET /users/:email`: `{email, admin, apps: [{name, state}]}`. */
export const userInfo = z.object({
  email: z.string(),
  admin: z.boolean(),
  apps: z.array(z.object({ name: z.string(), state: z.string() })),
});
export type UserInfo = z.infer<typeof userInfo>;
export const userList = z.array(userInfo);

/** `POST /users` (admins): `{email, password}`; beyond v1, `admin`. */
export const userCreateRequest = z.object({
  email: z.string({ error: 'email must be a string' }),
  password,
  admin: z.boolean({ error: 'admin must be a boolean' }).optional(),
}, { error: 'request body must be a JSON object' });
export type UserCreateRequest = z.infer<typeof userCreateRequest>;

/** `PUT /users/:email`: a new password (vmc sends the user's info back with `password` set). */
export const userUpdateRequest = z.object({ password }, { error: 'request body must be a JSON object' });
