import { isObject, objectAt } from '../../config/fields.js';
import type { ChannelRoom } from '../types.js';
import { whatsappChannel } from './config.js';
import { createWhatsappAdapter } from './inbound.js';
import { createWhatsappSender } from './sender.js';

/** `whatsapp-cloud` (SPEC §8): Meta's WhatsApp Cloud API. */
export const whatsappCloud = {
  kind: 'whatsapp-cloud' as const,
  schema: whatsappChannel,
  ownKeys: ['whatsapp', 'takeoverOnOwnerMessage'],
  baseUrlEnv: { variable: 'WHATSAPP_BASE_URL', block: 'whatsapp' },
  isAsynchronous: () => true,
  phoneSignal: true,
  customerWindow: true,
  crossCheck(name, channel, context) {
    // Deliveries are routed by phone number id: two channels with one number cannot both get them.
    const id = objectAt(channel.whatsapp).phoneNumberId;
    if (typeof id !== 'string') return [];
    for (const [other, settings] of Object.entries(context.channels)) {
      if (other === name) return [];
      if (isObject(settings) && settings.kind === 'whatsapp-cloud' && objectAt(settings.whatsapp).phoneNumberId === id) {
        return [{ path: `channels.${name}.whatsapp.phoneNumberId`, message: `already used by channel ${other}` }];
      }
    }
    return [];
  },
  configure: (name, channel, ctx) => ({
    name,
    adapter: createWhatsappAdapter(name, channel, ctx.whatsappNumbers),
    sender: createWhatsappSender(channel, { http: ctx.http, timeoutMs: ctx.deliveryTimeoutMs }),
  }),
} satisfies ChannelRoom<typeof whatsappChannel>;
