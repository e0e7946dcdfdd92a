import { UnrecoverableError, Worker, type Job } from 'bullmq';
import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import type { Config, ProviderName } from '../src/config.js';
import { isUpstreamError } from '../src/errors.js';
import { handoffJobSchema, type HandoffJob } from '../src/handoff/job.js';
import { createHandoffOutcomes } from '../src/handoff/outcome.js';
import { HANDOFF_BACKOFF } from '../src/handoff/queue.js';
import { retryDelayMs } from '../src/handoff/retry.js';
import { readRecord } from '../src/handoff/records.js';
import { createKeys, HANDOFF_QUEUE } from '../src/keys.js';
import type { HandoffOutcome, HandoffProvider } from '../src/providers/types.js';
import { lazyLogger } from '../src/observability/lazy-logger.js';
import { throttledErrorLog } from '../src/observability/throttle.js';
import { workerRedisOptions } from '../src/redis.js';

/** Metrics hooks; optional. */
export interface WorkerObserver {
  attempt?(provider: string, outcome: 'done' | 'retry' | 'failed', seconds: number): void;
  finished?(provider: string, outcome: 'done' | 'failed' | 'cancelled'): void;
}

export interface HandoffWorkerDeps {
  config: Config;
  /** A request-path connection for records and conversations (not the blocking one). */
  redis: Redis;
  providers: Record<ProviderName, HandoffProvider>;
  logger: Logger;
  observer?: WorkerObserver;
}

/** Why a try failed, as recorded on the handoff: the platform's own words when it gave any. */
function describe(error: unknown): string {
  if (isUpstreamError(error)) return error.message;
  return error instanceof Error ? `${error.name}: ${error.message}` : String(error);
}

/**
 * The BullMQ worker that performs handoffs: re-validates the job, checks that the
 * conversation still waits for it, runs the channel's adapter, and records the outcome.
 *
 * Retries follow SPEC §5: a retryable failure is thrown back to BullMQ (attempts + the
 * jittered back-off, or the platform's Retry-After); a permanent one, or the last try, ends
 * the handoff here and is thrown as `UnrecoverableError`. The outcome is written before the
 * job is acknowledged, so a worker that dies in between only causes a re-run that sees the
 * handoff already ended.
 */
