import type { Logger } from 'pino';
import type { HandoffJob, PastLeg } from '../handoff/job.js';
import type { TimelineEvent } from '../timeline/events.js';
import type { Conversation } from './state.js';

/**
 * The surfaces of the conversation layer: the per-customer turn (a FIFO lock with a lease),
 * the fenced commit that ends a turn, and reading a conversation. Each lives in its own
 * module; consumers take the narrowest one they need.
 */

/** One customer of one channel. */
export interface ConversationRef {
  channel: string;
  phone: string;
}

/** A place in a conversation's FIFO lock; a commit or `release` gives it up. */
export interface ConversationLock {
  readonly token: string;
  readonly ref: ConversationRef;
}

/** What a processed message answered, replayed for a duplicate `messageId`. */
export interface MessageRecord {
  status: number;
  body: Record<string, unknown>;
}

export type BeginResult =
  | { kind: 'in_progress' }
  | { kind: 'duplicate'; record: MessageRecord }
  | { kind: 'acquired'; lock: ConversationLock; conversation: Conversation }
  | { kind: 'queued'; lock: ConversationLock };

/** The customer's turn, taken without a message (operator actions, platform events). */
export interface HeldTurn {
  lock: ConversationLock;
  conversation: Conversation;
  /** False when no conversation is stored. */
  exists: boolean;
}

/** A record to create in the conversation's slot and file in the admin index. */
export interface NewDelivery {
  id: string;
  fields: Record<string, string>;
}

/** Everything one turn writes, in one script call (see scripts/commit-turn.lua). */
export interface TurnCommit {
  /** Conversation fields to write, and how long the conversation is kept from now. */
  conversation?: { fields: Partial<Conversation>; ttlMs: number };
  /** Marks the message processed with this answer (synchronous path). */
  record?: { messageId: string; value: MessageRecord };
  /** The message was not processed: drop its in-progress marker (the channel's retry runs again). */
  dropRecord?: string;
  /**
   * A new handoff (its job is queued once this commit went through), or a failed one
   * re-opened by an operator — a chain from its first leg (`restart`, SPEC §12).
   */
  handoff?: { create: HandoffJob } | { reopen: string; restart?: { job: HandoffJob; past: PastLeg; keepClaim: boolean } };
  /** The processed batch leaves the inbox (asynchronous path). */
  inbox?: { count: number; head: string };
  /** Replies and events for the customer, queued on the outbox in this order. */
  deliveries?: readonly NewDelivery[];
  /** Give the lock up (default true). */
  release?: boolean;
  /**
   * The conversation's `phoneGen` when the turn read it (asynchronous turns): if a person took
   * the conversation from the phone since, the turn is superseded (SPEC §8.4) — only `keep` is
   * written, no handoff is created, and the deliveries are recorded `cancelled`.
   */
  phoneGen?: number;
  /** What a superseded turn still keeps (what Toolzz taught it: botId, conversationId). */
  keep?: Partial<Conversation>;
  /**
   * Asynchronous turns: begin the try of the first reply in the commit when it can go at once
   * (the outbox was empty, the batch was the last one waiting, no other try holds the send
   * lease), under this lease token, each part's send given `perPartMs` at most.
   */
  send?: { lease: string; perPartMs: number };
  /**
   * Lines the turn adds to the customer's transcript (SPEC §13), which keeps its last `keep`.
   * A handoff this commit creates first copies the lines before them onto its record (the
   * note's `{transcript}`: the conversation before the message that caused it). It expires
   * with the conversation (`ttlMs` when the conversation has no expiry).
   */
  transcript?: { append: string[]; keep: number; ttlMs: number };
  /**
   * Events for the operator console's timeline (SPEC §14; kept to its last 200, with the
   * conversation), and the customer's name as the channel gave it. The conversation also
   * moves to the top of the console's list.
   */
  timeline?: { events: TimelineEvent[]; name: string | null };
}

/** What {@link TurnCommitter.commitBatch} reports besides the result. */
export interface BatchCommit {
  result: CommitResult;
  /** Messages left in the customer's inbox after the batch left it. */
  inboxLeft: number;
  /** The first reply's try was begun by the commit (see TurnCommit.send): the caller sends it now. */
  sending: boolean;
  /** When the customer last wrote (epoch ms; null: unknown), for the send that follows (WhatsApp's 24-hour window, SPEC §13). */
  lastInboundAt: number | null;
}

/**
 * 'lost': the lock was no longer ours, nothing was written; 'superseded': a person took the
 * conversation from the phone during the turn (see TurnCommit.phoneGen); 'not_failed': the
 * handoff to re-open is not failed.
 */
export type CommitResult = 'ok' | 'lost' | 'superseded' | 'not_failed';

/** The per-customer turn: messages of one customer, operator actions and platform events never interleave (SPEC §3). */
export interface TurnLock {
  /** A holder that stops renewing its lease for this long is presumed dead. */
  readonly leaseMs: number;
  /** Claims `messageId` and joins the conversation's queue, in one round trip. */
  begin(ref: ConversationRef, messageId: string): Promise<BeginResult>;
  /** Waits for our turn until `deadline` (epoch ms); null if the wait ran out. */
  waitTurn(lock: ConversationLock, deadline: number): Promise<Conversation | null>;
  /** Takes the turn without a message, waiting until `deadline`; null if the wait ran out. */
  acquire(ref: ConversationRef, deadline: number): Promise<HeldTurn | null>;
  /** Renews the lease of a lock we hold; false once it is lost (never regained). */
  heartbeat(lock: ConversationLock): Promise<boolean>;
  /** Gives the lock (or our place in its queue) up; retried in the background on failure, never throws. */
  release(lock: ConversationLock): Promise<void>;
  /** Keeps a held lock's lease alive while a turn runs; call the returned function to stop. */
  keepAlive(lock: ConversationLock, log: Logger): () => void;
}

/** Ending a turn: one fenced script (SPEC §3: only the holder writes). */
export interface TurnCommitter {
  /** Writes the turn's outcome atomically while `lock` is still held. */
  commit(lock: ConversationLock, commit: TurnCommit): Promise<CommitResult>;
  /** The same for an inbox batch, reporting what is left in the inbox and whether the first reply's try began. */
  commitBatch(lock: ConversationLock, commit: TurnCommit): Promise<BatchCommit>;
  /** The message was not processed: drop its in-progress marker and leave the queue, keeping what was `learnt`. */
  abort(lock: ConversationLock, messageId: string, learnt?: { fields: Partial<Conversation>; ttlMs: number }): Promise<void>;
}

export interface ConversationReader {
  /** A conversation, or null when none is stored. */
  get(ref: ConversationRef): Promise<Conversation | null>;
}

/** The three together, for the composition root and the tests that drive a conversation by hand. */
export interface ConversationStore extends TurnLock, TurnCommitter, ConversationReader {}
