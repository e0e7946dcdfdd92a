import type { Logger } from 'pino';
import type { NewDelivery } from '../conversations/types.js';
import { DELIVERY_RECORD_TTL_MS, DELIVERY_STATES } from '../delivery/records.js';
import type { Keys } from '../keys.js';
import type { HandoffLearnt } from '../providers/types.js';
import type { RedisClient } from '../redis/connection.js';
import { scriptsFor } from '../redis/scripts.js';
import { createRecordIndex, fileInBackground } from '../records/index-store.js';
import type { HandoffJob, PastLeg } from './job.js';
import { HANDOFF_RECORD_TTL_MS, HANDOFF_STATES, type HandoffState } from './records.js';

export type AttemptStart =
  | { state: 'missing' }
  | {
      state: 'pending';
      attempts: number;
      /** An earlier try claimed the side effect: it may have been applied. */
      mayHaveApplied: boolean;
      /** The conversation's state and handoff right now (null when it expired). */
      conversation: { state: string; handoffId: string | null } | null;
      /** The conversation's lines before the message that caused the handoff (SPEC §13), oldest first. */
      transcript: string[];
    }
  | { state: Exclude<HandoffState, 'pending'>; lastError: string | null };

export type SideEffectClaim = 'claimed' | 'taken' | 'ended' | 'cancelled';

/** How a handoff ended, as recorded. */
export interface HandoffEnding {
  lastError?: string;
  summary?: string;
  learnt?: HandoffLearnt;
  /** What the customer is told (queued on their outbox with the ending). */
  deliveries?: readonly NewDelivery[];
  /** `done`: the human period starts now (SPEC §8.4), and the conversation is kept this much longer. */
  human?: { periodMs: number; keepMs: number };
}

/**
 * A handoff's tries, as the worker makes them: each counted on its record (in its
 * conversation's slot), the side-effect claim around a platform request whose repetition
 * would do harm, and the ending — which moves the conversation in the same script
 * (scripts/handoff-finish.lua) when it still waits for this handoff.
 */
/** A handoff's tries, as a worker makes them (see {@link createHandoffTries}). */
export interface HandoffTries {
  /** Counts a try and reads the conversation, in one call. `missing`: not committed (yet). */
  startAttempt(job: HandoffJob): Promise<AttemptStart>;
  /** Claims the side effect for this try (one try at a time) and re-checks the conversation, right before the platform request. */
  claimSideEffect(job: HandoffJob, holder: string, leaseMs: number, checked: boolean): Promise<SideEffectClaim>;
  /** The holder's try is over: its claim stays, settled ("may have applied"). */
  settleSideEffect(job: HandoffJob, holder: string): Promise<void>;
  recordError(job: HandoffJob, message: string): Promise<void>;
  /**
   * SPEC §12: the leg `job` ran failed for good; the record moves on to `next` (the same
   * handoff, the next leg), `past` recording how the leg ended. False when it had already
   * moved on or ended (another try did it).
   */
  failover(job: HandoffJob, next: HandoffJob, past: PastLeg): Promise<boolean>;
  /**
   * SPEC §12 `firstResponse.action: fallback`: the leg `job` ran was done but no human
   * answered in time; the record is pending again on `next`, and the conversation waits for
   * it if it is still with this handoff's human. False when either had moved on.
   */
  escalate(job: HandoffJob, next: HandoffJob, past: PastLeg): Promise<boolean>;
  /** Ends the handoff once (-1: had already ended; 0: the conversation had moved on; 1: ended, conversation updated). */
  finish(job: HandoffJob, outcome: 'done' | 'failed', ending: HandoffEnding): Promise<-1 | 0 | 1>;
}

/** The record's `transcript` field (a JSON array of lines); an unreadable one is none. */
function transcriptLines(stored: string | undefined): string[] {
  if (!stored) return [];
  try {
    const lines: unknown = JSON.parse(stored);
    return Array.isArray(lines) ? lines.filter((line): line is string => typeof line === 'string') : [];
  } catch {
    return [];
  }
}

