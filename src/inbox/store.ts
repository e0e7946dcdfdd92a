import type { HandoffJob } from '../handoff/job.js';
import type { Keys } from '../keys.js';
import type { RedisClient } from '../redis/connection.js';
import { guarded } from '../redis/errors.js';
import { scriptsFor } from '../redis/scripts.js';
import { ACCEPTED_TTL_MS } from '../conversations/own-messages.js';
import { conversationFromHash, fieldMap, type Conversation } from '../conversations/state.js';
import type { ConversationLock, ConversationRef } from '../conversations/types.js';

/** An accepted message of an asynchronous channel, as kept in the customer's inbox (JSON in Redis). */
export interface InboxEntry {
  /** The channel's messageId. */
  id: string;
  /** `text`: a customer text; `unsupported`: a customer message without text; `owner`: left by an earlier version (own messages are decided at acceptance now). */
  kind: 'text' | 'unsupported' | 'owner';
  text?: string;
  name?: string | null;
  /** The address to reply to, as the channel gave it. */
  replyTo: string;
  /** What `replyTo` is (SPEC §11); absent = a phone. */
  replyKind?: 'lid' | 'bsuid';
  /** The phone digits the customer wrote from, as written (null: a LID or a BSUID only). */
  contactPhone?: string | null;
  /** What an unsupported message was (audio, sticker…), for logs. */
  contentType?: string;
  externalIds?: HandoffJob['externalIds'];
  /** Accepted at (ms, the accepting process's clock). */
  acceptedAt: number;
}

export type BatchClaim =
  | { kind: 'busy' }
  | { kind: 'empty' }
  | { kind: 'wait'; readyAt: number }
  | { kind: 'batch'; tries: number; conversation: Conversation; exists: boolean; entries: InboxEntry[] };

/** An entry as stored, including one an earlier version wrote (`k`, `to`, `at`, `what`). */
function readEntry(raw: string): InboxEntry {
  const stored = JSON.parse(raw) as Partial<InboxEntry> & { k?: InboxEntry['kind']; to?: string; at?: number; what?: string };
  const entry: InboxEntry = { id: stored.id ?? '', kind: stored.kind ?? stored.k ?? 'unsupported', replyTo: stored.replyTo ?? stored.to ?? '', acceptedAt: stored.acceptedAt ?? stored.at ?? 0 };
  if (stored.text !== undefined) entry.text = stored.text;
  if (stored.name !== undefined) entry.name = stored.name;
  const contentType = stored.contentType ?? stored.what;
  if (contentType !== undefined) entry.contentType = contentType;
  if (stored.externalIds !== undefined) entry.externalIds = stored.externalIds;
  if (stored.replyKind !== undefined) entry.replyKind = stored.replyKind;
  if (stored.contactPhone !== undefined) entry.contactPhone = stored.contactPhone;
  return entry;
}

export interface InboxStore {
  /**
   * Stores one accepted message and de-duplicates it (7 days). `firstHeldAt` is when the first
   * message still waiting for the bot was accepted (the start of a debounce window), null when
   * none waits; `first`: the inbox was empty before this message (no drain is going to take it yet).
   */
  /** `wroteAt`: when the customer wrote it, kept as the conversation's `lastInboundAt` when newer (WhatsApp's 24-hour window, SPEC §13). */
  accept(ref: ConversationRef, entry: InboxEntry, wroteAt?: number): Promise<{ accepted: boolean; firstHeldAt: number | null; first: boolean }>;
  /** Takes the customer's turn and their next batch (see scripts/claim-batch-4.lua). */
  claimBatch(lock: ConversationLock, debounceMs: number, maxBatch: number): Promise<BatchClaim>;
}

/** The customers' inboxes of accepted messages (asynchronous channels, SPEC §8.1, §9.1), in their conversations' slots. */
export function createInboxStore(redis: RedisClient, keys: Keys, leaseMs: number): InboxStore {
  const run = scriptsFor(redis);
  return {
    async accept(ref, entry, wroteAt) {
      const reply = await guarded(
        run<[string, string, string]>(
          'accept',
          [keys.message(ref.channel, ref.phone, entry.id), keys.inbox(ref.channel, ref.phone), keys.conversation(ref.channel, ref.phone)],
          [JSON.stringify(entry), 'accepted', ACCEPTED_TTL_MS, ACCEPTED_TTL_MS, wroteAt === undefined ? '' : Math.floor(wroteAt)],
        ),
      );
      return { accepted: reply[0] === 'accepted', firstHeldAt: reply[1] ? Number(reply[1]) : null, first: reply[2] === '1' };
    },

    async claimBatch(lock, debounceMs, maxBatch) {
      const { channel, phone } = lock.ref;
      const reply = await run<string[]>(
        'claim-batch',
        [keys.lockQueue(channel, phone), keys.lockLeases(channel, phone), keys.conversation(channel, phone), keys.inbox(channel, phone)],
        [lock.token, leaseMs, debounceMs, maxBatch],
      );
      const kind = reply[0];
      if (kind === 'busy' || kind === 'empty') return { kind };
      if (kind === 'wait') return { kind, readyAt: Number(reply[1]) };
      const fieldCount = Number(reply[2]);
      const fields = fieldMap(reply.slice(3, 3 + fieldCount));
      const entries = reply.slice(3 + fieldCount).map(readEntry);
      return { kind: 'batch', tries: Number(reply[1]), conversation: conversationFromHash(fields), exists: Boolean(fields.state || fields.conversationId), entries };
    },
  };
}
