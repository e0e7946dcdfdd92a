import { randomUUID } from 'node:crypto';
import { DelayedError, UnrecoverableError, Worker, type Job } from 'bullmq';
import type { Logger } from 'pino';
import type { Config, ProviderName } from '../src/config.js';
import type { ConversationStore, NewDelivery } from '../src/conversations/store.js';
import { describeFailure, isUpstreamError } from '../src/errors.js';
import { handoffJobSchema, type HandoffJob } from '../src/handoff/job.js';
import { createHandoffOutcomes, type HandoffOutcomes } from '../src/handoff/outcome.js';
import { HANDOFF_BACKOFF } from '../src/handoff/queue.js';
import { retryDelayMs } from '../src/handoff/retry.js';
import { QUEUES, type Keys } from '../src/keys.js';
import { lazyLogger } from '../src/observability/lazy-logger.js';
import type { WorkerObserver } from '../src/observability/observers.js';
import { throttledErrorLog } from '../src/observability/throttle.js';
import type { HandoffOutcome, HandoffProvider } from '../src/providers/types.js';
import { createBullConnection, type RedisClient } from '../src/redis/connection.js';
import { isRedisError } from '../src/redis/errors.js';


/** What the customer is told when a handoff ends (asynchronous channels; SPEC §8.2, §9.2). */
export type HandoffNotifier = (job: HandoffJob, outcome: 'done' | 'failed') => NewDelivery[];

export interface HandoffWorkerDeps {
  config: Config;
  keys: Keys;
  /** A request-path connection for records and conversations (not the blocking one). */
  redis: RedisClient;
  store: ConversationStore;
  providers: Record<ProviderName, HandoffProvider>;
  logger: Logger;
  notify?: HandoffNotifier;
  /** Sends what `notify` queued (the customer's outbox). */
  kickOutbox?: (ref: { channel: string; phone: string }) => Promise<unknown>;
  observer?: WorkerObserver;
}

/** A job whose record has not appeared after this long was never committed: it is dropped. */
const ORPHAN_AFTER_MS = 60_000;
/** How often a job waiting for its record looks again. */
const RECORD_WAIT_MS = 200;

/** The side effect may not be performed by this try (another holds it, or the handoff was cancelled/ended meanwhile). */
class SideEffectRefused extends Error {
  constructor(readonly claim: 'taken' | 'ended' | 'cancelled') {
    super(
      claim === 'taken'
        ? 'another try holds the side effect; the next try checks whether it was applied'
        : claim === 'cancelled'
          ? 'cancelled: the conversation no longer waits for this handoff (released or expired)'
          : 'the handoff ended meanwhile',
    );
    this.name = 'SideEffectRefused';
  }
}

/**
 * Ends a handoff and sends the customer what its end means on their channel (the worker and
 * the reconciler end handoffs alike). Resolves false when it had already ended.
 */
export function handoffEnder(outcomes: HandoffOutcomes, notify?: HandoffNotifier, kickOutbox?: (ref: { channel: string; phone: string }) => Promise<unknown>) {
  return async (job: HandoffJob, outcome: 'done' | 'failed', detail: Omit<Parameters<HandoffOutcomes['finish']>[2], 'deliveries'>): Promise<boolean> => {
    const deliveries = notify?.(job, outcome) ?? [];
    const ended = await outcomes.finish(job, outcome, { ...detail, deliveries });
    if (ended && deliveries.length > 0) await kickOutbox?.(job);
    return ended;
  };
}

/**
 * The BullMQ worker that performs handoffs: re-validates the job, waits for its record (the
 * API queues the job before committing the handoff), checks that the conversation still
 * waits for it, runs the channel's adapter, and records the outcome.
 *
 * Retries follow SPEC §5: a platform failure marked retryable — or Redis being away — is
 * thrown back to BullMQ (attempts + the jittered back-off, or the platform's Retry-After);
 * a permanent one, the last try, or a bug ends the handoff here and is thrown as
 * `UnrecoverableError`. The outcome is written before the job is acknowledged, so a worker
 * that dies in between only causes a re-run that sees the handoff already ended. A job that
 * BullMQ fails without running this (it stalled too often) is ended by the reconciler.
 */
