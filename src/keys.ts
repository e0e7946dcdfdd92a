/**
 * Every Redis key the service writes, in one place. All start with the configured prefix
 * (`redis.keyPrefix`, default `ho`), so several deployments or test runs can share a server.
 */
export function createKeys(prefix: string) {
  return {
    prefix,
    /** Conversation state hash, per channel + normalised phone. */
    conversation: (channel: string, phone: string) => `${prefix}:conv:${channel}:${phone}`,
    /** FIFO of lock tokens (head = holder) and their lease deadlines, per conversation. */
    lockQueue: (channel: string, phone: string) => `${prefix}:lockq:${channel}:${phone}`,
    lockLeases: (channel: string, phone: string) => `${prefix}:lockl:${channel}:${phone}`,
    /** Processed-message record (or the in-progress marker), per channel + messageId. */
    message: (channel: string, messageId: string) => `${prefix}:msg:${channel}:${messageId}`,
    /** One handoff's record, and the per-state indexes the admin API lists. */
    handoff: (id: string) => `${prefix}:handoff:${id}`,
    handoffIndex: (state: 'pending' | 'done' | 'failed') => `${prefix}:handoffs:${state}`,
    /** BullMQ's own prefix: its keys live under `{prefix}:bull:handoffs:*`. */
    bullPrefix: `${prefix}:bull`,
  };
}
export type Keys = ReturnType<typeof createKeys>;

/** BullMQ queue name of the handoff jobs. */
export const HANDOFF_QUEUE = 'handoffs';
