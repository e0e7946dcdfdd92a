import type { Dispatcher } from 'undici';
import { z } from 'zod';
import { brpex } from './brpex/index.js';
import { mehub } from './mehub/index.js';
import { superagentes } from './superagentes/index.js';
import type { HandoffProvider } from './types.js';

/**
 * Every helpdesk platform the service hands off to: one room each (its folder), listed once
 * here. Everything else — the `handoff` schema, `providers.<name>`, base URL overrides,
 * checks, adapters — is derived from this list.
 */
export const PLATFORMS = [brpex, mehub, superagentes] as const;

type Room = (typeof PLATFORMS)[number];
export type ProviderName = Room['name'];
export const PROVIDER_NAMES: ProviderName[] = PLATFORMS.map((room) => room.name);

/** A channel's `handoff` block: one of the platforms' blocks, by `provider`. */
export const handoffSchema = z.discriminatedUnion('provider', PLATFORMS.map((room) => room.handoff) as unknown as [Room['handoff'], ...Room['handoff'][]], {
  error: `provider must be one of ${PROVIDER_NAMES.join(', ')}`,
});
export type HandoffSettings = z.infer<typeof handoffSchema>;

type SettingsSchemas = { [R in Room as R['name']]: z.ZodDefault<R['settings']> };
/** `providers`: each platform's shared settings, all optional. */
export const providersSchema = z.strictObject(Object.fromEntries(PLATFORMS.map((room) => [room.name, room.settings.prefault({})])) as unknown as SettingsSchemas).prefault({});
export type ProvidersConfig = z.infer<typeof providersSchema>;

/** The room of a platform, by name. */
export function platform(name: ProviderName): Room {
  return PLATFORMS.find((room) => room.name === name) as Room;
}

/** Every platform's adapter, built from the `providers` section, sharing one HTTP dispatcher. */
export function createProviders(providers: ProvidersConfig, http: Dispatcher): Record<ProviderName, HandoffProvider> {
  return Object.fromEntries(PLATFORMS.map((room) => [room.name, (room.create as (s: unknown, h: Dispatcher) => HandoffProvider)(providers[room.name], http)])) as Record<ProviderName, HandoffProvider>;
}
