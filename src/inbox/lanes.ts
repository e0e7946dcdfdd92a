import type { JobsOptions } from 'bullmq';
import { z } from 'zod';
import type { ConversationRef } from '../conversations/types.js';
import { CUSTOMER_KEY } from '../identity/key.js';
import type { Queues } from '../queues.js';

/** Failed drain jobs stay this long (the reconciler starts their lane again). */
const KEEP_FAILED_SECONDS = 7 * 24 * 60 * 60;

/** The BullMQ deduplication id of a customer's lane: at most one drain job runs per customer. */
export const laneId = (ref: ConversationRef) => `${ref.channel}:${ref.phone}`;

/** A lane job's payload (the contract between the producers below and the lane workers). */
export const laneJobSchema = z.strictObject({ channel: z.string().regex(/^[a-z0-9-]{1,64}$/), phone: z.string().regex(CUSTOMER_KEY) });
export type LaneJob = z.infer<typeof laneJobSchema>;

/** A lane job's payload as a worker reads it: the customer, or what is wrong with it. */
export function readLaneJob(data: unknown): { ok: true; ref: ConversationRef } | { ok: false; problem: string } {
  const parsed = laneJobSchema.safeParse(data);
  if (parsed.success) return { ok: true, ref: parsed.data };
  return { ok: false, problem: parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ') };
}

function drainOptions(ref: ConversationRef, delayMs: number, replace: boolean): JobsOptions {
  return {
    // One drain job per customer: a job added while one is active is kept to run after it
    // (`keepLastIfActive`), so work added while a drain finishes is never stranded and two
    // workers never drain one customer at once. With `replace`, the new job's delay wins
    // over that of a job still waiting out its own.
    deduplication: { id: laneId(ref), keepLastIfActive: true, ...(replace ? { replace: true } : {}) },
    delay: Math.max(0, Math.ceil(delayMs)),
    attempts: 20,
    backoff: { type: 'exponential', delay: 1000 },
    removeOnComplete: true,
    removeOnFail: { age: KEEP_FAILED_SECONDS, count: 10_000 },
  };
}

/**
 * The per-customer lanes of asynchronous channels: the inbox (accepted messages → the bot) and
 * the outbox (replies → the channel). Each is drained by one job at a time per customer, so
 * messages are processed, and replies sent, one at a time in order across every process.
 */
export interface Lanes {
  /**
   * Makes sure the customer's inbox is drained: now, or after `delayMs` (a debounce window,
   * SPEC §9.1; `debounce`: this delay replaces that of a drain still waiting).
   */
  scheduleInboxDrain(ref: ConversationRef, delayMs?: number, debounce?: boolean): Promise<unknown>;
  /** Makes sure the customer's outbox is drained: now, or after `delayMs` (a reply's retry, replacing a drain still waiting). */
  scheduleOutboxDrain(ref: ConversationRef, delayMs?: number): Promise<unknown>;
}

export function createLanes(queues: Pick<Queues, 'inbox' | 'outbox'>): Lanes {
  return {
    scheduleInboxDrain(ref: ConversationRef, delayMs = 0, debounce = false): Promise<unknown> {
      const data: LaneJob = { channel: ref.channel, phone: ref.phone };
      return queues.inbox.add('drain', data, drainOptions(ref, delayMs, debounce));
    },
    scheduleOutboxDrain(ref: ConversationRef, delayMs = 0): Promise<unknown> {
      const data: LaneJob = { channel: ref.channel, phone: ref.phone };
      return queues.outbox.add('drain', data, drainOptions(ref, delayMs, delayMs > 0));
    },
  };
}
