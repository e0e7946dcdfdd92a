import { z } from 'zod';
import { CUSTOMER_KEY } from '../identity/key.js';
import { PROVIDER_NAMES, type ProviderName } from '../providers/registry.js';

/**
 * The payload of a handoff job (SPEC §5): everything the worker needs to move the customer
 * to a human, validated when the API enqueues it and again when a worker reads it.
 * Attempts, last error and outcome timestamps live on the handoff record (see records.ts).
 */
export const handoffJobSchema = z.strictObject({
  handoffId: z.uuid(),
  channel: z.string().regex(/^[a-z0-9-]{1,64}$/),
  provider: z.enum(PROVIDER_NAMES as [ProviderName, ...ProviderName[]]),
  /** The customer's key (SPEC §11): the conversation (and this handoff's record) is theirs. */
  phone: z.string().regex(CUSTOMER_KEY),
  /** The phone digits the customer last wrote from, for the platform; null: known only by a LID or a BSUID (`no_phone`). Absent in jobs of earlier versions (then `phone`). */
  contactPhone: z.string().regex(/^\d{10,15}$/).nullable().optional(),
  name: z.string().nullable(),
  botId: z.string().min(1),
  conversationId: z.string().min(1),
  messageId: z.string().min(1),
  lastMessage: z.string(),
  botReply: z.string().nullable(),
  /** `transfer_to_agent` (the bot asked), `bot_failure`, `unsupported` (SPEC §8.3). */
  reason: z.string().min(1),
  /** Where the channel reaches the customer, as it gave it (asynchronous channels). */
  address: z.string().min(1).max(160).optional(),
  /** What `address` is (SPEC §11). */
  addressKind: z.enum(['phone', 'lid', 'bsuid']).optional(),
  externalIds: z.strictObject({
    mehubChatToken: z.string().optional(),
    superagentesConversationId: z.string().optional(),
  }),
  createdAt: z.iso.datetime(),
  /** SPEC §12: which leg of the channel's handoff chain (0 = the `handoff` block, then each `fallback`); absent = 0. */
  leg: z.number().int().min(0).max(5).optional(),
  /** SPEC §12: asked for while closed (`outside: queue`): performed at this opening, not before. */
  scheduledFor: z.iso.datetime().optional(),
});

export type HandoffJob = z.infer<typeof handoffJobSchema>;

/**
 * The job of leg `leg` of the same handoff on `provider` (SPEC §12: a failover, a fallback
 * after no first response, an operator retry from the first leg): a fresh job, no longer
 * waiting for an opening.
 */
export function legJob(job: HandoffJob, leg: number, provider: HandoffJob['provider']): HandoffJob {
  const { scheduledFor: _scheduled, leg: _leg, ...rest } = job;
  return leg === 0 ? { ...rest, provider } : { ...rest, leg, provider };
}

/** A leg of a handoff's chain that is over (SPEC §12 `legs`). */
export interface PastLeg {
  provider: string;
  state: 'done' | 'failed';
  attempts: number;
  lastError: string | null;
}