export function createHandoffWorker(deps: HandoffWorkerDeps) {
  const { config, providers, logger } = deps;
  const keys = createKeys(config.redis.keyPrefix);
  const outcomes = createHandoffOutcomes(deps.redis, keys);

  /** Ends the handoff as failed (once), logs it at error level, and stops BullMQ's retries. */
  async function fail(job: HandoffJob, log: Logger, message: string, attempts: number): Promise<never> {
    if (await outcomes.finish(job, 'failed', { lastError: message })) {
      deps.observer?.finished?.(job.provider, 'failed');
      log.error({ lastError: message, attempts }, 'handoff failed for good; the conversation goes back to the bot');
    }
    throw new UnrecoverableError(message);
  }

  async function process(bullJob: Job): Promise<HandoffOutcome> {
    const parsed = handoffJobSchema.safeParse(bullJob.data);
    if (!parsed.success) {
      const where = parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ');
      logger.error({ jobId: bullJob.id, issues: where }, 'invalid handoff job payload');
      throw new UnrecoverableError(`invalid handoff job payload: ${where}`);
    }
    const job = parsed.data;
    const attempt = bullJob.attemptsMade + 1;
    const maxAttempts = bullJob.opts.attempts ?? 1;
    // The per-attempt line carries these fields itself; a child logger is built only if an
    // adapter or an ending has more to say.
    const fields = { handoffId: job.handoffId, channel: job.channel, phone: job.phone, provider: job.provider, attempt };
    const log = lazyLogger(() => logger.child(fields));
    const started = performance.now();
    const seconds = () => (performance.now() - started) / 1000;

    const start = await outcomes.startAttempt(job);
    if (start.state !== 'pending') {
      // Ended by an earlier run whose acknowledgement was lost (a worker killed at the wrong moment).
      if (start.state === 'done') return { summary: 'already done' };
      throw new UnrecoverableError(start.lastError ?? 'handoff already failed');
    }
    const mayHaveApplied = start.mayHaveApplied;

    const conversation = start.conversation;
    if (conversation?.handoffId !== job.handoffId || (conversation.state !== 'handoff_pending' && conversation.state !== 'human')) {
      // Released, expired or replaced by a newer episode: handing off now would surprise everyone.
      // Not a failure of the handoff (no error log, counted apart in the metrics).
      const reason = 'cancelled: the conversation no longer waits for this handoff (released or expired)';
      if (await outcomes.finish(job, 'failed', { lastError: reason })) deps.observer?.finished?.(job.provider, 'cancelled');
      logger.info({ ...fields, outcome: 'cancelled', state: conversation?.state ?? null }, 'handoff attempt');
      throw new UnrecoverableError(reason);
    }
    if (conversation.state === 'human') {
      await outcomes.finish(job, 'done', { summary: 'conversation already with a human' });
      return { summary: 'conversation already with a human' };
    }

    const channel = config.channels[job.channel];
    if (!channel) return fail(job, log, `channel ${job.channel} is not in the configuration any more`, start.attempts);
    const provider = providers[channel.handoff.provider];

    try {
      const outcome = await provider.perform({
        job,
        settings: channel.handoff,
        mayHaveApplied,
        beforeSideEffect: () => outcomes.markSideEffect(job.handoffId),
        log,
      });
      if (await outcomes.finish(job, 'done', { summary: outcome.summary })) deps.observer?.finished?.(provider.name, 'done');
      deps.observer?.attempt?.(provider.name, 'done', seconds());
      logger.info({ ...fields, outcome: 'done', summary: outcome.summary, durationMs: Math.round(seconds() * 1000) }, 'handoff attempt');
      return outcome;
    } catch (error) {
      const message = describe(error);
      // Errors that are not the platform's (a Redis blip, a bug) are worth another try too.
      const retryable = isUpstreamError(error) ? error.retryable : true;
      if (!retryable || attempt >= maxAttempts) {
        deps.observer?.attempt?.(provider.name, 'failed', seconds());
        logger.warn({ ...fields, outcome: 'failed', err: error, retryable, durationMs: Math.round(seconds() * 1000) }, 'handoff attempt');
        return fail(job, log, message, start.attempts);
      }
      await outcomes.recordError(job.handoffId, message).catch(() => undefined);
      deps.observer?.attempt?.(provider.name, 'retry', seconds());
      logger.warn({ ...fields, outcome: 'retry', err: error, durationMs: Math.round(seconds() * 1000) }, 'handoff attempt');
      throw error;
    }
  }

  const worker = new Worker(HANDOFF_QUEUE, process, {
    connection: workerRedisOptions(config.redisUrl),
    prefix: keys.bullPrefix,
    concurrency: config.worker.concurrency,
    lockDuration: config.worker.lockDurationMs,
    stalledInterval: config.worker.stalledIntervalMs,
    maxStalledCount: 2,
    settings: {
      backoffStrategy: (attemptsMade: number, type?: string, error?: Error) => {
        if (type !== HANDOFF_BACKOFF) return 0;
        const retryAfter = error && isUpstreamError(error) ? error.retryAfterMs : undefined;
        return retryDelayMs(attemptsMade, config.retry, retryAfter);
      },
    },
  });

  // While Redis is away this fires on every reconnect attempt: one line per 30 s is enough.
  worker.on('error', throttledErrorLog(logger, 'handoff worker error'));
  // Safety net for failures that never reached `process`'s own ending (a job that stalled
  // too often): end the handoff so the conversation does not stay pending.
  worker.on('failed', (bullJob, error) => {
    if (!bullJob) return;
    const parsed = handoffJobSchema.safeParse(bullJob.data);
    if (!parsed.success) return;
    void (async () => {
      if ((await bullJob.getState()) !== 'failed') return;
      const record = await readRecord(deps.redis, keys, parsed.data.handoffId);
      if (record?.state !== 'pending') return;
      const log = logger.child({ handoffId: parsed.data.handoffId, channel: parsed.data.channel, phone: parsed.data.phone });
      await fail(parsed.data, log, error.message, record.attempts).catch(() => undefined);
    })().catch((err: unknown) => logger.warn({ err }, 'could not record a failed handoff'));
  });

  return {
    worker,
    /** Lets active jobs finish for up to `graceMs`, then stops (unfinished jobs are retried by another worker). */
    async close(graceMs = config.worker.shutdownGraceMs): Promise<void> {
      let timer: NodeJS.Timeout | undefined;
      const timedOut = new Promise<'timeout'>((resolve) => {
        timer = setTimeout(resolve, graceMs, 'timeout');
      });
      const outcome = await Promise.race([worker.close().then(() => 'closed' as const), timedOut]);
      clearTimeout(timer);
      if (outcome === 'timeout') {
        logger.warn({ graceMs }, 'active handoff jobs did not finish in time; they will be retried by another worker');
        await worker.close(true);
      }
    },
  };
}

export type HandoffWorker = ReturnType<typeof createHandoffWorker>;
