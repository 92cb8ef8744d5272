// `GET /events[?app=NAME]`: the Server-Sent Events the controller sends, one JSON object per `data:`.
import { z } from 'zod';

export const appEventNames = ['created', 'updated', 'deleted', 'uploaded', 'staging', 'staged', 'staging_failed', 'started', 'stopped'] as const;
export type AppEventName = (typeof appEventNames)[number];

export const platformEvent = z.discriminatedUnion('type', [
  z.object({ type: z.literal('app'), name: z.string(), droplet: z.number().int(), event: z.enum(appEventNames) }),
  z.object({ type: z.literal('instances'), name: z.string(), droplet: z.number().int() }),
  z.object({
    type: z.literal('staging'), name: z.string(), droplet: z.number().int(), task_id: z.string(), seq: z.number().int(),
    line: z.string().optional(), done: z.boolean().optional(), ok: z.boolean().optional(), error: z.string().nullish(),
    /** An addition: on a failed `done`, the v1 code of the failure (310, 800, 801). */
    code: z.number().int().optional(),
  }),
]);
export type PlatformEvent = z.infer<typeof platformEvent>;
