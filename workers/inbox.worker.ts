import { randomUUID } from 'node:crypto';
import { DelayedError, UnrecoverableError, type Job } from 'bullmq';
import type { Logger } from 'pino';
import { z } from 'zod';
import type { ChannelKit } from '../src/channels/types.js';
import { isAsyncChannel, type AsyncChannelConfig, type Config } from '../src/config.js';
import { effectiveState, isWithHuman, type Conversation } from '../src/conversations/state.js';
import type { ConversationLock, ConversationStore, InboxEntry } from '../src/conversations/store.js';
import { newDelivery } from '../src/delivery/records.js';
import type { Lanes } from '../src/inbox/lanes.js';
import type { Keys } from '../src/keys.js';
import type { ReleaseObserver } from '../src/observability/observers.js';
import { keepLockAlive } from '../src/pipeline/process-message.js';
import type { Turn, TurnMessage } from '../src/pipeline/turn.js';
import { startLaneWorker } from './lane-worker.js';

export const laneJobSchema = z.strictObject({ channel: z.string().regex(/^[a-z0-9-]{1,64}$/), phone: z.string().regex(/^\d{10,15}$/) });

/** At most this many held messages become one bot turn. */
const MAX_BATCH = 50;
/** A batch whose bot call was cut this many times by crashes gets the botFailure policy instead of another call. */
const MAX_TRIES = 2;
/** How soon to look again at an echo that may be ours (its send has not returned yet). */
const ECHO_WAIT_MS = 200;

export interface InboxWorkerDeps {
  config: Config;
  keys: Keys;
  store: ConversationStore;
  turn: Turn;
  channels: ReadonlyMap<string, ChannelKit>;
  lanes: Lanes;
  logger: Logger;
  observer?: ReleaseObserver;
}

/** A batch of one customer's texts becomes one message (SPEC §9.1): texts joined with a line break, in arrival order. */
export function batchMessage(entries: readonly InboxEntry[], phone: string): TurnMessage {
  const first = entries[0] as InboxEntry;
  const text = first.k === 'text' ? entries.map((e) => e.text ?? '').join('\n') : null;
  const name = [...entries].reverse().find((e) => e.name)?.name ?? null;
  return { messageId: first.id, phone, name, text, address: first.to, externalIds: first.externalIds ?? {} };
}

/**
 * Asynchronous channels, worker side (SPEC §8.1): drains one customer's inbox, one batch at
 * a time under the customer's lock, through the same turn as the synchronous route, and
 * queues the replies on the customer's outbox in the same fenced commit that takes the batch
 * off the inbox. One drain job runs per customer at a time (BullMQ deduplication), so
 * messages are processed in arrival order across every process.
 *
 * A `fromMe` message (SPEC §9.3) is decided atomically with the sends in flight: our own
 * echo, a send not returned yet (looked at again shortly), or a person on the phone taking
 * the conversation. A debounce window not over yet (SPEC §9.1) delays the job until it is.
 */
