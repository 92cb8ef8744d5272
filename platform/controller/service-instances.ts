// Provisioned services and their bindings to apps: provision and unprovision through the offering's
// gateway, one set of credentials per binding, revoked (unbound at the gateway) on removal.
import type { BoundService } from '../bus';
import { serviceCreateRequest, type ServiceCredentials, type ServiceInstance } from '../contract';
import type { Log } from '../log';
import { CcError, ErrorCodes } from './errors';
import type { GatewayClient } from './gateway-client';
import type { ServiceOfferings } from './service-offerings';
import { nowSeconds, type Store } from './store';
import type { User } from './users';

export interface ServiceRecord {
  id: number;
  ownerId: number;
  name: string;
  label: string;
  type: string;
  vendor: string;
  version: string;
  plan: string;
  planOption: string | null;
  tags: string[];
  gatewayId: string;
  credentials: ServiceCredentials;
  createdAt: number;
  updatedAt: number;
}

type Row = Record<string, unknown>;
const toService = (r: Row): ServiceRecord => ({
  id: Number(r.id), ownerId: Number(r.owner_id), name: String(r.name), label: String(r.label), type: String(r.type),
  vendor: String(r.vendor), version: String(r.version), plan: String(r.plan), planOption: r.plan_option === null ? null : String(r.plan_option),
  tags: JSON.parse(String(r.tags)) as string[], gatewayId: String(r.gateway_id),
  credentials: JSON.parse(String(r.credentials)) as ServiceCredentials, createdAt: Number(r.created_at), updatedAt: Number(r.updated_at),
});

export interface ServiceInstancesOptions {
  store: Store;
  offerings: ServiceOfferings;
  gateway: GatewayClient;
  log: Log;
  /** Most services a user may hold. */
  serviceLimit: number;
}

export class ServiceInstances {
  constructor(private readonly o: ServiceInstancesOptions) {}

  private get db(): Store['db'] { return this.o.store.db; }

  // ---- reading -------------------------------------------------------------------------

  list(user: User): ServiceRecord[] {
    const rows = user.admin ? this.db.prepare('SELECT * FROM services ORDER BY id').all() : this.db.prepare('SELECT * FROM services WHERE owner_id = ? ORDER BY id').all(user.id);
    return (rows as Row[]).map(toService);
  }

  /** The user's service of that name (an admin's own first, else anyone's), or 500 (service not found). */
  get(user: User, name: string): ServiceRecord {
    const own = this.db.prepare('SELECT * FROM services WHERE owner_id = ? AND name = ?').get(user.id, name) as Row | undefined;
    const any = own ?? (user.admin ? this.db.prepare('SELECT * FROM services WHERE name = ? ORDER BY id LIMIT 1').get(name) as Row | undefined : undefined);
    if (!any) throw new CcError(ErrorCodes.serviceNotFound, `service ${name} not found`);
    return toService(any);
  }

  count(ownerId: number): number {
    return Number((this.db.prepare('SELECT COUNT(*) AS n FROM services WHERE owner_id = ?').get(ownerId) as Row).n);
  }

  view(s: ServiceRecord, withCredentials = false): ServiceInstance {
    return {
      name: s.name, type: s.type, vendor: s.vendor, version: s.version, tier: s.plan, properties: {},
      meta: { created: Math.floor(s.createdAt), updated: Math.floor(s.updatedAt), tags: s.tags, version: 1 },
      label: s.label, bound_apps: this.boundApps(s.id).map((a) => a.name),
      ...(withCredentials ? { credentials: s.credentials } : {}),
    };
  }

  boundApps(serviceId: number): Array<{ id: number; name: string }> {
    return (this.db.prepare('SELECT apps.id, apps.name FROM bindings JOIN apps ON apps.id = bindings.app_id WHERE service_id = ? ORDER BY apps.id').all(serviceId) as Row[])
      .map((r) => ({ id: Number(r.id), name: String(r.name) }));
  }

  /** Names of the services bound to the app, in binding order (the app's `services`). */
  namesOf(appId: number): string[] {
    return (this.db.prepare('SELECT services.name FROM bindings JOIN services ON services.id = bindings.service_id WHERE app_id = ? ORDER BY bindings.id').all(appId) as Row[]).map((r) => String(r.name));
  }

  /** What `dea.<id>.start` carries: each binding with its own credentials. */
  forDea(appId: number): BoundService[] {
    const rows = this.db.prepare('SELECT services.*, bindings.credentials AS binding_credentials FROM bindings JOIN services ON services.id = bindings.service_id WHERE app_id = ? ORDER BY bindings.id').all(appId) as Row[];
    return rows.map((r) => {
      const s = toService(r);
      return {
        name: s.name, type: s.type, label: s.label, vendor: s.vendor, version: s.version, tags: s.tags, plan: s.plan,
        plan_option: s.planOption, credentials: JSON.parse(String(r.binding_credentials)) as Record<string, unknown>,
      };
    });
  }

  // ---- provisioning --------------------------------------------------------------------

