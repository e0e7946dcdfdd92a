import type { Logger } from 'pino';
import { isAsyncChannel, toolzzTokenFor, type ChannelConfig, type Config } from '../config/index.js';
import type { Conversation } from '../conversations/state.js';
import { isUpstreamError, UpstreamError } from '../errors.js';
import type { ToolzzClient } from '../toolzz/client.js';
import type { BotAnswer } from './types.js';

/** A bot-to-bot transfer asked for after this many hops is not followed (SPEC §1). */
export const MAX_BOT_HOPS = 3;

export interface BotCallerDeps {
  config: Config;
  toolzz: ToolzzClient;
  observer?: { botCall?(seconds: number, outcome: 'ok' | 'error'): void };
  /** Waits between tries of a call that never reached Toolzz (tests shorten it). */
  sleep?: (ms: number) => Promise<void>;
}

const defaultSleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/**
 * Asking the Toolzz agent (SPEC §1, §4, §8.3): the conversation's bot, following bot-to-bot
 * transfers (at most {@link MAX_BOT_HOPS}); on asynchronous channels a call that certainly
 * never reached Toolzz (connection refused, DNS) is tried again a few times. Never retries a
 * call that may have reached Toolzz (it is not idempotent). Resolves with the answer or the
 * failure — what the turn decides from — and throws only what is not Toolzz's failure.
 */
export interface BotCaller {
  /** The agent's answer after following transfers, or why it could not answer (a Toolzz failure). */
  answer(channel: ChannelConfig, conversation: Conversation, text: string, log: Logger): Promise<BotAnswer>;
  /** The failure a batch gets whose bot calls were cut by crashes twice. */
  interrupted(channel: ChannelConfig, log: Logger): BotAnswer;
}

export function createBotCaller(deps: BotCallerDeps): BotCaller {
  const { config, toolzz } = deps;
  const sleep = deps.sleep ?? defaultSleep;

  async function ask(channel: ChannelConfig, conversation: Conversation, text: string, log: Logger, learnt: { botId?: string; conversationId?: string }) {
    const token = toolzzTokenFor(config, channel);
    let botId = conversation.botId ?? channel.bot.id;
    let conversationId = conversation.conversationId;
    for (let hop = 0; ; hop++) {
      const started = performance.now();
      let reply;
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
      if (!(reply.transferToAgent && reply.targetBotId)) return { kind: 'answered' as const, reply, botId, conversationId };
      if (hop >= MAX_BOT_HOPS) {
        log.warn({ botId, targetBotId: reply.targetBotId, hops: hop }, 'bot-to-bot transfer loop: not following a transfer after the third hop');
        return { kind: 'answered' as const, reply, botId, conversationId };
      }
      log.info({ from: botId, to: reply.targetBotId, hop: hop + 1 }, 'bot-to-bot transfer');
      botId = reply.targetBotId;
    }
  }

  return {
    async answer(channel: ChannelConfig, conversation: Conversation, text: string, log: Logger): Promise<BotAnswer> {
      const delays = isAsyncChannel(channel) ? config.toolzz.unreachableRetryMs : [];
      const learnt: { botId?: string; conversationId?: string } = {};
      for (let attempt = 0; ; attempt++) {
        try {
          return await ask(channel, conversation, text, log, learnt);
        } catch (error) {
          if (!isUpstreamError(error)) throw error;
          const neverSent = error.kind === 'network' && !error.ambiguous;
          const delay = delays[attempt];
          if (!neverSent || delay === undefined) {
            log.error({ err: error, code: error.code, status: error.status }, isAsyncChannel(channel) ? 'Toolzz call failed; applying the botFailure policy' : 'Toolzz call failed; the message stays unprocessed for the channel to retry');
            return { kind: 'failed', error, learnt };
          }
          log.warn({ err: error, attempt: attempt + 1, retryInMs: delay }, 'Toolzz unreachable (the message never reached it); trying again');
          await sleep(delay);
        }
      }
    },

    /** SPEC §8.1: a batch whose bot calls were cut by crashes twice gets one outcome, not a third call. */
    interrupted(channel: ChannelConfig, log: Logger): BotAnswer {
      const error = new UpstreamError('toolzz_interrupted', 'timeout', 'the bot call for this message was cut short by a crash twice', { retryable: false, ambiguous: true });
      log.error({ err: error, code: error.code }, isAsyncChannel(channel) ? 'Toolzz call failed; applying the botFailure policy' : 'Toolzz call failed');
      return { kind: 'failed', error, learnt: {} };
    },
  };
}
