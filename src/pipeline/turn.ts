import { randomUUID } from 'node:crypto';
import type { Logger } from 'pino';
import { DEFAULT_MESSAGES, isAsyncChannel, toolzzTokenFor, type ChannelConfig, type Config } from '../config.js';
import { BACK_TO_BOT, conversationTtlMs as keepFor, effectiveState, isWithHuman, type Conversation } from '../conversations/state.js';
import type { TurnCommit } from '../conversations/store.js';
import { isUpstreamError, UpstreamError } from '../errors.js';
import type { HandoffJob } from '../handoff/job.js';
import type { HandoffQueue } from '../handoff/queue.js';
import type { ToolzzClient } from '../toolzz/client.js';
import type { ToolzzReply } from '../toolzz/schema.js';
import type { ReleaseObserver } from '../observability/observers.js';
import type { StatusChecker } from './status-check.js';

/** A bot-to-bot transfer asked for after this many hops is not followed (SPEC §1). */
export const MAX_BOT_HOPS = 3;

/** One turn's input: a customer message, or (asynchronous channels, debounce) a batch joined into one. */
export interface TurnMessage {
  /** The (first) message's id: the one the handoff and deliveries point at. */
  messageId: string;
  phone: string;
  name: string | null;
  /** null: a message without text (audio, sticker…), SPEC §8.3 `unsupported`. */
  text: string | null;
  /** Where the channel reaches the customer, as it gave it (asynchronous channels). */
  address?: string;
  externalIds: HandoffJob['externalIds'];
}


/** What the customer must be told, in order (asynchronous channels send it; the synchronous answer carries `reply`). */
export type CustomerEvent =
  | { type: 'message.replied'; reply: string; conversationId: string | null }
  | { type: 'handoff.queued'; reply: string | null; conversationId: string; handoffId: string };

export type TurnOutcome =
  | { kind: 'replied'; reply: string; conversationId: string | null }
  | { kind: 'handoff_queued'; reply: string | null; conversationId: string; handoffId: string }
  | { kind: 'human_active'; handoffId: string | null }
  | { kind: 'ignored' }
  /** Synchronous channels only: the caller answers 502/504 and leaves the message unprocessed. */
  | { kind: 'bot_failed'; error: UpstreamError };

export interface TurnResult {
  outcome: TurnOutcome;
  /** For the asynchronous path's outbox. */
  events: CustomerEvent[];
  /** The conversation write, handoff record… for the caller's commit (it adds its own parts). */
  commit: Pick<TurnCommit, 'conversation' | 'handoff'>;
}

/** Hooks for metrics; every one optional. */
export interface TurnObserver extends ReleaseObserver {
  botCall?(seconds: number, outcome: 'ok' | 'error'): void;
  handoffQueued?(provider: string): void;
}

export interface TurnDeps {
  config: Config;
  toolzz: ToolzzClient;
  handoffs: HandoffQueue;
  statusCheck?: StatusChecker;
  observer?: TurnObserver;
  /** Waits between tries of a bot call that never reached Toolzz (tests shorten it). */
  sleep?: (ms: number) => Promise<void>;
}

interface BotOutcome {
  reply: ToolzzReply;
  botId: string;
  conversationId: string;
}

const defaultSleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/**
 * The one place that decides what happens to a customer message, for the synchronous route
 * and the asynchronous worker alike (SPEC §1, §8.3): `human_active` while a human has the
 * conversation (after asking the platform whether the human is done), else the Toolzz agent
 * — following bot-to-bot transfers — whose answer is a reply or a human handoff; on
 * asynchronous channels the `botFailure` and `unsupported` policies too.
 *
 * Runs while the caller holds the conversation's lock. A handoff's job is queued here,
 * before the caller's commit writes the state (its id is the handoff's, and the worker waits
 * for the record); everything else is returned for the caller to commit in one script.
 */
