import { randomUUID } from 'node:crypto';
import type { Logger } from 'pino';
import { AppError } from '../errors.js';
import type { HandoffJob } from '../handoff/job.js';
import { HANDOFF_RECORD_TTL_MS, HANDOFF_STATES, newRecordFields } from '../handoff/records.js';
import type { Keys } from '../keys.js';
import type { RedisClient } from '../redis/connection.js';
import { isRedisError } from '../redis/errors.js';
import { scriptsFor } from '../redis/scripts.js';
import { createRecordIndex, type ConversationRef } from '../records/index-store.js';
import { conversationFields, conversationFromHash, fieldMap, type Conversation } from './state.js';

export type { ConversationRef } from '../records/index-store.js';

/** What a processed message answered, replayed for a duplicate `messageId`. */
export interface MessageRecord {
  status: number;
  body: Record<string, unknown>;
}

export type BeginResult =
  | { kind: 'in_progress' }
  | { kind: 'duplicate'; record: MessageRecord }
  | { kind: 'acquired'; lock: ConversationLock; conversation: Conversation }
  | { kind: 'queued'; lock: ConversationLock };

/** A place in a conversation's FIFO lock; a commit or `release` gives it up. */
export interface ConversationLock {
  readonly token: string;
  readonly ref: ConversationRef;
}

/** A record to create in the conversation's slot and file in the admin index. */
export interface NewDelivery {
  id: string;
  fields: Record<string, string>;
}

/** Everything one turn writes, in one script call (see scripts/commit-turn.lua). */
export interface TurnCommit {
  /** Conversation fields to write, and how long the conversation is kept from now. */
  conversation?: { fields: Partial<Conversation>; ttlMs: number };
  /** Marks the message processed with this answer (synchronous path). */
  record?: { messageId: string; value: MessageRecord };
  /** The message was not processed: drop its in-progress marker (the channel's retry runs again). */
  dropRecord?: string;
  /** A new handoff (its job is already queued), or a failed one re-opened by an operator. */
  handoff?: { create: HandoffJob } | { reopen: string };
  /** The processed batch leaves the inbox (asynchronous path). */
  inbox?: { count: number; head: string };
  /** Replies and events for the customer, queued on the outbox in this order. */
  deliveries?: readonly NewDelivery[];
  /** Give the lock up (default true). */
  release?: boolean;
  /**
   * The conversation's `phoneGen` when the turn read it (asynchronous turns): if a person took
   * the conversation from the phone since, the turn is superseded (SPEC §8.4) — only `keep` is
   * written, no handoff is created, and the deliveries are recorded `cancelled`.
   */
  phoneGen?: number;
  /** What a superseded turn still keeps (what Toolzz taught it: botId, conversationId). */
  keep?: Partial<Conversation>;
}

/**
 * 'lost': the lock was no longer ours, nothing was written; 'superseded': a person took the
 * conversation from the phone during the turn (see TurnCommit.phoneGen); 'not_failed': the
 * handoff to re-open is not failed.
 */
export type CommitResult = 'ok' | 'lost' | 'superseded' | 'not_failed';

/** An accepted message of an asynchronous channel, as kept in the customer's inbox. */
export interface InboxEntry {
  /** messageId */
  id: string;
  /** `text`: a customer text; `unsupported`: a customer message without text; `owner`: a `fromMe` message. */
  k: 'text' | 'unsupported' | 'owner';
  text?: string;
  name?: string | null;
  /** The address to reply to, as the channel gave it. */
  to: string;
  /** What an unsupported message was (audio, sticker…), for logs. */
  what?: string;
  externalIds?: HandoffJob['externalIds'];
  /** Accepted at (ms, the accepting process's clock). */
  at: number;
}

export type BatchClaim =
  | { kind: 'busy' }
  | { kind: 'empty' }
  | { kind: 'wait'; readyAt: number }
  | { kind: 'batch'; tries: number; conversation: Conversation; exists: boolean; entries: InboxEntry[] };

