/** Who a conversation belongs to right now (SPEC §6 admin `state`). */
export type ConversationState = 'bot' | 'handoff_pending' | 'human' | 'handoff_failed';

/** Who took a conversation from the bot: a platform handoff, or a person answering from the phone (SPEC §9.3). */
export type TakenBy = 'handoff' | 'phone';

/** A conversation as stored in Redis (hash `{prefix}:conv:{channel:phone}`). */
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
  /** Who has the conversation while it is with a human. */
  takenBy: TakenBy | null;
  /** Where the channel reaches this customer, exactly as it gave it (`from`, the JID's digits, `<digits>@lid`, a BSUID). */
  address: string | null;
  /** What `address` is (SPEC §11): a phone (null = phone), a WhatsApp LID, a business-scoped user ID. */
  addressKind: 'phone' | 'lid' | 'bsuid' | null;
  /** The phone digits the customer last wrote from, as written (what a platform is given, SPEC §11); null when unknown. */
  contactPhone: string | null;
  /**
   * How many times a person took the conversation from the phone (SPEC §8.4). Written only by
   * the scripts that accept such a message; a turn or a reply that began under an older value
   * is superseded (its replies are cancelled).
   */
  phoneGen: number;
  /**
   * SPEC §12: the opening (epoch ms) of the closed period whose business-hours message this
   * customer was sent: told once per closed period.
   */
  hoursNoticeUntil: number | null;
}

export const EMPTY_CONVERSATION: Readonly<Conversation> = Object.freeze({
  state: 'bot',
  botId: null,
  conversationId: null,
  handoffId: null,
  humanUntil: null,
  takenBy: null,
  address: null,
  addressKind: null,
  contactPhone: null,
  phoneGen: 0,
  hoursNoticeUntil: null,
});

const STATES = new Set<string>(['bot', 'handoff_pending', 'human', 'handoff_failed']);

/** A flat HGETALL reply (`[field, value, …]`) or an object → field map. */
export function fieldMap(hash: Record<string, string> | readonly string[]): Record<string, string> {
  if (!Array.isArray(hash)) return hash as Record<string, string>;
  const fields: Record<string, string> = {};
  for (let i = 0; i + 1 < hash.length; i += 2) fields[hash[i] as string] = hash[i + 1] as string;
  return fields;
}

/** Reads a conversation hash. */
export function conversationFromHash(hash: Record<string, string> | readonly string[]): Conversation {
  const fields = fieldMap(hash);
  const state = fields.state && STATES.has(fields.state) ? (fields.state as ConversationState) : 'bot';
  const humanUntil = fields.humanUntil ? Number(fields.humanUntil) : NaN;
  return {
    state,
    botId: fields.botId || null,
    conversationId: fields.conversationId || null,
    handoffId: fields.handoffId || null,
    humanUntil: Number.isFinite(humanUntil) ? humanUntil : null,
    takenBy: fields.takenBy === 'phone' || fields.takenBy === 'handoff' ? fields.takenBy : null,
    address: fields.address || null,
    addressKind: fields.addressKind === 'lid' || fields.addressKind === 'bsuid' || fields.addressKind === 'phone' ? fields.addressKind : null,
    contactPhone: fields.contactPhone || null,
    phoneGen: Number(fields.phoneGen) || 0,
    hoursNoticeUntil: Number(fields.hoursNoticeUntil) || null,
  };
}

/** Conversation fields → the strings stored (null clears a field to ''). */
export function conversationFields(conversation: Partial<Conversation>, now = Date.now()): Record<string, string> {
  const fields: Record<string, string> = { updatedAt: String(now) };
  if (conversation.state !== undefined) fields.state = conversation.state;
  if (conversation.botId !== undefined) fields.botId = conversation.botId ?? '';
  if (conversation.conversationId !== undefined) fields.conversationId = conversation.conversationId ?? '';
  if (conversation.handoffId !== undefined) fields.handoffId = conversation.handoffId ?? '';
  if (conversation.humanUntil !== undefined) fields.humanUntil = conversation.humanUntil === null ? '' : String(conversation.humanUntil);
  if (conversation.takenBy !== undefined) fields.takenBy = conversation.takenBy ?? '';
  if (conversation.address !== undefined) fields.address = conversation.address ?? '';
  if (conversation.addressKind !== undefined) fields.addressKind = conversation.addressKind ?? '';
  if (conversation.contactPhone !== undefined) fields.contactPhone = conversation.contactPhone ?? '';
  if (conversation.hoursNoticeUntil !== undefined) fields.hoursNoticeUntil = conversation.hoursNoticeUntil === null ? '' : String(conversation.hoursNoticeUntil);
  return fields;
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

/** What a conversation given back to the bot looks like (released, expired, failed handoff). */
export const BACK_TO_BOT: Readonly<Partial<Conversation>> = Object.freeze({ state: 'bot', handoffId: null, humanUntil: null, takenBy: null });

/**
 * How long a conversation is kept from `now`: the usual idle TTL, past the end of its human
 * period when it has one running.
 */
export function conversationTtlMs(idleTtlMs: number, humanUntil: number | null, now: number): number {
  return idleTtlMs + Math.max(0, (humanUntil ?? now) - now);
}
