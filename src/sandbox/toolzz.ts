import { randomUUID } from 'node:crypto';
import { bearerAuth, Emulator, type RouteResult } from './emulator.js';

/** What an agent answers (seeds/toolzz-send-message.md, `message` object). */
export interface AgentReply {
  content: string | null;
  transferToAgent: boolean;
  targetBotId?: string | null;
}

export interface AgentTurn {
  botId: string;
  conversationId: string;
  message: string;
  /** 1 for the conversation's first message. */
  turn: number;
}

export type AgentScript = (turn: AgentTurn) => AgentReply;

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/**
 * The default agent, enough for the demo and most tests:
 * - asks for a human ("atendente", "humano", "pessoa") → `transferToAgent: true`;
 * - `[[bot:<uuid>]]` in the text → bot-to-bot transfer to that agent;
 * - anything else → a friendly echo.
 */
export const defaultScript: AgentScript = ({ message, turn }) => {
  const target = /\[\[bot:([0-9a-f-]{36})\]\]/i.exec(message)?.[1];
  if (target) return { content: 'Vou te passar para o assistente especializado.', transferToAgent: true, targetBotId: target };
  if (/atendente|humano|pessoa/i.test(message)) {
    return { content: 'Certo! Vou transferir você para um de nossos atendentes.', transferToAgent: true, targetBotId: null };
  }
  return { content: turn === 1 ? `Olá! Sou o assistente virtual. Você disse: "${message}"` : `Entendi: "${message}"`, transferToAgent: false, targetBotId: null };
};

/**
 * Toolzz `POST /api/v1/chat/send-message` as documented: Bearer token, `{message,
 * conversationId?, botId}`; a call without `conversationId` starts a new conversation whose
 * id is returned. The agent's behaviour is a script (see {@link defaultScript}).
 */
export class ToolzzEmulator extends Emulator {
  /** conversationId → owner bot and number of messages seen. */
  readonly conversations = new Map<string, { botId: string; turns: number }>();
  script: AgentScript;
  private readonly initialScript: AgentScript;

  /** False: keep no conversation state (benchmarks send millions of messages). */
  rememberConversations = true;

  constructor(options: { token?: string; script?: AgentScript } = {}) {
    super(
      'toolzz',
      [
        {
          name: 'send-message',
          method: 'POST',
          pattern: '/api/v1/chat/send-message',
          handle: ({ body }) => this.sendMessage(body),
        },
      ],
      bearerAuth(options.token, { status: 401, body: { message: 'Unauthenticated.' } }),
    );
    this.script = options.script ?? defaultScript;
    this.initialScript = this.script;
  }

  /** Also forgets conversations and restores the script given at construction. */
  override reset(): void {
    super.reset();
    this.conversations.clear();
    this.script = this.initialScript;
  }

  override state(): unknown {
    return { conversations: Object.fromEntries(this.conversations) };
  }

  private sendMessage(body: unknown): RouteResult {
    const input = (body ?? {}) as Record<string, unknown>;
    const errors: Record<string, string[]> = {};
    if (typeof input.message !== 'string' || input.message === '') errors.message = ['The message field is required.'];
    if (typeof input.botId !== 'string' || !UUID.test(input.botId)) errors.botId = ['The bot id field must be a valid UUID.'];
    if (input.conversationId !== undefined && typeof input.conversationId !== 'string') errors.conversationId = ['The conversation id field must be a string.'];
    if (Object.keys(errors).length > 0) return { status: 422, body: { message: 'The given data was invalid.', errors } };

    const botId = input.botId as string;
    const conversationId = (input.conversationId as string | undefined) || randomUUID();
    const conversation = this.conversations.get(conversationId) ?? { botId, turns: 0 };
    conversation.botId = botId;
    conversation.turns += 1;
    if (this.rememberConversations) this.conversations.set(conversationId, conversation);

    const reply = this.script({ botId, conversationId, message: input.message as string, turn: conversation.turns });
    return {
      status: 200,
      body: {
        message: {
          content: reply.content,
          conversationId,
          transferToAgent: reply.transferToAgent,
          targetBotId: reply.targetBotId ?? null,
        },
      },
    };
  }
}
