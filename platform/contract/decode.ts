// Decoding a body against its schema; a mismatch names the route and the field that broke it.
import type { z } from 'zod';

/** A body that does not match the contract: `route` is e.g. `GET /apps/:name`, `field` e.g. `meta.version`. */
export class ContractError extends Error {
  override name = 'ContractError';
  constructor(readonly route: string, readonly field: string, readonly problem: string, options?: { cause?: unknown }) {
    super(`${route}: the controller's answer does not match the contract at ${field || '(the body)'}: ${problem}`, options);
  }
}

/** `value` decoded by `schema`, or a ContractError for `route` naming the first field at fault. */
export function decode<S extends z.ZodType>(schema: S, value: unknown, route: string): z.infer<S> {
  const r = schema.safeParse(value);
  if (r.success) return r.data;
  const issue = r.error.issues[0];
  const field = issue ? issue.path.map((p, i) => (typeof p === 'number' ? `[${p}]` : `${i === 0 ? '' : '.'}${String(p)}`)).join('') : '';
  throw new ContractError(route, field, issue?.message ?? 'invalid', { cause: r.error });
}
