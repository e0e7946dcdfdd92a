import type { Queue } from 'bullmq';
import { z } from 'zod';
import { PHONE_SIGNAL_KINDS } from '../channels/registry.js';
import type { Config } from '../config/index.js';
import type { ConversationRef } from '../conversations/types.js';
import { CUSTOMER_KEY } from '../identity/key.js';
import type { Keys } from '../keys.js';
import type { FirstResponseObserver } from '../observability/observers.js';
import type { RedisClient } from '../redis/connection.js';
import type { HandoffJob } from './job.js';
import type { Timeline } from '../timeline/store.js';

/**
 * The first-response watchdog (SPEC §12): when a handoff is done on a channel with
 * `handoff.firstResponse`, a delayed job on the handoff queue (durable: restarts and worker
 * changes lose none) fires `minutes` later; if no human answered the customer by then, the
 * worker takes the channel's action. A human answering is recorded on the handoff record once
 * (`firstResponseAt`), from MeHub's MESSAGE_SENT or a person on the phone.
 */

/** The BullMQ job name of a watchdog on the handoff queue. */
export const FIRST_RESPONSE_JOB = 'first-response';

/** A watchdog's payload: the handoff and the leg that was done. */
export const firstResponseJobSchema = z.strictObject({
  handoffId: z.uuid(),
  channel: z.string().regex(/^[a-z0-9-]{1,64}$/),
  phone: z.string().regex(CUSTOMER_KEY),
  leg: z.number().int().min(0),
});
export type FirstResponseJob = z.infer<typeof firstResponseJobSchema>;

/** One watchdog per done leg of a handoff. */
export const firstResponseJobId = (handoffId: string, leg: number) => `fr-${handoffId}-${leg}`;

export interface FirstResponseWatch {
  /** Starts the watchdog of a handoff just done (no-op when its channel has none). */
  start(job: HandoffJob): Promise<void>;
  /**
   * A human answered the customer of handoff `handoffId` at `at` (ms): recorded once on a done
   * record, observed in the histogram. False when it was not the first answer, or the record
   * is not done.
   */
  answered(ref: ConversationRef, handoffId: string, at: number): Promise<boolean>;
}

/** How long the times to a first human response are kept for `/admin/figures` (which reads the last 24 h). */
const FIRST_RESPONSES_KEPT_MS = 7 * 24 * 3_600_000;

export function createFirstResponseWatch(deps: {
  config: Config;
  redis: RedisClient;
  keys: Keys;
  queue: Queue;
  observer?: FirstResponseObserver;
  /** The console's timeline (SPEC §14). */
  timeline?: Pick<Timeline, 'append'>;
}): FirstResponseWatch {
  const { config, redis, keys } = deps;
  return {
    async start(job) {
      const channel = config.channels[job.channel];
      const rule = channel?.handoff.firstResponse;
      // Only where a human's answer can be seen: a MeHub leg, or a channel whose own number tells (§9.3).
      if (!rule || (job.provider !== 'mehub' && !PHONE_SIGNAL_KINDS.includes(channel.kind))) return;
      const data: FirstResponseJob = { handoffId: job.handoffId, channel: job.channel, phone: job.phone, leg: job.leg ?? 0 };
      await deps.queue.add(FIRST_RESPONSE_JOB, data, {
        jobId: firstResponseJobId(job.handoffId, data.leg),
        delay: Math.ceil(rule.minutes * 60_000),
        attempts: 5,
        backoff: { type: 'exponential', delay: 1000 },
        removeOnComplete: { age: 7 * 24 * 3600, count: 50_000 },
        removeOnFail: { age: 7 * 24 * 3600, count: 50_000 },
      });
    },

    async answered(ref, handoffId, at) {
      const key = keys.handoff(ref.channel, ref.phone, handoffId);
      const [state, finishedAt] = await redis.hmget(key, 'state', 'finishedAt');
      if (state !== 'done') return false;
      const done = Date.parse(finishedAt ?? '');
      // An answer seen before the platform said done (MeHub may post it first) counts from then.
      if ((await redis.hsetnx(key, 'firstResponseAt', new Date(Math.max(at, Number.isFinite(done) ? done : at)).toISOString())) !== 1) return false;
      if (Number.isFinite(done)) {
        const seconds = Math.max(0, at - done) / 1000;
        deps.observer?.answered?.(ref.channel, seconds);
        // For the console's figures (SPEC §14): p50 / p90 over the last 24 h.
        await redis
          .multi()
          .zadd(keys.firstResponses(), at, `${seconds.toFixed(3)}:${handoffId}`)
          .zremrangebyscore(keys.firstResponses(), '-inf', at - FIRST_RESPONSES_KEPT_MS)
          .exec()
          .catch(() => undefined);
      }
      await deps.timeline?.append(ref, [{ at: new Date(at).toISOString(), type: 'first_response', handoffId }]);
      return true;
    },
  };
}
