import type { Logger } from 'pino';
import { DELIVERY_RECORD_TTL_MS, DELIVERY_STATES, SEND_LEASE_MARGIN_MS } from '../delivery/records.js';
import { HANDOFF_RECORD_TTL_MS, HANDOFF_STATES, newRecordFields } from '../handoff/records.js';
import type { Keys } from '../keys.js';
import type { RedisClient } from '../redis/connection.js';
import { guarded } from '../redis/errors.js';
import { scriptsFor } from '../redis/scripts.js';
import { createRecordIndex, fileInBackground } from '../records/index-store.js';
import { leaveInBackground } from './lock.js';
import { IN_PROGRESS } from './message-records.js';
import { conversationFields, type Conversation } from './state.js';
import { ECHO_TTL_MS } from '../delivery/echoes.js';
import { epochOrNull } from '../delivery/outbox.js';
import { INDEX_EVERY_MS, indexMember, TIMELINE_FALLBACK_TTL_MS, TIMELINE_MAX_EVENTS } from '../timeline/store.js';
import type { BatchCommit, CommitResult, ConversationLock, TurnCommit, TurnCommitter } from './types.js';

export interface TurnCommitterOptions {
  redis: RedisClient;
  keys: Keys;
  /** How long a processed message's answer is kept for duplicates (SPEC: at least 24 h). */
  recordTtlMs?: number;
  logger?: Logger;
}

/**
 * Ending a turn: everything it writes — the conversation, its handoff record, the message's
 * answer, the batch leaving the inbox, the replies on the outbox — in one script in the
 * conversation's slot, fenced by the lock (scripts/commit-turn.lua). New handoff and delivery
 * records are filed in the admin indexes in the same tick (one write on a single server).
 */
