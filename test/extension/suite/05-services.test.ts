import * as assert from 'node:assert/strict';
import * as path from 'node:path';
import * as vscode from 'vscode';
import type { PushOutcome } from '../../../extension/pushWorkspace';
import type { PocketFoundryTestApi, ServiceItemSnapshot } from '../../../extension/testApi';
import { activateExtension, findApp, httpGet, workspaceRoot } from '../helpers';
import { waitFor } from '../../platform/support/wait';

const app = 'env-echo';
const svc = 'ext-db';

describe('Services view: create, bind, copy the URI, unbind, delete', function () {
  this.timeout(240_000);
  let api: PocketFoundryTestApi;
  /** The binding's DATABASE_URL, as the app saw it. */
  let databaseUrl = '';

  before(async () => {
    api = await activateExtension();
    await vscode.commands.executeCommand('workbench.view.extension.pocketFoundry');
    const outcome = await vscode.commands.executeCommand<PushOutcome>('pocketFoundry.pushWorkspace', vscode.Uri.file(path.join(workspaceRoot(), app)));
    assert.equal(outcome.kind, 'pushed', JSON.stringify(outcome));
  });

  async function group(name: 'Marketplace' | 'Services'): Promise<ServiceItemSnapshot | undefined> {
    return (await api.servicesTree()).find((g) => g.label === name);
  }

  async function env(): Promise<Record<string, string | null>> {
    const ep = await api.ensurePlatform();
    const res = await httpGet(ep.router, `${app}.localhost`);
    assert.equal(res.status, 200, res.body);
    return JSON.parse(res.body) as Record<string, string | null>;
  }

  it('lists the installed offerings in the Marketplace', async () => {
    const market = await waitFor('postgresql offered', async () => {
      const g = await group('Marketplace');
      return g?.children.some((c) => c.label === 'postgresql') ? g : undefined;
    }, { timeoutMs: 30_000 });
    assert.ok(market.children.every((c) => c.contextValue === 'offering'));
  });

  it('refuses a bad name as the API would, and creates nothing', async () => {
    api.answerPrompts(['postgresql', 'bad name!']);
    const created = await vscode.commands.executeCommand('pocketFoundry.services.create');
    assert.equal(created, undefined);
    assert.equal((await group('Services'))?.children.length, 0);
  });

  it('creates a PostgreSQL service from the type pick and the name box', async () => {
    api.answerPrompts(['postgresql', svc]);
    const created = await vscode.commands.executeCommand<{ name: string; vendor: string } | undefined>('pocketFoundry.services.create');
    assert.equal(created?.name, svc);
    const item = (await group('Services'))?.children.find((c) => c.label === svc);
    assert.ok(item, 'the service is in the tree');
    assert.equal(item.contextValue, 'service.unbound');
    assert.match(item.description, /^postgresql-\d+ · free · not bound$/);
  });

  it('binds it from the app\'s context menu: the tree shows the app under it, the app sees DATABASE_URL', async () => {
    const appNode = findApp(await api.tree(), app);
    assert.ok(appNode);
    api.answerPrompts([svc]);
    assert.equal(await vscode.commands.executeCommand('pocketFoundry.services.bind', appNode.node), true);
    const item = await waitFor('bound in the tree', async () => {
      const s = (await group('Services'))?.children.find((c) => c.label === svc);
      return s?.contextValue === 'service.bound' ? s : undefined;
    });
    assert.deepEqual(item.children.map((c) => [c.label, c.contextValue]), [[app, 'serviceBinding']]);
    const e = await waitFor('the restarted app sees the service', async () => {
      const got = await env().catch(() => undefined);
      return got?.DATABASE_URL ? got : undefined;
    }, { timeoutMs: 60_000 });
    assert.match(e.DATABASE_URL ?? '', /^postgres:\/\/[^:]+:[^@]+@127\.0\.0\.1:\d+\//);
    databaseUrl = e.DATABASE_URL ?? '';
    const vcap = JSON.parse(e.VCAP_SERVICES ?? '{}') as Record<string, { name: string }[]>;
    assert.deepEqual(Object.values(vcap).flat().map((s) => s.name), [svc]);
  });

  it('lists the bound service in the instance panel with the password masked', async () => {
    await vscode.commands.executeCommand('pocketFoundry.showInstances', app);
    const snap = await waitFor('panel lists the service', () => {
      const s = api.panel(app);
      return s?.services.length === 1 ? s : undefined;
    }, { timeoutMs: 20_000 });
    const row = snap.services[0];
    assert.ok(row);
    assert.equal(row.name, svc);
    assert.match(row.label, /^postgresql-/);
    assert.equal(row.plan, 'free');
    assert.equal(row.credentials?.password, '••••••••');
    const password = decodeURIComponent(new URL(databaseUrl).password);
    assert.ok(password.length >= 8, 'the binding has a password');
    assert.ok(!JSON.stringify(snap.services).includes(password), 'no password in the panel');
  });

  it('copies the connection URI to the clipboard and opens psql with the password in the environment', async () => {
    const uri = await vscode.commands.executeCommand<string | undefined>('pocketFoundry.services.copyUri', svc);
    assert.match(uri ?? '', /^postgres:\/\//);
    assert.equal(await vscode.env.clipboard.readText(), uri);
    const name = await vscode.commands.executeCommand<string | undefined>('pocketFoundry.services.openTerminal', svc);
    assert.equal(name, `psql: ${svc}`);
    const t = vscode.window.terminals.find((x) => x.name === name);
    assert.ok(t);
    const opts = t.creationOptions as vscode.TerminalOptions;
    assert.ok(opts.env?.PGPASSWORD, 'PGPASSWORD set');
    assert.ok(![opts.shellArgs ?? []].flat().join(' ').includes(opts.env.PGPASSWORD ?? ''), 'no password on the command line');
    t.dispose();
  });

  it('unbinds from the service\'s bound app node: the app restarts without it', async () => {
    const item = (await group('Services'))?.children.find((c) => c.label === svc);
    const binding = item?.children[0];
    assert.ok(binding);
    assert.equal(await vscode.commands.executeCommand('pocketFoundry.services.unbind', binding.node), true);
    await waitFor('unbound in the tree', async () => (await group('Services'))?.children.find((c) => c.label === svc)?.contextValue === 'service.unbound');
    await waitFor('the app no longer sees it', async () => {
      const got = await env().catch(() => undefined);
      return got !== undefined && got.DATABASE_URL === null;
    }, { timeoutMs: 60_000 });
  });

  it('deletes after the warning is answered; cancelling keeps it', async () => {
    api.answerPrompts([undefined]);
    assert.equal(await vscode.commands.executeCommand('pocketFoundry.services.delete', svc), false);
    assert.ok((await group('Services'))?.children.some((c) => c.label === svc));
    api.answerPrompts(['Delete']);
    assert.equal(await vscode.commands.executeCommand('pocketFoundry.services.delete', svc), true);
    await waitFor('gone from the tree', async () => !(await group('Services'))?.children.some((c) => c.label === svc));
    const appNode = findApp(await api.tree(), app);
    assert.ok(appNode);
    await vscode.commands.executeCommand('pocketFoundry.delete', appNode.node, { skipConfirmation: true });
  });
});
