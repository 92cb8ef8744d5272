// `pocket login` and `logout`: v1 login (`POST /users/:email/tokens`), the token saved per target
// as `pocket target` saves it.
import * as path from 'node:path';
import * as readline from 'node:readline';
import type { Command } from 'commander';
import { CloudControllerClient, defaultDataDir, readEndpoint, saveTarget } from '../client';
import { UserFacingError } from '../log';
import { out } from './output';
import { globals, target } from './shared';

/** Reads a line from the terminal; `secret` hides what is typed. */
async function ask(question: string, secret: boolean): Promise<string> {
  const rl = readline.createInterface({ input: process.stdin, output: process.stderr, terminal: true });
  if (secret) {
    // Echo nothing of the password but the prompt.
    (rl as unknown as { _writeToOutput: (s: string) => void })._writeToOutput = (s: string): void => { if (s.includes(question)) process.stderr.write(question); };
  }
  try {
    return await new Promise<string>((r) => rl.question(question, r));
  } finally {
    rl.close();
    if (secret) process.stderr.write('\n');
  }
}

export async function loginCommand(cmd: Command, emailArg: string | undefined, flags: { password?: string }): Promise<void> {
  const g = globals(cmd);
  const dataDir = path.resolve(g.data ?? defaultDataDir());
  const t = target(cmd);
  const interactive = process.stdin.isTTY === true;
  // The local platform's owner is the default account.
  const email = emailArg ?? (interactive ? await ask('Email: ', false) : readEndpoint(dataDir)?.user);
  if (!email) throw new UserFacingError('Give the email: pocket login EMAIL --password P');
  const password = flags.password ?? process.env.POCKET_PASSWORD ?? (interactive ? await ask('Password: ', true) : undefined);
  if (!password) throw new UserFacingError('Give the password: --password P (or POCKET_PASSWORD), or run `pocket login` in a terminal');
  const c = new CloudControllerClient({ api: t.api, token: '', ca: t.ca });
  try {
    const token = await c.login(email, password);
    saveTarget(dataDir, { api: t.api, token });
    out(`Logged in to ${t.api} as ${email} (token saved in ${path.join(dataDir, 'target.json')})`);
  } finally { c.close(); }
}

export async function logoutCommand(cmd: Command): Promise<void> {
  const g = globals(cmd);
  const dataDir = path.resolve(g.data ?? defaultDataDir());
  const t = target(cmd);
  // The target stays; its token goes, so commands ask for a login again.
  saveTarget(dataDir, { api: t.api, token: '' });
  out(`Logged out of ${t.api}. \`pocket login\` to log in again, \`pocket target --local\` for the local platform's owner.`);
}
