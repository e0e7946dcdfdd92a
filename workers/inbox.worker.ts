import { randomUUID } from 'node:crypto';
import type { Job } from 'bullmq';
import type { Logger } from 'pino';
import type { ConfiguredChannel } from '../src/channels/types.js';
import { isAsyncChannel, type Config } from '../src/config/index.js';
import type { BatchCommit, ConversationLock, NewDelivery, TurnCommitter, TurnLock } from '../src/conversations/types.js';
import type { DeliveryAttempts } from '../src/delivery/attempt.js';
import { deliveryFromHash, newDelivery } from '../src/delivery/records.js';
import { readLaneJob, type Lanes } from '../src/inbox/lanes.js';
import type { InboxEntry, InboxStore } from '../src/inbox/store.js';
import type { Keys } from '../src/keys.js';
import type { Turn, TurnMessage, TurnResult } from '../src/turn/types.js';
import { giveUp, runAgainAt, startLaneWorker } from './shared.js';

/** At most this many held messages become one bot turn. */
const MAX_BATCH = 50;
/** A batch whose bot call was cut this many times by crashes gets the botFailure policy instead of another call. */
const MAX_TRIES = 2;

export interface InboxWorkerDeps {
  config: Config;
  keys: Keys;
  locks: TurnLock;
  commits: TurnCommitter;
  inbox: InboxStore;
  turn: Turn;
  channels: ReadonlyMap<string, ConfiguredChannel>;
  lanes: Lanes;
  /** Tries of replies (the one this drain sends itself). */
  attempts: DeliveryAttempts;
  logger: Logger;
}

/** A batch of one customer's texts becomes one message (SPEC §9.1): texts joined with a line break, in arrival order. */
export function batchMessage(entries: readonly InboxEntry[], phone: string): TurnMessage {
  const first = entries[0] as InboxEntry;
  const text = first.kind === 'text' ? entries.map((e) => e.text ?? '').join('\n') : null;
  const name = [...entries].reverse().find((e) => e.name)?.name ?? null;
  // Replies go where the customer's latest message came from (SPEC §11).
  const last = entries[entries.length - 1] as InboxEntry;
  return {
    messageId: first.id,
    phone,
    name,
    text,
    address: last.replyTo,
    addressKind: last.replyKind ?? 'phone',
    contactPhone: [...entries].reverse().find((e) => e.contactPhone)?.contactPhone ?? (/^\d{10,15}$/.test(phone) ? phone : null),
    externalIds: first.externalIds ?? {},
  };
}

/**
 * Asynchronous channels, worker side (SPEC §8.1): drains one customer's inbox, one batch at
 * a time under the customer's lock, through the same turn as the synchronous route, and
 * queues the replies on the customer's outbox in the same fenced commit that takes the batch
 * off the inbox. One drain job runs per customer at a time (BullMQ deduplication), so
 * messages are processed in arrival order across every process.
 *
 * One job per message in the common case: when the batch was the last one waiting and its
 * replies are the customer's only ones, the commit begins the first reply's try and this
 * drain sends it at once (src/delivery/attempt.ts: the same order, retries, records and
 * echo rules as the outbox worker); the outbox lane gets a job only for a retry, for later
 * replies, or when replies were already waiting. The commit also says whether messages
 * arrived meanwhile, so an empty inbox is not looked at again (a message accepted after the
 * commit schedules a drain of its own, kept to run after this one).
 *
 * A turn during which a person took the conversation from the phone is superseded at its
 * commit (its replies are cancelled, SPEC §8.4). A debounce window not over yet (SPEC §9.1)
 * delays the job until it is.
 */
