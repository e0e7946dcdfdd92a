import type { Keys } from '../keys.js';
import type { RedisClient } from '../redis/connection.js';
import { guarded } from '../redis/errors.js';
import { scriptsFor } from '../redis/scripts.js';
import { conversationFields, type Conversation } from './state.js';
import type { ConversationRef } from './types.js';

/** Accepted messages of asynchronous channels are de-duplicated this long (SPEC §8.1: at least 7 days). */
export const ACCEPTED_TTL_MS = 7 * 24 * 60 * 60 * 1000;

/**
 * What a message sent from the business's own number was (SPEC §9.3, §8.4): a repeat, our own
 * echo (`how`: by the id a send returned, the channel's API marker, or the text of a send whose
 * outcome was unknown), or a person — whose message took the conversation (`takeover`), changed
 * nothing because takeovers are off (`off`) or a platform's attendant has the customer (`platform`).
 * `wasByPhone`: a person already had the conversation from the phone before.
 */
export type OwnMessageVerdict =
  | { kind: 'duplicate' }
  | { kind: 'echo'; how: 'id' | 'api' | 'alias' | 'text' }
  /** `handoffId`: with `platform`, the handoff whose human has the customer. */
  | { kind: 'person'; effect: 'takeover' | 'off' | 'platform'; wasByPhone: boolean; handoffId?: string };

/** A message sent from the business's own number, as {@link OwnMessages.decide} needs it. */
export interface OwnMessage {
  id: string;
  /** Its text's fingerprint (delivery/echoes.ts), '' when it has none. */
  fingerprint: string;
  sentByApi: boolean;
  /** It is the echo of a send made to this customer under another address, before the two were linked (SPEC §11). */
  sentToAlias?: boolean;
  /** What a takeover writes; null when takeovers are off on the channel. */
  takeover: { fields: Partial<Conversation>; ttlMs: number } | null;
}

export interface OwnMessages {
  /** De-duplicates the message and decides at once what it is, atomically with the customer's sends. */
  decide(ref: ConversationRef, message: OwnMessage): Promise<OwnMessageVerdict>;
}

/**
 * Decisions on the business's own messages (scripts/accept-owner.lua): taken at acceptance, so
 * a person's message takes the conversation before anything else of this customer is done.
 */
export function createOwnMessages(redis: RedisClient, keys: Keys): OwnMessages {
  const run = scriptsFor(redis);
  return {
    async decide(ref, message) {
      const { channel, phone } = ref;
      const spec = {
        record: 'accepted',
        recordTtlMs: ACCEPTED_TTL_MS,
        fingerprint: message.fingerprint,
        sentByApi: message.sentByApi,
        sentToAlias: message.sentToAlias === true,
        takeover: message.takeover ? { fields: conversationFields(message.takeover.fields), ttlMs: Math.max(1, Math.ceil(message.takeover.ttlMs)) } : false,
      };
      const reply = await guarded(
        run<string[]>(
          'accept-owner',
          [keys.message(channel, phone, message.id), keys.conversation(channel, phone), keys.echo(channel, phone, message.id), keys.sentLedger(channel, phone)],
          [JSON.stringify(spec)],
        ),
      );
      if (reply[0] === 'duplicate') return { kind: 'duplicate' };
      if (reply[0] === 'echo') return { kind: 'echo', how: reply[1] as 'id' | 'api' | 'alias' | 'text' };
      return { kind: 'person', effect: reply[1] as 'takeover' | 'off' | 'platform', wasByPhone: reply[2] === '1', ...(reply[3] ? { handoffId: reply[3] } : {}) };
    },
  };
}
