import type { Logger } from 'pino';
import type { Config } from '../config/index.js';
import type { Conversation } from '../conversations/state.js';
import type { ConversationLock, MessageRecord, TurnCommitter, TurnLock } from '../conversations/types.js';
import { AppError } from '../errors.js';
import { lazyLogger } from '../observability/lazy-logger.js';
import { isRedisError } from '../redis/errors.js';
import type { Identity } from '../identity/resolver.js';
import type { InboundMessage } from '../webhook/schema.js';
import type { Turn, TurnOutcome } from './types.js';

export type { InboundMessage } from '../webhook/schema.js';

/** The HTTP answer for a message: status and JSON body (SPEC §3). */
export interface PipelineResult {
  status: number;
  body: Record<string, unknown>;
}

export interface PipelineDeps {
  config: Config;
  locks: TurnLock;
  commits: TurnCommitter;
  turn: Turn;
  identity: Pick<Identity, 'phoneKey'>;
}

/** SPEC §3's answers for the outcomes a synchronous channel can have. */
function answerOf(outcome: Exclude<TurnOutcome, { kind: 'bot_failed' }>): PipelineResult {
  switch (outcome.kind) {
    case 'human_active':
      return { status: 200, body: { status: 'human_active', handoffId: outcome.handoffId } };
    case 'handoff_queued':
      return { status: 202, body: { status: 'handoff_queued', conversationId: outcome.conversationId, reply: outcome.reply, handoffId: outcome.handoffId } };
    case 'replied':
      return { status: 200, body: { status: 'replied', conversationId: outcome.conversationId, reply: outcome.reply } };
    case 'ignored':
      throw new Error('unexpected outcome ignored on a synchronous channel');
  }
}

/**
 * The synchronous route (SPEC §3): de-duplicate, wait for the conversation's turn, let the
 * shared turn decide, and answer with the outcome — recorded in the same script that writes
 * the conversation, so a duplicate `messageId` replays it.
 *
 * Throws {@link AppError} for the failures the webhook maps to a status (502/504 bot, 503
 * Redis, a busy conversation or a lost lock); in every such case the message is left
 * unprocessed so the channel's retry goes through normally.
 */
export interface Pipeline {
  /** Processes one message of a synchronous channel; `logger` is called only when there is something to log (a child logger costs). */
  process(channelName: string, message: InboundMessage, logger: () => Logger): Promise<PipelineResult>;
}

export function createPipeline(deps: PipelineDeps): Pipeline {
  const { config, locks, commits, turn } = deps;

  async function processLocked(channelName: string, message: InboundMessage, lock: ConversationLock, conversation: Conversation, log: Logger): Promise<PipelineResult> {
    const channel = config.channels[channelName];
    if (!channel) throw new AppError('unknown_channel', `unknown channel ${channelName}`, 404);
    // The customer's key names the conversation; the platform gets the phone as written (SPEC §11).
    const turnMessage = { ...message, phone: lock.ref.phone, contactPhone: message.phone };
    const { outcome, commit, handoff } = await turn.run({ channelName, channel, message: turnMessage, conversation, lock, log });

    if (outcome.kind === 'bot_failed') {
      await commits.abort(lock, message.messageId, commit.conversation);
      const { error } = outcome;
      throw new AppError('bot_unavailable', error.message, error.kind === 'timeout' ? 504 : 502, { cause: error });
    }
    const result = answerOf(outcome);
    const committed = await commits.commit(lock, { ...commit, record: { messageId: message.messageId, value: result } });
    if (committed !== 'ok') {
      // The fence refused: another process has the customer's turn now. Nothing was recorded
      // (and no handoff job queued).
      log.warn({ outcome: outcome.kind }, 'lost the conversation lock before recording the answer; the message is left unprocessed for the channel to retry');
      throw new AppError('conversation_busy', 'lost the conversation lock; retry the message', 503, { retryable: true });
    }
    if (handoff) await turn.queueHandoff(handoff, log);
    return result;
  }

  return {
    async process(channelName: string, message: InboundMessage, logger: () => Logger): Promise<PipelineResult> {
      if (!config.channels[channelName]) throw new AppError('unknown_channel', `unknown channel ${channelName}`, 404);
      const ref = { channel: channelName, phone: deps.identity.phoneKey(channelName, message.phone) };

      const log = lazyLogger(logger);
      const begun = await locks.begin(ref, message.messageId);
      if (begun.kind === 'in_progress') throw new AppError('in_progress', 'this messageId is still being processed', 409);
      if (begun.kind === 'duplicate') return replay(begun.record);

      const { lock } = begun;
      let conversation = begun.kind === 'acquired' ? begun.conversation : null;
      if (!conversation) {
        conversation = await locks.waitTurn(lock, Date.now() + config.conversations.lockWaitMs).catch(async (error: unknown) => {
          await commits.abort(lock, message.messageId);
          throw error;
        });
        if (!conversation) {
          await commits.abort(lock, message.messageId);
          log.warn({ waitedMs: config.conversations.lockWaitMs }, 'gave up waiting for the conversation lock');
          throw new AppError('conversation_busy', 'an earlier message of this customer is still being processed', 503, { retryable: true });
        }
      }

      const stop = locks.keepAlive(lock, log);
      try {
        return await processLocked(channelName, message, lock, conversation, log);
      } catch (error) {
        if (error instanceof AppError && error.code !== 'unavailable') throw error;
        // A Redis failure or a bug: leave the message unprocessed (the abort retries in the background).
        if (!(error instanceof AppError)) log.error({ err: error }, isRedisError(error) ? 'Redis failed mid-message' : 'unexpected error processing a message');
        await commits.abort(lock, message.messageId);
        throw error;
      } finally {
        stop();
      }
    },
  };
}

function replay(record: MessageRecord): PipelineResult {
  return { status: record.status, body: { ...record.body, duplicate: true } };
}