  async provision(user: User, body: unknown): Promise<ServiceRecord> {
    const r = serviceCreateRequest.safeParse(body);
    if (!r.success) throw new CcError(ErrorCodes.badRequest, r.error.issues[0]?.message ?? 'bad request');
    const req = r.data;
    const used = this.count(user.id);
    if (used >= this.o.serviceLimit) throw new CcError(ErrorCodes.tooManyServices, `Too many Services provisioned: ${used}, you're allowed: ${this.o.serviceLimit}`);
    const offering = this.o.offerings.find(req.vendor, req.version);
    const plan = req.tier ?? offering?.plans[0] ?? 'free';
    if (!offering || !offering.plans.includes(plan)) {
      throw new CcError(ErrorCodes.serviceNotFound, `no service ${req.vendor}${req.version ? ` ${req.version}` : ''}${req.tier ? ` with plan ${req.tier}` : ''} is offered; see GET /info/services`);
    }
    if (this.db.prepare('SELECT 1 FROM services WHERE owner_id = ? AND name = ?').get(user.id, req.name)) throw duplicate(req.name);
    const planOption = req.options?.plan_option;
    const conf = await this.o.gateway.provision(offering.url, { label: offering.label, name: req.name, plan, email: user.email, ...(planOption ? { plan_option: planOption } : {}) });
    const now = nowSeconds();
    try {
      const info = this.db.prepare(`
        INSERT INTO services (owner_id, name, label, type, vendor, version, plan, plan_option, tags, gateway_id, configuration, credentials, created_at, updated_at)
        VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
      `).run(user.id, req.name, offering.label, offering.type, offering.vendor, offering.version, plan, planOption ?? null,
        JSON.stringify(offering.tags), conf.service_id, JSON.stringify(conf.configuration ?? null), JSON.stringify(conf.credentials), now, now);
      return this.byId(Number(info.lastInsertRowid));
    } catch (e) {
      // Another request took the name meanwhile: give back what the gateway made.
      await this.o.gateway.unprovision(offering.url, conf.service_id).catch((err: unknown) => this.o.log.error(`unprovisioning ${conf.service_id}`, err));
      if (String(e).includes('UNIQUE')) throw duplicate(req.name);
      throw e;
    }
  }

  /** Unbinds every app (revoking their credentials), then unprovisions; answers the apps that were bound. */
  async unprovision(s: ServiceRecord): Promise<number[]> {
    const url = this.gatewayUrl(s);
    const apps = this.boundApps(s.id);
    for (const a of apps) await this.unbindOne(s, a.id, url);
    await this.o.gateway.unprovision(url, s.gatewayId);
    this.db.prepare('DELETE FROM services WHERE id = ?').run(s.id);
    return apps.map((a) => a.id);
  }

  // ---- binding -------------------------------------------------------------------------

  /** The services named by an app's `services` list, all checked before anything changes (500 for an unknown one). */
  resolve(user: User, raw: readonly unknown[]): ServiceRecord[] {
    const names = raw.map((n) => {
      if (typeof n !== 'string') throw new CcError(ErrorCodes.badRequest, 'services must be an array of service names');
      return n;
    });
    return [...new Set(names)].map((n) => this.get(user, n));
  }

  /** Makes the app's bindings exactly `wanted`; answers whether any changed. */
  async sync(user: User, appId: number, wanted: readonly ServiceRecord[]): Promise<boolean> {
    const have = new Set(this.namesOf(appId));
    const want = new Set(wanted.map((s) => s.name));
    let changed = false;
    for (const s of wanted) {
      if (have.has(s.name)) continue;
      const url = this.gatewayUrl(s);
      const h = await this.o.gateway.bind(url, { service_id: s.gatewayId, label: s.label, email: user.email, binding_options: {} });
      try {
        this.db.prepare('INSERT INTO bindings (service_id, app_id, handle_id, credentials, created_at) VALUES (?, ?, ?, ?, ?)').run(s.id, appId, h.service_id, JSON.stringify(h.credentials), nowSeconds());
      } catch (e) {
        await this.o.gateway.unbind(url, s.gatewayId, h.service_id).catch(() => undefined);
        if (!String(e).includes('UNIQUE')) throw e;
        continue;
      }
      changed = true;
    }
    for (const name of have) {
      if (want.has(name)) continue;
      const s = this.boundService(appId, name);
      if (!s) continue;
      await this.unbindOne(s, appId, this.gatewayUrl(s));
      changed = true;
    }
    return changed;
  }

  /** Before an app is deleted: its bindings are revoked where the gateway still answers. */
  async unbindAll(appId: number): Promise<void> {
    for (const name of this.namesOf(appId)) {
      const s = this.boundService(appId, name);
      if (!s) continue;
      try { await this.unbindOne(s, appId, this.gatewayUrl(s)); } catch (e) {
        this.o.log.warn(`could not revoke the binding of ${s.name}: ${(e as Error).message}`);
      }
    }
  }

  private async unbindOne(s: ServiceRecord, appId: number, url: string): Promise<void> {
    const b = this.db.prepare('SELECT handle_id FROM bindings WHERE service_id = ? AND app_id = ?').get(s.id, appId) as Row | undefined;
    if (!b) return;
    await this.o.gateway.unbind(url, s.gatewayId, String(b.handle_id));
    this.db.prepare('DELETE FROM bindings WHERE service_id = ? AND app_id = ?').run(s.id, appId);
  }

  private boundService(appId: number, name: string): ServiceRecord | undefined {
    const r = this.db.prepare('SELECT services.* FROM bindings JOIN services ON services.id = bindings.service_id WHERE app_id = ? AND services.name = ?').get(appId, name) as Row | undefined;
    return r ? toService(r) : undefined;
  }

  private byId(id: number): ServiceRecord {
    return toService(this.db.prepare('SELECT * FROM services WHERE id = ?').get(id) as Row);
  }

  private gatewayUrl(s: ServiceRecord): string {
    const o = this.o.offerings.byLabelOf(s.label);
    if (!o) throw new CcError(ErrorCodes.serviceGatewayError, `the gateway of ${s.label} is not running (no offering announced); try again when it is`);
    return o.url;
  }
}

function duplicate(name: string): CcError {
  // v1 answered a taken name as a validation failure (400).
  return new CcError(ErrorCodes.badRequest, `Validation failed: a service named ${name} already exists`);
}
