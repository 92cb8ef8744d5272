// An app's user env (`env: ["K=V"]`): one rule, checked by the controller when an app is created or
// updated (v1 error 300) and applied by the DEA when an instance starts, so the two never disagree.

/** What a shell (the droplet's `startup` is bash) and `export` take as a name. */
const shellName = /^[A-Za-z_][A-Za-z0-9_]*$/;
/** v1 refused these prefixes, any case: the platform's own variables. */
const reservedPrefix = /^(vcap_|vmc_)/i;
/** Set for every instance by the DEA: a user value would break routing or the instance folder. */
export const platformEnvNames: readonly string[] = ['HOME', 'PORT'];

/** Why an entry cannot be an app's env, in words for the user; null when it can. */
export function userEnvProblem(entry: string): string | null {
  const eq = entry.indexOf('=');
  if (eq <= 0) return `env entry ${JSON.stringify(entry)} is not KEY=value`;
  const key = entry.slice(0, eq);
  if (!shellName.test(key)) return `env ${JSON.stringify(key)}: a name is letters, digits and _ and does not start with a digit (the app could not read it from its shell)`;
  if (entry.includes('\0')) return `env ${key}: the value contains a NUL byte`;
  if (reservedPrefix.test(key)) return `env ${key}: names starting with VCAP_ or VMC_ are reserved for the platform`;
  if (platformEnvNames.includes(key)) return `env ${key}: set by the platform for every instance (PORT is the port the router sends to, HOME the instance folder)`;
  return null;
}

/** The `K=V` entries the rule accepts, split; the others are left out. */
export function splitUserEnv(entries: readonly string[]): Array<[string, string]> {
  const out: Array<[string, string]> = [];
  for (const e of entries) {
    if (userEnvProblem(e) !== null) continue;
    const i = e.indexOf('=');
    out.push([e.slice(0, i), e.slice(i + 1)]);
  }
  return out;
}

/** A user PATH extends the platform's: `$PATH` in it stands for the platform's, which is appended when absent. */
export function extendPath(user: string, platform: string): string {
  const parts = user.split(':');
  const at = parts.findIndex((p) => p === '$PATH' || p === '${PATH}');
  if (at < 0) return [...parts.filter((p) => p !== ''), platform].join(':');
  return parts.map((p) => (p === '$PATH' || p === '${PATH}' ? platform : p)).filter((p) => p !== '').join(':');
}