export function createHandoffWorker(deps: HandoffWorkerDeps) {
  const { config, providers, logger, keys } = deps;
  const outcomes = createHandoffOutcomes(deps.redis, keys, deps.store);

  const finishAndTell = handoffEnder(outcomes, deps.notify, deps.kickOutbox);

  /** Ends the handoff as failed (once), logs it at error level, and stops BullMQ's retries. */
  async function fail(job: HandoffJob, log: Logger, message: string, attempts: number): Promise<never> {
    if (await finishAndTell(job, 'failed', { lastError: message })) {
      deps.observer?.finished?.(job.provider, 'failed');
      log.error({ lastError: message, attempts }, 'handoff failed for good; the conversation goes back to the bot');
    }
    throw new UnrecoverableError(message);
  }

  async function cancel(job: HandoffJob, fields: Record<string, unknown>, state: string | null): Promise<never> {
    // Released, expired or replaced by a newer episode: handing off now would surprise everyone.
    // Not a failure of the handoff (no error log, counted apart in the metrics).
    const reason = 'cancelled: the conversation no longer waits for this handoff (released or expired)';
    if (await outcomes.finish(job, 'failed', { lastError: reason })) deps.observer?.finished?.(job.provider, 'cancelled');
    logger.info({ ...fields, outcome: 'cancelled', state }, 'handoff attempt');
    throw new UnrecoverableError(reason);
  }

  async function process(bullJob: Job, token?: string): Promise<HandoffOutcome> {
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
    if (start.state === 'missing') {
      // The API queues the job first and commits the handoff right after: wait for the
      // record. One that never appears belongs to a message whose commit never happened (a
      // crash, a lost lock): that message is processed again, with a handoff of its own.
      if (Date.now() - bullJob.timestamp < ORPHAN_AFTER_MS) {
        await bullJob.moveToDelayed(Date.now() + RECORD_WAIT_MS, token);
        throw new DelayedError();
      }
      logger.warn({ ...fields, outcome: 'dropped' }, 'handoff job whose handoff was never committed; dropped');
      return { summary: 'dropped: the handoff was never committed' };
    }
    if (start.state !== 'pending') {
      // Ended by an earlier run whose acknowledgement was lost (a worker killed at the wrong moment).
      if (start.state === 'done') return { summary: 'already done' };
      throw new UnrecoverableError(start.lastError ?? 'handoff already failed');
    }

    const conversation = start.conversation;
    if (conversation?.handoffId !== job.handoffId || (conversation.state !== 'handoff_pending' && conversation.state !== 'human')) {
      return cancel(job, fields, conversation?.state ?? null);
    }
    if (conversation.state === 'human') {
      await outcomes.finish(job, 'done', { summary: 'conversation already with a human' });
      return { summary: 'conversation already with a human' };
    }

    const channel = config.channels[job.channel];
    if (!channel) return fail(job, log, `channel ${job.channel} is not in the configuration any more`, start.attempts);
    const provider = providers[channel.handoff.provider];

    // The claim's lease outlives the platform request (a holder that died frees it then).
    const claimLeaseMs = config.providers[channel.handoff.provider].timeoutMs + 5_000;
    let holder: string | undefined;
    try {
      const outcome = await provider.perform({
        job,
        settings: channel.handoff,
        mayHaveApplied: start.mayHaveApplied,
        beforeSideEffect: async () => {
          const claimant = `${start.attempts}.${randomUUID()}`;
          const claim = await outcomes.claimSideEffect(job, claimant, claimLeaseMs, start.mayHaveApplied);
          if (claim !== 'claimed') throw new SideEffectRefused(claim);
          holder = claimant;
        },
        log,
      }).finally(async () => {
        if (holder) await outcomes.settleSideEffect(job, holder).catch((error: unknown) => log.warn({ err: error }, 'could not settle the side-effect claim; its lease frees it'));
      });
      // The human period starts now that the human has the customer (SPEC §8.4).
      const human = { periodMs: channel.humanTtlMinutes * 60_000, keepMs: config.conversations.ttlHours * 3_600_000 };
      if (await finishAndTell(job, 'done', { summary: outcome.summary, learnt: outcome.learnt, human })) {
        deps.observer?.finished?.(provider.name, 'done');
      }
      deps.observer?.attempt?.(provider.name, 'done', seconds());
      logger.info({ ...fields, outcome: 'done', summary: outcome.summary, durationMs: Math.round(seconds() * 1000) }, 'handoff attempt');
      return outcome;
    } catch (error) {
      if (error instanceof SideEffectRefused) {
        if (error.claim === 'cancelled') return cancel(job, fields, null);
        if (error.claim === 'ended') return { summary: 'ended by another try' };
      }
      const message = describeFailure(error);
      // A platform failure says whether another try may help; Redis being away is worth
      // another try; anything else is a bug, and retrying a bug only delays the customer.
      const retryable = isUpstreamError(error) ? error.retryable : error instanceof SideEffectRefused || isRedisError(error);
      if (!retryable || attempt >= maxAttempts) {
        deps.observer?.attempt?.(provider.name, 'failed', seconds());
        const level = isUpstreamError(error) || isRedisError(error) ? 'warn' : 'error';
        logger[level]({ ...fields, outcome: 'failed', err: error, retryable, durationMs: Math.round(seconds() * 1000) }, level === 'error' ? 'handoff attempt failed on an unexpected error' : 'handoff attempt');
        return fail(job, log, message, start.attempts);
      }
      await outcomes.recordError(job, message).catch((recordError: unknown) => log.warn({ err: recordError }, 'could not record the handoff error'));
      deps.observer?.attempt?.(provider.name, 'retry', seconds());
      logger.warn({ ...fields, outcome: 'retry', err: error, durationMs: Math.round(seconds() * 1000) }, 'handoff attempt');
      throw error;
    }
  }

  const connection = createBullConnection(config.redisTarget, 'worker');
  const worker = new Worker(QUEUES.handoff, process, {
    connection,
    prefix: keys.bullPrefix(QUEUES.handoff),
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

  return {
    worker,
    /** Lets active jobs finish for up to `graceMs`, then stops (unfinished jobs are retried by another worker). */
    async close(graceMs = config.worker.shutdownGraceMs): Promise<void> {
      await closeWorker(worker, graceMs, logger, 'handoff');
      await connection.quit().catch(() => connection.disconnect());
    },
  };
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

export type HandoffWorker = ReturnType<typeof createHandoffWorker>;
