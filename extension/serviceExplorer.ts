// The Services view: the marketplace (offerings) and the provisioned services with their bound apps.
// Refreshed by platform events (bindings change apps) and after each service command; never polled.
import * as vscode from 'vscode';
import type { CloudControllerClient, ServiceInstance, ServiceOfferingInfo } from '../platform/client';

export interface GroupNode { kind: 'group'; group: 'offerings' | 'services' }
export interface OfferingNode extends Offering { kind: 'offering' }
export interface ServiceNode { kind: 'service'; service: ServiceInstance }
export interface BoundAppNode { kind: 'boundApp'; service: string; app: string }
export type ServiceTreeNode = GroupNode | OfferingNode | ServiceNode | BoundAppNode;

/** An offering as the create command lists it (`vendor` is what `POST /services` takes). */
export interface Offering { type: string; vendor: string; version: string; label: string; info: ServiceOfferingInfo }

/** Flattens `GET /info/services` ({type: {vendor: {version: info}}}), sorted by vendor. */
export function flattenOfferings(info: Record<string, Record<string, Record<string, ServiceOfferingInfo>>>): Offering[] {
  const out: Offering[] = [];
  for (const [type, vendors] of Object.entries(info)) {
    for (const [vendor, versions] of Object.entries(vendors)) {
      for (const [version, o] of Object.entries(versions)) out.push({ type, vendor, version, label: `${vendor}-${version}`, info: o });
    }
  }
  return out.sort((a, b) => a.vendor.localeCompare(b.vendor) || a.version.localeCompare(b.version));
}

/** The service's label (`postgresql-15`), as VCAP_SERVICES keys it. */
export function serviceLabel(s: ServiceInstance): string {
  return s.label ?? `${s.vendor}-${s.version}`;
}

export class ServiceExplorer implements vscode.TreeDataProvider<ServiceTreeNode>, vscode.Disposable {
  private readonly changed = new vscode.EventEmitter<ServiceTreeNode | undefined>();
  readonly onDidChangeTreeData = this.changed.event;
  private debounce: NodeJS.Timeout | undefined;
  private lastServices: ServiceInstance[] = [];
  private lastError: string | undefined;

  constructor(private readonly client: () => Promise<CloudControllerClient | undefined>) {}

  /** The services as last read (bound apps included). */
  get services(): readonly ServiceInstance[] { return this.lastServices; }

  get error(): string | undefined { return this.lastError; }

  refreshSoon(delayMs = 30): void {
    if (this.debounce) return;
    this.debounce = setTimeout(() => { this.debounce = undefined; this.changed.fire(undefined); }, delayMs);
  }

  refresh(): void {
    if (this.debounce) { clearTimeout(this.debounce); this.debounce = undefined; }
    this.changed.fire(undefined);
  }

  getTreeItem(node: ServiceTreeNode): vscode.TreeItem {
    switch (node.kind) {
      case 'group': {
        const item = new vscode.TreeItem(node.group === 'offerings' ? 'Marketplace' : 'Services', vscode.TreeItemCollapsibleState.Expanded);
        item.contextValue = `serviceGroup.${node.group}`;
        item.id = `group:${node.group}`;
        return item;
      }
      case 'offering': {
        const item = new vscode.TreeItem(node.vendor, vscode.TreeItemCollapsibleState.None);
        item.description = `${node.version} · ${node.type}`;
        item.tooltip = `${node.info.description}\nplans: ${Object.keys(node.info.tiers).join(', ')}`;
        item.iconPath = new vscode.ThemeIcon(node.type === 'key-value' ? 'key' : 'database');
        item.contextValue = 'offering';
        return item;
      }
      case 'service': {
        const bound = node.service.bound_apps ?? [];
        const item = new vscode.TreeItem(node.service.name, bound.length ? vscode.TreeItemCollapsibleState.Expanded : vscode.TreeItemCollapsibleState.None);
        item.id = `service:${node.service.name}`;
        item.description = `${serviceLabel(node.service)} · ${node.service.tier} · ${bound.length ? `${bound.length} bound` : 'not bound'}`;
        item.iconPath = new vscode.ThemeIcon('database');
        item.contextValue = bound.length ? 'service.bound' : 'service.unbound';
        return item;
      }
      case 'boundApp': {
        const item = new vscode.TreeItem(node.app, vscode.TreeItemCollapsibleState.None);
        item.id = `bound:${node.service}:${node.app}`;
        item.description = 'bound app';
        item.iconPath = new vscode.ThemeIcon('package');
        item.contextValue = 'serviceBinding';
        return item;
      }
    }
  }

  async getChildren(node?: ServiceTreeNode): Promise<ServiceTreeNode[]> {
    if (!node) {
      const c = await this.client();
      return c ? [{ kind: 'group', group: 'offerings' }, { kind: 'group', group: 'services' }] satisfies GroupNode[] : [];
    }
    if (node.kind === 'service') return (node.service.bound_apps ?? []).map((app): BoundAppNode => ({ kind: 'boundApp', service: node.service.name, app }));
    if (node.kind !== 'group') return [];
    const c = await this.client();
    if (!c) return [];
    try {
      if (node.group === 'offerings') {
        return flattenOfferings(await c.services()).map((o): OfferingNode => ({ kind: 'offering', ...o }));
      }
      const services = (await c.serviceInstances()).sort((a, b) => a.name.localeCompare(b.name));
      this.lastServices = services;
      this.lastError = undefined;
      void vscode.commands.executeCommand('setContext', 'pocketFoundry.hasServices', services.length > 0);
      return services.map((service): ServiceNode => ({ kind: 'service', service }));
    } catch (e) {
      this.lastError = e instanceof Error ? e.message : String(e);
      return [];
    }
  }

  dispose(): void {
    if (this.debounce) clearTimeout(this.debounce);
    this.changed.dispose();
  }
}
