import type { Dispatcher } from 'undici';
import type { Config, ProviderName } from '../config.js';
import { createBrpexProvider } from './brpex.js';
import { createMehubProvider } from './mehub.js';
import { createSuperagentesProvider } from './superagentes.js';
import type { HandoffProvider } from './types.js';

/** The three adapters built from the `providers` section, sharing one HTTP dispatcher. */
export function createProviders(config: Config, http: Dispatcher): Record<ProviderName, HandoffProvider> {
  const { brpex, mehub, superagentes } = config.providers;
  return {
    brpex: createBrpexProvider({ baseUrl: brpex.baseUrl, timeoutMs: brpex.timeoutMs, http }),
    mehub: createMehubProvider({ baseUrl: mehub.baseUrl, token: mehub.token, timeoutMs: mehub.timeoutMs, http }),
    superagentes: createSuperagentesProvider({ baseUrl: superagentes.baseUrl, token: superagentes.token, timeoutMs: superagentes.timeoutMs, http }),
  };
}
