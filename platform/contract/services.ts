// Services (PROTOCOL.md section 9): the offerings gateways announce, the service instances a user
// provisions, and the v1 gateway interface the controller calls. v1's legacy shapes throughout.
import { z } from 'zod';

const int = z.number().int();
const text = (what: string, max = 200): z.ZodString => z.string({ error: `${what} must be a string` }).max(max, { error: `${what} is longer than ${max} characters` });

/** Credentials of a v1 mysql/postgresql/redis service, plus the `uri` today's platforms give. */
export const serviceCredentials = z.object({
  name: z.string().optional(),
  hostname: z.string().optional(),
  host: z.string().optional(),
  port: int.optional(),
  user: z.string().optional(),
  username: z.string().optional(),
  password: z.string().optional(),
  uri: z.string().optional(),
}).catchall(z.unknown());
export type ServiceCredentials = z.infer<typeof serviceCredentials>;

/** `POST /services/v1/offerings` (header `X-VCAP-Service-Token`): a gateway announces what it offers, every 30 s. */
export const serviceOffering = z.object({
  label: text('label', 100).regex(/^[A-Za-z0-9_.]+-[A-Za-z0-9_.]+$/, { error: 'label must be <name>-<version>, e.g. postgresql-15' }),
  url: z.string({ error: 'url must be a string' }).url({ error: 'url must be an http URL' }).max(500),
  plans: z.array(text('a plan', 50).min(1), { error: 'plans must be an array of strings' }).min(1, { error: 'plans must name at least one plan' }).max(20).default(['free']),
  tags: z.array(text('a tag', 50), { error: 'tags must be an array of strings' }).max(20).default([]),
  description: text('description', 500).default(''),
  /** v1's service type (`database`, `key-value`, `generic`); derived from the name when absent. */
  type: text('type', 50).optional(),
  /** The gateway's rank for the default plan (v1's plan options); kept as given. */
  plan_options: z.record(z.string(), z.unknown()).optional(),
  /** v1's version list and aliases (`{current: "15"}`). */
  supported_versions: z.array(text('a version', 50)).max(20).optional(),
  version_aliases: z.record(z.string(), text('a version', 50)).optional(),
}, { error: 'request body must be a JSON object' });
export type ServiceOffering = z.infer<typeof serviceOffering>;

/** `GET /info/services`: `{type: {vendor: {version: {id, vendor, version, type, description, tiers}}}}`. */
export const serviceOfferingInfo = z.object({
  id: z.union([int, z.string()]),
  vendor: z.string(),
  version: z.string(),
  type: z.string(),
  description: z.string(),
  tiers: z.record(z.string(), z.object({ options: z.record(z.string(), z.unknown()).optional(), order: int.optional() })),
  /** Beyond v1: the offering's tags. */
  tags: z.array(z.string()).optional(),
});
export type ServiceOfferingInfo = z.infer<typeof serviceOfferingInfo>;
export const servicesInfo = z.record(z.string(), z.record(z.string(), z.record(z.string(), serviceOfferingInfo)));
export type ServicesInfo = z.infer<typeof servicesInfo>;

/** `POST /services`: what vmc sends (`tier` "free"); `plan_option` inside `options` as v1 read it. */
export const serviceCreateRequest = z.object({
  name: text('name', 100).regex(/^[\w.-]+$/, { error: 'name may hold only letters, digits, _, - and .' }),
  type: text('type', 50).optional(),
  vendor: text('vendor', 100).min(1, { error: 'vendor is required' }),
  version: text('version', 50).optional(),
  tier: text('tier', 50).optional(),
  options: z.object({ plan_option: text('options.plan_option', 100).optional() }).catchall(z.unknown()).optional(),
}, { error: 'request body must be a JSON object' });
export type ServiceCreateRequest = z.input<typeof serviceCreateRequest>;

/** One provisioned service as `GET /services` and `GET /services/:name` answer it (v1's `as_legacy`). */
export const serviceInstance = z.object({
  name: z.string(),
  type: z.string(),
  vendor: z.string(),
  version: z.string(),
  tier: z.string(),
  properties: z.record(z.string(), z.unknown()),
  meta: z.object({ created: z.number(), updated: z.number(), tags: z.array(z.string()), version: int }),
  /** Beyond v1: the offering's label and the apps bound to the service. */
  label: z.string().optional(),
  bound_apps: z.array(z.string()).optional(),
  /** Beyond v1, in `GET /services/:name` only: the service's own credentials (each binding has its own). */
  credentials: serviceCredentials.optional(),
});
export type ServiceInstance = z.infer<typeof serviceInstance>;
export const serviceInstanceList = z.array(serviceInstance);

// ---- the gateway interface (controller -> gateway, header X-VCAP-Service-Token) --------------------

/** `POST <gateway>/gateway/v1/configurations`. */
export const gatewayProvisionRequest = z.object({
  label: z.string().min(1).max(64), name: z.string().min(1).max(255), plan: z.string().min(1).max(32), email: z.string().max(255),
  plan_option: z.unknown().optional(),
});
export type GatewayProvisionRequest = z.infer<typeof gatewayProvisionRequest>;

/** The answer to a provision, and (with the handle id as `service_id`) to a bind. */
export const gatewayConfiguration = z.object({
  service_id: z.string().min(1),
  configuration: z.unknown().optional(),
  credentials: serviceCredentials,
});
export type GatewayConfiguration = z.infer<typeof gatewayConfiguration>;

/** `POST <gateway>/gateway/v1/configurations/:service_id/handles`. */
export const gatewayBindRequest = z.object({
  service_id: z.string().min(1).max(64), label: z.string().min(1).max(64), email: z.string().max(255), binding_options: z.unknown().optional(),
});
export type GatewayBindRequest = z.infer<typeof gatewayBindRequest>;

/** A gateway's error: `{code, description}`. */
export const gatewayError = z.object({ code: int.optional(), description: z.string().optional() });

/** Header a gateway and the controller authenticate each other with (v1's spelling; HTTP compares it without case). */
export const serviceTokenHeader = 'X-VCAP-Service-Token';
