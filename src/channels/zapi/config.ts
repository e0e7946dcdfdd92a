import { z } from 'zod';
import { httpUrl, secret, tokenAuth, urlSecret } from '../../config/fields.js';
import { asyncKeys, channelKeys, takeoverKey } from '../common-keys.js';

/** A `zapi` channel (SPEC §8): one Z-API instance. */
export const zapiChannel = z.strictObject({
  kind: z.literal('zapi'),
  auth: tokenAuth,
  zapi: z.strictObject({
    instanceId: urlSecret('instance id'),
    instanceToken: urlSecret('instance token'),
    clientToken: secret,
    baseUrl: httpUrl.default('https://api.z-api.io'),
  }),
  takeoverOnOwnerMessage: takeoverKey,
  ...channelKeys,
  ...asyncKeys,
});
export type ZapiChannel = z.infer<typeof zapiChannel>;