export function createTurnCommitter(options: TurnCommitterOptions): TurnCommitter {
  const { redis, keys } = options;
  const run = scriptsFor(redis);
  const recordTtlMs = options.recordTtlMs ?? 24 * 60 * 60 * 1000;
  const handoffIndex = createRecordIndex(redis, keys, 'handoff', HANDOFF_STATES);
  const deliveryIndex = createRecordIndex(redis, keys, 'delivery', DELIVERY_STATES);

  function commitKeys(lock: ConversationLock, commit: TurnCommit): string[] {
    const { channel, phone } = lock.ref;
    const conversation = keys.conversation(channel, phone);
    const messageId = commit.record?.messageId ?? commit.dropRecord;
    const handoffId = commit.handoff ? ('create' in commit.handoff ? commit.handoff.create.handoffId : commit.handoff.reopen) : undefined;
    return [
      conversation,
      keys.lockQueue(channel, phone),
      keys.lockLeases(channel, phone),
      messageId !== undefined ? keys.message(channel, phone, messageId) : conversation,
      keys.inbox(channel, phone),
      keys.outbox(channel, phone),
      handoffId !== undefined ? keys.handoff(channel, phone, handoffId) : conversation,
      commit.send ? keys.sentLedger(channel, phone) : conversation,
      commit.send ? keys.sendLease(channel, phone) : conversation,
      commit.transcript ? keys.transcript(channel, phone) : conversation,
      commit.timeline ? keys.timeline(channel, phone) : conversation,
      ...(commit.deliveries ?? []).map((d) => keys.delivery(channel, phone, d.id)),
    ];
  }

  /** ARGV[1] of commit-turn.lua (see the script's header). */
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
    else if (handoff) {
      const restart = handoff.restart;
      spec.handoff = {
        op: 'reopen',
        id: handoff.reopen,
        ttlMs: HANDOFF_RECORD_TTL_MS,
        ...(restart ? { restart: { past: restart.past, provider: restart.job.provider, job: JSON.stringify(restart.job), keepClaim: restart.keepClaim } } : {}),
      };
    }
    if (commit.inbox) spec.inbox = commit.inbox;
    if (commit.transcript && commit.transcript.append.length > 0) {
      spec.transcript = { append: commit.transcript.append, keep: commit.transcript.keep, ttlMs: Math.max(1, Math.ceil(commit.transcript.ttlMs)) };
    }
    if (commit.phoneGen !== undefined) {
      spec.phoneGen = String(commit.phoneGen);
      spec.cancelledAt = new Date(now).toISOString();
      if (commit.keep && Object.keys(commit.keep).length > 0) spec.keep = conversationFields(commit.keep, now);
    }
    if (commit.timeline && commit.timeline.events.length > 0) {
      spec.timeline = {
        append: commit.timeline.events.map((e) => JSON.stringify(e)),
        max: TIMELINE_MAX_EVENTS,
        ttlMs: TIMELINE_FALLBACK_TTL_MS,
        ...(commit.timeline.name ? { name: commit.timeline.name } : {}),
        at: now,
        indexEveryMs: INDEX_EVERY_MS,
      };
    }
    if (commit.deliveries?.length) {
      spec.deliveries = commit.deliveries.map((d) => ({ id: d.id, fields: d.fields, ttlMs: DELIVERY_RECORD_TTL_MS }));
      spec.outboxTtlMs = DELIVERY_RECORD_TTL_MS;
      if (commit.send) spec.send = { lease: { token: commit.send.lease, perPartMs: commit.send.perPartMs, marginMs: SEND_LEASE_MARGIN_MS }, ledgerTtlMs: ECHO_TTL_MS };
    }
    return JSON.stringify(spec);
  }

  async function commitTurn(lock: ConversationLock, commit: TurnCommit): Promise<BatchCommit> {
    const now = Date.now();
    const handoff = commit.handoff;
    const committing = guarded(run<[CommitResult, string?, string?, string?, string?]>('commit-turn', commitKeys(lock, commit), [commitSpec(lock, commit, now)]));
    // Issued in the same tick as the commit: one write on a single server (auto-pipelining).
    // An entry filed for a commit that then turned out 'lost' finds no record and is skipped.
    const filings: (() => Promise<unknown>)[] = [];
    if (handoff && 'create' in handoff) {
      const id = handoff.create.handoffId;
      filings.push(() => handoffIndex.file(id, 'pending', now, { ref: lock.ref, ttlMs: HANDOFF_RECORD_TTL_MS }));
    } else if (handoff) {
      filings.push(() => handoffIndex.file(handoff.reopen, 'pending', now));
    }
    for (const delivery of commit.deliveries ?? []) {
      filings.push(() => deliveryIndex.file(delivery.id, 'pending', now, { ref: lock.ref, ttlMs: DELIVERY_RECORD_TTL_MS }));
    }
    const [reply] = await Promise.all([committing, fileInBackground(filings, options.logger)]);
    if (reply[4] === '1') {
      // The console's list, newest activity first (SPEC §14): after the commit, not awaited.
      redis.zadd(keys.conversationIndex(), 'GT', now, indexMember(lock.ref)).catch((error: unknown) => options.logger?.warn({ err: error }, 'could not move the conversation up the console’s list'));
    }
    if (reply[0] === 'superseded' && commit.deliveries?.length) {
      // Filed pending in the same tick as the commit; they were recorded cancelled.
      await fileInBackground(commit.deliveries.map((d) => () => deliveryIndex.file(d.id, 'cancelled', now)), options.logger);
    }
    return { result: reply[0], inboxLeft: Number(reply[1] ?? 0) || 0, sending: reply[2] === '1', lastInboundAt: epochOrNull(reply[3]) };
  }

  return {
    async commit(lock: ConversationLock, commit: TurnCommit): Promise<CommitResult> {
      return (await commitTurn(lock, commit)).result;
    },

    commitBatch: commitTurn,

    async abort(lock: ConversationLock, messageId: string, learnt?: { fields: Partial<Conversation>; ttlMs: number }): Promise<void> {
      const commit: TurnCommit = { dropRecord: messageId, conversation: learnt };
      await leaveInBackground(() => run('commit-turn', commitKeys(lock, commit), [commitSpec(lock, commit, Date.now())]), lock.ref, options.logger);
    },
  };
}