export function createTurn(deps: TurnDeps) {
  const { config, toolzz, handoffs } = deps;
  const conversationTtlMs = config.conversations.ttlHours * 3_600_000;
  const sleep = deps.sleep ?? defaultSleep;
  /** The conversation outlives its human period by the usual idle TTL. */
  const ttlFor = (humanUntil: number | null, now: number) => keepFor(conversationTtlMs, humanUntil, now);

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

  /**
   * Asynchronous channels (SPEC §8.3): a call that certainly never reached Toolzz
   * (connection refused, DNS) is tried again a few times; anything else fails at once.
   */
  async function askBotPatiently(channel: ChannelConfig, conversation: Conversation, text: string, log: Logger, learnt: Partial<Conversation>): Promise<BotOutcome> {
    const delays = isAsyncChannel(channel) ? config.toolzz.unreachableRetryMs : [];
    for (let attempt = 0; ; attempt++) {
      try {
        return await askBot(channel, conversation, text, log, learnt);
      } catch (error) {
        const neverSent = isUpstreamError(error) && error.kind === 'network' && !error.ambiguous;
        const delay = delays[attempt];
        if (!neverSent || delay === undefined) throw error;
        log.warn({ err: error, attempt: attempt + 1, retryInMs: delay }, 'Toolzz unreachable (the message never reached it); trying again');
        await sleep(delay);
      }
    }
  }

  /** Queues the handoff job and returns what the caller commits with it. */
  async function handOff(
    channelName: string,
    channel: ChannelConfig,
    message: TurnMessage,
    learnt: Partial<Conversation>,
    bot: { botId: string; conversationId: string | null; reply: string | null },
    reason: HandoffJob['reason'],
    now: number,
  ): Promise<{ job: HandoffJob; commit: TurnResult['commit'] }> {
    const handoffId = randomUUID();
    // The human period starts when the handoff is done (SPEC §8.4); while it is pending the
    // conversation waits for it, however long its tries take. Kept at least as long as before.
    const keepUntil = now + channel.humanTtlMinutes * 60_000;
    const job: HandoffJob = {
      handoffId,
      channel: channelName,
      provider: channel.handoff.provider,
      phone: message.phone,
      name: message.name,
      botId: bot.botId,
      // A handoff before the bot ever answered (an unsupported first message) has no Toolzz conversation yet.
      conversationId: bot.conversationId ?? `none:${handoffId}`,
      messageId: message.messageId,
      lastMessage: message.text ?? '',
      botReply: bot.reply,
      reason,
      ...(message.address ? { address: message.address } : {}),
      externalIds: message.externalIds,
      createdAt: new Date(now).toISOString(),
    };
    // The job first, under the handoff's id; the caller's commit then writes the state and
    // the record in one script. A worker that takes the job before that commit waits for the
    // record; a commit that never happens (a crash, a lost lock) leaves a job that finds no
    // record and is dropped — never a handoff for a conversation the bot still owns.
    await handoffs.enqueue(job);
    deps.observer?.handoffQueued?.(job.provider);
    return {
      job,
      commit: {
        conversation: {
          fields: { ...learnt, state: 'handoff_pending', handoffId, humanUntil: null, takenBy: 'handoff', ...(message.address ? { address: message.address } : {}) },
          ttlMs: ttlFor(keepUntil, now),
        },
        handoff: { create: job },
      },
    };
  }

  return {
    ttlFor,

    /**
     * Decides one turn. Throws only for what the caller cannot turn into an outcome (Redis,
     * the handoff queue, a bug); a Toolzz failure is `bot_failed` on synchronous channels and
     * a `botFailure` policy on asynchronous ones.
     */
    async run(
      channelName: string,
      channel: ChannelConfig,
      message: TurnMessage,
      conversation: Conversation,
      log: Logger,
      options: {
        interrupted?: boolean;
        /**
         * Writes a conversation change at once, still holding the lock: a human found done is
         * back with the bot before the bot is asked, whatever the bot call does (SPEC §8.4).
         */
        persist?: (change: { fields: Partial<Conversation>; ttlMs: number }) => Promise<void>;
      } = {},
    ): Promise<TurnResult> {
      const now = Date.now();
      // The policies of asynchronous channels (SPEC §8.3); a synchronous one answers the channel instead.
      const policies = isAsyncChannel(channel) ? channel : null;
      const asynchronous = policies !== null;
      let state = effectiveState(conversation, now);
      const address = message.address ? { address: message.address } : {};

      if (isWithHuman(conversation.state) && state === 'bot') deps.observer?.released?.('ttl');
      if (isWithHuman(state) && deps.statusCheck) {
        // SPEC §9.2: ask the platform whether the human is done (at most every 30 s).
        const done = await deps.statusCheck.isHumanDone(channelName, channel, message.phone, conversation, log);
        if (done) {
          await options.persist?.({ fields: BACK_TO_BOT, ttlMs: ttlFor(null, now) });
          deps.observer?.released?.('platform_status');
          log.info({ handoffId: conversation.handoffId }, 'the platform says the human is done: back to the bot');
          state = 'bot';
        }
      }
      if (isWithHuman(state)) {
        // Nothing reaches the bot, nothing is sent: the human sees the message on the platform.
        return { outcome: { kind: 'human_active', handoffId: conversation.handoffId }, events: [], commit: {} };
      }

      // Back with the bot: a fresh conversation, a released/expired human period or a failed handoff.
      const learnt: Partial<Conversation> =
        conversation.state === 'bot' && !conversation.handoffId && !conversation.takenBy ? { ...address } : { ...BACK_TO_BOT, ...address };
      const botId = conversation.botId ?? channel.bot.id;

      if (message.text === null) {
        const policy = policies?.unsupported ?? { action: 'reply' as const, message: DEFAULT_MESSAGES.unsupported };
        if (policy.action === 'ignore') {
          return { outcome: { kind: 'ignored' }, events: [], commit: Object.keys(learnt).length ? { conversation: { fields: learnt, ttlMs: ttlFor(null, now) } } : {} };
        }
        if (policy.action === 'handoff') {
          const { job, commit } = await handOff(channelName, channel, message, learnt, { botId, conversationId: conversation.conversationId, reply: null }, 'unsupported', now);
          return { outcome: { kind: 'handoff_queued', reply: null, conversationId: job.conversationId, handoffId: job.handoffId }, events: [], commit };
        }
        return {
          outcome: { kind: 'replied', reply: policy.message, conversationId: conversation.conversationId },
          events: [{ type: 'message.replied', reply: policy.message, conversationId: conversation.conversationId }],
          commit: { conversation: { fields: learnt, ttlMs: ttlFor(null, now) } },
        };
      }

      let bot: BotOutcome;
      try {
        if (options.interrupted) {
          // SPEC §8.1: a message whose bot calls were cut by crashes gets one outcome, not a third call.
          throw new UpstreamError('toolzz_interrupted', 'timeout', 'the bot call for this message was cut short by a crash twice', { retryable: false, ambiguous: true });
        }
        bot = await askBotPatiently(channel, conversation, message.text, log, learnt);
      } catch (error) {
        if (!isUpstreamError(error)) throw error;
        log.error({ err: error, code: error.code, status: error.status }, asynchronous ? 'Toolzz call failed; applying the botFailure policy' : 'Toolzz call failed; the message stays unprocessed for the channel to retry');
        // What was learnt is kept whatever the bot did: a conversation back from a human stays the bot's.
        const keep = Object.keys(learnt).length > 0 ? { conversation: { fields: learnt, ttlMs: ttlFor(null, now) } } : {};
        if (!policies) return { outcome: { kind: 'bot_failed', error }, events: [], commit: keep };
        const policy = policies.botFailure;
        if (policy.action === 'ignore') return { outcome: { kind: 'ignored' }, events: [], commit: keep };
        const notice: CustomerEvent = { type: 'message.replied', reply: policy.message, conversationId: learnt.conversationId ?? conversation.conversationId };
        if (policy.action === 'reply') return { outcome: { kind: 'replied', reply: policy.message, conversationId: notice.conversationId }, events: [notice], commit: keep };
        const { job, commit } = await handOff(
          channelName,
          channel,
          message,
          learnt,
          { botId: learnt.botId ?? botId, conversationId: learnt.conversationId ?? conversation.conversationId, reply: policy.message },
          'bot_failure',
          now,
        );
        return { outcome: { kind: 'handoff_queued', reply: policy.message, conversationId: job.conversationId, handoffId: job.handoffId }, events: [notice], commit };
      }

      const { reply } = bot;
      if (reply.transferToAgent && !reply.targetBotId) {
        const { job, commit } = await handOff(channelName, channel, message, learnt, { botId: bot.botId, conversationId: bot.conversationId, reply: reply.content }, 'transfer_to_agent', now);
        return {
          outcome: { kind: 'handoff_queued', reply: reply.content, conversationId: bot.conversationId, handoffId: job.handoffId },
          events: [{ type: 'handoff.queued', reply: reply.content, conversationId: bot.conversationId, handoffId: job.handoffId }],
          commit,
        };
      }
      const content = reply.content ?? '';
      return {
        outcome: { kind: 'replied', reply: content, conversationId: bot.conversationId },
        events: [{ type: 'message.replied', reply: content, conversationId: bot.conversationId }],
        commit: { conversation: { fields: { ...learnt, botId: bot.botId, conversationId: bot.conversationId }, ttlMs: ttlFor(null, now) } },
      };
    },
  };
}

export type Turn = ReturnType<typeof createTurn>;
