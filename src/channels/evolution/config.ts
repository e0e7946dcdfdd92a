import { z } from 'zod';
import { httpUrl, secret, tokenAuth, urlSecret } from '../../config/fields.js';
import { asyncKeys, channelKeys, takeoverKey } from '../common-keys.js';

/** An `evolution` channel (SPEC §8): one Evolution API v2 instance. */
export const evolutionChannel = z.strictObject({
  kind: z.literal('evolution'),
  auth: tokenAuth,
  evolution: z.strictObject({
    baseUrl: httpUrl,
    instance: urlSecret('instance name'),
    apiKey: secret,
  }),
  takeoverOnOwnerMessage: takeoverKey,
  ...channelKeys,
  ...asyncKeys,
});
export type EvolutionChannel = z.infer<typeof evolutionChannel>;
