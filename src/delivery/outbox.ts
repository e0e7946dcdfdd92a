import { DELIVERY_RECORD_TTL_MS } from '../conversations/store.js';
import type { Keys } from '../keys.js';
import type { RedisClient } from '../redis/connection.js';
import { MAX_ECHO_IDS, scriptsFor } from '../redis/scripts.js';
import type { ConversationRef } from '../records/index-store.js';
import { fieldMap } from '../conversations/state.js';
import { createDeliveryRecords, deliveryFromHash, type StoredDelivery } from './records.js';

/** Ids a send returned are remembered this long: their `fromMe` echoes are ours (SPEC §9.3). */
export const ECHO_TTL_MS = 24 * 60 * 60 * 1000;
/** A sent delivery's record is kept a day; a failed one for the full week (admin API). */
const SENT_RECORD_TTL_MS = 24 * 60 * 60 * 1000;

export type DeliveryBegin = { kind: 'gone' } | { kind: 'ended'; state: string } | { kind: 'ok'; delivery: StoredDelivery };

/**
 * A customer's outbox: delivery ids in the order their replies must reach the customer. The
 * outbox worker takes the head, sends it, and records how the try ended; every step is one
 * script in the conversation's slot (see delivery-begin / delivery-end).
 */
export function createOutbox(redis: RedisClient, keys: Keys) {
  const run = scriptsFor(redis);
  const records = createDeliveryRecords(redis, keys);
  const k = (ref: ConversationRef, id: string) => [keys.outbox(ref.channel, ref.phone), keys.delivery(ref.channel, ref.phone, id), keys.sending(ref.channel, ref.phone)];

  return {
    records,
    head: (ref: ConversationRef): Promise<string | null> => redis.lindex(keys.outbox(ref.channel, ref.phone), 0),
    length: (ref: ConversationRef): Promise<number> => redis.llen(keys.outbox(ref.channel, ref.phone)),

    /** Counts a try of the head delivery and marks a send to this customer in flight. */
    async begin(ref: ConversationRef, id: string, sendingTtlMs: number): Promise<DeliveryBegin> {
      const reply = await run<string[]>('delivery-begin', k(ref, id), [id, Math.ceil(sendingTtlMs)]);
      if (reply[0] === 'gone') return { kind: 'gone' };
      if (reply[0] === 'ended') return { kind: 'ended', state: reply[1] ?? 'missing' };
      const delivery = deliveryFromHash(fieldMap(reply.slice(1)));
      if (!delivery) {
        // Unreadable (written by an incompatible version): end it rather than block the customer.
        await this.end(ref, id, 'failed', { lastError: 'unreadable delivery record' }, []);
        return { kind: 'ended', state: 'failed' };
      }
      return { kind: 'ok', delivery };
    },

    /**
     * Records how a try ended (`sent` / `failed` end the delivery and free the customer's next
     * one; `retry` keeps it at the head), remembers the ids the channel returned, clears the
     * in-flight mark, and files the record in the admin index.
     */
    async end(ref: ConversationRef, id: string, outcome: 'sent' | 'failed' | 'retry', fields: Record<string, string>, sentIds: readonly string[]): Promise<void> {
      // A reply is split in a few parts, each with one or two ids; past MAX_ECHO_IDS (a very
      // long reply) the last parts' echoes would be taken for a person on the phone, so the
      // newest ids are kept.
      const echoKeys = [...new Set(sentIds)].slice(-MAX_ECHO_IDS).map((sentId) => keys.echo(ref.channel, ref.phone, sentId));
      const now = Date.now();
      const spec = {
        id,
        outcome,
        fields: outcome === 'retry' ? fields : { finishedAt: new Date(now).toISOString(), ...fields },
        recordTtlMs: outcome === 'sent' ? SENT_RECORD_TTL_MS : DELIVERY_RECORD_TTL_MS,
        echoTtlMs: ECHO_TTL_MS,
      };
      const ended = run('delivery-end', [...k(ref, id), ...echoKeys], [JSON.stringify(spec)]);
      if (outcome === 'retry') {
        await ended;
        return;
      }
      await Promise.all([ended, records.index.file(id, outcome, now)]);
    },
  };
}

export type Outbox = ReturnType<typeof createOutbox>;
