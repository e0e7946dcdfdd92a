import type { Logger } from 'pino';
import type { Keys, RecordKind } from '../keys.js';
import { parseWhere } from '../keys.js';
import type { RedisClient } from '../redis/connection.js';
import { scriptsFor } from '../redis/scripts.js';

import type { ConversationRef } from '../conversations/types.js';

export type { ConversationRef } from '../conversations/types.js';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Index writes (another slot than the record's) never fail the write they follow: the record
 * is the truth. A filing that fails is tried again in the background, because an unindexed
 * pending record is seen neither by the admin lists nor by the reconciler.
 */
export function fileInBackground(filings: readonly (() => Promise<unknown>)[], logger?: Logger): Promise<unknown> {
  return Promise.all(
    filings.map((write) =>
      write().catch((error: unknown) => {
        logger?.warn({ err: error }, 'could not file a record in the admin index; retrying in the background');
        void (async () => {
          for (const wait of [500, 2_000, 5_000]) {
            await sleep(wait);
            if (await write().then(() => true, () => false)) return;
          }
          logger?.error('gave up filing a record in the admin index: it is not listed, nor reconciled');
        })();
      }),
    ),
  );
}

/**
 * The admin indexes of one record kind (handoffs, deliveries): per-state sorted sets in a
 * slot of their own, and an `id → conversation` pointer per record so a record (which lives
 * in its conversation's slot) can be found by id alone. Written right after the record's own
 * script, in the same tick, so they cost no extra round trip on a single server.
 *
 * The record is the truth; an index entry only finds it. Readers re-read each record and
 * skip entries whose record is gone; the maintenance job trims old entries and repairs
 * entries filed under the wrong state.
 */
export interface RecordIndex<S extends string> {
  readonly states: readonly S[];
  key(state: S): string;
  /**
   * Files `id` under `state` (and no other) with `score` (ms); a new record is also pointed at
   * its conversation for `ttlMs` (`pointTo`), in the same call.
   */
  file(id: string, state: S, score: number, pointTo?: { ref: ConversationRef; ttlMs: number }): Promise<unknown>;
  /** The conversation `id`'s record lives in, or null when unknown (never created, or expired). */
  locate(id: string): Promise<ConversationRef | null>;
  /** Up to `limit` ids per state, newest first, with their scores. */
  newest(state: S, limit: number, offset?: number): Promise<{ id: string; score: number }[]>;
  /** Oldest entries of `state` with a score up to `maxScore`. */
  oldest(state: S, maxScore: number, limit: number): Promise<string[]>;
  /** Drops entries filed before `beforeMs` (their records have expired). Returns how many. */
  trim(state: S, beforeMs: number): Promise<number>;
  /** Drops one entry (its record is gone). */
  forget(id: string): Promise<unknown>;
}

export function createRecordIndex<S extends string>(redis: RedisClient, keys: Keys, kind: RecordKind, states: readonly S[]): RecordIndex<S> {
  const run = scriptsFor(redis);
  const indexKeys = states.map((state) => keys.index(kind, state));

  return {
    states,
    key: (state: S) => keys.index(kind, state),

    file(id: string, state: S, score: number, pointTo?: { ref: ConversationRef; ttlMs: number }): Promise<unknown> {
      if (!pointTo) return run('index-move', indexKeys, [id, states.indexOf(state) + 1, score]);
      const { ref, ttlMs } = pointTo;
      return run('index-move', [...indexKeys, keys.where(kind, id)], [id, states.indexOf(state) + 1, score, `${ref.channel}\n${ref.phone}`, Math.ceil(ttlMs)]);
    },

    /** The conversation `id`'s record lives in, or null when unknown (never created, or expired). */
    async locate(id: string): Promise<ConversationRef | null> {
      return parseWhere((await redis.get(keys.where(kind, id))) ?? (await redis.get(keys.whereBefore(kind, id))));
    },

    /** Up to `limit` ids per state, newest first, with their scores. */
    async newest(state: S, limit: number, offset = 0): Promise<{ id: string; score: number }[]> {
      const entries = await redis.zrevrange(keys.index(kind, state), offset, offset + limit - 1, 'WITHSCORES');
      const out: { id: string; score: number }[] = [];
      for (let i = 0; i + 1 < entries.length; i += 2) out.push({ id: entries[i] as string, score: Number(entries[i + 1]) });
      return out;
    },

    /** Oldest entries of `state` with a score up to `maxScore`. */
    async oldest(state: S, maxScore: number, limit: number): Promise<string[]> {
      return redis.zrangebyscore(keys.index(kind, state), '-inf', maxScore, 'LIMIT', 0, limit);
    },

    /** Drops entries filed before `beforeMs` (their records have expired). Returns how many. */
    trim(state: S, beforeMs: number): Promise<number> {
      return redis.zremrangebyscore(keys.index(kind, state), '-inf', `(${beforeMs}`);
    },

    /** Drops one entry (its record is gone). */
    forget(id: string): Promise<unknown> {
      return Promise.all(indexKeys.map((key) => redis.zrem(key, id)));
    },
  };
}