export function createInboxWorker(deps: InboxWorkerDeps) {
  const { config, locks, commits, inbox, turn, logger } = deps;

  async function drain(job: Job, token?: string): Promise<string> {
    const read = readLaneJob(job.data);
    if (!read.ok) return giveUp(`invalid inbox job: ${read.problem}`);
    const ref = read.ref;
    const channel = config.channels[ref.channel];
    const log = logger.child({ channel: ref.channel, phone: ref.phone });
    if (!channel || !isAsyncChannel(channel)) {
      log.error('inbox of a channel that is not (or no longer) an asynchronous channel of the configuration; left as it is');
      return 'no channel';
    }
    let batches = 0;
    for (;;) {
      const lock: ConversationLock = { token: randomUUID(), ref };
      let claim = await inbox.claimBatch(lock, channel.debounceMs, MAX_BATCH);
      if (claim.kind === 'busy') {
        // An operator action or a platform event holds the customer's turn: wait in its queue.
        const turned = await locks.waitTurn(lock, Date.now() + config.conversations.lockWaitMs);
        if (!turned) {
          await locks.release(lock);
          return runAgainAt(job, token, Date.now() + 1000);
        }
        claim = await inbox.claimBatch(lock, channel.debounceMs, MAX_BATCH);
      }
      if (claim.kind === 'busy') continue;
      if (claim.kind === 'empty') return `${batches} batch(es)`;
      if (claim.kind === 'wait') return runAgainAt(job, token, claim.readyAt);

      const { entries, conversation, tries } = claim;
      const head = entries[0] as InboxEntry;
      if (head.kind === 'owner') {
        // Left by an earlier version: a message from the business's own number is decided when
        // it is accepted now (inbox/accept.ts), so this one only leaves the inbox.
        log.warn({ messageId: head.id }, 'dropping a fromMe message queued by an earlier version');
        await commits.commit(lock, { inbox: { count: 1, head: head.id } });
        continue;
      }

      const started = performance.now();
      const message = batchMessage(entries, ref.phone);
      const stop = locks.keepAlive(lock, log);
      const sender = deps.channels.get(ref.channel)?.sender;
      let committed: BatchCommit;
      let result: TurnResult;
      let deliveries: NewDelivery[];
      const lease = randomUUID();
      try {
        if (tries > 1) log.warn({ messageId: head.id, tries }, 'processing a batch again: its last run was cut short (a crash or a lost lock)');
        result = await turn.run({ channelName: ref.channel, channel, message, conversation, lock, log, interrupted: tries > MAX_TRIES });
        deliveries = sender
          ? result.events.flatMap((event) =>
              sender.render(event).map((outgoing) => newDelivery(ref, { messageId: head.id, to: message.address ?? head.replyTo, toKind: message.addressKind, outgoing, acceptedAt: head.acceptedAt })),
            )
          : [];
        // Fenced by the lock, and superseded if a person took the conversation from the phone meanwhile (SPEC §8.4).
        const learnt = result.commit.conversation?.fields;
        const keep = learnt ? { ...(learnt.botId !== undefined ? { botId: learnt.botId } : {}), ...(learnt.conversationId !== undefined ? { conversationId: learnt.conversationId } : {}) } : {};
        committed = await commits.commitBatch(lock, {
          ...result.commit,
          inbox: { count: entries.length, head: head.id },
          deliveries,
          phoneGen: conversation.phoneGen,
          keep,
          send: { lease, perPartMs: config.delivery.timeoutMs },
        });
      } catch (error) {
        // The batch stays in the inbox, marked in flight: BullMQ runs the job again and the
        // batch is processed again (counted as a try).
        await locks.release(lock);
        throw error;
      } finally {
        stop();
      }
      const outcome = result.outcome.kind;
      if (committed.result === 'superseded') {
        log.info({ messageIds: entries.map((e) => e.id), outcome, cancelled: deliveries.length }, 'a person answered from the phone while the bot was deciding: its replies are cancelled');
        if (committed.inboxLeft === 0) return `${batches} batch(es)`;
        continue;
      }
      if (committed.result !== 'ok') {
        log.warn({ messageId: head.id, outcome }, 'lost the conversation lock before recording the batch; it will be processed again');
        continue;
      }
      batches += 1;
      if (result.handoff) await turn.queueHandoff(result.handoff, log);
      log.info(
        { messageIds: entries.map((e) => e.id), outcome, replies: deliveries.length, durationMs: Math.round(performance.now() - started) },
        entries.length > 1 ? 'messages processed as one turn' : 'message processed',
      );
      const first = deliveries[0];
      if (committed.sending && first) {
        // The commit began the first reply's try: send it now, hand the rest to the outbox lane.
        const delivery = deliveryFromHash({ ...first.fields, attempts: '1' });
        // Unreachable (the record was written from these very fields); its lease runs out and the reconciler sends it.
        if (!delivery) throw new Error(`delivery ${first.id} written by this drain cannot be read back`);
        const ended = await deps.attempts.run(ref, { delivery, seen: 0, lease, lastInboundAt: committed.lastInboundAt });
        if (ended.outcome === 'retry') await deps.lanes.scheduleOutboxDrain(ref, ended.retryAt - Date.now());
        else if (ended.next) await deps.lanes.scheduleOutboxDrain(ref);
      } else if (deliveries.length > 0) {
        await deps.lanes.scheduleOutboxDrain(ref);
      }
      if (committed.inboxLeft === 0) return `${batches} batch(es)`;
    }
  }

  return startLaneWorker('inbox', drain, deps);
}

export type InboxWorker = ReturnType<typeof createInboxWorker>;
