import { z } from 'zod';
import { codePointLength } from '../../text.js';
import { platformSettings, positiveInt, secret } from '../../config/fields.js';
import { handoffKeys, statusCheckKey } from '../handoff-keys.js';
import type { HandoffBlock } from '../types.js';

/** A channel's `handoff` block for MeHub (SPEC §2, §5, §9.2): the destination channel and attendant. */
export const mehubHandoff = z.strictObject({
  provider: z.literal('mehub'),
  channel: z
    .string({ error: 'must be a string' })
    .refine((value) => codePointLength(value) === 16, { error: 'must be 16 characters' })
    .refine((value) => /^[A-Za-z0-9_-]+$/.test(value), { error: 'must contain only letters, digits, _ and -' }),
  attendant: positiveInt.optional(),
  statusCheck: statusCheckKey,
  ...handoffKeys,
});
export type MehubHandoff = z.infer<typeof mehubHandoff>;
export const isMehubHandoff = (block: HandoffBlock): block is MehubHandoff => block.provider === 'mehub';

/** `providers.mehub`: the shared token, and the secret of its events (`/platform-webhooks/mehub`, SPEC §9.2). */
export const mehubSettings = z.strictObject({ ...platformSettings('https://chat.mehub.app'), token: secret.optional(), webhookSecret: secret.optional() });