/**
 * What a message sent from the business's own number was (SPEC §9.3, §8.4): a repeat, our own
 * echo (`how`: by the id a send returned, the channel's API marker, or the text of a send whose
 * outcome was unknown), or a person — whose message took the conversation (`takeover`), changed
 * nothing because takeovers are off (`off`) or a platform's attendant has the customer (`platform`).
 * `wasByPhone`: a person already had the conversation from the phone before.
 */
export type OwnerOutcome =
  | { kind: 'duplicate' }
  | { kind: 'echo'; how: 'id' | 'api' | 'text' }
  | { kind: 'person'; effect: 'takeover' | 'off' | 'platform'; wasByPhone: boolean };

/** A message sent from the business's own number, as `acceptOwner` decides it. */
export interface OwnerMessage {
  id: string;
  /** Its text's fingerprint (delivery/echoes.ts), '' when it has none. */
  fingerprint: string;
  sentByApi: boolean;
  /** What a takeover writes; null when takeovers are off on the channel. */
  takeover: { fields: Partial<Conversation>; ttlMs: number } | null;
}

const IN_PROGRESS = '~in-progress';

/**
 * The answer stored for a processed messageId. A message first accepted while its channel was
 * asynchronous (`reply` set then) holds a plain marker: its first answer was SPEC §8.1's 202.
 * No stored state of an earlier configuration may turn into a 500 (SPEC §8.4).
 */
function storedRecord(raw: string, messageId: string): MessageRecord {
  try {
    const parsed = JSON.parse(raw) as unknown;
    if (parsed && typeof parsed === 'object' && typeof (parsed as MessageRecord).status === 'number' && typeof (parsed as MessageRecord).body === 'object') return parsed as MessageRecord;
  } catch {
    // not JSON: the acceptance marker below
  }
  return { status: 202, body: { status: 'accepted', messageId } };
}
/** Deliveries are kept this long after their creation (admin API), and the outbox with them. */
export const DELIVERY_RECORD_TTL_MS = 7 * 24 * 60 * 60 * 1000;
export const DELIVERY_STATES = ['pending', 'sent', 'failed', 'cancelled'] as const;
export type DeliveryState = (typeof DELIVERY_STATES)[number];
/** Asynchronous channels: each (channel, customer, messageId) is de-duplicated at least this long (SPEC §8.1). */
export const ACCEPTED_TTL_MS = 7 * 24 * 60 * 60 * 1000;

