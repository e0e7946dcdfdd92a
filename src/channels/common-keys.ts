import { z } from 'zod';
import { customerText, secret, UUID, bool } from '../config/fields.js';
import { hoursSchema } from '../hours/config.js';
import { handoffSchema } from '../providers/registry.js';

/** Keys every channel has, whatever its kind (SPEC §2): the bot, the human period, the handoff. */
export const channelKeys = {
  bot: z.strictObject({
    id: z.string({ error: 'must be a string' }).regex(UUID, { error: 'must be a UUID' }),
    token: secret.optional(),
  }),
  humanTtlMinutes: z.number({ error: 'must be a number' }).positive({ error: 'must be > 0' }).default(1440),
  handoff: handoffSchema,
  // SPEC §12: when a human can be handed the customer.
  hours: hoursSchema.optional(),
  // SPEC §11: one customer, many addresses.
  identity: z
    .strictObject({
      /** Both forms of a Brazilian mobile number are one customer (`false` turns it off). */
      brazilNinthDigit: bool.default(true),
    })
    .prefault({}),
};

/** SPEC §8.3 default messages. */
export const DEFAULT_MESSAGES = {
  botFailureHandoff: 'Desculpe, não consegui responder agora. Vou transferir você para um atendente.',
  botFailureReply: 'Desculpe, não consegui responder agora. Pode repetir, por favor?',
  unsupported: 'Ainda não consigo entender áudios, imagens ou figurinhas. Pode escrever sua mensagem, por favor?',
} as const;

/** What an asynchronous channel does when the bot cannot answer (SPEC §8.3). */
const botFailure = z
  .strictObject({
    action: z.enum(['handoff', 'reply', 'ignore'], { error: 'must be handoff, reply or ignore' }).default('handoff'),
    message: customerText.optional(),
  })
  .transform((policy) => ({
    action: policy.action,
    message: policy.message ?? (policy.action === 'reply' ? DEFAULT_MESSAGES.botFailureReply : DEFAULT_MESSAGES.botFailureHandoff),
  }));

/** What an asynchronous channel does with a message that has no text (SPEC §8.3). */
const unsupported = z
  .strictObject({
    action: z.enum(['reply', 'handoff', 'ignore'], { error: 'must be reply, handoff or ignore' }).default('reply'),
    message: customerText.optional(),
  })
  .transform((policy) => ({ action: policy.action, message: policy.message ?? DEFAULT_MESSAGES.unsupported }));

const debounceMs = z.number({ error: 'must be a number' }).int({ error: 'must be an integer' }).min(0, { error: 'must be >= 0' }).max(60_000, { error: 'must be at most 60000' });

/** Keys of asynchronous channels (SPEC §8.3, §9.1), with their defaults. */
export const asyncKeys = {
  botFailure: botFailure.prefault({}),
  unsupported: unsupported.prefault({}),
  debounceMs: debounceMs.default(0),
};
export type AsyncPolicies = { [K in keyof typeof asyncKeys]: z.infer<(typeof asyncKeys)[K]> };

/** The same keys where a kind allows them only in some cases (`json` with `reply`): filled by {@link asyncDefaults}. */
export const optionalAsyncKeys = {
  botFailure: botFailure.optional(),
  unsupported: unsupported.optional(),
  debounceMs: debounceMs.optional(),
};

/** The defaults of {@link asyncKeys}, written once: what an absent key parses to. */
export function asyncDefaults(): AsyncPolicies {
  return { botFailure: asyncKeys.botFailure.parse(undefined), unsupported: asyncKeys.unsupported.parse(undefined), debounceMs: asyncKeys.debounceMs.parse(undefined) };
}

/** A person answering from the business's own number takes the conversation (SPEC §9.3); `false` turns it off. */
export const takeoverKey = bool.default(true);
