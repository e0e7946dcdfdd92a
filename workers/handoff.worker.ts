import { randomUUID } from 'node:crypto';
import { Worker, type Job } from 'bullmq';
import type { Logger } from 'pino';
import type { Config, ProviderName } from '../src/config/index.js';
import type { ConversationActions } from '../src/conversations/actions.js';
import { isUpstreamError } from '../src/errors.js';
import type { HandoffJob } from '../src/handoff/job.js';
import { HANDOFF_BACKOFF, readHandoffJob } from '../src/handoff/queue.js';
import { retryDelayMs } from '../src/handoff/retry.js';
import { createHandoffTries } from '../src/handoff/tries.js';
import { isPhoneKey } from '../src/identity/key.js';
import type { Identity } from '../src/identity/resolver.js';
import { QUEUES, type Keys } from '../src/keys.js';
import { lazyLogger } from '../src/observability/lazy-logger.js';
import type { WorkerObserver } from '../src/observability/observers.js';
import { throttledErrorLog } from '../src/observability/throttle.js';
import type { HandoffProvider, PlatformResult } from '../src/providers/types.js';
import { createBullConnection, type RedisClient } from '../src/redis/connection.js';
import { classify, closeWorker, giveUp, nextStep, runAgainAt } from './shared.js';

export interface HandoffWorkerDeps {
  config: Config;
  keys: Keys;
  /** A request-path connection for records and conversations (not the blocking one). */
  redis: RedisClient;
  providers: Record<ProviderName, HandoffProvider>;
  /** Ending a handoff, and what its end tells the customer. */
  actions: Pick<ConversationActions, 'endHandoff'>;
  /** The other ninth-digit form a platform lookup tries (SPEC §11). */
  identity: Pick<Identity, 'alternatePhone'>;
  logger: Logger;
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
  const tries = createHandoffTries(deps.redis, keys, logger);

  /** Ends the handoff as failed (once), logs it at error level, and stops BullMQ's retries. */
  async function fail(job: HandoffJob, log: Logger, message: string, attempts: number): Promise<never> {
    if (await deps.actions.endHandoff(job, 'failed', { lastError: message })) {
      deps.observer?.finished?.(job.provider, 'failed');
      log.error({ lastError: message, attempts }, 'handoff failed for good; the conversation goes back to the bot');
    }
    return giveUp(message);
  }

  async function cancel(job: HandoffJob, fields: Record<string, unknown>, state: string | null): Promise<never> {
    // Released, expired or replaced by a newer episode: handing off now would surprise everyone.
    // Not a failure of the handoff (no error log, counted apart in the metrics).
    const reason = 'cancelled: the conversation no longer waits for this handoff (released or expired)';
    if ((await tries.finish(job, 'failed', { lastError: reason })) !== -1) deps.observer?.finished?.(job.provider, 'cancelled');
    logger.info({ ...fields, outcome: 'cancelled', state }, 'handoff attempt');
    return giveUp(reason);
  }

