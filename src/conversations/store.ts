import { randomUUID } from 'node:crypto';
import type { Redis } from 'ioredis';
import { AppError } from '../errors.js';
import type { Keys } from '../keys.js';
import { conversationFromHash, type Conversation } from './state.js';

/** One customer of one channel. */
export interface ConversationRef {
  channel: string;
  phone: string;
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

/** A place in a conversation's FIFO lock; `release()`/`commit()` give it up. */
export interface ConversationLock {
  readonly token: string;
  readonly ref: ConversationRef;
}

export interface CommitOptions {
  /** Fields to write on the conversation (omitted = leave it untouched). */
  conversation?: Partial<Conversation>;
  /** How long the conversation is kept after this write, in ms. */
  conversationTtlMs?: number;
  /** Marks the message processed with this answer (omitted = not processed: the retry runs again). */
  record?: { messageId: string; value: MessageRecord };
  /** More commands for the same MULTI (e.g. creating a handoff record with the state). */
  extra?: (multi: ReturnType<Redis['multi']>) => void;
  /** Give the lock up (default true). */
  release?: boolean;
}

const IN_PROGRESS = '~in-progress';

// Shared by begin and poll: take the lock if we are at the head of the FIFO, after
// dropping heads whose lease ran out (their process died or stalled).
// KEYS: 1 lock queue, 2 lock leases, 3 conversation. ARGV: 1 token, 2 lease ms.
const TAKE_TURN = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local lease = tonumber(ARGV[2])
redis.call('HSET', KEYS[2], ARGV[1], now + lease)
redis.call('PEXPIRE', KEYS[1], lease * 4)
redis.call('PEXPIRE', KEYS[2], lease * 4)
while true do
  local head = redis.call('LINDEX', KEYS[1], 0)
  if head == ARGV[1] then
    return {'acquired', redis.call('HGETALL', KEYS[3])}
  end
  if not head then
    redis.call('RPUSH', KEYS[1], ARGV[1])
  else
    local deadline = tonumber(redis.call('HGET', KEYS[2], head) or '0')
    if deadline >= now then return {'queued'} end
    redis.call('LPOP', KEYS[1])
    redis.call('HDEL', KEYS[2], head)
  end
end
`;

// KEYS: 1 lock queue, 2 lock leases, 3 conversation, 4 message record.
// ARGV: 1 token, 2 lease ms, 3 in-progress ttl ms, 4 in-progress marker.
const BEGIN = `
local existing = redis.call('GET', KEYS[4])
if existing then
  if existing == ARGV[4] then return {'in_progress'} end
  return {'duplicate', existing}
end
redis.call('SET', KEYS[4], ARGV[4], 'PX', ARGV[3])
redis.call('RPUSH', KEYS[1], ARGV[1])
${TAKE_TURN}`;

// KEYS: 1 lock queue, 2 lock leases, 3 conversation. ARGV: 1 token, 2 lease ms.
const POLL = `
if not redis.call('LPOS', KEYS[1], ARGV[1]) then
  -- our lease ran out while we waited (a long event-loop stall): queue again
  redis.call('RPUSH', KEYS[1], ARGV[1])
end
${TAKE_TURN}`;

// KEYS: 1 lock queue, 2 lock leases. ARGV: 1 token, 2 lease ms.
const HEARTBEAT = `
if redis.call('HEXISTS', KEYS[2], ARGV[1]) == 0 then return 0 end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('HSET', KEYS[2], ARGV[1], now + tonumber(ARGV[2]))
redis.call('PEXPIRE', KEYS[1], tonumber(ARGV[2]) * 4)
redis.call('PEXPIRE', KEYS[2], tonumber(ARGV[2]) * 4)
return 1
`;

// Ends a message's turn in one call: write the conversation, record the answer (or drop the
// in-progress marker so the channel's retry runs again), and leave the queue.
// KEYS: 1 conversation, 2 message record, 3 lock queue, 4 lock leases.
// ARGV: 1 token, 2 release ('1'/'0'), 3 conversation ttl ms ('' = keep), 4 record action
// ('set', 'drop' or ''), 5 record value, 6 record ttl ms, 7 in-progress marker, 8… field/value pairs.
const FINISH = `
if #ARGV >= 9 then redis.call('HSET', KEYS[1], unpack(ARGV, 8)) end
if ARGV[3] ~= '' then redis.call('PEXPIRE', KEYS[1], ARGV[3]) end
if ARGV[4] == 'set' then
  redis.call('SET', KEYS[2], ARGV[5], 'PX', ARGV[6])
elseif ARGV[4] == 'drop' and redis.call('GET', KEYS[2]) == ARGV[7] then
  redis.call('DEL', KEYS[2])
end
if ARGV[2] == '1' then
  redis.call('LREM', KEYS[3], 1, ARGV[1])
  redis.call('HDEL', KEYS[4], ARGV[1])
end
return 1
`;

type ScriptReply = [string, (string[] | string)?];
interface ScriptedRedis {
  hoBegin(...args: (string | number)[]): Promise<ScriptReply>;
  hoPoll(...args: (string | number)[]): Promise<ScriptReply>;
  hoHeartbeat(...args: (string | number)[]): Promise<number>;
  hoFinish(...args: (string | number)[]): Promise<number>;
}

/** Any Redis failure on the request path becomes a 503 `unavailable`, never a 500. */
export function redisUnavailable(cause: unknown): AppError {
  return new AppError('unavailable', 'Redis is unavailable', 503, { cause, retryable: true });
}

async function guarded<T>(operation: Promise<T>): Promise<T> {
  try {
    return await operation;
  } catch (error) {
    throw redisUnavailable(error);
  }
}

function conversationFields(conversation: Partial<Conversation>): Record<string, string> {
  const fields: Record<string, string> = { updatedAt: String(Date.now()) };
  if (conversation.state !== undefined) fields.state = conversation.state;
  if (conversation.botId !== undefined) fields.botId = conversation.botId ?? '';
  if (conversation.conversationId !== undefined) fields.conversationId = conversation.conversationId ?? '';
  if (conversation.handoffId !== undefined) fields.handoffId = conversation.handoffId ?? '';
  if (conversation.humanUntil !== undefined) fields.humanUntil = conversation.humanUntil === null ? '' : String(conversation.humanUntil);
  if (conversation.jobQueued !== undefined) fields.jobQueued = conversation.jobQueued ? '1' : '0';
  return fields;
}

export interface ConversationStoreOptions {
  redis: Redis;
  keys: Keys;
  /** A lock holder that stops renewing its lease for this long is presumed dead. */
  leaseMs?: number;
  /** How long a message may stay "in progress" if its process dies mid-way. */
  inProgressTtlMs: number;
  /** How long a processed message's answer is kept for duplicates (SPEC: at least 24 h). */
  recordTtlMs?: number;
}

/**
 * Conversation state, message de-duplication and the per-conversation FIFO lock, in Redis.
 *
 * The common path costs two round trips: `begin` (one Lua script: claim the messageId,
 * join the conversation's queue, read the state) and `commit` (one Lua script: write the
 * state, record the answer, leave the queue).
 */
export function createConversationStore(options: ConversationStoreOptions) {
  const { redis, keys } = options;
  const leaseMs = options.leaseMs ?? 15_000;
  const recordTtlMs = options.recordTtlMs ?? 24 * 60 * 60 * 1000;
  const scripted = redis as unknown as ScriptedRedis;
  if (!('hoBegin' in redis)) {
    redis.defineCommand('hoBegin', { numberOfKeys: 4, lua: BEGIN });
    redis.defineCommand('hoPoll', { numberOfKeys: 3, lua: POLL });
    redis.defineCommand('hoHeartbeat', { numberOfKeys: 2, lua: HEARTBEAT });
    redis.defineCommand('hoFinish', { numberOfKeys: 4, lua: FINISH });
  }

  const lockKeys = (ref: ConversationRef) =>
    [keys.lockQueue(ref.channel, ref.phone), keys.lockLeases(ref.channel, ref.phone), keys.conversation(ref.channel, ref.phone)] as const;

  function parseTurn(reply: ScriptReply, lock: ConversationLock): BeginResult {
    if (reply[0] === 'acquired') return { kind: 'acquired', lock, conversation: conversationFromHash((reply[1] as string[]) ?? []) };
    return { kind: 'queued', lock };
  }

  async function finish(
    lock: ConversationLock,
    options: { fields?: Partial<Conversation>; ttlMs?: number; record?: { action: 'set' | 'drop'; messageId: string; value: string }; release: boolean },
  ): Promise<void> {
    const [queue, leases, conversationKey] = lockKeys(lock.ref);
    const args: (string | number)[] = [
      conversationKey,
      // Unused when there is no record action; any key of the conversation will do.
      options.record ? keys.message(lock.ref.channel, options.record.messageId) : conversationKey,
      queue,
      leases,
      lock.token,
      options.release ? '1' : '0',
      options.ttlMs === undefined ? '' : Math.ceil(options.ttlMs),
      options.record?.action ?? '',
      options.record?.value ?? '',
      recordTtlMs,
      IN_PROGRESS,
    ];
    if (options.fields) for (const [field, value] of Object.entries(conversationFields(options.fields))) args.push(field, value);
    await guarded(scripted.hoFinish(...args));
  }

  function release(multi: ReturnType<Redis['multi']>, lock: ConversationLock): void {
    const [queue, leases] = lockKeys(lock.ref);
    multi.lrem(queue, 1, lock.token);
    multi.hdel(leases, lock.token);
  }

  return {
    leaseMs,

    /**
     * Claims `messageId` and joins the conversation's queue, in one round trip.
     * `duplicate` carries the first answer; `in_progress` means another request holds it.
     */
    async begin(ref: ConversationRef, messageId: string): Promise<BeginResult> {
      const lock: ConversationLock = { token: randomUUID(), ref };
      const reply = await guarded(
        scripted.hoBegin(...lockKeys(ref), keys.message(ref.channel, messageId), lock.token, leaseMs, options.inProgressTtlMs, IN_PROGRESS),
      );
      if (reply[0] === 'in_progress') return { kind: 'in_progress' };
      if (reply[0] === 'duplicate') return { kind: 'duplicate', record: JSON.parse(reply[1] as string) as MessageRecord };
      return parseTurn(reply, lock);
    },

    /**
     * Waits for our turn (the messages queued before ours to finish), polling with a short
     * back-off, until `deadline` (epoch ms). Resolves null if the wait ran out.
     */
    async waitTurn(lock: ConversationLock, deadline: number): Promise<Conversation | null> {
      let delay = 2;
      for (;;) {
        const result = parseTurn(await guarded(scripted.hoPoll(...lockKeys(lock.ref), lock.token, leaseMs)), lock);
        if (result.kind === 'acquired') return result.conversation;
        if (Date.now() + delay >= deadline) return null;
        await new Promise((resolve) => setTimeout(resolve, delay));
        delay = Math.min(delay * 2, 50);
      }
    },

    /**
     * Takes the conversation's turn without a message (operator actions), waiting until
     * `deadline`; null if the wait ran out. Give it back with `commit`.
     */
    async acquire(ref: ConversationRef, deadline: number): Promise<{ lock: ConversationLock; conversation: Conversation } | null> {
      const lock: ConversationLock = { token: randomUUID(), ref };
      // The poll script joins the queue when the token is not in it yet.
      const conversation = await this.waitTurn(lock, deadline);
      if (conversation) return { lock, conversation };
      await finish(lock, { release: true });
      return null;
    },

    /** Renews the lease of a lock we hold; false if it was lost. */
    async heartbeat(lock: ConversationLock): Promise<boolean> {
      const [queue, leases] = lockKeys(lock.ref);
      return (await guarded(scripted.hoHeartbeat(queue, leases, lock.token, leaseMs))) === 1;
    },

    /**
     * Writes the outcome of a message atomically and, by default, gives the lock up: one
     * script call, or one MULTI when `extra` adds commands (the handoff record).
     */
    async commit(lock: ConversationLock, commit: CommitOptions): Promise<void> {
      const conversationKey = keys.conversation(lock.ref.channel, lock.ref.phone);
      if (commit.extra) {
        const multi = redis.multi();
        if (commit.conversation) {
          multi.hset(conversationKey, conversationFields(commit.conversation));
          if (commit.conversationTtlMs !== undefined) multi.pexpire(conversationKey, Math.ceil(commit.conversationTtlMs));
        }
        if (commit.record) {
          multi.set(keys.message(lock.ref.channel, commit.record.messageId), JSON.stringify(commit.record.value), 'PX', recordTtlMs);
        }
        commit.extra(multi);
        if (commit.release !== false) release(multi, lock);
        await guarded(multi.exec().then(throwOnMultiError));
        return;
      }
      await finish(lock, {
        fields: commit.conversation,
        ttlMs: commit.conversation ? commit.conversationTtlMs : undefined,
        record: commit.record ? { action: 'set', messageId: commit.record.messageId, value: JSON.stringify(commit.record.value) } : undefined,
        release: commit.release !== false,
      });
    },

    /**
     * The message was not processed: forget the in-progress marker so the channel's retry is
     * handled normally, and leave the queue. `conversation` keeps what was learnt anyway.
     */
    async abort(lock: ConversationLock, messageId: string, conversation?: Partial<Conversation>, conversationTtlMs?: number): Promise<void> {
      await finish(lock, {
        fields: conversation,
        ttlMs: conversation ? conversationTtlMs : undefined,
        record: { action: 'drop', messageId, value: '' },
        release: true,
      });
    },

    /** Reads a conversation (null if none is stored). */
    async get(ref: ConversationRef): Promise<Conversation | null> {
      const hash = await guarded(redis.hgetall(keys.conversation(ref.channel, ref.phone)));
      return Object.keys(hash).length === 0 ? null : conversationFromHash(hash);
    },
  };
}

export type ConversationStore = ReturnType<typeof createConversationStore>;

function throwOnMultiError(results: [Error | null, unknown][] | null): void {
  if (results === null) throw new Error('MULTI was discarded');
  for (const [error] of results) if (error) throw error;
}
