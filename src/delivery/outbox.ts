import type { Keys } from '../keys.js';
import type { RedisClient } from '../redis/connection.js';
import { MAX_ECHO_IDS, scriptsFor } from '../redis/scripts.js';
import type { ConversationRef } from '../conversations/types.js';
import { fieldMap } from '../conversations/state.js';
import { ECHO_TTL_MS } from './echoes.js';
import { createDeliveryRecords, deliveryFromHash, DELIVERY_RECORD_TTL_MS, SENT_RECORD_TTL_MS, type DeliveryRecords, type StoredDelivery } from './records.js';

export { ECHO_TTL_MS } from './echoes.js';

export type DeliveryBegin =
  | { kind: 'gone' }
  | { kind: 'ended'; state: string }
  | { kind: 'cancelled' }
  /** `seen`: leading parts still to send whose echo already arrived (sent by an earlier, ambiguous try). */
  | { kind: 'ok'; delivery: StoredDelivery; seen: number };

/** How a try ended: `forget` lists the parts whose ledger entries may go (confirmed by the channel, or certainly not sent). */
export interface DeliveryEnd {
  outcome: 'sent' | 'failed' | 'retry';
  fields: Record<string, string>;
  sentIds: readonly string[];
  forget: readonly number[];
  /** The try ended without knowing whether its send was applied (its echo may come later). */
  ambiguous?: boolean;
}

/**
 * A customer's outbox: delivery ids in the order their replies must reach the customer. The
 * outbox worker takes the head, sends it, and records how the try ended; every step is one
 * script in the conversation's slot (see delivery-begin / delivery-end).
 */
export interface Outbox {
  records: DeliveryRecords;
  /** The delivery at the head of the customer's outbox, if any. */
  head(ref: ConversationRef): Promise<string | null>;
  length(ref: ConversationRef): Promise<number>;
  /** Starts a try of the head delivery (or cancels it: a person took the conversation from the phone after it was written). */
  begin(ref: ConversationRef, id: string): Promise<DeliveryBegin>;
  /** Records how the try ended, the ids the channel returned, and files the record. */
  end(ref: ConversationRef, id: string, end: DeliveryEnd): Promise<void>;
}

export function createOutbox(redis: RedisClient, keys: Keys): Outbox {
  const run = scriptsFor(redis);
  const records = createDeliveryRecords(redis, keys);

  const outbox: Outbox = {
    records,
    head: (ref: ConversationRef): Promise<string | null> => redis.lindex(keys.outbox(ref.channel, ref.phone), 0),
    length: (ref: ConversationRef): Promise<number> => redis.llen(keys.outbox(ref.channel, ref.phone)),

    /**
     * Starts a try of the head delivery: cancels it if a person took the conversation from the
     * phone after it was created, else counts the try and writes its parts in the sent ledger.
     */
    async begin(ref: ConversationRef, id: string): Promise<DeliveryBegin> {
      const { channel, phone } = ref;
      const now = Date.now();
      const spec = { ledgerTtlMs: ECHO_TTL_MS, cancelledAt: new Date(now).toISOString(), recordTtlMs: DELIVERY_RECORD_TTL_MS };
      const reply = await run<string[]>(
        'delivery-begin',
        [keys.outbox(channel, phone), keys.delivery(channel, phone, id), keys.conversation(channel, phone), keys.sentLedger(channel, phone)],
        [id, JSON.stringify(spec)],
      );
      if (reply[0] === 'gone') return { kind: 'gone' };
      if (reply[0] === 'ended') return { kind: 'ended', state: reply[1] ?? 'missing' };
      if (reply[0] === 'cancelled') {
        await records.index.file(id, 'cancelled', now);
        return { kind: 'cancelled' };
      }
      const delivery = deliveryFromHash(fieldMap(reply.slice(2)));
      if (!delivery) {
        // Unreadable (written by an incompatible version): end it rather than block the customer.
        await outbox.end(ref, id, { outcome: 'failed', fields: { lastError: 'unreadable delivery record' }, sentIds: [], forget: [] });
        return { kind: 'ended', state: 'failed' };
      }
      return { kind: 'ok', delivery, seen: Number(reply[1]) || 0 };
    },

    /**
     * Records how a try ended (`sent` / `failed` end the delivery and free the customer's next
     * one; `retry` keeps it at the head), remembers the ids the channel returned, drops the
     * ledger entries that are settled, and files the record in the admin index.
     */
    async end(ref: ConversationRef, id: string, end: DeliveryEnd): Promise<void> {
      // A reply is split in a few parts, each with one or two ids; past MAX_ECHO_IDS (a very
      // long reply) the newest ids are kept (the ledger still knows the parts by their text).
      const echoKeys = [...new Set(end.sentIds)].slice(-MAX_ECHO_IDS).map((sentId) => keys.echo(ref.channel, ref.phone, sentId));
      const now = Date.now();
      const { outcome } = end;
      const spec = {
        id,
        outcome,
        fields: outcome === 'retry' ? end.fields : { finishedAt: new Date(now).toISOString(), ...end.fields },
        recordTtlMs: outcome === 'sent' ? SENT_RECORD_TTL_MS : DELIVERY_RECORD_TTL_MS,
        echoTtlMs: ECHO_TTL_MS,
        forget: end.forget,
        ambiguous: end.ambiguous === true,
      };
      const ended = run(
        'delivery-end',
        [keys.outbox(ref.channel, ref.phone), keys.delivery(ref.channel, ref.phone, id), keys.sentLedger(ref.channel, ref.phone), ...echoKeys],
        [JSON.stringify(spec)],
      );
      if (outcome === 'retry') {
        await ended;
        return;
      }
      await Promise.all([ended, records.index.file(id, outcome, now)]);
    },
  };
  return outbox;
}
