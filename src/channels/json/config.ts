import { z } from 'zod';
import { secret, standardWebhooksSecret, httpUrl } from '../../config/fields.js';
import { channelKeys, optionalAsyncKeys, type AsyncPolicies } from '../common-keys.js';

/** `auth` of a `json` channel (SPEC §3): a Bearer token or a Standard Webhooks secret, exactly one. */
export const jsonAuth = z
  .strictObject({
    token: secret.optional(),
    signingSecret: standardWebhooksSecret.optional(),
  })
  .refine((auth) => (auth.token === undefined) !== (auth.signingSecret === undefined), {
    error: 'set exactly one of token or signingSecret',
  });

/** A plain `json` channel (SPEC §3), synchronous — or asynchronous with `reply` (SPEC §8). */
export const jsonChannel = z.strictObject({
  kind: z.literal('json'),
  auth: jsonAuth,
  reply: z.strictObject({ url: httpUrl, signingSecret: standardWebhooksSecret }).optional(),
  ...channelKeys,
  // Only with `reply` (the room's check names the rule on a synchronous channel); filled with
  // their defaults when `reply` is set.
  ...optionalAsyncKeys,
});
export type JsonChannel = z.infer<typeof jsonChannel>;
/** A `json` channel with `reply`: asynchronous, its policies filled in. */
export type JsonReplyChannel = JsonChannel & AsyncPolicies & { reply: NonNullable<JsonChannel['reply']> };
