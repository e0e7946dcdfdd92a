import { Job } from 'bullmq';
import type { Logger } from 'pino';
import type { ConfiguredChannel, ChannelMessage, HandoffEndEvent } from '../channels/types.js';
import { isAsyncChannel, type Config } from '../config/index.js';
import { textFingerprint } from '../delivery/echoes.js';
import { lidAddress } from '../identity/key.js';
import { newDelivery } from '../delivery/records.js';
import { AppError } from '../errors.js';
import { legJob, type HandoffJob } from '../handoff/job.js';
import type { FirstResponseWatch } from '../handoff/first-response.js';
import { handoffJobId, type HandoffQueue } from '../handoff/queue.js';
import { createHandoffRecords } from '../handoff/records.js';
import { createHandoffTries, type HandoffEnding } from '../handoff/tries.js';
import type { Keys } from '../keys.js';
import { legsOf, type HandoffLeg } from '../providers/registry.js';
import type { ReleaseObserver } from '../observability/observers.js';
import type { RedisClient } from '../redis/connection.js';
import { createOwnMessages, type OwnMessageVerdict } from './own-messages.js';
import { BACK_TO_BOT, conversationTtlMs, effectiveState, isWithHuman, type Conversation } from './state.js';
import type { ConversationLock, ConversationRef, HeldTurn, NewDelivery, TurnCommit, TurnCommitter, TurnLock } from './types.js';
import type { Timeline } from '../timeline/store.js';

/** An operator action or a platform event waits this long for the customer's turn. */
const ACTION_LOCK_WAIT_MS = 10_000;

export interface ConversationActionsDeps {
  config: Config;
  redis: RedisClient;
  keys: Keys;
  locks: TurnLock;
  commits: TurnCommitter;
  handoffs: HandoffQueue;
  channels: ReadonlyMap<string, ConfiguredChannel>;
  /** Sends what an action queued on a customer's outbox. */
  scheduleOutboxDrain(ref: ConversationRef): Promise<unknown>;
  /** A person answering from the phone while a platform's human has the customer is a first response (SPEC §12). */
  firstResponse?: Pick<FirstResponseWatch, 'answered'>;
  logger: Logger;
  observer?: ReleaseObserver;
  /** The console's timeline (SPEC §14): releases, takeovers, retries, what the customer is told. */
  timeline?: Pick<Timeline, 'append'>;
}

export type ReleaseCause = 'admin' | 'platform_event' | 'first_response';

/** Why a release did nothing (a `guard` answer), or the conversation after it. */
export type ReleaseResult = { released: true; conversation: Conversation; wasWithHuman: boolean; handoffId: string | null } | { released: false; why: string };

/**
 * What can be done to a conversation, one function each, whoever asks — the admin API, the
 * platform webhooks, the webhook's acceptance of a message from the business's own number,
 * the turn, the handoff worker and the reconciler (STYLE §14). Each takes the customer's turn
 * (or runs inside one) and writes through the fenced commit, so it never interleaves with a
 * message being processed.
 */
export interface ConversationActions {
  /**
   * A message from the business's own number (SPEC §9.3, §8.4): our own echo, or a person
   * who takes the conversation at once — decided at acceptance, before anything else of this
   * customer.
   */
  takeOverFromPhone(message: ChannelMessage, customer: ConversationRef, now: number): Promise<OwnMessageVerdict>;
  /**
   * Gives the conversation back to the bot, taking the customer's turn. `guard` may refuse
   * (returning why) once the turn is held; else an unknown conversation is AppError 404. A
   * pending handoff is cancelled (it must not happen after the customer was given back).
   */
  releaseToBot(ref: ConversationRef, cause: ReleaseCause, guard?: (turn: HeldTurn) => Promise<string | null>): Promise<ReleaseResult>;
  /** Inside a turn already held: a status check said the human is done (SPEC §9.2); stored before the bot is asked (§8.4). */
  releaseWithinTurn(lock: ConversationLock): Promise<void>;
  /** Re-runs a failed handoff with a fresh round of tries (SPEC §6); a MeHub transfer that may have applied is checked first. */
  retryHandoff(id: string): Promise<HandoffJob>;
  /** Ends a pending handoff and queues what its end tells the customer (SPEC §8.2, §9.2); false when it had already ended. */
  endHandoff(job: HandoffJob, outcome: 'done' | 'failed', ending: Omit<HandoffEnding, 'deliveries' | 'human'>): Promise<boolean>;
  /**
   * Sends `text` to the customer of an asynchronous channel, outside a turn (SPEC §12's
   * late messages): queued on their outbox behind whatever waits there, so it goes through
   * the same delivery (order, retries, records). False on a channel with no sender.
   */
  tellCustomer(ref: ConversationRef, text: string, messageId: string): Promise<boolean>;
}

