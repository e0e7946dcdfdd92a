/**
 * Every Redis key the service writes, in one place. All start with the configured prefix
 * (`redis.keyPrefix`, default `ho`), so several deployments or test runs can share a server.
 *
 * Layout for Redis Cluster (SPEC §10): everything one conversation's scripts touch — its
 * state, lock, message records, handoff and delivery records, inbox and outbox — carries the
 * conversation's hash tag `{channel:phone}`, so it lives in one slot and every script stays
 * single-slot. Conversations spread over all masters by that tag. What spans conversations
 * (the admin indexes, the id → conversation pointers, platform-event de-duplication) lives
 * in keys of its own that no conversation script ever touches.
 */
export function createKeys(prefix: string) {
  const tag = (channel: string, phone: string) => `{${channel}:${phone}}`;
  return {
    prefix,
    /** The conversation's hash tag: `{channel:phone}`. */
    tag,
    /** Conversation state hash. */
    conversation: (channel: string, phone: string) => `${prefix}:conv:${tag(channel, phone)}`,
    /** FIFO of lock tokens (head = holder) and their lease deadlines. */
    lockQueue: (channel: string, phone: string) => `${prefix}:lockq:${tag(channel, phone)}`,
    lockLeases: (channel: string, phone: string) => `${prefix}:lockl:${tag(channel, phone)}`,
    /** Processed-message record (or the in-progress / accepted marker), per channel + customer + messageId. */
    message: (channel: string, phone: string, messageId: string) => `${prefix}:msg:${tag(channel, phone)}:${messageId}`,
    /** Accepted messages waiting for the bot (asynchronous channels), oldest first. */
    inbox: (channel: string, phone: string) => `${prefix}:inbox:${tag(channel, phone)}`,
    /** Delivery ids waiting to be sent to the customer, oldest first. */
    outbox: (channel: string, phone: string) => `${prefix}:outbox:${tag(channel, phone)}`,
    /**
     * The token of the try sending one of the customer's replies now (it expires with the
     * try's time limit): one try at a time, by the inbox drain or the outbox worker.
     */
    sendLease: (channel: string, phone: string) => `${prefix}:sending:${tag(channel, phone)}`,
    /**
     * The conversation so far, for the attendant (SPEC §13): its last lines, `Cliente: …` /
     * `Assistente: …`, oldest first; kept as long as the conversation.
     */
    transcript: (channel: string, phone: string) => `${prefix}:transcript:${tag(channel, phone)}`,
    /** What happened to the conversation, for the operator console (SPEC §14): its last 200 events as JSON, oldest first. */
    timeline: (channel: string, phone: string) => `${prefix}:timeline:${tag(channel, phone)}`,
    /** One handoff's record. */
    handoff: (channel: string, phone: string, id: string) => `${prefix}:handoff:${tag(channel, phone)}:${id}`,
    /** One delivery's record (a reply or event to send through the channel). */
    delivery: (channel: string, phone: string, id: string) => `${prefix}:delivery:${tag(channel, phone)}:${id}`,
    /** An id a channel's send call returned: its `fromMe` echo is our own (SPEC §9.3). */
    echo: (channel: string, phone: string, sentId: string) => `${prefix}:echo:${tag(channel, phone)}:${sentId}`,
    /**
     * The customer's sends whose echo may still come without a known id (in flight, or ended
     * ambiguously): text fingerprint → `<delivery id>:<part>:<p|s>` (s = its echo was seen).
     */
    sentLedger: (channel: string, phone: string) => `${prefix}:sent:${tag(channel, phone)}`,
    /** The platform was asked whether the human is done less than 30 s ago (SPEC §9.2). */
    statusCheck: (channel: string, phone: string) => `${prefix}:statuscheck:${tag(channel, phone)}`,
    /**
     * An alias of a customer (a WhatsApp LID `lid:<digits>` or a BSUID) → the customer's key
     * (SPEC §11). In a slot of its own: it is read before the customer's scripts run.
     */
    alias: (channel: string, address: string) => `${prefix}:alias:{${channel}:${address}}`,
    /** Every alias linked to a customer (admin `aliases`), in the customer's slot. */
    aliases: (channel: string, customer: string) => `${prefix}:aliases:${tag(channel, customer)}`,
    /**
     * id → the conversation its record lives in (`channel\nphone`), for lookups by id alone;
     * in the indexes' slot, written with the record's first filing (one call).
     */
    where: (kind: RecordKind, id: string) => `${prefix}:{idx}:where:${kind}:${id}`,
    /** Where an earlier version kept the pointer (read while records it wrote may live). */
    whereBefore: (kind: RecordKind, id: string) => `${prefix}:where:${kind}:${id}`,
    /**
     * Conversations with accepted messages, scored by when their inbox last stopped being
     * empty (ms): the reconciler finds inboxes whose drain job was lost (SPEC §8.4). Slot of its own.
     */
    inboxIndex: () => `${prefix}:{idx}:inboxes`,
    /**
     * Every conversation, scored by its last activity (ms), for the console's list (SPEC §14):
     * `channel\nphone`. Entries of conversations that expired are dropped when a listing meets them.
     */
    conversationIndex: () => `${prefix}:{idx}:conversations`,
    /** Times to the first human response (`<seconds>:<handoff id>`, scored by when it came), for `/admin/figures`. */
    firstResponses: () => `${prefix}:{idx}:first-responses`,
    /** Per-state indexes of one record kind, all in one slot of their own. */
    index: (kind: RecordKind, state: string) => `${prefix}:{idx}:${kind}:${state}`,
    /** A MeHub `webhook_id` already handled. */
    platformEvent: (platform: string, id: string) => `${prefix}:event:${platform}:${id}`,
    /** BullMQ prefix of one queue: hash-tagged, so each queue's keys share a slot. */
    bullPrefix: (queue: QueueName) => `${prefix}:{${queue}}`,
  };
}
export type Keys = ReturnType<typeof createKeys>;

export type RecordKind = 'handoff' | 'delivery';

/** The BullMQ queues. */
export const QUEUES = {
  handoff: 'handoffs',
  inbox: 'inbox',
  outbox: 'outbox',
  maintenance: 'maintenance',
} as const;
export type QueueName = (typeof QUEUES)[keyof typeof QUEUES];

/** `channel\nphone` as stored in a `where` pointer. */
export function parseWhere(value: string | null): { channel: string; phone: string } | null {
  if (!value) return null;
  const cut = value.indexOf('\n');
  if (cut <= 0) return null;
  return { channel: value.slice(0, cut), phone: value.slice(cut + 1) };
}
