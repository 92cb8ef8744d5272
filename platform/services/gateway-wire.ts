// The HTTP wire between the cloud controller and a service gateway, in v1's shape
// (vcap-services-base gateway.rb / asynchronous_service_gateway.rb): the offering a gateway
// announces, and the configuration (provision) and handle (bind) requests and answers. Both sides
// import these schemas; the auth header is v1's `X-VCAP-Service-Token`.
import { z } from 'zod';
import { serviceCredentials } from '../bus';

export const serviceTokenHeader = 'X-VCAP-Service-Token';

/** `POST <api>/services/v1/offerings`, every 30 s. */
export const serviceOffering = z.object({
  label: z.string().regex(/^[a-z][a-z0-9_]*-[0-9][0-9.]*$/),
  url: z.string().url(),
  plans: z.array(z.string()).min(1),
  tags: z.array(z.string()).default([]),
  description: z.string().default(''),
  supported_versions: z.array(z.string()).optional(),
  version_aliases: z.record(z.string(), z.string()).optional(),
});
export type ServiceOffering = z.infer<typeof serviceOffering>;

/** `POST /gateway/v1/configurations`. */
export const gatewayProvisionRequest = z.object({
  label: z.string().min(1).max(64),
  name: z.string().min(1).max(255),
  plan: z.string().min(1).max(32),
  email: z.string().max(255),
  plan_option: z.unknown().optional(),
});
export type GatewayProvisionRequest = z.infer<typeof gatewayProvisionRequest>;

/** `POST /gateway/v1/configurations/:service_id/handles`. */
export const gatewayBindRequest = z.object({
  service_id: z.string().min(1).max(64),
  label: z.string().min(1).max(64),
  email: z.string().max(255),
  binding_options: z.unknown().optional(),
});
export type GatewayBindRequest = z.infer<typeof gatewayBindRequest>;

export const gatewayCredentials = serviceCredentials.omit({ node_id: true });
export type GatewayCredentials = z.infer<typeof gatewayCredentials>;

/** A provision's or a bind's answer: `service_id` is the instance's id, or the binding's (the handle id). */
export const gatewayHandle = z.object({
  service_id: z.string(),
  configuration: z.object({ plan: z.string(), version: z.string() }).passthrough(),
  credentials: gatewayCredentials,
});
export type GatewayHandle = z.infer<typeof gatewayHandle>;

/** Every error: v1's `{code, description}` with the HTTP status of the code. */
export const gatewayError = z.object({ code: z.number().int(), description: z.string() });
export type GatewayError = z.infer<typeof gatewayError>;
