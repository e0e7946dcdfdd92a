/** Who a conversation belongs to right now (SPEC §6 admin `state`). */
export type ConversationState = 'bot' | 'handoff_pending' | 'human' | 'handoff_failed';

/** A conversation as stored in Redis (hash `{prefix}:conv:{channel}:{phone}`). */
export interface Conversation {
  state: ConversationState;
  /** The Toolzz agent that owns the conversation (changes on a bot-to-bot transfer). */
  botId: string | null;
  /** Toolzz's conversation id, sent with every later message of this customer. */
  conversationId: string | null;
  /** The handoff of the current episode, while pending / human / failed. */
  handoffId: string | null;
  /** Epoch ms when the human period ends and the conversation returns to the bot. */
  humanUntil: number | null;
  /** False between "state says pending" and "the job is in the queue" (crash window). */
  jobQueued: boolean;
}

export const EMPTY_CONVERSATION: Readonly<Conversation> = Object.freeze({
  state: 'bot',
  botId: null,
  conversationId: null,
  handoffId: null,
  humanUntil: null,
  jobQueued: false,
});

const STATES = new Set<string>(['bot', 'handoff_pending', 'human', 'handoff_failed']);

/** Reads the flat HGETALL reply (`[field, value, …]` or an object). */
export function conversationFromHash(hash: Record<string, string> | string[]): Conversation {
  const fields: Record<string, string> = Array.isArray(hash) ? {} : hash;
  if (Array.isArray(hash)) {
    for (let i = 0; i + 1 < hash.length; i += 2) fields[hash[i] as string] = hash[i + 1] as string;
  }
  const state = fields.state && STATES.has(fields.state) ? (fields.state as ConversationState) : 'bot';
  const humanUntil = fields.humanUntil ? Number(fields.humanUntil) : NaN;
  return {
    state,
    botId: fields.botId || null,
    conversationId: fields.conversationId || null,
    handoffId: fields.handoffId || null,
    humanUntil: Number.isFinite(humanUntil) ? humanUntil : null,
    jobQueued: fields.jobQueued === '1',
  };
}

/**
 * The state that applies at `now`: a human period that has run out (`humanTtlMinutes`)
 * is back with the bot, whatever the stored state still says. Evaluated on read, so no
 * timer has to fire for a conversation to come back.
 */
export function effectiveState(conversation: Conversation, now: number): ConversationState {
  const withHuman = conversation.state === 'handoff_pending' || conversation.state === 'human';
  if (withHuman && conversation.humanUntil !== null && conversation.humanUntil <= now) return 'bot';
  return conversation.state;
}

/** True while messages must not reach the bot. */
export function isWithHuman(state: ConversationState): boolean {
  return state === 'handoff_pending' || state === 'human';
}
