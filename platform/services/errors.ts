// v1's service error codes (vcap-services-base lib/base/service_error.rb), and the one error type
// that nodes and gateways raise; it travels as v1's hash `{status, msg: {code, description}}`.
import type { ServiceErrorHash } from '../bus';

export const ServiceErrorCodes = {
  invalidContent: [30000, 400, 'Invalid Content-Type'],
  malformattedRequest: [30001, 400, 'Malformatted request'],
  unknownLabel: [30002, 400, 'Unknown label'],
  unknownPlan: [30003, 400, 'Unknown plan'],
  notAuthorized: [30100, 401, 'Not authorized'],
  notFound: [30300, 404, 'not found'],
  internalError: [30500, 500, 'Internal Error'],
  nodeOperationTimeout: [30502, 500, 'Node operation timeout'],
  serviceUnavailable: [30600, 503, 'Service unavailable'],
  gatewayTimeout: [30700, 504, 'Gateway timeout'],
} as const satisfies Record<string, readonly [number, number, string]>;
export type ServiceErrorKind = keyof typeof ServiceErrorCodes;

export class ServiceError extends Error {
  override name = 'ServiceError';
  readonly code: number;
  readonly status: number;
  constructor(kind: ServiceErrorKind, detail?: string, options?: { cause?: unknown }) {
    const [code, status, text] = ServiceErrorCodes[kind];
    super(detail ? `${text}: ${detail}` : text, options);
    this.code = code;
    this.status = status;
  }

  toHash(): ServiceErrorHash {
    return { status: this.status, msg: { code: this.code, description: this.message } };
  }

  static fromHash(h: ServiceErrorHash): ServiceError {
    const e = new ServiceError('internalError');
    return Object.assign(e, { code: h.msg.code, status: h.status, message: h.msg.description });
  }
}

/** Any failure as v1's hash: a ServiceError as it is, anything else an internal error (details go to the log). */
export function toErrorHash(e: unknown): ServiceErrorHash {
  return (e instanceof ServiceError ? e : new ServiceError('internalError')).toHash();
}