export interface ConversationStoreOptions {
  redis: RedisClient;
  keys: Keys;
  /** A lock holder that stops renewing its lease for this long is presumed dead. */
  leaseMs?: number;
  /** How long a message may stay "in progress" if its process dies mid-way. */
  inProgressTtlMs: number;
  /** How long a processed message's answer is kept for duplicates (SPEC: at least 24 h). */
  recordTtlMs?: number;
  logger?: Logger;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Any Redis failure on the request path becomes a 503 `unavailable`; anything else is not Redis's fault. */
async function guarded<T>(operation: Promise<T>): Promise<T> {
  try {
    return await operation;
  } catch (error) {
    if (isRedisError(error)) throw redisUnavailable(error);
    throw error;
  }
}

export function redisUnavailable(cause: unknown): AppError {
  return new AppError('unavailable', 'Redis is unavailable', 503, { cause, retryable: true });
}

/**
 * The one owner of conversation state in Redis: the per-conversation FIFO lock, message
 * de-duplication, the inbox of accepted messages, and every write of the conversation hash
 * (a turn's commit, a phone takeover, a handoff's end). Each operation is one script in the
 * conversation's hash slot.
 *
 * The synchronous path costs two round trips per replied message: `begin` (claim the
 * messageId, join the queue, read the state) and `commit` (write the state, record the
 * answer, leave the queue).
 */
export function createConversationStore(options: ConversationStoreOptions) {
  const { redis, keys } = options;
  const run = scriptsFor(redis);
  const leaseMs = options.leaseMs ?? 15_000;
  const recordTtlMs = options.recordTtlMs ?? 24 * 60 * 60 * 1000;
  const handoffIndex = createRecordIndex(redis, keys, 'handoff', HANDOFF_STATES);
  const deliveryIndex = createRecordIndex(redis, keys, 'delivery', DELIVERY_STATES);

  const conv = (ref: ConversationRef) => keys.conversation(ref.channel, ref.phone);
  const lockKeys = (ref: ConversationRef) => [keys.lockQueue(ref.channel, ref.phone), keys.lockLeases(ref.channel, ref.phone), conv(ref)] as const;

  function parseTurn(reply: [string, string[]?], lock: ConversationLock): BeginResult {
    if (reply[0] === 'acquired') return { kind: 'acquired', lock, conversation: conversationFromHash(reply[1] ?? []) };
    return { kind: 'queued', lock };
  }

  async function waitTurn(lock: ConversationLock, deadline: number): Promise<{ conversation: Conversation; exists: boolean } | null> {
    let delay = 2;
    for (;;) {
      const reply = await guarded(run<[string, string[]?]>('poll', lockKeys(lock.ref), [lock.token, leaseMs]));
      if (reply[0] === 'acquired') return { conversation: conversationFromHash(reply[1] ?? []), exists: (reply[1]?.length ?? 0) > 0 };
      if (Date.now() + delay >= deadline) return null;
      await sleep(delay);
      delay = Math.min(delay * 2, 50);
    }
  }

  /**
   * Gives the lock (or our place in its queue) up. A failure (Redis blip) is retried in the
   * background for a few seconds instead of leaving the customer's next message waiting out
   * the 15 s lease; never throws.
   */
  function release(lock: ConversationLock): Promise<void> {
    return leave(lock, () => run('commit-turn', commitKeys(lock, {}), [commitSpec(lock, {}, Date.now())]));
  }

  /** One try now; on failure, more in the background (the caller's answer is not held up). */
  async function leave(lock: ConversationLock, attempt: () => Promise<unknown>): Promise<void> {
    const where = { channel: lock.ref.channel, phone: lock.ref.phone };
    try {
      await attempt();
      return;
    } catch (error) {
      options.logger?.warn({ err: error, ...where }, 'could not give the conversation lock up; retrying in the background');
    }
    void (async () => {
      for (const wait of [100, 500, 2_000, 5_000]) {
        await sleep(wait);
        try {
          await attempt();
          return;
        } catch {
          // logged once above, and below if every try fails
        }
      }
      options.logger?.error(where, 'gave up releasing the conversation lock; its lease frees it within 15 s');
    })();
  }

  function commitKeys(lock: ConversationLock, commit: TurnCommit): string[] {
    const { channel, phone } = lock.ref;
    const conversationKey = conv(lock.ref);
    const messageId = commit.record?.messageId ?? commit.dropRecord;
    const handoffId = commit.handoff ? ('create' in commit.handoff ? commit.handoff.create.handoffId : commit.handoff.reopen) : undefined;
    return [
      conversationKey,
      keys.lockQueue(channel, phone),
      keys.lockLeases(channel, phone),
      messageId !== undefined ? keys.message(channel, phone, messageId) : conversationKey,
      keys.inbox(channel, phone),
      keys.outbox(channel, phone),
      handoffId !== undefined ? keys.handoff(channel, phone, handoffId) : conversationKey,
      ...(commit.deliveries ?? []).map((d) => keys.delivery(channel, phone, d.id)),
    ];
  }

  /**
   * Index writes (another slot than the record's) never fail the turn: the record is the
   * truth. A write that fails is tried again in the background, because an unindexed pending
   * record is seen neither by the admin lists nor by the reconciler.
   */
  function fileQuietly(filing: (() => Promise<unknown>)[]): Promise<unknown> {
    return Promise.all(
      filing.map((write) =>
        write().catch(async (error: unknown) => {
          options.logger?.warn({ err: error }, 'could not file a record in the admin index; retrying in the background');
          void (async () => {
            for (const wait of [500, 2_000, 5_000]) {
              await sleep(wait);
              if (await write().then(() => true, () => false)) return;
            }
            options.logger?.error('gave up filing a record in the admin index: it is not listed, nor reconciled');
          })();
        }),
      ),
    );
  }

  /** ARGV[1] of commit-turn.lua for `commit` (see the script's header). */
  function commitSpec(lock: ConversationLock, commit: TurnCommit, now: number): string {
    const spec: Record<string, unknown> = { token: lock.token, release: commit.release !== false };
    if (commit.conversation) {
      spec.fields = conversationFields(commit.conversation.fields, now);
      spec.ttlMs = Math.max(1, Math.ceil(commit.conversation.ttlMs));
    }
    if (commit.record) spec.record = { action: 'set', value: JSON.stringify(commit.record.value), ttlMs: recordTtlMs, marker: IN_PROGRESS };
    else if (commit.dropRecord !== undefined) spec.record = { action: 'drop', marker: IN_PROGRESS };
    const handoff = commit.handoff;
    if (handoff && 'create' in handoff) spec.handoff = { op: 'create', fields: newRecordFields(handoff.create), ttlMs: HANDOFF_RECORD_TTL_MS };
    else if (handoff) spec.handoff = { op: 'reopen', id: handoff.reopen, ttlMs: HANDOFF_RECORD_TTL_MS };
    if (commit.inbox) spec.inbox = commit.inbox;
    if (commit.phoneGen !== undefined) {
      spec.phoneGen = String(commit.phoneGen);
      spec.cancelledAt = new Date(now).toISOString();
      if (commit.keep && Object.keys(commit.keep).length > 0) spec.keep = conversationFields(commit.keep, now);
    }
    if (commit.deliveries?.length) {
      spec.deliveries = commit.deliveries.map((d) => ({ id: d.id, fields: d.fields, ttlMs: DELIVERY_RECORD_TTL_MS }));
      spec.outboxTtlMs = DELIVERY_RECORD_TTL_MS;
    }
    return JSON.stringify(spec);
  }

  return {
    leaseMs,

    /**
     * Claims `messageId` and joins the conversation's queue, in one round trip.
     * `duplicate` carries the first answer; `in_progress` means another request holds it.
     */
    async begin(ref: ConversationRef, messageId: string): Promise<BeginResult> {
      const lock: ConversationLock = { token: randomUUID(), ref };
      const reply = await guarded(
        run<[string, (string[] | string)?]>('begin', [...lockKeys(ref), keys.message(ref.channel, ref.phone, messageId)], [lock.token, leaseMs, options.inProgressTtlMs, IN_PROGRESS]),
      );
      if (reply[0] === 'in_progress') return { kind: 'in_progress' };
      if (reply[0] === 'duplicate') return { kind: 'duplicate', record: storedRecord(reply[1] as string, messageId) };
      return parseTurn(reply as [string, string[]?], lock);
    },

    /**
     * Waits for our turn (the messages queued before ours to finish), polling with a short
     * back-off, until `deadline` (epoch ms). Resolves null if the wait ran out.
     */
    async waitTurn(lock: ConversationLock, deadline: number): Promise<Conversation | null> {
      return (await waitTurn(lock, deadline))?.conversation ?? null;
    },

    /**
     * Takes the conversation's turn without a message (operator actions, platform events),
     * waiting until `deadline`; null if the wait ran out. `exists` is false when no
     * conversation is stored. Give it back with `commit` or `release`.
     */
    async acquire(ref: ConversationRef, deadline: number): Promise<{ lock: ConversationLock; conversation: Conversation; exists: boolean } | null> {
      const lock: ConversationLock = { token: randomUUID(), ref };
      const turn = await waitTurn(lock, deadline);
      if (turn) return { lock, ...turn };
      await release(lock);
      return null;
    },

    /** Renews the lease of a lock we hold; false once it is lost (never regained). */
    async heartbeat(lock: ConversationLock): Promise<boolean> {
      const [queue, leases] = lockKeys(lock.ref);
      return (await guarded(run<number>('heartbeat', [queue, leases], [lock.token, leaseMs]))) === 1;
    },

    /**
     * Ends a turn atomically — only while `lock` is still held (the fence): writes the
     * conversation, the handoff record, the answer, the inbox and the outbox, and by default
     * gives the lock up. 'lost' means nothing was written (but the in-progress marker dropped).
     * New handoff and delivery records are filed in the admin indexes in the same tick.
     */
    async commit(lock: ConversationLock, commit: TurnCommit): Promise<CommitResult> {
      const now = Date.now();
      const handoff = commit.handoff;
      const committing = guarded(run<[CommitResult]>('commit-turn', commitKeys(lock, commit), [commitSpec(lock, commit, now)]));
      // Issued in the same tick as the commit: one write on a single server (auto-pipelining).
      // An entry filed for a commit that then turned out 'lost' finds no record and is skipped.
      const filing: (() => Promise<unknown>)[] = [];
      if (handoff && 'create' in handoff) {
        const id = handoff.create.handoffId;
        filing.push(() => handoffIndex.file(id, 'pending', now), () => handoffIndex.point(id, lock.ref, HANDOFF_RECORD_TTL_MS));
      } else if (handoff) {
        filing.push(() => handoffIndex.file(handoff.reopen, 'pending', now));
      }
      for (const delivery of commit.deliveries ?? []) {
        filing.push(() => deliveryIndex.file(delivery.id, 'pending', now), () => deliveryIndex.point(delivery.id, lock.ref, DELIVERY_RECORD_TTL_MS));
      }
      const [reply] = await Promise.all([committing, fileQuietly(filing)]);
      if (reply[0] === 'superseded' && commit.deliveries?.length) {
        // Filed pending in the same tick as the commit; they were recorded cancelled.
        await fileQuietly(commit.deliveries.map((d) => () => deliveryIndex.file(d.id, 'cancelled', now)));
      }
      return reply[0];
    },

    /** Gives the lock up without writing anything (retried in the background on failure). */
    release,

    /**
     * The message was not processed: forget the in-progress marker so the channel's retry is
     * handled normally, and leave the queue. `learnt` keeps what was learnt anyway (a Toolzz
     * conversationId from a hop that succeeded).
     */
    async abort(lock: ConversationLock, messageId: string, learnt?: { fields: Partial<Conversation>; ttlMs: number }): Promise<void> {
      const commit: TurnCommit = { dropRecord: messageId, conversation: learnt };
      await leave(lock, () => run('commit-turn', commitKeys(lock, commit), [commitSpec(lock, commit, Date.now())]));
    },

    /** Reads a conversation (null if none is stored). */
    async get(ref: ConversationRef): Promise<Conversation | null> {
      const hash = await guarded(redis.hgetall(conv(ref)));
      return Object.keys(hash).length === 0 ? null : conversationFromHash(hash);
    },

    /**
     * Asynchronous channels: stores one accepted message and de-duplicates it (7 days).
     * `firstHeldAt` is when the first message still waiting for the bot was accepted (the
     * start of a debounce window), null when none waits.
     */
    async accept(ref: ConversationRef, entry: InboxEntry): Promise<{ accepted: boolean; firstHeldAt: number | null }> {
      const reply = await guarded(
        run<[string, string]>(
          'accept',
          [keys.message(ref.channel, ref.phone, entry.id), keys.inbox(ref.channel, ref.phone), conv(ref)],
          [JSON.stringify(entry), 'accepted', ACCEPTED_TTL_MS, ACCEPTED_TTL_MS],
        ),
      );
      return { accepted: reply[0] === 'accepted', firstHeldAt: reply[1] ? Number(reply[1]) : null };
    },

    /** Takes the customer's turn and their next batch (see scripts/claim-batch-4.lua). */
    async claimBatch(lock: ConversationLock, debounceMs: number, maxBatch: number): Promise<BatchClaim> {
      const { channel, phone } = lock.ref;
      const reply = await run<string[]>('claim-batch', [...lockKeys(lock.ref), keys.inbox(channel, phone)], [lock.token, leaseMs, debounceMs, maxBatch]);
      const kind = reply[0];
      if (kind === 'busy' || kind === 'empty') return { kind };
      if (kind === 'wait') return { kind, readyAt: Number(reply[1]) };
      const fieldCount = Number(reply[2]);
      const hash = reply.slice(3, 3 + fieldCount);
      const entries = reply.slice(3 + fieldCount).map((raw) => JSON.parse(raw) as InboxEntry);
      const fields = fieldMap(hash);
      return { kind: 'batch', tries: Number(reply[1]), conversation: conversationFromHash(fields), exists: Boolean(fields.state || fields.conversationId), entries };
    },

    /**
     * Asynchronous channels: de-duplicates a message sent from the business's own number and
     * decides at once what it is, atomically with the customer's sends (scripts/accept-owner.lua):
     * a person's message takes the conversation before anything else of this customer is done.
     */
    async acceptOwner(ref: ConversationRef, message: OwnerMessage): Promise<OwnerOutcome> {
      const { channel, phone } = ref;
      const spec = {
        record: 'accepted',
        recordTtlMs: ACCEPTED_TTL_MS,
        fingerprint: message.fingerprint,
        sentByApi: message.sentByApi,
        takeover: message.takeover ? { fields: conversationFields(message.takeover.fields), ttlMs: Math.max(1, Math.ceil(message.takeover.ttlMs)) } : false,
      };
      const reply = await guarded(
        run<string[]>(
          'accept-owner',
          [keys.message(channel, phone, message.id), conv(ref), keys.echo(channel, phone, message.id), keys.sentLedger(channel, phone)],
          [JSON.stringify(spec)],
        ),
      );
      if (reply[0] === 'duplicate') return { kind: 'duplicate' };
      if (reply[0] === 'echo') return { kind: 'echo', how: reply[1] as 'id' | 'api' | 'text' };
      return { kind: 'person', effect: reply[1] as 'takeover' | 'off' | 'platform', wasByPhone: reply[2] === '1' };
    },

    /**
     * Ends a pending handoff (worker): its record, the conversation (`done` → human, its
     * human period starting now when `human` is given; `failed` → handoff_failed) only if it
     * still waits for this handoff, and what the customer must be told. -1: it had already
     * ended; 0: the conversation had moved on.
     */
    async finishHandoff(
      job: HandoffJob,
      outcome: 'done' | 'failed',
      fields: Record<string, string>,
      deliveries: readonly NewDelivery[] = [],
      human?: { periodMs: number; keepMs: number },
    ): Promise<-1 | 0 | 1> {
      const now = Date.now();
      const { channel, phone } = job;
      const spec = {
        ...(outcome === 'done' && human ? { humanUntil: String(now + human.periodMs), conversationTtlMs: Math.ceil(human.periodMs + human.keepMs) } : {}),
        id: job.handoffId,
        outcome,
        fields: { finishedAt: new Date(now).toISOString(), ...fields },
        recordTtlMs: HANDOFF_RECORD_TTL_MS,
        conversationState: outcome === 'done' ? 'human' : 'handoff_failed',
        updatedAt: String(now),
        deliveries: deliveries.map((d) => ({ id: d.id, fields: d.fields, ttlMs: DELIVERY_RECORD_TTL_MS })),
        outboxTtlMs: DELIVERY_RECORD_TTL_MS,
      };
      const finishing = run<number>(
        'handoff-finish',
        [keys.handoff(channel, phone, job.handoffId), conv(job), keys.outbox(channel, phone), ...deliveries.map((d) => keys.delivery(channel, phone, d.id))],
        [JSON.stringify(spec)],
      );
      const result = (await finishing) as -1 | 0 | 1;
      if (result !== -1) {
        const filing: (() => Promise<unknown>)[] = [() => handoffIndex.file(job.handoffId, outcome, now)];
        if (result === 1) for (const d of deliveries) filing.push(() => deliveryIndex.file(d.id, 'pending', now), () => deliveryIndex.point(d.id, job, DELIVERY_RECORD_TTL_MS));
        await fileQuietly(filing);
      }
      return result;
    },
  };
}

export type ConversationStore = ReturnType<typeof createConversationStore>;
