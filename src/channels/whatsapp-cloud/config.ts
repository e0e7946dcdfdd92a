import { z } from 'zod';
import { httpUrl, secret } from '../../config/fields.js';
import { asyncKeys, channelKeys, takeoverKey } from '../common-keys.js';

/** A `whatsapp-cloud` channel (SPEC §8): one number of a Meta app. */
export const whatsappChannel = z.strictObject({
  kind: z.literal('whatsapp-cloud'),
  whatsapp: z.strictObject({
    phoneNumberId: z.string({ error: 'must be a string (quote it in YAML)' }).regex(/^\d{1,32}$/, { error: 'must be the phone number id (digits)' }),
    accessToken: secret,
    appSecret: secret,
    verifyToken: secret,
    apiVersion: z.string({ error: 'must be a string' }).regex(/^v\d+\.\d+$/, { error: 'must look like v21.0' }).default('v21.0'),
    baseUrl: httpUrl.default('https://graph.facebook.com'),
    /**
     * An approved template sent in place of free text outside the customer's 24-hour window
     * (SPEC §13); without one, such a message is not sent and is recorded `outside_window`.
     */
    windowTemplate: z
      .strictObject({
        name: z.string({ error: 'must be the template’s name' }).regex(/^[a-z0-9_]{1,512}$/, { error: 'must be the template’s name as Meta shows it (lowercase letters, digits, _)' }),
        language: z.string({ error: 'must be a language code such as pt_BR' }).regex(/^[a-z]{2,3}(_[A-Za-z]{2,4})?$/, { error: 'must be a language code such as pt_BR' }),
      })
      .optional(),
  }),
  // Coexistence: the number is also used in the WhatsApp Business app (SPEC §9.3).
  takeoverOnOwnerMessage: takeoverKey,
  ...channelKeys,
  ...asyncKeys,
});
export type WhatsappChannel = z.infer<typeof whatsappChannel>;
