import type { Keys } from '../keys.js';
import type { RedisClient } from '../redis/connection.js';
import { MAX_ECHO_IDS, scriptsFor } from '../redis/scripts.js';
import type { ConversationRef } from '../conversations/types.js';
import type { TimelineEvent } from '../timeline/events.js';
import { TIMELINE_FALLBACK_TTL_MS, TIMELINE_MAX_EVENTS } from '../timeline/store.js';
import { fieldMap } from '../conversations/state.js';
import { ECHO_TTL_MS } from './echoes.js';
import { createDeliveryRecords, deliveryFromHash, DELIVERY_RECORD_TTL_MS, SEND_LEASE_MARGIN_MS, SENT_RECORD_TTL_MS, type DeliveryRecords, type StoredDelivery } from './records.js';

export { ECHO_TTL_MS } from './echoes.js';

export type DeliveryBegin =
  | { kind: 'gone' }
  /** Another try of this customer's replies holds the send lease; its sender hands the outbox over. */
  | { kind: 'leased' }
  | { kind: 'ended'; state: string }
  | { kind: 'cancelled' }
  /** `seen`: leading parts still to send whose echo already arrived (sent by an earlier, ambiguous try). */
  | { kind: 'ok'; delivery: StoredDelivery; seen: number; lastInboundAt: number | null };

/** How a try ended: `forget` lists the parts whose ledger entries may go (confirmed by the channel, or certainly not sent). */
export interface DeliveryEnd {
  outcome: 'sent' | 'failed' | 'retry';
  fields: Record<string, string>;
  sentIds: readonly string[];
  forget: readonly number[];
  /** The try ended without knowing whether its send was applied (its echo may come later). */
  ambiguous?: boolean;
  /** How the try ended, for the conversation's timeline (SPEC §14), written by the same script. */
  timeline?: TimelineEvent;
}

/** A try under way: the delivery as it was begun, and the send lease it holds. */
export interface BegunTry {
  delivery: StoredDelivery;
  /** Leading parts still to send whose echo already arrived (sent by an earlier, ambiguous try). */
  seen: number;
  lease: string;
  /** When the customer last wrote (epoch ms; null: unknown) — WhatsApp's 24-hour window (SPEC §13). */
  lastInboundAt: number | null;
}

/**
 * A customer's outbox: delivery ids in the order their replies must reach the customer. A
 * try of the head takes the customer's send lease, sends, and records how it ended; every
 * step is one script in the conversation's slot (see delivery-begin / delivery-end). The
 * first try of a reply can also begin in the commit that wrote it (commit-turn's `send`).
 */
export interface Outbox {
  records: DeliveryRecords;
  /** The delivery at the head of the customer's outbox, if any. */
  head(ref: ConversationRef): Promise<string | null>;
  length(ref: ConversationRef): Promise<number>;
  /**
   * Starts a try of the head delivery under the send lease `lease` (or cancels it: a person
   * took the conversation from the phone after it was written).
   */
  begin(ref: ConversationRef, id: string, lease: string): Promise<DeliveryBegin>;
  /**
   * Records how the try ended, the ids the channel returned, gives the send lease up and files
   * the record. Returns the outbox's head afterwards (null when it is empty).
   */
  end(ref: ConversationRef, id: string, end: DeliveryEnd & { lease: string }): Promise<{ next: string | null }>;
}

/** A stored epoch-ms field; null when absent or unreadable. */
export function epochOrNull(value: string | undefined | null): number | null {
  const at = Number(value);
  return value && Number.isFinite(at) && at > 0 ? at : null;
}

/** `perPartMs`: the most one part's send may take (`delivery.timeoutMs`), for the send lease. */
export function createOutbox(redis: RedisClient, keys: Keys, options: { perPartMs: number }): Outbox {
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
    async begin(ref: ConversationRef, id: string, lease: string): Promise<DeliveryBegin> {
      const { channel, phone } = ref;
      const now = Date.now();
      const spec = {
        lease: { token: lease, perPartMs: options.perPartMs, marginMs: SEND_LEASE_MARGIN_MS },
        ledgerTtlMs: ECHO_TTL_MS,
        cancelledAt: new Date(now).toISOString(),
        recordTtlMs: DELIVERY_RECORD_TTL_MS,
      };
      const reply = await run<string[]>(
        'delivery-begin',
        [keys.outbox(channel, phone), keys.delivery(channel, phone, id), keys.conversation(channel, phone), keys.sentLedger(channel, phone), keys.sendLease(channel, phone)],
        [id, JSON.stringify(spec)],
      );
      if (reply[0] === 'gone') return { kind: 'gone' };
      if (reply[0] === 'leased') return { kind: 'leased' };
      if (reply[0] === 'ended') return { kind: 'ended', state: reply[1] ?? 'missing' };
      if (reply[0] === 'cancelled') {
        await records.index.file(id, 'cancelled', now);
        return { kind: 'cancelled' };
      }
      const delivery = deliveryFromHash(fieldMap(reply.slice(3)));
      if (!delivery) {
        // Unreadable (written by an incompatible version): end it rather than block the customer.
        await outbox.end(ref, id, { outcome: 'failed', fields: { lastError: 'unreadable delivery record' }, sentIds: [], forget: [], lease });
        return { kind: 'ended', state: 'failed' };
      }
      return { kind: 'ok', delivery, seen: Number(reply[1]) || 0, lastInboundAt: epochOrNull(reply[2]) };
    },

    /**
     * Records how a try ended (`sent` / `failed` end the delivery and free the customer's next
     * one; `retry` keeps it at the head), remembers the ids the channel returned, drops the
     * ledger entries that are settled, and files the record in the admin index.
     */
    async end(ref: ConversationRef, id: string, end: DeliveryEnd & { lease: string }): Promise<{ next: string | null }> {
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
        lease: end.lease,
        ...(end.timeline ? { timeline: { event: JSON.stringify(end.timeline), max: TIMELINE_MAX_EVENTS, ttlMs: TIMELINE_FALLBACK_TTL_MS } } : {}),
      };
      const ended = run<[number, string]>(
        'delivery-end',
        [
          keys.outbox(ref.channel, ref.phone),
          keys.delivery(ref.channel, ref.phone, id),
          keys.sentLedger(ref.channel, ref.phone),
          keys.sendLease(ref.channel, ref.phone),
          keys.timeline(ref.channel, ref.phone),
          keys.conversation(ref.channel, ref.phone),
          ...echoKeys,
        ],
        [JSON.stringify(spec)],
      );
      const [reply] = await Promise.all([ended, outcome === 'retry' ? null : records.index.file(id, outcome, now)]);
      return { next: reply[1] || null };
    },
  };
  return outbox;
}
