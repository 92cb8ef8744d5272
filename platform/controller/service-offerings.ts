// The service offerings gateways announce (`POST /services/v1/offerings`, repeated every 30 s): an
// offering not refreshed within its time to live is gone. `GET /info/services` is built from them.
import { serviceOffering, type ServiceOffering, type ServicesInfo } from '../contract';
import { CcError, ErrorCodes } from './errors';

export interface LiveOffering extends ServiceOffering {
  /** `<name>` and `<version>` of the label `<name>-<version>`. */
  vendor: string;
  version: string;
  type: string;
  seenAt: number;
  id: number;
}

/** v1's service type, from the name when the gateway does not say. */
function typeOf(vendor: string, tags: readonly string[]): string {
  if (/^(mysql|mariadb|postgresql|postgres)/.test(vendor) || tags.includes('relational')) return 'database';
  if (/^(redis|mongodb|memcached)/.test(vendor) || tags.includes('key-value')) return 'key-value';
  return 'generic';
}

export class ServiceOfferings {
  private readonly byLabel = new Map<string, LiveOffering>();
  private nextId = 1;

  constructor(private readonly ttlMs: number, private readonly now: () => number = Date.now) {}

  announce(body: unknown): LiveOffering {
    const r = serviceOffering.safeParse(body);
    if (!r.success) throw new CcError(ErrorCodes.badRequest, r.error.issues[0]?.message ?? 'bad offering');
    const o = r.data;
    const cut = o.label.lastIndexOf('-');
    const vendor = o.label.slice(0, cut);
    const version = o.label.slice(cut + 1);
    const live: LiveOffering = {
      ...o, vendor, version, type: o.type ?? typeOf(vendor, o.tags), seenAt: this.now(), id: this.byLabel.get(o.label)?.id ?? this.nextId++,
    };
    this.byLabel.set(o.label, live);
    return live;
  }

  withdraw(label: string): boolean {
    return this.byLabel.delete(label);
  }

  live(): LiveOffering[] {
    const cutoff = this.now() - this.ttlMs;
    for (const [label, o] of this.byLabel) if (o.seenAt < cutoff) this.byLabel.delete(label);
    return [...this.byLabel.values()];
  }

  /** By label `<vendor>-<version>`, else (as v1's legacy API did) by vendor alone. */
  find(vendor: string, version: string | undefined): LiveOffering | undefined {
    const all = this.live();
    return all.find((o) => o.vendor === vendor && o.version === version) ?? all.find((o) => o.vendor === vendor);
  }

  byLabelOf(label: string): LiveOffering | undefined {
    return this.live().find((o) => o.label === label);
  }

  info(): ServicesInfo {
    const out: ServicesInfo = {};
    for (const o of this.live()) {
      const tiers = Object.fromEntries(o.plans.map((p, i) => [p, { options: {}, order: i + 1 }]));
      ((out[o.type] ??= {})[o.vendor] ??= {})[o.version] = {
        id: o.id, vendor: o.vendor, version: o.version, type: o.type, description: o.description, tiers, tags: o.tags,
      };
    }
    return out;
  }
}
