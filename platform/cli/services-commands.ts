// `pocket services`, `marketplace`, `create-service`, `delete-service`, `bind-service`,
// `unbind-service` and `service`: the v1 services flow (binding is the app's `services` list).
import type { Command } from 'commander';
import { CloudControllerError, ErrorCodes, formatTable, type CloudControllerClient, type ServiceInstance, type ServicesInfo } from '../client';
import { UserFacingError } from '../log';
import { out } from './output';
import { confirm, mustApp, withClient } from './shared';

/** Every offering, flattened from `{type: {vendor: {version: offering}}}`. */
function offerings(info: ServicesInfo): Array<{ type: string; vendor: string; version: string; description: string; plans: string[] }> {
  return Object.entries(info).flatMap(([type, vendors]) => Object.entries(vendors).flatMap(([vendor, versions]) =>
    Object.entries(versions).map(([version, o]) => ({ type, vendor, version, description: o.description, plans: Object.keys(o.tiers) }))));
}

async function mustService(c: CloudControllerClient, name: string): Promise<ServiceInstance> {
  const s = await c.serviceInstance(name);
  if (!s) throw new CloudControllerError(ErrorCodes.serviceNotFound, 404, `Service ${name} not found. See \`pocket services\`.`);
  return s;
}

export function marketplaceCommand(cmd: Command): Promise<void> {
  return withClient(cmd, async (c) => {
    const list = offerings(await c.services());
    if (list.length === 0) { out('No services are offered (no service gateway has announced itself).'); return; }
    out(formatTable(['service', 'version', 'type', 'plans', 'description'], list.map((o) => [o.vendor, o.version, o.type, o.plans.join(', '), o.description])));
  });
}

export function servicesCommand(cmd: Command): Promise<void> {
  return withClient(cmd, async (c) => {
    const list = await c.serviceInstances();
    if (list.length === 0) { out('No services. Create one with `pocket create-service TYPE NAME` (see `pocket marketplace`).'); return; }
    out(formatTable(['name', 'service', 'version', 'plan', 'bound apps'], list.map((s) => [s.name, s.vendor, s.version, s.tier, (s.bound_apps ?? []).join(', ') || '-'])));
  });
}

export function createServiceCommand(cmd: Command, type: string, name: string, flags: { plan?: string; version?: string }): Promise<void> {
  return withClient(cmd, async (c) => {
    // As vmc did: TYPE is the vendor (postgresql, redis, mysql), looked up among the offerings.
    const matches = offerings(await c.services()).filter((o) => o.vendor === type && (!flags.version || o.version === flags.version));
    const o = matches[0];
    if (!o) throw new UserFacingError(`No service ${type}${flags.version ? ` ${flags.version}` : ''} is offered. See \`pocket marketplace\`.`);
    const s = await c.createService({ name, type: o.type, vendor: o.vendor, version: o.version, tier: flags.plan ?? o.plans[0] ?? 'free' });
    out(`Created service ${s.name} (${s.vendor} ${s.version}, plan ${s.tier}). Bind it with \`pocket bind-service ${s.name} APP\`.`);
  });
}

export function deleteServiceCommand(cmd: Command, name: string, flags: { force?: boolean }): Promise<void> {
  return withClient(cmd, async (c) => {
    const s = await mustService(c, name);
    const bound = s.bound_apps ?? [];
    if (!flags.force) {
      if (!process.stdin.isTTY) throw new UserFacingError(`Not deleting ${name} without confirmation: pass -f to delete it${bound.length ? ` (bound to ${bound.join(', ')})` : ''}.`);
      const note = bound.length ? ` Its data goes, and ${bound.join(', ')} ${bound.length === 1 ? 'restarts' : 'restart'} without it.` : ' Its data goes with it.';
      if (!await confirm(`Delete service ${name}?${note} [y/N] `)) { out('Not deleted.'); return; }
    }
    await c.deleteService(name);
    out(`Deleted service ${name}${bound.length ? ` (unbound from ${bound.join(', ')})` : ''}`);
  });
}

export function bindServiceCommand(cmd: Command, service: string, app: string): Promise<void> {
  return withClient(cmd, async (c) => {
    await mustService(c, service);
    await mustApp(c, app);
    await c.bindService(service, app);
    out(`Bound ${service} to ${app}; a started app restarts with it in VCAP_SERVICES.`);
  });
}

export function unbindServiceCommand(cmd: Command, service: string, app: string): Promise<void> {
  return withClient(cmd, async (c) => {
    const a = await mustApp(c, app);
    if (!a.services.includes(service)) throw new UserFacingError(`${service} is not bound to ${app}.`);
    await c.unbindService(service, app);
    out(`Unbound ${service} from ${app}; its credentials for ${app} are revoked.`);
  });
}

const secretKeys = /pass(word)?|secret|token/i;

/** Credentials with every secret masked, and the password in a URI too, unless shown. */
export function maskCredentials(creds: Record<string, unknown>, show: boolean): Array<[string, string]> {
  return Object.entries(creds).map(([k, v]) => {
    const text = typeof v === 'string' ? v : JSON.stringify(v);
    if (show) return [k, text];
    if (secretKeys.test(k)) return [k, '********'];
    return [k, typeof v === 'string' ? v.replace(/^([a-z][\w+.-]*:\/\/[^:/@]*:)[^@]*@/i, '$1********@') : text];
  });
}

export function serviceCommand(cmd: Command, name: string, flags: { show?: boolean }): Promise<void> {
  return withClient(cmd, async (c) => {
    const s = await mustService(c, name);
    out(`name:        ${s.name}`);
    out(`service:     ${s.vendor} ${s.version} (${s.type})`);
    out(`plan:        ${s.tier}`);
    out(`bound apps:  ${(s.bound_apps ?? []).join(', ') || '-'}`);
    out('credentials:');
    for (const [k, v] of maskCredentials(s.credentials ?? {}, flags.show === true)) out(`  ${k}: ${v}`);
    if (!flags.show) out('(secrets masked; --show to print them)');
  });
}

/** Binds what a manifest's `services:` names and the app does not have yet. */
export async function bindManifestServices(c: CloudControllerClient, app: string, services: readonly string[]): Promise<void> {
  const a = await mustApp(c, app);
  const missing = services.filter((s) => !a.services.includes(s));
  if (missing.length === 0) return;
  await c.updateApp(app, { services: [...a.services, ...missing], meta: { version: a.meta.version } });
  out(`  bound services: ${missing.join(', ')}`);
}
