import { tokenRequired } from '../handoff-keys.js';
import type { PlatformRoom } from '../types.js';
import { mehubHandoff, mehubSettings } from './config.js';
import { createMehubProvider } from './provider.js';

/** MeHub (seeds/mehub-chats-list-and-transfer.md). */
export const mehub = {
  name: 'mehub' as const,
  handoff: mehubHandoff,
  settings: mehubSettings,
  baseUrlEnv: 'MEHUB_BASE_URL',
  crossCheck: (channel, handoff, shared) => tokenRequired('mehub', channel, handoff, shared),
  create: (settings, http) => createMehubProvider({ baseUrl: settings.baseUrl, token: settings.token, timeoutMs: settings.timeoutMs, http }),
} satisfies PlatformRoom<typeof mehubHandoff, typeof mehubSettings>;
