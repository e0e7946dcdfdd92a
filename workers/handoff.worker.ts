import { randomUUID } from 'node:crypto';
import { Worker, type Job } from 'bullmq';
import type { Logger } from 'pino';
import type { Config, ProviderName } from '../src/config/index.js';
import type { ConversationActions } from '../src/conversations/actions.js';
import { isUpstreamError } from '../src/errors.js';
import type { Timeline } from '../src/timeline/store.js';
import { legJob, type HandoffJob } from '../src/handoff/job.js';
import { FIRST_RESPONSE_JOB, firstResponseJobSchema, type FirstResponseWatch } from '../src/handoff/first-response.js';
import { HANDOFF_BACKOFF, readHandoffJob, type HandoffQueue } from '../src/handoff/queue.js';
import { createHandoffRecords } from '../src/handoff/records.js';
import { retryDelayMs } from '../src/handoff/retry.js';
import { createHandoffTries } from '../src/handoff/tries.js';
import { isPhoneKey } from '../src/identity/key.js';
import type { Identity } from '../src/identity/resolver.js';
import { QUEUES, type Keys } from '../src/keys.js';
import { lazyLogger } from '../src/observability/lazy-logger.js';
import type { FirstResponseObserver, WorkerObserver } from '../src/observability/observers.js';
import { legsOf } from '../src/providers/registry.js';
import { conversationFromHash, effectiveState, type Conversation } from '../src/conversations/state.js';
import type { ConfiguredChannel } from '../src/channels/types.js';
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
  /** Ending a handoff, and what its end tells the customer; the first-response actions (SPEC §12). */
  actions: Pick<ConversationActions, 'endHandoff' | 'tellCustomer' | 'releaseToBot'>;
  /** Queues the next leg of a chain (SPEC §12). */
  handoffs: Pick<HandoffQueue, 'enqueue'>;
  /** The first-response watchdog (SPEC §12). */
  firstResponse: Pick<FirstResponseWatch, 'start'>;
  firstResponseObserver?: FirstResponseObserver;
  /** Which channels can send a message to the customer (asynchronous ones). */
  channels: ReadonlyMap<string, Pick<ConfiguredChannel, 'sender'>>;
  /** The other ninth-digit form a platform lookup tries (SPEC §11). */
  identity: Pick<Identity, 'alternatePhone'>;
  logger: Logger;
  observer?: WorkerObserver;
  /** The console's timeline (SPEC §14): each leg's tries and how they ended. */
  timeline?: Pick<Timeline, 'append'>;
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

  /** A try's outcome on the conversation's timeline (never throws). */
  const onTimeline = (job: HandoffJob, state: 'pending' | 'done' | 'failed', attempts: number, lastError: string | null, summary?: string) =>
    deps.timeline?.append(
      { channel: job.channel, phone: job.phone },
      [{ at: new Date().toISOString(), type: 'handoff', id: job.handoffId, provider: job.provider, state, attempts, lastError, leg: job.leg ?? 0, ...(summary ? { summary } : {}) }],
    );

  /**
   * SPEC §12: the leg `job` ran failed for good; when the channel's chain has another leg and
   * nothing of this one may have reached its platform, the handoff moves on to it (a fresh job,
   * a fresh round of tries). Resolves with the outcome for BullMQ, or null when there is no
   * next leg (the handoff fails).
   */
  async function failover(job: HandoffJob, log: Logger, message: string, attempts: number): Promise<PlatformResult | null> {
    const channel = config.channels[job.channel];
    const leg = job.leg ?? 0;
    const next = channel ? legsOf(channel.handoff)[leg + 1] : undefined;
    if (!next) return null;
    const nextJob = legJob(job, leg + 1, next.provider);
    if (await tries.failover(job, nextJob, { provider: job.provider, state: 'failed', attempts, lastError: message })) {
      deps.observer?.failover?.(job.channel, job.provider, next.provider);
      log.warn({ lastError: message, attempts, next: next.provider }, `handoff failed for good on ${job.provider}; failing over to ${next.provider}`);
      await onTimeline(job, 'failed', attempts, message, `failing over to ${next.provider}`);
      await onTimeline(nextJob, 'pending', 0, null);
    }
    // Queued after the record moved on (a crash in between: the reconciler queues the leg the record is on).
    await deps.handoffs.enqueue(nextJob);
    return { summary: `failed over to ${next.provider}: ${message}` };
  }

  /** Ends the handoff as failed (once), logs it at error level, and stops BullMQ's retries. */
  async function fail(job: HandoffJob, log: Logger, message: string, attempts: number): Promise<never> {
    if (await deps.actions.endHandoff(job, 'failed', { lastError: message })) {
      deps.observer?.finished?.(job.provider, 'failed');
      log.error({ lastError: message, attempts }, 'handoff failed for good; the conversation goes back to the bot');
      await onTimeline(job, 'failed', attempts, message);
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

  const records = createHandoffRecords(deps.redis, keys);

  /**
   * SPEC §12: a done handoff's first-response watchdog fired. Nothing happens when a human
   * answered (MeHub MESSAGE_SENT, a person on the phone), or the handoff or the conversation
   * moved on; else the channel's action — remind the customer, hand them to the next leg, or
   * give them back to the bot — is taken once (marked on the record after it was taken).
   */
  async function firstResponseDue(bullJob: Job): Promise<string> {
    const parsed = firstResponseJobSchema.safeParse(bullJob.data);
    if (!parsed.success) return giveUp(`invalid first-response job payload: ${parsed.error.issues.map((i) => i.message).join('; ')}`);
    const { handoffId, channel: channelName, phone, leg } = parsed.data;
    const ref = { channel: channelName, phone };
    const channel = config.channels[channelName];
    const rule = channel?.handoff.firstResponse;
    if (!channel || !rule) return 'the channel has no firstResponse any more';
    const full = await records.readFull(handoffId, ref);
    if (!full?.job || full.record.state !== 'done' || (full.job.leg ?? 0) !== leg) return 'the handoff moved on';
    if (full.record.firstResponseAt) return 'a human answered in time';
    const markKey = keys.handoff(channelName, phone, handoffId);
    if (await deps.redis.hexists(markKey, `firstResponseBreach${leg}`)) return 'already acted';
    const stillWaiting = (conversation: Conversation) => effectiveState(conversation, Date.now()) === 'human' && conversation.handoffId === handoffId && conversation.takenBy !== 'phone';
    if (!stillWaiting(conversationFromHash(await deps.redis.hgetall(keys.conversation(channelName, phone))))) return 'the conversation moved on';
    const job = full.job;
    const log = logger.child({ handoffId, channel: channelName, phone, provider: job.provider, action: rule.action, minutes: rule.minutes });
    let did: string;
    if (rule.action === 'remind') {
      await deps.actions.tellCustomer(ref, rule.message ?? '', `first-response:${handoffId}:${leg}`);
      did = 'reminded the customer';
    } else if (rule.action === 'bot') {
      const released = await deps.actions.releaseToBot(ref, 'first_response', ({ conversation }) => Promise.resolve(stillWaiting(conversation) ? null : 'the conversation moved on'));
      if (!released.released) return released.why;
      if (rule.message) await deps.actions.tellCustomer(ref, rule.message, `first-response:${handoffId}:${leg}`);
      did = 'gave the conversation back to the bot';
    } else {
      const next = legsOf(channel.handoff)[leg + 1];
      if (!next) {
        log.warn('no human answered in time, and the chain has no further leg to fall back to');
        did = 'no leg left to fall back to';
      } else {
        const nextJob = legJob(job, leg + 1, next.provider);
        if (!(await tries.escalate(job, nextJob, { provider: job.provider, state: 'done', attempts: full.record.attempts, lastError: `no first response within ${rule.minutes} min` }))) return 'the conversation moved on';
        deps.observer?.failover?.(channelName, job.provider, next.provider);
        await deps.handoffs.enqueue(nextJob);
        if (rule.message && deps.channels.get(channelName)?.sender) await deps.actions.tellCustomer(ref, rule.message, `first-response:${handoffId}:${leg}`);
        did = `handed the customer to ${next.provider}`;
      }
    }
    await deps.redis.hset(markKey, `firstResponseBreach${leg}`, new Date().toISOString());
    deps.firstResponseObserver?.breach?.(channelName, rule.action);
    log.warn(`no human answered within ${rule.minutes} min of the handoff: ${did}`);
    return did;
  }

  async function process(bullJob: Job, token?: string): Promise<PlatformResult> {
    if (bullJob.name === FIRST_RESPONSE_JOB) return { summary: await firstResponseDue(bullJob) };
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

    // SPEC §12: queued outside business hours — not before the opening (a job run early, by a
    // clock ahead or the reconciler, waits without counting a try).
    const opening = job.scheduledFor ? Date.parse(job.scheduledFor) : NaN;
    if (opening > Date.now() + 1_000) return runAgainAt(bullJob, token, opening);

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
    const settings = legsOf(channel.handoff)[job.leg ?? 0];
    if (!settings || settings.provider !== job.provider) return fail(job, log, `leg ${job.leg ?? 0} (${job.provider}) of channel ${job.channel}'s handoff is not in the configuration any more`, start.attempts);
    // SPEC §11: the platform gets the phone the customer last wrote from; a customer known only
    // by a LID or a BSUID has none, and their handoff fails for good.
    const contactPhone = job.contactPhone !== undefined ? job.contactPhone : isPhoneKey(job.phone) ? job.phone : null;
    if (contactPhone === null) {
      deps.observer?.attempt?.(job.provider, 'failed', seconds());
      logger.warn({ ...fields, outcome: 'failed' }, 'handoff attempt');
      return fail(job, log, 'no_phone: the customer is known only by a WhatsApp LID or a business-scoped user ID; a platform needs a phone', start.attempts);
    }
    // SPEC §13: this leg's last `transcript` lines of the conversation before the handoff.
    const transcript = settings.transcript > 0 ? start.transcript.slice(-settings.transcript) : [];
    const request = { ...job, phone: contactPhone, alternatePhone: deps.identity.alternatePhone(job.channel, contactPhone), transcript };
    const provider = providers[settings.provider];

    // The claim's lease outlives the platform request (a holder that died frees it then).
    const claimLeaseMs = config.providers[settings.provider].timeoutMs + 5_000;
    let holder: string | undefined;
    // A try that started knowing an earlier one may have applied gets here only once the
    // platform said it had not (the adapter checks first).
    let checked = !start.mayHaveApplied;
    try {
      const outcome = await provider.perform({
        job: request,
        settings,
        mayHaveApplied: start.mayHaveApplied,
        beforeSideEffect: async () => {
          checked = true;
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
        await onTimeline(job, 'done', start.attempts, null, outcome.summary);
        // SPEC §12: if no human answers in time, the channel's firstResponse action.
        await deps.firstResponse.start(job).catch((error: unknown) => log.error({ err: error }, 'could not start the first-response watchdog of a done handoff'));
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
        // SPEC §12: one customer is never handed to two helpdesks — a leg whose side effect
        // (MeHub's transfer: the only one an adapter claims) may have applied is not left: this
        // try's went out and its answer was lost, or the check of an earlier one never answered.
        const mayHaveApplied = !checked || (holder !== undefined && failure.ambiguous) || error instanceof SideEffectRefused;
        if (mayHaveApplied && legsOf(channel.handoff)[(job.leg ?? 0) + 1]) {
          log.warn({ lastError: message }, 'not failing over: this leg’s MeHub transfer may have applied and was not confirmed either way');
        }
        const movedOn = mayHaveApplied ? null : await failover(job, log, message, start.attempts);
        if (movedOn) return movedOn;
        return fail(job, log, message, start.attempts);
      }
      await tries.recordError(job, message).catch((recordError: unknown) => log.warn({ err: recordError }, 'could not record the handoff error'));
      await onTimeline(job, 'pending', start.attempts, message, 'will try again');
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
