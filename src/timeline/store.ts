import type { Logger } from 'pino';
import type { ConversationRef } from '../conversations/types.js';
import type { Keys } from '../keys.js';
import type { RedisClient } from '../redis/connection.js';
import { scriptsFor } from '../redis/scripts.js';
import type { TimelineEvent } from './events.js';

export type { TimelineEvent } from './events.js';

/**
 * A conversation's timeline, for the operator console (SPEC §14): what the customer wrote,
 * what the bot answered, each handoff leg and try with its error, each delivery with the
 * channel's statuses, releases and takeovers — the last {@link TIMELINE_MAX_EVENTS}, kept
 * with the conversation. The events of a turn are written by its commit (commit-turn.lua) and
 * a delivery try's by its end (delivery-end.lua); the rest come through {@link Timeline.append}.
 * A turn and `append` also move the conversation up the console's list (the conversation
 * index, scored by last activity), at most every {@link INDEX_EVERY_MS} per conversation.
 */

export const TIMELINE_MAX_EVENTS = 200;
/**
 * How often a busy conversation's entry in the console's list is refreshed: an event moves it
 * up at most this often (one ZADD in the index's own slot, not in the conversation's script).
 */
export const INDEX_EVERY_MS = 5_000;
/** How long a timeline is kept when its conversation has no expiry (or is gone): a day. */
export const TIMELINE_FALLBACK_TTL_MS = 24 * 60 * 60 * 1000;

/** `channel\nphone`: a conversation index member. */
export const indexMember = (ref: ConversationRef): string => `${ref.channel}\n${ref.phone}`;

export interface Timeline {
  /**
   * Appends events and moves the conversation up the console's list; never throws (the
   * console is a view: a failure is logged, the customer's path goes on).
   */
  append(ref: ConversationRef, events: readonly TimelineEvent[]): Promise<void>;
  /** Oldest first. */
  read(ref: ConversationRef): Promise<TimelineEvent[]>;
}

export function createTimeline(redis: RedisClient, keys: Keys, logger?: Logger): Timeline {
  const run = scriptsFor(redis);
  return {
    async append(ref, events) {
      if (events.length === 0) return;
      const now = Date.now();
      try {
        const index = await run<number>(
          'timeline-append',
          [keys.timeline(ref.channel, ref.phone), keys.conversation(ref.channel, ref.phone)],
          [TIMELINE_MAX_EVENTS, TIMELINE_FALLBACK_TTL_MS, now, INDEX_EVERY_MS, ...events.map((e) => JSON.stringify(e))],
        );
        if (index === 1) await redis.zadd(keys.conversationIndex(), 'GT', now, indexMember(ref));
      } catch (error) {
        logger?.warn({ err: error, channel: ref.channel, phone: ref.phone }, 'could not add to the conversation’s timeline');
      }
    },
    async read(ref) {
      const raw = await redis.lrange(keys.timeline(ref.channel, ref.phone), 0, -1);
      const events: TimelineEvent[] = [];
      for (const item of raw) {
        try {
          events.push(JSON.parse(item) as TimelineEvent);
        } catch {
          // An unreadable entry (written by an incompatible version) is left out.
        }
      }
      return events;
    },
  };
}