export function createHandoffTries(redis: RedisClient, keys: Keys, logger?: Logger): HandoffTries {
  const run = scriptsFor(redis);
  const recordKey = (job: HandoffJob) => keys.handoff(job.channel, job.phone, job.handoffId);
  const handoffIndex = createRecordIndex(redis, keys, 'handoff', HANDOFF_STATES);
  const deliveryIndex = createRecordIndex(redis, keys, 'delivery', DELIVERY_STATES);

  /** The record moves from `job`'s leg to `next`'s (scripts/handoff-failover-2.lua); false when it already had. */
  async function moveOn(job: HandoffJob, next: HandoffJob, past: PastLeg, escalate: boolean, now = Date.now()): Promise<boolean> {
    const spec = { fromLeg: job.leg ?? 0, escalate, past, provider: next.provider, job: JSON.stringify(next), updatedAt: String(now) };
    return (await run<number>('handoff-failover', [recordKey(job), keys.conversation(job.channel, job.phone)], [JSON.stringify(spec)])) === 1;
  }

  return {
    /** Counts a try and reads the conversation, in one call. `missing`: not committed (yet). */
    async startAttempt(job: HandoffJob): Promise<AttemptStart> {
      const reply = await run<string[]>('handoff-start', [recordKey(job), keys.conversation(job.channel, job.phone)], [new Date().toISOString()]);
      if (reply[0] === 'missing') return { state: 'missing' };
      if (reply[0] === 'pending') {
        return {
          state: 'pending',
          attempts: Number(reply[1]),
          mayHaveApplied: Boolean(reply[2]),
          conversation: reply[3] ? { state: reply[3], handoffId: reply[4] || null } : null,
          transcript: transcriptLines(reply[5]),
        };
      }
      return { state: reply[0] === 'done' ? 'done' : 'failed', lastError: reply[1] || null };
    },

    /**
     * Claims the side effect for this try (only one try ever holds it) and re-checks that
     * the conversation still waits for the handoff, right before the platform request.
     */
    async claimSideEffect(job: HandoffJob, holder: string, leaseMs: number, checked: boolean): Promise<SideEffectClaim> {
      return run<SideEffectClaim>('handoff-claim', [recordKey(job), keys.conversation(job.channel, job.phone)], [job.handoffId, holder, Math.ceil(leaseMs), checked ? '1' : '0']);
    },

    /** The holder's try is over: its claim stays, settled ("may have applied"). */
    async settleSideEffect(job: HandoffJob, holder: string): Promise<void> {
      await run('handoff-settle', [recordKey(job)], [holder]);
    },

    async recordError(job: HandoffJob, message: string): Promise<void> {
      await redis.hset(recordKey(job), 'lastError', message);
    },

    failover: (job, next, past) => moveOn(job, next, past, false),

    async escalate(job, next, past) {
      const now = Date.now();
      const moved = await moveOn(job, next, past, true, now);
      // Done → pending again: the admin index follows.
      if (moved) await fileInBackground([() => handoffIndex.file(job.handoffId, 'pending', now)], logger);
      return moved;
    },

    /**
     * Ends the handoff once: `done` moves the conversation to `human` (its human period
     * starting now), `failed` to `handoff_failed` (the next message goes to the bot) — only if
     * the conversation still waits for this handoff — and queues what the customer is told.
     * Resolves -1 when it had already ended, 0 when the conversation had moved on, 1 otherwise.
     */
    async finish(job: HandoffJob, outcome: 'done' | 'failed', ending: HandoffEnding): Promise<-1 | 0 | 1> {
      const now = Date.now();
      const { channel, phone } = job;
      const fields: Record<string, string> = { finishedAt: new Date(now).toISOString(), summary: ending.summary ?? '' };
      if (ending.lastError !== undefined) fields.lastError = ending.lastError;
      const learnt: HandoffLearnt = ending.learnt ?? {};
      for (const [key, value] of Object.entries(learnt) as [string, string | undefined][]) if (value) fields[key] = value;
      const deliveries = ending.deliveries ?? [];
      const human = outcome === 'done' ? ending.human : undefined;
      const spec = {
        ...(human ? { humanUntil: String(now + human.periodMs), conversationTtlMs: Math.ceil(human.periodMs + human.keepMs) } : {}),
        id: job.handoffId,
        outcome,
        fields,
        recordTtlMs: HANDOFF_RECORD_TTL_MS,
        conversationState: outcome === 'done' ? 'human' : 'handoff_failed',
        updatedAt: String(now),
        deliveries: deliveries.map((d) => ({ id: d.id, fields: d.fields, ttlMs: DELIVERY_RECORD_TTL_MS })),
        outboxTtlMs: DELIVERY_RECORD_TTL_MS,
      };
      const result = await run<-1 | 0 | 1>(
        'handoff-finish',
        [recordKey(job), keys.conversation(channel, phone), keys.outbox(channel, phone), ...deliveries.map((d) => keys.delivery(channel, phone, d.id))],
        [JSON.stringify(spec)],
      );
      if (result !== -1) {
        const filings: (() => Promise<unknown>)[] = [() => handoffIndex.file(job.handoffId, outcome, now)];
        if (result === 1) for (const d of deliveries) filings.push(() => deliveryIndex.file(d.id, 'pending', now, { ref: job, ttlMs: DELIVERY_RECORD_TTL_MS }));
        await fileInBackground(filings, logger);
      }
      return result;
    },
  };
}
