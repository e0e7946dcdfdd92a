import { tokenRequired } from '../handoff-keys.js';
import type { PlatformRoom } from '../types.js';
import { superagentesHandoff, superagentesSettings } from './config.js';
import { createSuperagentesProvider } from './provider.js';

/** SuperAgentes (seeds/superagentes-*.md). */
export const superagentes = {
  name: 'superagentes' as const,
  handoff: superagentesHandoff,
  settings: superagentesSettings,
  baseUrlEnv: 'SUPERAGENTES_BASE_URL',
  crossCheck: (channel, handoff, shared) => tokenRequired('superagentes', channel, handoff, shared),
  create: (settings, http) => createSuperagentesProvider({ baseUrl: settings.baseUrl, token: settings.token, timeoutMs: settings.timeoutMs, http }),
} satisfies PlatformRoom<typeof superagentesHandoff, typeof superagentesSettings>;
