import type { Redis } from 'ioredis';
import type { Keys } from '../keys.js';
import type { HandoffJob } from './job.js';
import { addCreateRecord, type HandoffState } from './records.js';

// Counts the try and tells the worker where the handoff and its conversation stand.
// KEYS: 1 record, 2 conversation. ARGV: 1 now (ISO).
const START = `
if redis.call('EXISTS', KEYS[1]) == 0 then return {'missing'} end
local state = redis.call('HGET', KEYS[1], 'state')
if state ~= 'pending' then return {state, redis.call('HGET', KEYS[1], 'lastError') or ''} end
local attempts = redis.call('HINCRBY', KEYS[1], 'attempts', 1)
redis.call('HSET', KEYS[1], 'lastAttemptAt', ARGV[1])
local conversation = redis.call('HMGET', KEYS[2], 'state', 'handoffId')
return {'pending', tostring(attempts), redis.call('HGET', KEYS[1], 'sideEffect') or '', conversation[1] or '', conversation[2] or ''}
`;

// Ends a pending handoff once: record, indexes and (only if it still waits for this very
// handoff) the conversation, atomically. Returns -1 if it had already ended.
// KEYS: 1 record, 2 pending index, 3 final index, 4 conversation.
// ARGV: 1 id, 2 final state, 3 finishedAt ISO, 4 score, 5 conversation state, 6 lastError ('' = keep), 7 now ms, 8 summary
const FINISH = `
if redis.call('HGET', KEYS[1], 'state') ~= 'pending' then return -1 end
redis.call('HSET', KEYS[1], 'state', ARGV[2], 'finishedAt', ARGV[3], 'summary', ARGV[8])
if ARGV[6] ~= '' then redis.call('HSET', KEYS[1], 'lastError', ARGV[6]) end
redis.call('ZREM', KEYS[2], ARGV[1])
redis.call('ZADD', KEYS[3], ARGV[4], ARGV[1])
if redis.call('HGET', KEYS[4], 'handoffId') == ARGV[1] and redis.call('HGET', KEYS[4], 'state') == 'handoff_pending' then
  redis.call('HSET', KEYS[4], 'state', ARGV[5], 'updatedAt', ARGV[7])
  return 1
end
return 0
`;

// Re-opens a failed handoff for another round of tries (admin retry).
// KEYS: 1 record, 2 failed index, 3 pending index. ARGV: 1 id, 2 score.
const REOPEN = `
if redis.call('HGET', KEYS[1], 'state') ~= 'failed' then return 0 end
redis.call('HSET', KEYS[1], 'state', 'pending', 'finishedAt', '', 'sideEffect', '')
redis.call('ZREM', KEYS[2], ARGV[1])
redis.call('ZADD', KEYS[3], ARGV[2], ARGV[1])
return 1
`;

export type AttemptStart =
  | {
      state: 'pending';
      attempts: number;
      mayHaveApplied: boolean;
      /** The conversation's state and handoff right now (null when it expired). */
      conversation: { state: string; handoffId: string | null } | null;
    }
  | { state: Exclude<HandoffState, 'pending'>; lastError: string | null };

interface OutcomeRedis {
  hoHandoffStart(record: string, conversation: string, now: string): Promise<string[]>;
  hoHandoffFinish(...args: (string | number)[]): Promise<number>;
  hoHandoffReopen(...args: (string | number)[]): Promise<number>;
}

/** The worker's writes to a handoff record and its conversation. */
export function createHandoffOutcomes(redis: Redis, keys: Keys) {
  if (!('hoHandoffStart' in redis)) {
    redis.defineCommand('hoHandoffStart', { numberOfKeys: 2, lua: START });
    redis.defineCommand('hoHandoffFinish', { numberOfKeys: 4, lua: FINISH });
    redis.defineCommand('hoHandoffReopen', { numberOfKeys: 3, lua: REOPEN });
  }
  const scripted = redis as unknown as OutcomeRedis;

  return {
    /**
     * Counts a try and reads the conversation, in one call; recreates the record if it is
     * missing (a job added by hand, an expired record).
     */
    async startAttempt(job: HandoffJob): Promise<AttemptStart> {
      const start = () => scripted.hoHandoffStart(keys.handoff(job.handoffId), keys.conversation(job.channel, job.phone), new Date().toISOString());
      let reply = await start();
      if (reply[0] === 'missing') {
        const multi = redis.multi();
        addCreateRecord(multi, keys, job);
        await multi.exec();
        reply = await start();
      }
      if (reply[0] === 'pending') {
        return {
          state: 'pending',
          attempts: Number(reply[1]),
          mayHaveApplied: reply[2] === '1',
          conversation: reply[3] ? { state: reply[3], handoffId: reply[4] || null } : null,
        };
      }
      return { state: reply[0] === 'done' ? 'done' : 'failed', lastError: reply[1] || null };
    },

    /** Persisted before the request that changes the platform, so any later try knows. */
    async markSideEffect(handoffId: string): Promise<void> {
      await redis.hset(keys.handoff(handoffId), 'sideEffect', '1');
    },

    async recordError(handoffId: string, message: string): Promise<void> {
      await redis.hset(keys.handoff(handoffId), 'lastError', message);
    },

    /** failed → pending (admin retry); false if the handoff was not failed. */
    async reopen(handoffId: string): Promise<boolean> {
      const reopened = await scripted.hoHandoffReopen(keys.handoff(handoffId), keys.handoffIndex('failed'), keys.handoffIndex('pending'), handoffId, Date.now());
      return reopened === 1;
    },

    /**
     * Ends the handoff: `done` moves the conversation to `human`, `failed` to
     * `handoff_failed` (the next message goes to the bot) — only if the conversation still
     * waits for this handoff. Returns false if the handoff had already ended.
     */
    async finish(job: HandoffJob, outcome: 'done' | 'failed', detail: { lastError?: string; summary?: string }): Promise<boolean> {
      const now = Date.now();
      const result = await scripted.hoHandoffFinish(
        keys.handoff(job.handoffId),
        keys.handoffIndex('pending'),
        keys.handoffIndex(outcome),
        keys.conversation(job.channel, job.phone),
        job.handoffId,
        outcome,
        new Date(now).toISOString(),
        now,
        outcome === 'done' ? 'human' : 'handoff_failed',
        detail.lastError ?? '',
        now,
        detail.summary ?? '',
      );
      return result !== -1;
    },
  };
}

export type HandoffOutcomes = ReturnType<typeof createHandoffOutcomes>;
