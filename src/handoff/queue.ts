import { Queue, type JobsOptions } from 'bullmq';
import type { Logger } from 'pino';
import type { RetryConfig } from '../config/index.js';
import { throttledErrorLog } from '../observability/throttle.js';
import { QUEUES, type Keys } from '../keys.js';
import type { ConnectionOptions } from 'bullmq';
import { handoffJobSchema, type HandoffJob } from './job.js';

/** Completed and failed jobs stay visible in the dashboard this long. */
export const KEEP_FINISHED_SECONDS = 7 * 24 * 60 * 60;

/** The BullMQ backoff type whose delays the workers compute (full jitter, Retry-After). */
export const HANDOFF_BACKOFF = 'handoff-jitter';

export interface HandoffQueue {
  readonly queue: Queue;
  /**
   * Enqueues a handoff under its own id as the BullMQ job id: adding the same handoff
   * twice (a retried message, the reconciler) leaves one job.
   */
  enqueue(job: HandoffJob, options?: { attempts?: number }): Promise<void>;
  close(): Promise<void>;
}

/**
 * The BullMQ job id of a handoff's leg (SPEC §12): the handoff's id for its first leg, so that
 * adding the same handoff twice leaves one job; `<id>-leg<n>` for the fallbacks (each leg a
 * fresh job, with a fresh round of tries).
 */
export function handoffJobId(handoffId: string, leg = 0): string {
  return leg === 0 ? handoffId : `${handoffId}-leg${leg}`;
}

export function handoffJobOptions(job: HandoffJob, retry: RetryConfig, attempts = retry.attempts, now = Date.now()): JobsOptions {
  // Queued outside business hours (SPEC §12): a delayed job, durable like any other.
  const delay = job.scheduledFor ? Math.max(0, Date.parse(job.scheduledFor) - now) : 0;
  return {
    jobId: handoffJobId(job.handoffId, job.leg ?? 0),
    ...(delay > 0 ? { delay } : {}),
    attempts,
    backoff: { type: HANDOFF_BACKOFF },
    removeOnComplete: { age: KEEP_FINISHED_SECONDS, count: 50_000 },
    removeOnFail: { age: KEEP_FINISHED_SECONDS, count: 50_000 },
  };
}

/** A BullMQ queue under its hash-tagged prefix, with its connection errors logged (not printed raw). */
export function openQueue(name: (typeof QUEUES)[keyof typeof QUEUES], options: { connection: ConnectionOptions; keys: Keys; logger?: Logger }): Queue {
  const queue = new Queue(name, { connection: options.connection, prefix: options.keys.bullPrefix(name) });
  const logError = options.logger ? throttledErrorLog(options.logger, `${name} queue connection error`, 30_000, 'warn') : () => undefined;
  queue.on('error', logError);
  return queue;
}

/** A handoff job's payload as the worker reads it: validated again (STYLE §5), or what is wrong with it. */
export function readHandoffJob(data: unknown): { ok: true; job: HandoffJob } | { ok: false; problem: string } {
  const parsed = handoffJobSchema.safeParse(data);
  if (parsed.success) return { ok: true, job: parsed.data };
  return { ok: false, problem: parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ') };
}

/** The producer side of the handoff jobs. The caller owns `connection`. */
export function createHandoffQueue(options: { connection: ConnectionOptions; keys: Keys; retry: RetryConfig; logger?: Logger }): HandoffQueue {
  const queue = openQueue(QUEUES.handoff, options);
  return {
    queue,
    async enqueue(job, opts = {}) {
      const valid = handoffJobSchema.parse(job);
      await queue.add('handoff', valid, handoffJobOptions(valid, options.retry, opts.attempts));
    },
    close: () => queue.close(),
  };
}
