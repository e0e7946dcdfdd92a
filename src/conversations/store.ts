import type { Logger } from 'pino';
import type { Keys } from '../keys.js';
import type { RedisClient } from '../redis/connection.js';
import { guarded } from '../redis/errors.js';
import { createTurnCommitter } from './commit.js';
import { createTurnLock } from './lock.js';
import { conversationFromHash } from './state.js';
import type { ConversationReader, ConversationStore } from './types.js';

export type * from './types.js';

export interface ConversationStoreOptions {
  redis: RedisClient;
  keys: Keys;
  /** A lock holder that stops renewing its lease for this long is presumed dead. */
  leaseMs?: number;
  /** How long a message may stay "in progress" if its process dies mid-way. */
  inProgressTtlMs: number;
  /** How long a processed message's answer is kept for duplicates (SPEC: at least 24 h). */
  recordTtlMs?: number;
  logger?: Logger;
}

/** Reads a conversation hash (null when none is stored). */
export function createConversationReader(redis: RedisClient, keys: Keys): ConversationReader {
  return {
    async get(ref) {
      const hash = await guarded(redis.hgetall(keys.conversation(ref.channel, ref.phone)));
      return Object.keys(hash).length === 0 ? null : conversationFromHash(hash);
    },
  };
}

/**
 * The conversation layer in one object, for the composition root and the tests that drive a
 * conversation by hand: the turn lock (lock.ts), the fenced commit (commit.ts) and reads.
 * The synchronous path costs two round trips per replied message: `begin` and `commit`.
 */
export function createConversationStore(options: ConversationStoreOptions): ConversationStore {
  return { ...createTurnLock(options), ...createTurnCommitter(options), ...createConversationReader(options.redis, options.keys) };
}
