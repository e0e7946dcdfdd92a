import type { Logger } from 'pino';
import { hasCustomerWindow } from '../channels/registry.js';
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
 * - A customer whose inbox was empty gets a drain scheduled, and is filed in the inbox index
 *   (awaited before the answer): a drain job lost to a crash, a failover or an eviction is
 *   found by the reconciler (SPEC §8.4), so the webhook may answer 200 even when scheduling
 *   failed. A message that finds others waiting needs neither: the drain that takes them goes
 *   on until the inbox is empty, and the customer is already filed.
 * - Duplicates are kicked (and filed) too: a process that died between storing and kicking
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
      const results = await Promise.all(
        messages.map(async (message, i) => {
          const ref = refs[i] as ConversationRef;
          if (message.kind === 'owner') return { message, ref, accepted: (await deps.actions.takeOverFromPhone(message, ref, now)).kind !== 'duplicate', firstHeldAt: null, first: false };
          const entry: InboxEntry = { id: message.messageId, kind: message.kind, replyTo: message.to, acceptedAt: now, contactPhone: message.phone };
          if (message.toKind && message.toKind !== 'phone') entry.replyKind = message.toKind;
          if (message.text !== undefined) entry.text = message.text;
          if (message.name) entry.name = message.name;
          if (message.what) entry.contentType = message.what;
          if (message.externalIds && Object.keys(message.externalIds).length > 0) entry.externalIds = message.externalIds;
          // WhatsApp's 24-hour window counts from the customer's message (its timestamp; its arrival without one, never the future).
          const channel = config.channels[ref.channel];
          const wroteAt = channel && hasCustomerWindow(channel) ? Math.min(message.sentAt ?? now, now) : undefined;
          return { message, ref, ...(await deps.inbox.accept(ref, entry, wroteAt)) };
        }),
      );
      // One kick per customer whose inbox was empty (or who sent a duplicate), with the
      // debounce delay its held messages leave (SPEC §9.1).
      const kicks = new Map<string, { ref: ConversationRef; delayMs: number; debounce: boolean }>();
      for (const { message, ref, accepted, firstHeldAt, first } of results) {
        if (message.kind === 'owner' || (accepted && !first) || kicks.has(laneId(ref))) continue;
        const debounceMs = config.channels[ref.channel]?.debounceMs ?? 0;
        const heldFor = debounceMs > 0 && message.kind === 'text';
        const readyAt = heldFor ? Math.min(now + debounceMs, (firstHeldAt ?? now) + 5 * debounceMs) : now;
        kicks.set(laneId(ref), { ref, delayMs: readyAt - now, debounce: debounceMs > 0 });
      }
      if (kicks.size > 0) {
        const filing = redis.zadd(keys.inboxIndex(), ...[...kicks.values()].flatMap((k) => [now, `${k.ref.channel}\n${k.ref.phone}`]));
        const scheduling = [...kicks.values()].map((k) =>
          lanes.scheduleInboxDrain(k.ref, k.delayMs, k.debounce).catch((error: unknown) => {
            // Stored and indexed: the reconciler starts this inbox within a minute.
            logger.error({ err: error, channel: k.ref.channel, phone: k.ref.phone }, 'could not schedule an accepted message; the reconciler will');
          }),
        );
        await Promise.all([filing, ...scheduling]);
      }
      const duplicates = new Set(results.filter((r) => !r.accepted).map((r) => r.message.messageId));
      return { accepted: results.length - duplicates.size, duplicates };
    },
  };
}
