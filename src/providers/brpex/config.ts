import { z } from 'zod';
import { platformSettings } from '../../config/fields.js';
import { handoffKeys } from '../handoff-keys.js';
import type { HandoffBlock } from '../types.js';

/** A DNS label: BRPEX's `{subdomain}` can never point the request at another host. */
export const BRPEX_SUBDOMAIN = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/;

/** A channel's `handoff` block for BRPEX (SPEC §2, §5): the account's subdomain and the channel's token. */
export const brpexHandoff = z.strictObject({
  provider: z.literal('brpex'),
  subdomain: z.string({ error: 'must be a string' }).regex(BRPEX_SUBDOMAIN, {
    error: 'must be a DNS label: lowercase letters, digits and inner hyphens, at most 63 characters',
  }),
  ...handoffKeys,
});
export type BrpexHandoff = z.infer<typeof brpexHandoff>;
export const isBrpexHandoff = (block: HandoffBlock): block is BrpexHandoff => block.provider === 'brpex';

/** `providers.brpex`: `{subdomain}` in the base URL comes from each channel. */
export const brpexSettings = z.strictObject(platformSettings('https://{subdomain}.brpex.com'));
