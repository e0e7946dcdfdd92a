import type { ChannelMessage } from '../channels/types.js';
import type { Config } from '../config.js';
import type { ConversationStore, InboxEntry } from '../conversations/store.js';
import { laneId, type Lanes } from './lanes.js';

export interface AcceptResult {
  /** New messages of the delivery (the rest were duplicates). */
  accepted: number;
  duplicates: ReadonlySet<string>;
}

/**
 * Asynchronous channels, API side (SPEC §8.1): stores every message of a delivery in its
 * customer's inbox, de-duplicated, and makes sure each customer's inbox will be drained —
 * all before the webhook answers, so a 2xx means the messages are in Redis. The drain is
 * kicked for duplicates too: a process that died between storing and kicking gets its
 * message drained on the channel's redelivery.
 */
export function createInbox(deps: { config: Config; store: ConversationStore; lanes: Lanes }) {
  const { config, store, lanes } = deps;
  return {
    async accept(messages: readonly ChannelMessage[]): Promise<AcceptResult> {
      const now = Date.now();
      const results = await Promise.all(
        messages.map(async (message) => {
          const entry: InboxEntry = { id: message.messageId, k: message.kind, to: message.to, at: now };
          if (message.text !== undefined) entry.text = message.text;
          if (message.name) entry.name = message.name;
          if (message.what) entry.what = message.what;
          if (message.externalIds && Object.keys(message.externalIds).length > 0) entry.externalIds = message.externalIds;
          const ref = { channel: message.channel, phone: message.phone };
          return { message, ref, ...(await store.accept(ref, entry)) };
        }),
      );
      // One kick per customer, with the debounce delay its held messages leave (SPEC §9.1).
      const kicks = new Map<string, { ref: { channel: string; phone: string }; delayMs: number; debounce: boolean }>();
      for (const { ref, message, firstHeldAt } of results) {
        const debounceMs = config.channels[ref.channel]?.debounceMs ?? 0;
        const heldFor = debounceMs > 0 && message.kind === 'text';
        const readyAt = heldFor ? Math.min(now + debounceMs, (firstHeldAt ?? now) + 5 * debounceMs) : now;
        kicks.set(laneId(ref), { ref, delayMs: readyAt - now, debounce: debounceMs > 0 });
      }
      await Promise.all([...kicks.values()].map((k) => lanes.kickInbox(k.ref, k.delayMs, k.debounce)));
      const duplicates = new Set(results.filter((r) => !r.accepted).map((r) => r.message.messageId));
      return { accepted: results.length - duplicates.size, duplicates };
    },
  };
}

export type Inbox = ReturnType<typeof createInbox>;
