import { z } from 'zod';

/**
 * `POST /api/v1/chat/send-message` answer (seeds/toolzz-send-message.md). `content` may be null
 * only when the agent asks for a transfer: a plain reply without text is a broken answer.
 */
export const toolzzResponseSchema = z
  .object({
    message: z.object({
      content: z.string().nullish(),
      conversationId: z.string().min(1).max(256),
      transferToAgent: z.boolean().nullish(),
      targetBotId: z.string().max(256).nullish(),
    }),
  })
  .transform(({ message }) => ({
    content: message.content ?? null,
    conversationId: message.conversationId,
    transferToAgent: message.transferToAgent === true,
    // An empty string is "no target", like null.
    targetBotId: message.targetBotId ? message.targetBotId : null,
  }))
  .refine((reply) => reply.content !== null || reply.transferToAgent, {
    message: 'message.content is required unless transferToAgent is true',
    path: ['message', 'content'],
  });

export type ToolzzReply = z.output<typeof toolzzResponseSchema>;