  async function process(bullJob: Job, token?: string): Promise<PlatformResult> {
    const read = readHandoffJob(bullJob.data);
    if (!read.ok) {
      logger.error({ jobId: bullJob.id, issues: read.problem }, 'invalid handoff job payload');
      return giveUp(`invalid handoff job payload: ${read.problem}`);
    }
    const job = read.job;
    const attempt = bullJob.attemptsMade + 1;
    const maxAttempts = bullJob.opts.attempts ?? 1;
    // The per-attempt line carries these fields itself; a child logger is built only if an
    // adapter or an ending has more to say.
    const fields = { handoffId: job.handoffId, channel: job.channel, phone: job.phone, provider: job.provider, attempt };
    const log = lazyLogger(() => logger.child(fields));
    const started = performance.now();
    const seconds = () => (performance.now() - started) / 1000;

    const start = await tries.startAttempt(job);
    if (start.state === 'missing') {
      // Jobs are queued once their record is committed; an earlier version queued the job
      // first and committed right after, so a job of a rolling upgrade may come before its
      // record: wait for it. One that never appears belongs to a commit that never happened
      // (a crash, a lost lock): that message is processed again, with a handoff of its own.
      if (Date.now() - bullJob.timestamp < ORPHAN_AFTER_MS) return runAgainAt(bullJob, token, Date.now() + RECORD_WAIT_MS);
      logger.warn({ ...fields, outcome: 'dropped' }, 'handoff job whose handoff was never committed; dropped');
      return { summary: 'dropped: the handoff was never committed' };
    }
    if (start.state !== 'pending') {
      // Ended by an earlier run whose acknowledgement was lost (a worker killed at the wrong moment).
      if (start.state === 'done') return { summary: 'already done' };
      return giveUp(start.lastError ?? 'handoff already failed');
    }

    const conversation = start.conversation;
    if (conversation?.handoffId !== job.handoffId || (conversation.state !== 'handoff_pending' && conversation.state !== 'human')) {
      return cancel(job, fields, conversation?.state ?? null);
    }
    if (conversation.state === 'human') {
      await tries.finish(job, 'done', { summary: 'conversation already with a human' });
      return { summary: 'conversation already with a human' };
    }

    const channel = config.channels[job.channel];
    if (!channel) return fail(job, log, `channel ${job.channel} is not in the configuration any more`, start.attempts);
    // SPEC §11: the platform gets the phone the customer last wrote from; a customer known only
    // by a LID or a BSUID has none, and their handoff fails for good.
    const contactPhone = job.contactPhone !== undefined ? job.contactPhone : isPhoneKey(job.phone) ? job.phone : null;
    if (contactPhone === null) {
      deps.observer?.attempt?.(job.provider, 'failed', seconds());
      logger.warn({ ...fields, outcome: 'failed' }, 'handoff attempt');
      return fail(job, log, 'no_phone: the customer is known only by a WhatsApp LID or a business-scoped user ID; a platform needs a phone', start.attempts);
    }
    const request = { ...job, phone: contactPhone, alternatePhone: deps.identity.alternatePhone(job.channel, contactPhone) };
    const provider = providers[channel.handoff.provider];

    // The claim's lease outlives the platform request (a holder that died frees it then).
    const claimLeaseMs = config.providers[channel.handoff.provider].timeoutMs + 5_000;
    let holder: string | undefined;
    try {
      const outcome = await provider.perform({
        job: request,
        settings: channel.handoff,
        mayHaveApplied: start.mayHaveApplied,
        beforeSideEffect: async () => {
          const claimant = `${start.attempts}.${randomUUID()}`;
          const claim = await tries.claimSideEffect(job, claimant, claimLeaseMs, start.mayHaveApplied);
          if (claim !== 'claimed') throw new SideEffectRefused(claim);
          holder = claimant;
        },
        log,
      }).finally(async () => {
        if (holder) await tries.settleSideEffect(job, holder).catch((error: unknown) => log.warn({ err: error }, 'could not settle the side-effect claim; its lease frees it'));
      });
      // The human period starts now that the human has the customer (SPEC §8.4).
      if (await deps.actions.endHandoff(job, 'done', { summary: outcome.summary, learnt: outcome.learnt })) {
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
      // Another try holds the side effect: the next try checks whether it was applied.
      const failure = error instanceof SideEffectRefused ? { ...classify(error), retryable: true } : classify(error);
      const message = failure.description;
      if (nextStep(failure, attempt, maxAttempts) === 'give_up') {
        deps.observer?.attempt?.(provider.name, 'failed', seconds());
        const level = failure.source === 'bug' ? 'error' : 'warn';
        logger[level]({ ...fields, outcome: 'failed', err: error, retryable: failure.retryable, durationMs: Math.round(seconds() * 1000) }, level === 'error' ? 'handoff attempt failed on an unexpected error' : 'handoff attempt');
        return fail(job, log, message, start.attempts);
      }
      await tries.recordError(job, message).catch((recordError: unknown) => log.warn({ err: recordError }, 'could not record the handoff error'));
      deps.observer?.attempt?.(provider.name, 'retry', seconds());
      logger.warn({ ...fields, outcome: 'retry', err: error, durationMs: Math.round(seconds() * 1000) }, 'handoff attempt');
      // Attempts and back-off are BullMQ's: the backoff strategy below honours Retry-After.
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

export type HandoffWorker = ReturnType<typeof createHandoffWorker>;
