import type { ConversationStore, NewDelivery } from '../conversations/store.js';
import type { Keys } from '../keys.js';
import type { RedisClient } from '../redis/connection.js';
import { scriptsFor } from '../redis/scripts.js';
import type { HandoffJob } from './job.js';
import type { HandoffLearnt, HandoffState } from './records.js';

export type AttemptStart =
  | { state: 'missing' }
  | {
      state: 'pending';
      attempts: number;
      /** An earlier try claimed the side effect: it may have been applied. */
      mayHaveApplied: boolean;
      /** The conversation's state and handoff right now (null when it expired). */
      conversation: { state: string; handoffId: string | null } | null;
    }
  | { state: Exclude<HandoffState, 'pending'>; lastError: string | null };

export type SideEffectClaim = 'claimed' | 'taken' | 'ended' | 'cancelled';

/**
 * The worker's reads and writes of a handoff record (in its conversation's slot). Ending a
 * handoff changes the conversation, so it goes through the conversation store, the one
 * writer of conversation state.
 */
export function createHandoffOutcomes(redis: RedisClient, keys: Keys, store: ConversationStore) {
  const run = scriptsFor(redis);
  const recordKey = (job: HandoffJob) => keys.handoff(job.channel, job.phone, job.handoffId);

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

    /**
     * Ends the handoff: `done` moves the conversation to `human` (its human period, `human`,
     * starting now), `failed` to
     * `handoff_failed` (the next message goes to the bot) — only if the conversation still
     * waits for this handoff — and queues `deliveries` for the customer. Returns false if the
     * handoff had already ended.
     */
    async finish(
      job: HandoffJob,
      outcome: 'done' | 'failed',
      detail: { lastError?: string; summary?: string; learnt?: HandoffLearnt; deliveries?: readonly NewDelivery[]; human?: { periodMs: number; keepMs: number } },
    ): Promise<boolean> {
      const fields: Record<string, string> = { summary: detail.summary ?? '' };
      if (detail.lastError !== undefined) fields.lastError = detail.lastError;
      for (const [key, value] of Object.entries(detail.learnt ?? {})) if (value) fields[key] = value;
      return (await store.finishHandoff(job, outcome, fields, detail.deliveries, detail.human)) !== -1;
    },
  };
}

export type HandoffOutcomes = ReturnType<typeof createHandoffOutcomes>;
