// The Services commands: create, bind/unbind (from a service or from an app), delete, copy the
// connection URI, and a terminal with the service's own client. Prompts go through servicePrompts.
import * as vscode from 'vscode';
import type { CloudControllerClient, ServiceCredentials, ServiceInstance } from '../platform/client';
import type { ExplorerNode } from './appExplorer';
import type { PocketFoundry } from './context';
import { flattenOfferings, serviceLabel, type ServiceTreeNode } from './serviceExplorer';
import { confirm, input, pick } from './servicePrompts';

type Target = ServiceTreeNode | ExplorerNode | string | undefined;

/** The API's rule for service names (serviceCreateRequest), checked before asking the platform. */
const serviceName = /^[\w.-]+$/;

export function validateServiceName(v: string): string | undefined {
  if (!v) return 'A service needs a name.';
  if (v.length > 100) return 'The name is longer than 100 characters.';
  return serviceName.test(v) ? undefined : 'The name may hold only letters, digits, _, - and .';
}

export function registerServiceCommands(ctx: PocketFoundry, reg: (id: string, fn: (...args: never[]) => unknown) => vscode.Disposable): vscode.Disposable[] {
  return [
    reg('pocketFoundry.services.refresh', () => { ctx.services.refresh(); }),
    reg('pocketFoundry.services.create', () => createService(ctx)),
    reg('pocketFoundry.services.bind', (t?: Target) => bind(ctx, t)),
    reg('pocketFoundry.services.unbind', (t?: Target) => unbind(ctx, t)),
    reg('pocketFoundry.services.delete', (t?: Target) => deleteService(ctx, t)),
    reg('pocketFoundry.services.copyUri', (t?: Target) => copyUri(ctx, t)),
    reg('pocketFoundry.services.openTerminal', (t?: Target) => openTerminal(ctx, t)),
  ];
}

function changed(ctx: PocketFoundry, app?: string): void {
  ctx.services.refreshSoon();
  ctx.explorer.refreshSoon();
  if (app) ctx.panels.notify(app);
}

async function createService(ctx: PocketFoundry): Promise<ServiceInstance | undefined> {
  const c = await ctx.client();
  const offerings = flattenOfferings(await c.services());
  if (offerings.length === 0) { void vscode.window.showWarningMessage('No service is offered: none of PostgreSQL, Redis or MySQL is installed.'); return undefined; }
  const chosen = await pick(offerings.map((o) => ({ label: o.vendor, description: `${o.version} · ${o.type}`, detail: o.info.description, o })), 'Create a service: which type?');
  if (!chosen) return undefined;
  const taken = new Set((await c.serviceInstances()).map((s) => s.name));
  const name = await input({
    prompt: `Name of the new ${chosen.o.label} service`,
    placeHolder: `${chosen.o.vendor}-db`,
    validate: (v) => validateServiceName(v) ?? (taken.has(v) ? `A service named ${v} exists already.` : undefined),
  });
  if (!name) return undefined;
  const created = await vscode.window.withProgress({ location: vscode.ProgressLocation.Notification, title: `Creating ${name} (${chosen.o.label})` },
    () => c.createService({ name, vendor: chosen.o.vendor, version: chosen.o.version, tier: 'free' }));
  changed(ctx);
  void vscode.window.setStatusBarMessage(`Created ${name}`, 3000);
  return created;
}

/** The service a command is about: the node's, a name, or a quick pick among those matching `filter`. */
async function serviceOf(c: CloudControllerClient, t: Target, verb: string, filter: (s: ServiceInstance) => boolean = () => true): Promise<ServiceInstance | undefined> {
  const name = typeof t === 'string' ? t : t?.kind === 'service' ? t.service.name : t?.kind === 'boundApp' ? t.service : undefined;
  const all = await c.serviceInstances();
  if (name) {
    const s = all.find((x) => x.name === name);
    if (!s) void vscode.window.showErrorMessage(`Service ${name} does not exist (any more).`);
    return s;
  }
  const candidates = all.filter(filter);
  if (candidates.length === 0) { void vscode.window.showInformationMessage(all.length ? `No service to ${verb.toLowerCase()}.` : 'No services yet: create one first.'); return undefined; }
  const chosen = await pick(candidates.map((s) => ({ label: s.name, description: serviceLabel(s), s })), `${verb}: which service?`);
  return chosen?.s;
}

async function pickAppName(c: CloudControllerClient, placeHolder: string, filter: (name: string) => boolean): Promise<string | undefined> {
  const apps = (await c.apps()).filter((a) => filter(a.name));
  if (apps.length === 0) { void vscode.window.showInformationMessage('No app to choose from.'); return undefined; }
  return (await pick(apps.map((a) => ({ label: a.name, description: a.state })), placeHolder))?.label;
}

