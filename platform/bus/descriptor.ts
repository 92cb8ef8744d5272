// A bus descriptor: a NATS subject paired with the schema of its payload (and, for request/reply,
// of each reply), so the subject and the shape on the wire can never be chosen apart.
import type { z } from 'zod';

/** A subject and the schema of its payload. A wildcard subscription (`staging.log.*`) is one too. */
export interface Subject<S extends z.ZodType = z.ZodType> {
  readonly subject: string;
  readonly schema: S;
}

/** A request/reply subject: also the schema of each reply. */
export interface RequestSubject<S extends z.ZodType = z.ZodType, R extends z.ZodType = z.ZodType> extends Subject<S> {
  readonly reply: R;
}

/** What a publisher passes (before defaults). */
export type Payload<D extends Subject> = z.input<D['schema']>;
/** What a subscriber gets (decoded, defaults filled). */
export type Message<D extends Subject> = z.output<D['schema']>;
/** What a requester gets per reply (decoded). */
export type Reply<D extends RequestSubject> = z.output<D['reply']>;
/** What a responder sends: the reply's input shape, or anything for a subject without replies. */
export type ReplyPayload<D extends Subject> = D extends RequestSubject<z.ZodType, infer R> ? z.input<R> : unknown;

export function subject<S extends z.ZodType>(name: string, schema: S): Subject<S> {
  return Object.freeze({ subject: name, schema });
}

export function requestSubject<S extends z.ZodType, R extends z.ZodType>(name: string, schema: S, reply: R): RequestSubject<S, R> {
  return Object.freeze({ subject: name, schema, reply });
}

export function isRequestSubject(d: Subject): d is RequestSubject {
  return 'reply' in d;
}
