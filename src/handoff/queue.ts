import { Queue, type JobsOptions } from 'bullmq';
import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import { throttledErrorLog } from '../observability/throttle.js';
import type { RetryConfig } from '../config.js';
import { HANDOFF_QUEUE, type Keys } from '../keys.js';
import { handoffJobSchema, type HandoffJob } from './job.js';

/** Completed and failed jobs stay visible in the dashboard this long. */
const KEEP_FINISHED_SECONDS = 7 * 24 * 60 * 60;

/** The BullMQ backoff type whose delays the worker computes (full jitter, Retry-After). */
export const HANDOFF_BACKOFF = 'handoff-jitter';

export interface HandoffQueue {
  readonly queue: Queue;
  /**
   * Enqueues a handoff under its own id as the BullMQ job id: adding the same handoff
   * twice (a retried message, a crash between state and queue) leaves one job.
   */
  enqueue(job: HandoffJob): Promise<void>;
  close(): Promise<void>;
}

export function handoffJobOptions(job: HandoffJob, retry: RetryConfig): JobsOptions {
  return {
    jobId: job.handoffId,
    attempts: retry.attempts,
    backoff: { type: HANDOFF_BACKOFF },
    removeOnComplete: { age: KEEP_FINISHED_SECONDS, count: 50_000 },
    removeOnFail: { age: KEEP_FINISHED_SECONDS, count: 50_000 },
  };
}

/**
 * The queue on a connection of its own, duplicated from `redis`. BullMQ defines dozens of
 * scripts on its connection, and ioredis copies every script of a connection into each MULTI
 * it builds: sharing the request-path connection made every MULTI pay for them.
 * `close()` also closes that connection.
 */
export function openHandoffQueue(options: { redis: Redis; keys: Keys; retry: RetryConfig; logger?: Logger }): HandoffQueue {
  const connection = options.redis.duplicate();
  connection.on('error', () => undefined); // the queue's listener (below) and the request path report outages
  connection.connect().catch(() => undefined);
  const handoffs = createHandoffQueue({ connection, keys: options.keys, retry: options.retry, logger: options.logger });
  return {
    ...handoffs,
    async close() {
      await handoffs.close();
      await connection.quit().catch(() => connection.disconnect());
    },
  };
}

export function createHandoffQueue(options: { connection: Redis; keys: Keys; retry: RetryConfig; logger?: Logger }): HandoffQueue {
  const queue = new Queue(HANDOFF_QUEUE, { connection: options.connection, prefix: options.keys.bullPrefix });
  // Without a listener BullMQ prints connection errors with console.error (not JSON).
  const logError = options.logger ? throttledErrorLog(options.logger, 'handoff queue connection error', 30_000, 'warn') : () => undefined;
  queue.on('error', logError);
  return {
    queue,
    async enqueue(job) {
      const valid = handoffJobSchema.parse(job);
      await queue.add('handoff', valid, handoffJobOptions(valid, options.retry));
    },
    close: () => queue.close(),
  };
}
