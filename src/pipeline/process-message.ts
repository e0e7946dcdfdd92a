import { randomUUID } from 'node:crypto';
import type { Logger } from 'pino';
import { toolzzTokenFor, type ChannelConfig, type Config } from '../config.js';
import { effectiveState, isWithHuman, type Conversation } from '../conversations/state.js';
import { redisUnavailable, type ConversationLock, type ConversationStore, type MessageRecord } from '../conversations/store.js';
import { AppError, isUpstreamError } from '../errors.js';
import type { HandoffJob } from '../handoff/job.js';
import type { HandoffQueue } from '../handoff/queue.js';
import { addCreateRecord, readRecordJob } from '../handoff/records.js';
import type { Keys } from '../keys.js';
import type { ToolzzClient } from '../toolzz/client.js';
import type { ToolzzReply } from '../toolzz/schema.js';
import { lazyLogger } from '../observability/lazy-logger.js';
import type { Redis } from 'ioredis';

/** A bot-to-bot transfer asked for after this many hops is not followed (SPEC §1). */
export const MAX_BOT_HOPS = 3;

/** A validated inbound message (see webhook/schema.ts). */
export interface InboundMessage {
  messageId: string;
  phone: string;
  name: string | null;
  text: string;
  externalIds: HandoffJob['externalIds'];
}

/** The HTTP answer for a message: status and JSON body (SPEC §3). */
export interface PipelineResult {
  status: number;
  body: Record<string, unknown>;
}

/** Hooks for metrics; every one optional so tests and tools can leave them out. */
export interface PipelineObserver {
  botCall?(seconds: number, outcome: 'ok' | 'error'): void;
  handoffQueued?(provider: string): void;
}

export interface PipelineDeps {
  config: Config;
  store: ConversationStore;
  toolzz: ToolzzClient;
  handoffs: HandoffQueue;
  redis: Redis;
  keys: Keys;
  observer?: PipelineObserver;
}

interface BotOutcome {
  reply: ToolzzReply;
  botId: string;
  conversationId: string;
}

/**
 * Runs one customer message: de-duplicate, wait for the conversation's turn, then either
 * answer `human_active` (the bot is not called), or ask the Toolzz agent (following
 * bot-to-bot transfers) and reply or queue a human handoff.
 *
 * Throws {@link AppError} for the failures the webhook maps to a status (502/504 bot,
 * 503 Redis or busy conversation); in every such case the message is left unprocessed so
 * the channel's retry goes through normally.
 */
