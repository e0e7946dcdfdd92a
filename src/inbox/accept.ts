import type { Logger } from 'pino';
import type { ChannelMessage } from '../channels/types.js';
import type { Config } from '../config/index.js';
import type { ConversationActions } from '../conversations/actions.js';
import type { ConversationRef } from '../conversations/types.js';
import type { Identity } from '../identity/resolver.js';
import type { Keys } from '../keys.js';
import type { RedisClient } from '../redis/connection.js';
import { laneId, type Lanes } from './lanes.js';
import type { InboxEntry, InboxStore } from './store.js';

export interface AcceptResult {
  /** New messages of the delivery (the rest were duplicates). */
  accepted: number;
  duplicates: ReadonlySet<string>;
}

export interface InboxDeps {
  config: Config;
  redis: RedisClient;
  keys: Keys;
  inbox: InboxStore;
  actions: Pick<ConversationActions, 'takeOverFromPhone'>;
  identity: Pick<Identity, 'resolve'>;
  lanes: Lanes;
  logger: Logger;
}

/**
 * Asynchronous channels, API side (SPEC §8.1): stores every message of a delivery in its
 * customer's inbox, de-duplicated, and makes sure each customer's inbox will be drained —
 * all before the webhook answers, so a 2xx means the messages are in Redis.
 *
 * - Every customer with messages is filed in the inbox index (in the same tick as the
 *   message is stored): a drain job lost to a crash, a failover or an eviction is found by
 *   the reconciler (SPEC §8.4), so a message stored but never scheduled is still processed,
 *   and the webhook may answer 200 even when scheduling it failed.
 * - The drain is kicked for duplicates too: a process that died between storing and kicking
 *   gets its message drained on the channel's redelivery.
 * - A message sent from the business's own number is decided at once (our echo, or a person
 *   taking the conversation), never queued behind the customer's messages (SPEC §8.4).
 */
/** Accepting a delivery's messages (see {@link createInbox}). */
export interface Inbox {
  accept(messages: readonly ChannelMessage[]): Promise<AcceptResult>;
}

export function createInbox(deps: InboxDeps): Inbox {
  const { config, lanes, redis, keys, logger } = deps;

  return {
    async accept(messages: readonly ChannelMessage[]): Promise<AcceptResult> {
      const now = Date.now();
      // Every message to its customer first (SPEC §11), then every write in one tick, in the
      // delivery's order (a customer's messages reach the inbox in the order they came).
      const customers = await Promise.all(messages.map((message) => deps.identity.resolve(message.channel, message)));
      const refs = messages.map((message, i) => ({ channel: message.channel, phone: customers[i] as string }));
      const waiting = new Map<string, ConversationRef>();
      messages.forEach((message, i) => {
        if (message.kind !== 'owner') waiting.set(laneId(refs[i] as ConversationRef), refs[i] as ConversationRef);
      });
      const filed = waiting.size > 0 ? redis.zadd(keys.inboxIndex(), ...[...waiting.values()].flatMap((ref) => [now, `${ref.channel}\n${ref.phone}`])) : null;
      const results = await Promise.all([
        filed,
        ...messages.map(async (message, i) => {
          const ref = refs[i] as ConversationRef;
          if (message.kind === 'owner') return { message, ref, accepted: (await deps.actions.takeOverFromPhone(message, ref, now)).kind !== 'duplicate', firstHeldAt: null };
          const entry: InboxEntry = { id: message.messageId, kind: message.kind, replyTo: message.to, acceptedAt: now, contactPhone: message.phone };
          if (message.toKind && message.toKind !== 'phone') entry.replyKind = message.toKind;
          if (message.text !== undefined) entry.text = message.text;
          if (message.name) entry.name = message.name;
          if (message.what) entry.contentType = message.what;
          if (message.externalIds && Object.keys(message.externalIds).length > 0) entry.externalIds = message.externalIds;
          return { message, ref, ...(await deps.inbox.accept(ref, entry)) };
        }),
      ]).then(([, ...stored]) => stored);
      // One kick per customer, with the debounce delay its held messages leave (SPEC §9.1).
      const kicks = new Map<string, { ref: ConversationRef; delayMs: number; debounce: boolean }>();
      for (const { message, ref, firstHeldAt } of results) {
        if (message.kind === 'owner') continue;
        const debounceMs = config.channels[ref.channel]?.debounceMs ?? 0;
        const heldFor = debounceMs > 0 && message.kind === 'text';
        const readyAt = heldFor ? Math.min(now + debounceMs, (firstHeldAt ?? now) + 5 * debounceMs) : now;
        kicks.set(laneId(ref), { ref, delayMs: readyAt - now, debounce: debounceMs > 0 });
      }
      await Promise.all(
        [...kicks.values()].map((k) =>
          lanes.scheduleInboxDrain(k.ref, k.delayMs, k.debounce).catch((error: unknown) => {
            // Stored and indexed: the reconciler starts this inbox within a minute.
            logger.error({ err: error, channel: k.ref.channel, phone: k.ref.phone }, 'could not schedule an accepted message; the reconciler will');
          }),
        ),
      );
      const duplicates = new Set(results.filter((r) => !r.accepted).map((r) => r.message.messageId));
      return { accepted: results.length - duplicates.size, duplicates };
    },
  };
}
