import type { PlatformRoom } from '../types.js';
import { brpexHandoff, brpexSettings } from './config.js';
import { createBrpexProvider } from './provider.js';

/** BRPEX (seeds/brpex-dispatch-to-chat.md): tokens are per channel, no shared one. */
export const brpex = {
  name: 'brpex' as const,
  handoff: brpexHandoff,
  settings: brpexSettings,
  baseUrlEnv: 'BRPEX_BASE_URL',
  crossCheck: (channel, handoff) => (handoff.token === undefined ? [{ path: `channels.${channel}.handoff.token`, message: 'required: BRPEX tokens are per channel' }] : []),
  create: (settings, http) => createBrpexProvider({ baseUrl: settings.baseUrl, timeoutMs: settings.timeoutMs, http }),
} satisfies PlatformRoom<typeof brpexHandoff, typeof brpexSettings>;