async function bind(ctx: PocketFoundry, t: Target): Promise<boolean> {
  const c = await ctx.client();
  let app = typeof t === 'object' && t.kind === 'app' ? t.app.name : undefined;
  const service = await serviceOf(c, app ? undefined : t, 'Bind', (s) => !app || !(s.bound_apps ?? []).includes(app));
  if (!service) return false;
  app ??= await pickAppName(c, `Bind ${service.name} to which app?`, (a) => !(service.bound_apps ?? []).includes(a));
  if (!app) return false;
  const target = app;
  await vscode.window.withProgress({ location: vscode.ProgressLocation.Notification, title: `Binding ${service.name} to ${target} (the app restarts)` }, () => c.bindService(service.name, target));
  changed(ctx, target);
  return true;
}

async function unbind(ctx: PocketFoundry, t: Target): Promise<boolean> {
  const c = await ctx.client();
  let app = typeof t === 'object' && t.kind === 'app' ? t.app.name : typeof t === 'object' && t.kind === 'boundApp' ? t.app : undefined;
  const fromApp = typeof t === 'object' && t.kind === 'app';
  const service = await serviceOf(c, fromApp ? undefined : t, 'Unbind', (s) => (s.bound_apps ?? []).length > 0 && (!app || (s.bound_apps ?? []).includes(app)));
  if (!service) return false;
  app ??= await pickAppName(c, `Unbind ${service.name} from which app?`, (a) => (service.bound_apps ?? []).includes(a));
  if (!app) return false;
  const target = app;
  await vscode.window.withProgress({ location: vscode.ProgressLocation.Notification, title: `Unbinding ${service.name} from ${target} (the app restarts)` }, () => c.unbindService(service.name, target));
  changed(ctx, target);
  return true;
}

async function deleteService(ctx: PocketFoundry, t: Target): Promise<boolean> {
  const c = await ctx.client();
  const service = await serviceOf(c, t, 'Delete');
  if (!service) return false;
  const bound = service.bound_apps ?? [];
  const detail = `Its data is dropped for good.${bound.length ? ` It is unbound from ${bound.join(', ')}, which restart${bound.length === 1 ? 's' : ''} without it.` : ''}`;
  if (!await confirm(`Delete the service ${service.name}?`, detail, 'Delete')) return false;
  await vscode.window.withProgress({ location: vscode.ProgressLocation.Notification, title: `Deleting ${service.name}` }, () => c.deleteService(service.name));
  changed(ctx);
  for (const a of bound) ctx.panels.notify(a);
  return true;
}

async function credentialsOf(ctx: PocketFoundry, t: Target, verb: string): Promise<{ service: ServiceInstance; creds: ServiceCredentials } | undefined> {
  const c = await ctx.client();
  const s = await serviceOf(c, t, verb);
  if (!s) return undefined;
  const full = await c.serviceInstance(s.name);
  if (!full?.credentials) { void vscode.window.showErrorMessage(`The platform gave no credentials for ${s.name}.`); return undefined; }
  return { service: full, creds: full.credentials };
}

async function copyUri(ctx: PocketFoundry, t: Target): Promise<string | undefined> {
  const found = await credentialsOf(ctx, t, 'Copy URI');
  const uri = found?.creds.uri;
  if (!found || !uri) return undefined;
  await vscode.env.clipboard.writeText(uri);
  void vscode.window.setStatusBarMessage(`Copied the connection URI of ${found.service.name} (it holds the password)`, 4000);
  return uri;
}

/** The client command for a service, the password passed by environment (never on the command line). */
export function clientCommand(vendor: string, cr: ServiceCredentials): { command: string; args: string[]; env: Record<string, string> } | undefined {
  const host = cr.hostname ?? cr.host ?? '127.0.0.1';
  const port = String(cr.port ?? '');
  const user = cr.username ?? cr.user ?? '';
  const password = cr.password ?? '';
  if (vendor.startsWith('postgres')) return { command: 'psql', args: [`postgres://${encodeURIComponent(user)}@${host}:${port}/${encodeURIComponent(cr.name ?? '')}`], env: { PGPASSWORD: password } };
  if (vendor.startsWith('redis')) return { command: 'redis-cli', args: ['-u', `redis://${host}:${port}`], env: { REDISCLI_AUTH: password } };
  if (vendor.startsWith('mysql') || vendor.startsWith('mariadb')) return { command: 'mysql', args: ['-h', host, '-P', port, '-u', user, cr.name ?? ''], env: { MYSQL_PWD: password } };
  return undefined;
}

async function openTerminal(ctx: PocketFoundry, t: Target): Promise<string | undefined> {
  const found = await credentialsOf(ctx, t, 'Open Terminal');
  if (!found) return undefined;
  const cmd = clientCommand(found.service.vendor, found.creds);
  if (!cmd) { void vscode.window.showWarningMessage(`No client is known for ${serviceLabel(found.service)}.`); return undefined; }
  const name = `${cmd.command}: ${found.service.name}`;
  const terminal = vscode.window.createTerminal({ name, shellPath: cmd.command, shellArgs: cmd.args, env: cmd.env });
  terminal.show();
  return name;
}
