import type { Dispatcher } from 'undici';
import { z } from 'zod';
import { customerText } from '../config/fields.js';
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

const providerError = { error: `provider must be one of ${PROVIDER_NAMES.join(', ')}` };

/** One platform's handoff block (a leg of a handoff: the first, or a `fallback` entry). */
export const legSchema = z.discriminatedUnion('provider', PLATFORMS.map((room) => room.handoff) as unknown as [Room['handoff'], ...Room['handoff'][]], providerError);
export type HandoffLeg = z.infer<typeof legSchema>;

/** SPEC §12: what happens when no human answered a done handoff in time. */
export const firstResponseSchema = z.strictObject({
  minutes: z.number({ error: 'must be a number' }).positive({ error: 'must be > 0' }),
  action: z.enum(['remind', 'fallback', 'bot'], { error: 'must be remind, fallback or bot' }),
  message: customerText.optional(),
});
export type FirstResponse = z.infer<typeof firstResponseSchema>;

/** Keys of a channel's `handoff` block beyond a leg's (SPEC §12). */
const chainKeys = {
  /** Platforms tried in turn when the handoff fails for good on the one before. */
  fallback: z.array(legSchema, { error: 'must be a list of handoff blocks' }).max(5, { error: 'must have at most 5 entries' }).optional(),
  firstResponse: firstResponseSchema.optional(),
};

/** A channel's `handoff` block: one of the platforms' blocks, by `provider`, with its fallbacks and first-response watchdog. */
export type HandoffSettings = HandoffLeg & { fallback?: HandoffLeg[]; firstResponse?: FirstResponse };
export const handoffSchema = z.discriminatedUnion(
  'provider',
  PLATFORMS.map((room) => room.handoff.extend(chainKeys)) as unknown as [Room['handoff'], ...Room['handoff'][]],
  providerError,
) as unknown as z.ZodType<HandoffSettings, unknown>;

/** The legs of a channel's handoff, in the order they are tried: the block itself, then its fallbacks. */
export function legsOf(handoff: HandoffSettings): HandoffLeg[] {
  return [handoff, ...(handoff.fallback ?? [])];
}

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
