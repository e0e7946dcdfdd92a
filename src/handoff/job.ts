import { z } from 'zod';

/**
 * The payload of a handoff job (SPEC §5): everything the worker needs to move the customer
 * to a human, validated when the API enqueues it and again when a worker reads it.
 * Attempts, last error and outcome timestamps live on the handoff record (see records.ts).
 */
export const handoffJobSchema = z.strictObject({
  handoffId: z.uuid(),
  channel: z.string().regex(/^[a-z0-9-]{1,64}$/),
  provider: z.enum(['brpex', 'mehub', 'superagentes']),
  phone: z.string().regex(/^\d{10,15}$/),
  name: z.string().nullable(),
  botId: z.string().min(1),
  conversationId: z.string().min(1),
  messageId: z.string().min(1),
  lastMessage: z.string(),
  botReply: z.string().nullable(),
  reason: z.string().min(1),
  externalIds: z.strictObject({
    mehubChatToken: z.string().optional(),
    superagentesConversationId: z.string().optional(),
  }),
  createdAt: z.iso.datetime(),
});

export type HandoffJob = z.infer<typeof handoffJobSchema>;
