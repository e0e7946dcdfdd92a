import { DelayedError, UnrecoverableError, Worker, type Job } from 'bullmq';
import type { Logger } from 'pino';
import type { Config } from '../src/config/index.js';
import { classifyFailure, type FailureClass } from '../src/errors.js';
import { QUEUES, type Keys } from '../src/keys.js';
import { throttledErrorLog } from '../src/observability/throttle.js';
import { createBullConnection } from '../src/redis/connection.js';
import { isRedisError } from '../src/redis/errors.js';

/**
 * What every worker shares: the one mapping of a failure onto BullMQ (STYLE §4), moving a
 * job to later, closing with a grace period, and the per-customer lane workers.
 */

/** The failure classified once (errors.ts), with Redis errors told apart by name and code. */
export const classify = (error: unknown): FailureClass => classifyFailure(error, isRedisError);

/**
 * What BullMQ should do after a failed try: try again (attempts + back-off, the job's
 * Retry-After honoured by the backoff strategy) or stop at once (`UnrecoverableError`, no
 * more attempts) — not retryable, or the last try was this one.
 */
export function nextStep(failure: FailureClass, attempt: number, maxAttempts: number): 'retry' | 'give_up' {
  return failure.retryable && attempt < maxAttempts ? 'retry' : 'give_up';
}

/** Stops BullMQ's retries of this job (the outcome was recorded by the caller). */
export function giveUp(message: string): never {
  throw new UnrecoverableError(message);
}

/** Runs the job again at `when` (epoch ms), without counting a failed attempt. */
export async function runAgainAt(job: Job, token: string | undefined, when: number): Promise<never> {
  await job.moveToDelayed(Math.ceil(when), token);
  throw new DelayedError();
}

/** Closes a worker, waiting up to `graceMs` for its active jobs, then forcing it. */
export async function closeWorker(worker: Worker, graceMs: number, logger: Logger, what: string): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const timedOut = new Promise<'timeout'>((resolve) => {
    timer = setTimeout(resolve, graceMs, 'timeout');
  });
  const outcome = await Promise.race([worker.close().then(() => 'closed' as const), timedOut]);
  clearTimeout(timer);
  if (outcome === 'timeout') {
    logger.warn({ graceMs, worker: what }, 'active jobs did not finish in time; they will be retried by another worker');
    await worker.close(true);
  }
}

/**
 * A BullMQ worker over one of the per-customer lanes (inbox, outbox), on a connection of its
 * own. Each run drains what is there; a job that stalls (its worker died) is simply run again.
 */
export function startLaneWorker(
  lane: 'inbox' | 'outbox',
  drain: (job: Job, token?: string) => Promise<string>,
  deps: { config: Config; keys: Keys; logger: Logger },
): { worker: Worker; close(graceMs?: number): Promise<void> } {
  const { config, logger } = deps;
  const connection = createBullConnection(config.redisTarget, 'worker');
  const worker = new Worker(QUEUES[lane], drain, {
    connection,
    prefix: deps.keys.bullPrefix(QUEUES[lane]),
    concurrency: config.worker.channelConcurrency,
    lockDuration: config.worker.lockDurationMs,
    stalledInterval: config.worker.stalledIntervalMs,
    maxStalledCount: 10,
  });
  worker.on('error', throttledErrorLog(logger, `${lane} worker error`));
  worker.on('failed', (job, error) => logger.warn({ err: error, jobId: job?.id, data: job?.data }, `${lane} drain failed; retried with back-off`));
  return {
    worker,
    async close(graceMs = config.worker.shutdownGraceMs): Promise<void> {
      await closeWorker(worker, graceMs, logger, lane);
      await connection.quit().catch(() => connection.disconnect());
    },
  };
}