export function createInboxWorker(deps: InboxWorkerDeps) {
  const { config, store, turn, logger } = deps;

  async function takeOwnerMessage(
    job: Job,
    token: string | undefined,
    lock: ConversationLock,
    channel: AsyncChannelConfig,
    entry: InboxEntry,
    conversation: Conversation,
    log: Logger,
  ): Promise<void> {
    const now = Date.now();
    const state = effectiveState(conversation, now);
    const takeoverOn = channel.kind === 'evolution' || channel.kind === 'zapi' ? channel.takeoverOnOwnerMessage : false;
    // A platform's attendant already has it: a message from the phone changes nothing. A
    // person on the phone who keeps answering keeps the conversation (the period restarts).
    const humanUntil = now + channel.humanTtlMinutes * 60_000;
    const takeover =
      takeoverOn && !(isWithHuman(state) && conversation.takenBy === 'handoff' && conversation.state === 'human')
        ? { fields: { state: 'human' as const, handoffId: null, humanUntil, takenBy: 'phone' as const, address: entry.to }, ttlMs: turn.ttlFor(humanUntil, now) }
        : null;
    const outcome = await store.ownerMessage(lock, entry.id, takeover);
    if (outcome === 'wait') {
      // A send to this customer is in flight: this may be its echo, arriving before the send
      // call returned the id. Decide once the send has ended.
      await store.release(lock);
      await job.moveToDelayed(Date.now() + ECHO_WAIT_MS, token);
      throw new DelayedError();
    }
    if (outcome === 'takeover') {
      if (!isWithHuman(state) || conversation.takenBy !== 'phone') deps.observer?.released?.('phone');
      log.info({ messageId: entry.id, previous: state }, 'a person answered from the phone: the conversation is with a human, the bot stays quiet');
    } else if (outcome === 'lost') {
      log.warn({ messageId: entry.id }, 'lost the conversation lock deciding a fromMe message; looking again');
    }
  }

  async function drain(job: Job, token?: string): Promise<string> {
    const parsed = laneJobSchema.safeParse(job.data);
    if (!parsed.success) throw new UnrecoverableError(`invalid inbox job: ${parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`);
    const ref = parsed.data;
    const channel = config.channels[ref.channel];
    const log = logger.child({ channel: ref.channel, phone: ref.phone });
    if (!channel || !isAsyncChannel(channel)) {
      log.error('inbox of a channel that is not (or no longer) an asynchronous channel of the configuration; left as it is');
      return 'no channel';
    }
    let batches = 0;
    for (;;) {
      const lock: ConversationLock = { token: randomUUID(), ref };
      let claim = await store.claimBatch(lock, channel.debounceMs, MAX_BATCH);
      if (claim.kind === 'busy') {
        // An operator action or a platform event holds the customer's turn: wait in its queue.
        const turned = await store.waitTurn(lock, Date.now() + config.conversations.lockWaitMs);
        if (!turned) {
          await store.release(lock);
          await job.moveToDelayed(Date.now() + 1000, token);
          throw new DelayedError();
        }
        claim = await store.claimBatch(lock, channel.debounceMs, MAX_BATCH);
      }
      if (claim.kind === 'busy') continue;
      if (claim.kind === 'empty') return `${batches} batch(es)`;
      if (claim.kind === 'wait') {
        await job.moveToDelayed(claim.readyAt, token);
        throw new DelayedError();
      }

      const { entries, conversation, tries } = claim;
      const head = entries[0] as InboxEntry;
      if (head.k === 'owner') {
        await takeOwnerMessage(job, token, lock, channel, head, conversation, log);
        continue;
      }

      const started = performance.now();
      const message = batchMessage(entries, ref.phone);
      const stop = keepLockAlive(store, lock, log);
      let committed: string;
      let outcome: string;
      let deliveries: ReturnType<typeof newDelivery>[];
      try {
        if (tries > 1) log.warn({ messageId: head.id, tries }, 'processing a batch again: its last run was cut short (a crash or a lost lock)');
        const result = await turn.run(ref.channel, channel, message, conversation, log, { interrupted: tries > MAX_TRIES });
        outcome = result.outcome.kind;
        const sender = deps.channels.get(ref.channel)?.sender;
        deliveries = sender
          ? result.events.flatMap((event) => sender.render(event).map((outgoing) => newDelivery(ref, { messageId: head.id, to: head.to, outgoing, acceptedAt: head.at })))
          : [];
        committed = await store.commit(lock, { ...result.commit, inbox: { count: entries.length, head: head.id }, deliveries });
      } catch (error) {
        // The batch stays in the inbox, marked in flight: BullMQ runs the job again and the
        // batch is processed again (counted as a try).
        await store.release(lock);
        throw error;
      } finally {
        stop();
      }
      if (committed !== 'ok') {
        log.warn({ messageId: head.id, outcome }, 'lost the conversation lock before recording the batch; it will be processed again');
        continue;
      }
      batches += 1;
      if (deliveries.length > 0) await deps.lanes.kickOutbox(ref);
      log.info(
        { messageIds: entries.map((e) => e.id), outcome, replies: deliveries.length, durationMs: Math.round(performance.now() - started) },
        entries.length > 1 ? 'messages processed as one turn' : 'message processed',
      );
    }
  }

  return startLaneWorker('inbox', drain, deps);
}

export type InboxWorker = ReturnType<typeof createInboxWorker>;
