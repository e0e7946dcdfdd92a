import type { Logger } from 'pino';
import type { CustomerEvent } from '../channels/types.js';
import type { ChannelConfig } from '../config/index.js';
import type { Conversation } from '../conversations/state.js';
import type { ConversationLock, TurnCommit } from '../conversations/types.js';
import type { UpstreamError } from '../errors.js';
import type { HandoffJob } from '../handoff/job.js';
import type { ToolzzReply } from '../toolzz/schema.js';

/** One turn's input: a customer message, or (asynchronous channels, debounce) a batch joined into one. */
export interface TurnMessage {
  /** The (first) message's id: the one the handoff and deliveries point at. */
  messageId: string;
  /** The customer's key (SPEC §11). */
  phone: string;
  name: string | null;
  /** null: a message without text (audio, sticker…), SPEC §8.3 `unsupported`. */
  text: string | null;
  /** Where the channel reaches the customer, as it gave it (asynchronous channels). */
  address?: string;
  /** What `address` is (SPEC §11); absent = a phone. */
  addressKind?: 'phone' | 'lid' | 'bsuid';
  /** The phone digits the customer wrote from, as written — what a platform is given (null: only a LID or a BSUID). */
  contactPhone: string | null;
  externalIds: HandoffJob['externalIds'];
}

/** What a turn decided (SPEC §1, §3, §8.3). */
export type TurnOutcome =
  | { kind: 'replied'; reply: string; conversationId: string | null }
  | { kind: 'handoff_queued'; reply: string | null; conversationId: string; handoffId: string }
  | { kind: 'human_active'; handoffId: string | null }
  | { kind: 'ignored' }
  /** Synchronous channels only: the caller answers 502/504 and leaves the message unprocessed. */
  | { kind: 'bot_failed'; error: UpstreamError };

/**
 * Everything a turn decision needs, read before it is made — no Redis, no HTTP: the pure
 * {@link decideTurn} works on this alone.
 */
export interface TurnContext {
  channelName: string;
  channel: ChannelConfig;
  message: TurnMessage;
  /** The conversation as the turn read it (its stored state). */
  conversation: Conversation;
  now: number;
  /**
   * The instant business hours are judged at (SPEC §12): `now`, unless the composition root
   * injected a clock for them (tests move it to just before an opening).
   */
  hoursNow?: number;
  /** The platform said the human is done (SPEC §9.2); the release is already stored. */
  humanDone: boolean;
  /** How long an idle conversation is kept (`conversations.ttlHours`). */
  idleTtlMs: number;
  /** The id a handoff decided by this turn gets (drawn by the runner, so the decision stays pure). */
  handoffId: string;
}

/** What the Toolzz agent answered (after bot-to-bot hops), or why it could not. */
export type BotAnswer =
  | { kind: 'answered'; reply: ToolzzReply; botId: string; conversationId: string }
  /** `learnt`: what a hop that succeeded before the failure taught (the conversation is already the target bot's). */
  | { kind: 'failed'; error: UpstreamError; learnt: { botId?: string; conversationId?: string } };

/** A turn's decision: the outcome, what the customer is told, what to commit, and the handoff job to queue once committed. */
export interface TurnDecision {
  outcome: TurnOutcome;
  /** For the asynchronous path's outbox. */
  events: CustomerEvent[];
  /** The conversation write and handoff record, for the caller's commit (it adds its own parts). */
  commit: Pick<TurnCommit, 'conversation' | 'handoff' | 'transcript' | 'timeline'>;
  /** A handoff to queue once the commit created its record (see {@link Turn.queueHandoff}). */
  handoff: HandoffJob | null;
  /** The human period had run out (SPEC §1): counted as a release by `ttl`. */
  expired: boolean;
}

/** The result the callers commit, then queue `handoff` if the commit went through. */
export type TurnResult = Pick<TurnDecision, 'outcome' | 'events' | 'commit' | 'handoff'>;

/** One turn, run by the synchronous route and the inbox worker alike, while they hold the customer's turn. */
export interface TurnRequest {
  channelName: string;
  channel: ChannelConfig;
  message: TurnMessage;
  conversation: Conversation;
  lock: ConversationLock;
  log: Logger;
  /** SPEC §8.1: the batch's bot calls were cut by crashes twice — one outcome, not a third call. */
  interrupted?: boolean;
}

export interface Turn {
  run(request: TurnRequest): Promise<TurnResult>;
  /**
   * Queues a handoff the caller's commit created (the record is the truth: its job is queued
   * after it exists, so the worker never takes a job before its record). A failure is logged
   * and left to the reconciler, which queues pending handoffs without a live job.
   */
  queueHandoff(job: HandoffJob, log: Logger): Promise<void>;
}
