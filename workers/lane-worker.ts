import { Worker, type Job } from 'bullmq';
import type { Logger } from 'pino';
import type { Config } from '../src/config.js';
import { QUEUES, type Keys } from '../src/keys.js';
import { throttledErrorLog } from '../src/observability/throttle.js';
import { createBullConnection } from '../src/redis/connection.js';
import { closeWorker } from './handoff.worker.js';

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