export function createConversationActions(deps: ConversationActionsDeps): ConversationActions {
  const { config, locks, commits, logger } = deps;
  const idleTtlMs = config.conversations.ttlHours * 3_600_000;
  const records = createHandoffRecords(deps.redis, deps.keys);
  const tries = createHandoffTries(deps.redis, deps.keys, logger);
  const ownMessages = createOwnMessages(deps.redis, deps.keys);

  async function withTurn<T>(ref: ConversationRef, action: (turn: HeldTurn) => Promise<T>): Promise<T> {
    const turn = await locks.acquire(ref, Date.now() + ACTION_LOCK_WAIT_MS);
    if (!turn) throw new AppError('conversation_busy', 'a message of this customer is being processed; try again', 503);
    let done = false;
    try {
      const result = await action(turn);
      done = true;
      return result;
    } finally {
      // Commits release the lock themselves; an action that threw (or wrote nothing) gives it back here.
      if (!done) await locks.release(turn.lock);
    }
  }

  /** A fenced commit that must succeed (the lock was taken a moment ago). */
  async function commitOrBusy(lock: ConversationLock, commit: TurnCommit): Promise<'ok' | 'not_failed'> {
    const result = await commits.commit(lock, commit);
    if (result === 'lost' || result === 'superseded') throw new AppError('conversation_busy', 'lost the customer’s turn while acting; try again', 503);
    return result;
  }

  /** What a handoff's end tells the customer of an asynchronous channel (SPEC §8.2, §9.2). */
  function endingDeliveries(job: HandoffJob, outcome: 'done' | 'failed'): NewDelivery[] {
    const sender = deps.channels.get(job.channel)?.sender;
    const channel = config.channels[job.channel];
    if (!sender || !channel) return [];
    const event: HandoffEndEvent = {
      type: outcome === 'done' ? 'handoff.done' : 'handoff.failed',
      conversationId: job.conversationId.startsWith('none:') ? null : job.conversationId,
      handoffId: job.handoffId,
      ...(outcome === 'failed' && channel.handoff.failedMessage ? { failedMessage: channel.handoff.failedMessage } : {}),
    };
    return sender.render(event).map((outgoing) => newDelivery(job, { messageId: job.messageId, to: job.address ?? job.phone, toKind: job.addressKind ?? 'phone', outgoing }));
  }

  return {
    async takeOverFromPhone(message, ref, now) {
      // A send made under the customer's LID or BSUID before it was linked to their phone
      // left its echo key and ledger entry in that address's slot (SPEC §11, §8.4).
      const fingerprint = message.text !== undefined ? textFingerprint(message.text) : '';
      const former = [message.lid !== undefined ? lidAddress(message.lid) : null, message.bsuid ?? null].filter((key): key is string => key !== null && key !== ref.phone);
      const sentToAlias =
        former.length > 0 &&
        (
          await Promise.all(
            former.map(async (key) =>
              (await deps.redis.exists(deps.keys.echo(ref.channel, key, message.messageId))) === 1 || (fingerprint !== '' && (await deps.redis.hexists(deps.keys.sentLedger(ref.channel, key), fingerprint))) === 1,
            ),
          )
        ).some(Boolean);
      const channel = config.channels[message.channel];
      const takeoverOn = channel !== undefined && isAsyncChannel(channel) && channel.kind !== 'json' && channel.takeoverOnOwnerMessage;
      const humanUntil = now + (channel?.humanTtlMinutes ?? 0) * 60_000;
      const verdict = await ownMessages.decide(ref, {
        id: message.messageId,
        fingerprint,
        sentByApi: message.sentByApi === true,
        sentToAlias,
        takeover: takeoverOn
          ? {
              fields: { state: 'human', handoffId: null, humanUntil, takenBy: 'phone', address: message.to, addressKind: message.toKind ?? 'phone', ...(message.phone ? { contactPhone: message.phone } : {}) },
              ttlMs: conversationTtlMs(idleTtlMs, humanUntil, now),
            }
          : null,
      });
      if (verdict.kind === 'person' && verdict.effect === 'takeover') {
        if (!verdict.wasByPhone) deps.observer?.released?.('phone');
        await deps.timeline?.append(ref, [{ at: new Date(now).toISOString(), type: 'takeover', by: 'phone', handoffId: null }]);
        logger.info({ channel: ref.channel, phone: ref.phone, messageId: message.messageId }, 'a person answered from the phone: the conversation is with a human, the bot stays quiet');
      }
      if (verdict.kind === 'person' && verdict.effect === 'platform' && verdict.handoffId && deps.firstResponse) {
        // SPEC §12: the attendant (or anyone) answered from the phone (Coexistence included).
        if (await deps.firstResponse.answered(ref, verdict.handoffId, now)) logger.info({ channel: ref.channel, phone: ref.phone, handoffId: verdict.handoffId }, 'first human answer to a handed-off customer (from the phone)');
      }
      return verdict;
    },

    async releaseToBot(ref, cause, guard) {
      return withTurn(ref, async (turn) => {
        const { lock, conversation, exists } = turn;
        const refused = guard ? await guard(turn) : null;
        if (refused !== null) {
          await locks.release(lock);
          return { released: false, why: refused };
        }
        if (!exists) throw new AppError('conversation_not_found', 'no conversation for this customer', 404);
        const pending = conversation.handoffId ? await records.readFull(conversation.handoffId, ref) : null;
        if (pending?.record.state === 'pending' && pending.job) {
          // The job must not hand the customer off after they were given back to the bot.
          await tries.finish(pending.job, 'failed', { lastError: `cancelled: released ${cause === 'admin' ? 'by an operator' : 'by the platform'}` });
          // An active job is stopped by the worker's own conversation check.
          await Job.fromId(deps.handoffs.queue, handoffJobId(pending.record.id, pending.job.leg ?? 0)).then((job) => job?.remove().catch(() => undefined));
        }
        const wasWithHuman = isWithHuman(effectiveState(conversation, Date.now()));
        await commitOrBusy(lock, { conversation: { fields: BACK_TO_BOT, ttlMs: idleTtlMs } });
        if (wasWithHuman) deps.observer?.released?.(cause);
        await deps.timeline?.append(ref, [{ at: new Date().toISOString(), type: 'release', cause, handoffId: conversation.handoffId }]);
        return { released: true, conversation: { ...conversation, ...BACK_TO_BOT }, wasWithHuman, handoffId: conversation.handoffId };
      });
    },

    async releaseWithinTurn(lock) {
      if ((await commits.commit(lock, { conversation: { fields: BACK_TO_BOT, ttlMs: idleTtlMs }, release: false })) !== 'ok') {
        throw new AppError('conversation_busy', 'lost the conversation lock while giving it back to the bot; retry the message', 503, { retryable: true });
      }
      deps.observer?.released?.('platform_status');
      await deps.timeline?.append(lock.ref, [{ at: new Date().toISOString(), type: 'release', cause: 'platform_status', handoffId: null }]);
    },

    async retryHandoff(id) {
      const full = await records.readFull(id);
      if (!full?.job) throw new AppError('handoff_not_found', 'no such handoff', 404);
      const { record, job } = full;
      if (record.state !== 'failed') throw new AppError('not_failed', `the handoff is ${record.state}; only a failed handoff can be retried`, 409);
      const channel = config.channels[job.channel];
      if (!channel) throw new AppError('unknown_channel', `channel ${job.channel} is not in the configuration any more`, 409);

      let retried: HandoffJob = job;
      await withTurn({ channel: job.channel, phone: job.phone }, async ({ lock, conversation }) => {
        const state = effectiveState(conversation, Date.now());
        if (isWithHuman(state) && conversation.handoffId !== id) {
          throw new AppError('conversation_busy', 'the conversation is already with a human through another handoff', 409);
        }
        // The failed job keeps its attemptsMade: remove it (and, for a chain that failed on a
        // later leg, the first leg's job), so the new job gets a fresh round of retry.attempts
        // tries under the first leg's id.
        const leg = job.leg ?? 0;
        for (const jobId of new Set([handoffJobId(id, leg), handoffJobId(id, 0)])) {
          const existing = await Job.fromId(deps.handoffs.queue, jobId);
          if (!existing) continue;
          const jobState = await existing.getState();
          if (jobState !== 'failed' && jobState !== 'completed') throw new AppError('not_failed', `the handoff's job is still ${jobState}`, 409);
          await existing.remove();
        }
        // SPEC §12: a chain is retried from its first leg. The side-effect claim stays when the
        // first leg is the platform that may have applied it, so a MeHub transfer that may have
        // applied is checked before anything is sent again.
        const first = legsOf(channel.handoff)[0] as HandoffLeg;
        retried = legJob(job, 0, first.provider);
        const restart = leg > 0 ? { job: retried, past: { provider: record.provider, state: 'failed' as const, attempts: record.attempts, lastError: record.lastError }, keepClaim: first.provider === record.provider } : undefined;
        // Record and conversation re-opened in one fenced script. The human period starts when
        // the handoff is done (SPEC §8.4).
        const now = Date.now();
        const reopened = await commitOrBusy(lock, {
          handoff: { reopen: id, ...(restart ? { restart } : {}) },
          conversation: {
            fields: { state: 'handoff_pending', handoffId: id, humanUntil: null, takenBy: 'handoff' },
            ttlMs: conversationTtlMs(idleTtlMs, now + channel.humanTtlMinutes * 60_000, now),
          },
        });
        if (reopened === 'not_failed') throw new AppError('not_failed', 'the handoff is no longer failed', 409);
        await deps.timeline?.append(lock.ref, [
          { at: new Date(now).toISOString(), type: 'handoff', id, provider: retried.provider, state: 'pending', attempts: 0, lastError: null, leg: 0, summary: 'retried by an operator' },
        ]);
        try {
          await deps.handoffs.enqueue(retried);
        } catch (error) {
          // Pending with no job: the reconciler queues it within worker.reconcileIntervalMs.
          logger.warn({ err: error, handoffId: id }, 'could not queue the retried handoff now; the reconciler will');
        }
      });
      return retried;
    },

    async tellCustomer(ref, text, messageId) {
      const sender = deps.channels.get(ref.channel)?.sender;
      if (!sender) return false;
      await withTurn(ref, async ({ lock, conversation }) => {
        const deliveries = sender
          .render({ type: 'message.replied', reply: text, conversationId: conversation.conversationId })
          .map((outgoing) => newDelivery(ref, { messageId, to: conversation.address ?? ref.phone, toKind: conversation.addressKind ?? 'phone', outgoing }));
        await commitOrBusy(lock, { deliveries });
      });
      await deps.timeline?.append(ref, [{ at: new Date().toISOString(), type: 'reply', text }]);
      await deps.scheduleOutboxDrain(ref);
      return true;
    },

    async endHandoff(job, outcome, ending) {
      const channel = config.channels[job.channel];
      const deliveries = endingDeliveries(job, outcome);
      const human = outcome === 'done' && channel ? { periodMs: channel.humanTtlMinutes * 60_000, keepMs: idleTtlMs } : undefined;
      const result = await tries.finish(job, outcome, { ...ending, deliveries, ...(human ? { human } : {}) });
      if (result === 1 && deliveries.length > 0) await deps.scheduleOutboxDrain(job);
      return result !== -1;
    },
  };
}
