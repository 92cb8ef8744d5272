// Service nodes' subjects and messages, in v1's shape (vcap-services-base node.rb and
// service_message.rb): `<svc>.discover` answered by `<svc>.announce`, and request/reply
// `<svc>.provision|unprovision|bind|unbind.<node_id>`. Replies are v1's `{success, credentials?,
// error?}` with the error as `{status, msg: {code, description}}`. `<svc>` is the service type.
import { z } from 'zod';
import { requestSubject, subject, type RequestSubject, type Subject } from './descriptor';

export const ServiceTypes = ['postgresql', 'redis', 'mysql'] as const;
export const serviceType = z.enum(ServiceTypes);
export type ServiceType = z.infer<typeof serviceType>;

/** Node ids, instance names and user names end up in subjects and SQL: a small safe alphabet only. */
const nodeId = z.string().regex(/^[A-Za-z0-9_-]{1,64}$/);
const identifier = z.string().regex(/^[a-z][a-z0-9_]{0,62}$/, 'must be a lower-case identifier');
const plan = z.string().regex(/^[a-z0-9_-]{1,32}$/);
const version = z.string().regex(/^[0-9][0-9.]{0,15}$/);

/** Credentials as v1 handed them to apps, plus `uri` and the node that holds them. */
export const serviceCredentials = z.object({
  name: identifier,
  hostname: z.string().min(1).max(255),
  host: z.string().min(1).max(255),
  port: z.number().int().min(1).max(65535),
  user: identifier,
  username: identifier,
  password: z.string().regex(/^[A-Za-z0-9_-]{16,128}$/),
  uri: z.string().min(1).max(1024),
  node_id: nodeId,
});
export type ServiceCredentials = z.infer<typeof serviceCredentials>;

/** What names a binding on its node: the instance and the binding's user (v1 unbinds by credentials). */
const bindingRef = z.object({ name: identifier, username: identifier }).passthrough();

export const serviceDiscover = z.object({ plan: plan.optional() }).passthrough();
export const serviceAnnounce = z.object({
  id: nodeId,
  /** Instances this node can still take (v1's `available_capacity`, the gateway's node score). */
  available_capacity: z.number().int().nonnegative(),
  plans: z.array(plan).min(1),
  version,
  supported_versions: z.array(version).default([]),
});
export type ServiceAnnounce = z.infer<typeof serviceAnnounce>;

export const serviceProvision = z.object({ plan, version: version.optional() });
export const serviceUnprovision = z.object({ name: identifier, bindings: z.array(bindingRef).default([]) });
export const serviceBind = z.object({ name: identifier, bind_opts: z.record(z.string(), z.unknown()).default({}) });
export const serviceUnbind = z.object({ credentials: bindingRef });

/** v1's error hash: an HTTP status and `{code, description}` (service_error.rb `to_hash`). */
export const serviceErrorHash = z.object({
  status: z.number().int().min(400).max(599),
  msg: z.object({ code: z.number().int(), description: z.string() }),
});
export type ServiceErrorHash = z.infer<typeof serviceErrorHash>;

export const serviceCredentialsReply = z.object({
  success: z.boolean(),
  credentials: serviceCredentials.optional(),
  error: serviceErrorHash.optional(),
});
export type ServiceCredentialsReply = z.infer<typeof serviceCredentialsReply>;
export const serviceSimpleReply = z.object({ success: z.boolean(), error: serviceErrorHash.optional() });
export type ServiceSimpleReply = z.infer<typeof serviceSimpleReply>;

type Req<S extends z.ZodType, R extends z.ZodType> = RequestSubject<S, R>;

/** The subjects of one service type (`postgresql.discover`, `postgresql.provision.<node>`, ...). */
export const ServiceSubjects = {
  discover: (t: ServiceType): Req<typeof serviceDiscover, typeof serviceAnnounce> => requestSubject(`${t}.discover`, serviceDiscover, serviceAnnounce),
  announce: (t: ServiceType): Subject<typeof serviceAnnounce> => subject(`${t}.announce`, serviceAnnounce),
  provision: (t: ServiceType, node: string): Req<typeof serviceProvision, typeof serviceCredentialsReply> =>
    requestSubject(`${t}.provision.${node}`, serviceProvision, serviceCredentialsReply),
  unprovision: (t: ServiceType, node: string): Req<typeof serviceUnprovision, typeof serviceSimpleReply> =>
    requestSubject(`${t}.unprovision.${node}`, serviceUnprovision, serviceSimpleReply),
  bind: (t: ServiceType, node: string): Req<typeof serviceBind, typeof serviceCredentialsReply> =>
    requestSubject(`${t}.bind.${node}`, serviceBind, serviceCredentialsReply),
  unbind: (t: ServiceType, node: string): Req<typeof serviceUnbind, typeof serviceSimpleReply> =>
    requestSubject(`${t}.unbind.${node}`, serviceUnbind, serviceSimpleReply),
} as const;

/** True for a node id that is safe to put in a subject. */
export function isServiceNodeId(s: string): boolean {
  return nodeId.safeParse(s).success;
}
