import type { ChannelRoom } from '../types.js';
import { evolutionChannel } from './config.js';
import { createEvolutionAdapter } from './inbound.js';
import { createEvolutionSender } from './sender.js';

/** `evolution` (SPEC §8): Evolution API v2 (self-hosted: no default base URL). */
export const evolution = {
  kind: 'evolution' as const,
  schema: evolutionChannel,
  ownKeys: ['auth', 'evolution', 'takeoverOnOwnerMessage'],
  baseUrlEnv: { variable: 'EVOLUTION_BASE_URL', block: 'evolution' },
  isAsynchronous: () => true,
  phoneSignal: true,
  configure: (name, channel, ctx) => ({
    name,
    adapter: createEvolutionAdapter(name, channel),
    sender: createEvolutionSender(channel, { http: ctx.http, timeoutMs: ctx.deliveryTimeoutMs }),
  }),
} satisfies ChannelRoom<typeof evolutionChannel>;
