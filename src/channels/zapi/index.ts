import type { ChannelRoom } from '../types.js';
import { zapiChannel } from './config.js';
import { createZapiAdapter } from './inbound.js';
import { createZapiSender } from './sender.js';

/** `zapi` (SPEC §8): Z-API. */
export const zapi = {
  kind: 'zapi' as const,
  schema: zapiChannel,
  ownKeys: ['auth', 'zapi', 'takeoverOnOwnerMessage'],
  baseUrlEnv: { variable: 'ZAPI_BASE_URL', block: 'zapi' },
  isAsynchronous: () => true,
  phoneSignal: true,
  configure: (name, channel, ctx) => ({
    name,
    adapter: createZapiAdapter(name, channel),
    sender: createZapiSender(channel, { http: ctx.http, timeoutMs: ctx.deliveryTimeoutMs }),
  }),
} satisfies ChannelRoom<typeof zapiChannel>;