export function createPipeline(deps: PipelineDeps) {
  const { config, store, toolzz, handoffs } = deps;
  const conversationTtlMs = config.conversations.ttlHours * 3_600_000;
  const ttlFor = (humanUntil: number | null, now: number) => conversationTtlMs + Math.max(0, (humanUntil ?? now) - now);

  async function askBot(channel: ChannelConfig, conversation: Conversation, text: string, log: Logger, learnt: Partial<Conversation>): Promise<BotOutcome> {
    const token = toolzzTokenFor(config, channel);
    let botId = conversation.botId ?? channel.bot.id;
    let conversationId = conversation.conversationId;
    for (let hop = 0; ; hop++) {
      const started = performance.now();
      let reply: ToolzzReply;
      try {
        reply = await toolzz.sendMessage({ message: text, botId, conversationId, token });
        deps.observer?.botCall?.((performance.now() - started) / 1000, 'ok');
      } catch (error) {
        deps.observer?.botCall?.((performance.now() - started) / 1000, 'error');
        throw error;
      }
      conversationId = reply.conversationId;
      // Kept even if a later hop fails: the conversation is already the target bot's.
      learnt.botId = botId;
      learnt.conversationId = conversationId;
      if (!(reply.transferToAgent && reply.targetBotId)) return { reply, botId, conversationId };
      if (hop >= MAX_BOT_HOPS) {
        log.warn({ botId, targetBotId: reply.targetBotId, hops: hop }, 'bot-to-bot transfer loop: not following a transfer after the third hop');
        return { reply, botId, conversationId };
      }
      log.info({ from: botId, to: reply.targetBotId, hop: hop + 1 }, 'bot-to-bot transfer');
      botId = reply.targetBotId;
    }
  }

  /** A pending handoff whose job may not have reached the queue (crash window): add it again. */
  async function ensureQueued(lock: ConversationLock, conversation: Conversation, log: Logger): Promise<void> {
    if (conversation.state !== 'handoff_pending' || conversation.jobQueued || !conversation.handoffId) return;
    const job = await readRecordJob(deps.redis, deps.keys, conversation.handoffId).catch(() => null);
    if (!job) {
      log.error({ handoffId: conversation.handoffId }, 'pending handoff has no readable record; cannot re-queue it');
      return;
    }
    await handoffs.enqueue(job).catch((error: unknown) => Promise.reject(redisUnavailable(error)));
    await store.commit(lock, { conversation: { jobQueued: true }, release: false });
    log.warn({ handoffId: job.handoffId }, 're-queued a handoff job that was missing after a crash');
  }

  async function processLocked(
    channelName: string,
    channel: ChannelConfig,
    message: InboundMessage,
    lock: ConversationLock,
    conversation: Conversation,
    log: Logger,
  ): Promise<PipelineResult> {
    const now = Date.now();
    const state = effectiveState(conversation, now);

    if (isWithHuman(state)) {
      await ensureQueued(lock, conversation, log);
      const result: PipelineResult = { status: 200, body: { status: 'human_active', handoffId: conversation.handoffId } };
      await store.commit(lock, { record: { messageId: message.messageId, value: result } });
      return result;
    }

    // Back with the bot: a fresh conversation, a released/expired human period or a failed handoff.
    const reset: Partial<Conversation> =
      conversation.state === 'bot' && !conversation.handoffId ? {} : { state: 'bot', handoffId: null, humanUntil: null, jobQueued: false };
    const learnt: Partial<Conversation> = { ...reset };
    let outcome: BotOutcome;
    try {
      outcome = await askBot(channel, conversation, message.text, log, learnt);
    } catch (error) {
      if (!isUpstreamError(error)) throw error;
      log.error({ err: error, code: error.code, status: error.status }, 'Toolzz call failed; the message stays unprocessed for the channel to retry');
      const kept = learnt.conversationId ? learnt : undefined;
      await store.abort(lock, message.messageId, kept, ttlFor(null, now));
      throw new AppError('bot_unavailable', error.message, error.kind === 'timeout' ? 504 : 502, { cause: error });
    }

    const { reply, botId, conversationId } = outcome;
    if (reply.transferToAgent && !reply.targetBotId) {
      const handoffId = randomUUID();
      const humanUntil = now + channel.humanTtlMinutes * 60_000;
      const job: HandoffJob = {
        handoffId,
        channel: channelName,
        provider: channel.handoff.provider,
        phone: message.phone,
        name: message.name,
        botId,
        conversationId,
        messageId: message.messageId,
        lastMessage: message.text,
        botReply: reply.content,
        reason: 'transfer_to_agent',
        externalIds: message.externalIds,
        createdAt: new Date(now).toISOString(),
      };
      // State first, then the job: a crash in between leaves a pending conversation whose
      // next message re-queues the job (ensureQueued), never a job for a conversation that
      // the bot still owns.
      await store.commit(lock, {
        conversation: { ...learnt, state: 'handoff_pending', handoffId, humanUntil, jobQueued: false },
        conversationTtlMs: ttlFor(humanUntil, now),
        extra: (multi) => addCreateRecord(multi, deps.keys, job),
        release: false,
      });
      try {
        await handoffs.enqueue(job);
      } catch (error) {
        // The conversation is pending; the channel's retry of this message will re-queue it.
        await store.abort(lock, message.messageId).catch(() => undefined);
        throw error instanceof AppError ? error : new AppError('unavailable', 'could not queue the handoff', 503, { cause: error });
      }
      deps.observer?.handoffQueued?.(job.provider);
      const result: PipelineResult = {
        status: 202,
        body: { status: 'handoff_queued', conversationId, reply: reply.content, handoffId },
      };
      await store.commit(lock, { conversation: { jobQueued: true }, record: { messageId: message.messageId, value: result } });
      return result;
    }

    const result: PipelineResult = { status: 200, body: { status: 'replied', conversationId, reply: reply.content } };
    await store.commit(lock, {
      conversation: { ...learnt, botId, conversationId },
      conversationTtlMs: ttlFor(null, now),
      record: { messageId: message.messageId, value: result },
    });
    return result;
  }

  return {
    /** `logger` is called only when there is something to log (a child logger costs). */
    async process(channelName: string, message: InboundMessage, logger: () => Logger): Promise<PipelineResult> {
      const channel = config.channels[channelName];
      if (!channel) throw new AppError('unknown_channel', `unknown channel ${channelName}`, 404);
      const ref = { channel: channelName, phone: message.phone };

      const log = lazyLogger(logger);
      const begun = await store.begin(ref, message.messageId);
      if (begun.kind === 'in_progress') throw new AppError('in_progress', 'this messageId is still being processed', 409);
      if (begun.kind === 'duplicate') return replay(begun.record);

      const { lock } = begun;
      let conversation = begun.kind === 'acquired' ? begun.conversation : null;
      if (!conversation) {
        conversation = await store.waitTurn(lock, Date.now() + config.conversations.lockWaitMs).catch(async (error: unknown) => {
          await store.abort(lock, message.messageId).catch(() => undefined);
          throw error;
        });
        if (!conversation) {
          await store.abort(lock, message.messageId).catch(() => undefined);
          log.warn({ waitedMs: config.conversations.lockWaitMs }, 'gave up waiting for the conversation lock');
          throw new AppError('conversation_busy', 'an earlier message of this customer is still being processed', 503, { retryable: true });
        }
      }

      const heartbeat = setInterval(() => {
        store.heartbeat(lock).catch((error: unknown) => log.warn({ err: error }, 'could not renew the conversation lock'));
      }, store.leaseMs / 3);
      heartbeat.unref();
      try {
        return await processLocked(channelName, channel, message, lock, conversation, log);
      } catch (error) {
        if (error instanceof AppError && error.code !== 'unavailable') throw error;
        // Unexpected or Redis failure: leave the message unprocessed (best effort if Redis is down).
        await store.abort(lock, message.messageId).catch(() => undefined);
        throw error;
      } finally {
        clearInterval(heartbeat);
      }
    },
  };
}

export type Pipeline = ReturnType<typeof createPipeline>;

function replay(record: MessageRecord): PipelineResult {
  return { status: record.status, body: { ...record.body, duplicate: true } };
}

