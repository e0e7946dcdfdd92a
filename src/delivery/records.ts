import { randomUUID } from 'node:crypto';
import type { NewDelivery } from '../conversations/types.js';
import type { Keys } from '../keys.js';
import type { RedisClient } from '../redis/connection.js';
import { createRecordIndex, type ConversationRef, type RecordIndex } from '../records/index-store.js';
import { splitText } from '../channels/text.js';
import { textFingerprint } from './echoes.js';

/** Deliveries are kept this long after their creation (admin API), and the outbox with them. */
export const DELIVERY_RECORD_TTL_MS = 7 * 24 * 60 * 60 * 1000;
/** A sent delivery's record is kept a day; a failed or cancelled one for the full week. */
export const SENT_RECORD_TTL_MS = 24 * 60 * 60 * 1000;
export const DELIVERY_STATES = ['pending', 'sent', 'failed', 'cancelled'] as const;
export type DeliveryState = (typeof DELIVERY_STATES)[number];

/**
 * What one delivery sends through the channel: a text for the customer (split by the sender
 * when over the channel's limit), or an event for a `json` channel's `reply.url` callback.
 */
export type Outgoing =
  | { kind: 'text'; text: string }
  | {
      kind: 'event';
      event: {
        type: 'message.replied' | 'handoff.queued' | 'handoff.done' | 'handoff.failed';
        reply?: string | null;
        conversationId: string | null;
        handoffId?: string;
      };
    };

/** One delivery as the admin API shows it (SPEC §8.2). */
export interface DeliveryRecord {
  id: string;
  channel: string;
  phone: string;
  messageId: string;
  /** What it sends: `text`, or the callback event's type. */
  type: string;
  state: DeliveryState;
  attempts: number;
  lastError: string | null;
  createdAt: string;
  finishedAt: string | null;
  /** The last status the channel reported for it later (WhatsApp `statuses[]`), null when none. */
  status: DeliveryStatus | null;
}

/** What WhatsApp reports about a message after it was sent (SPEC §8.4). */
export type DeliveryStatus = 'sent' | 'delivered' | 'read' | 'failed';
const STATUSES: readonly string[] = ['sent', 'delivered', 'read', 'failed'];

/** A delivery as the outbox worker reads it. */
export interface StoredDelivery extends DeliveryRecord {
  to: string;
  /** What `to` is (SPEC §11): a phone, a WhatsApp LID (`<digits>@lid`), or a BSUID (Graph `recipient`). */
  toKind: 'phone' | 'lid' | 'bsuid';
  outgoing: Outgoing;
  /** Parts of a split text already sent (they are not sent again). */
  partsSent: number;
  /** When the message it answers was accepted (ms), for the acceptance → sent histogram. */
  acceptedAt: number | null;
}

export function deliveryFromHash(hash: Record<string, string>): StoredDelivery | null {
  if (!hash.id) return null;
  let outgoing: Outgoing;
  try {
    outgoing = JSON.parse(hash.outgoing ?? 'null') as Outgoing;
  } catch {
    return null;
  }
  if (!outgoing || (outgoing.kind !== 'text' && outgoing.kind !== 'event')) return null;
  const state = (DELIVERY_STATES as readonly string[]).includes(hash.state ?? '') ? (hash.state as DeliveryState) : 'pending';
  const acceptedAt = Number(hash.acceptedAt);
  return {
    id: hash.id,
    channel: hash.channel ?? '',
    phone: hash.phone ?? '',
    messageId: hash.messageId ?? '',
    type: outgoing.kind === 'text' ? 'text' : outgoing.event.type,
    state,
    attempts: Number(hash.attempts ?? '0') || 0,
    lastError: hash.lastError || null,
    createdAt: hash.createdAt ?? '',
    finishedAt: hash.finishedAt || null,
    status: STATUSES.includes(hash.status ?? '') ? (hash.status as DeliveryStatus) : null,
    to: hash.to ?? hash.phone ?? '',
    toKind: hash.toKind === 'lid' || hash.toKind === 'bsuid' ? hash.toKind : 'phone',
    outgoing,
    partsSent: Number(hash.partsSent ?? '0') || 0,
    acceptedAt: Number.isFinite(acceptedAt) && acceptedAt > 0 ? acceptedAt : null,
  };
}

/** The admin view of a stored delivery. */
export function publicDelivery(d: StoredDelivery): DeliveryRecord {
  const { id, channel, phone, messageId, type, state, attempts, lastError, createdAt, finishedAt, status } = d;
  return { id, channel, phone, messageId, type, state, attempts, lastError, createdAt, finishedAt, status };
}

/** A try's send lease (keys.sendLease) outlives the time limits of its sends by this much. */
export const SEND_LEASE_MARGIN_MS = 5_000;

/**
 * A new pending delivery's fields (created in the commit of the turn that produced it). A text
 * carries the fingerprint of each part it will be sent as, so that its echoes are known as ours
 * by their text too (delivery/echoes.ts).
 */
export function newDelivery(
  ref: ConversationRef,
  draft: { messageId: string; to: string; toKind?: 'phone' | 'lid' | 'bsuid'; outgoing: Outgoing; acceptedAt?: number | null },
): NewDelivery {
  const id = randomUUID();
  const fingerprints = draft.outgoing.kind === 'text' ? splitText(draft.outgoing.text).map(textFingerprint).join(',') : '';
  return {
    id,
    fields: {
      id,
      channel: ref.channel,
      phone: ref.phone,
      messageId: draft.messageId,
      to: draft.to,
      toKind: draft.toKind ?? 'phone',
      outgoing: JSON.stringify(draft.outgoing),
      state: 'pending',
      attempts: '0',
      partsSent: '0',
      lastError: '',
      createdAt: new Date().toISOString(),
      finishedAt: '',
      acceptedAt: draft.acceptedAt ? String(draft.acceptedAt) : '',
      fingerprints,
    },
  };
}

/** Reading delivery records: by id (through the index's pointer) or by conversation. */
export interface DeliveryRecords {
  index: RecordIndex<DeliveryState>;
  read(id: string, ref?: ConversationRef | null): Promise<StoredDelivery | null>;
}

export function createDeliveryRecords(redis: RedisClient, keys: Keys): DeliveryRecords {
  const index = createRecordIndex(redis, keys, 'delivery', DELIVERY_STATES);
  return {
    index,
    async read(id: string, ref?: ConversationRef | null): Promise<StoredDelivery | null> {
      const where = ref ?? (await index.locate(id));
      if (!where) return null;
      return deliveryFromHash(await redis.hgetall(keys.delivery(where.channel, where.phone, id)));
    },
  };
}
