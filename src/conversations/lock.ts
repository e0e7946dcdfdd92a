import { randomUUID } from 'node:crypto';
import type { Logger } from 'pino';
import type { Keys } from '../keys.js';
import type { RedisClient } from '../redis/connection.js';
import { guarded } from '../redis/errors.js';
import { scriptsFor } from '../redis/scripts.js';
import { storedRecord, IN_PROGRESS } from './message-records.js';
import { conversationFromHash, type Conversation } from './state.js';
import type { BeginResult, ConversationLock, ConversationRef, HeldTurn, TurnLock } from './types.js';

export interface TurnLockOptions {
  redis: RedisClient;
  keys: Keys;
  /** A lock holder that stops renewing its lease for this long is presumed dead. */
  leaseMs?: number;
  /** How long a message may stay "in progress" if its process dies mid-way. */
  inProgressTtlMs: number;
  logger?: Logger;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * One try now; on failure, more in the background (the caller's answer is not held up) — for
 * giving a turn up: a Redis blip must not leave the customer's next message waiting out the
 * whole lease. Never throws.
 */
export async function leaveInBackground(attempt: () => Promise<unknown>, where: ConversationRef, logger?: Logger): Promise<void> {
  try {
    await attempt();
    return;
  } catch (error) {
    logger?.warn({ err: error, channel: where.channel, phone: where.phone }, 'could not give the conversation lock up; retrying in the background');
  }
  void (async () => {
    for (const wait of [100, 500, 2_000, 5_000]) {
      await sleep(wait);
      if (await attempt().then(() => true, () => false)) return;
    }
    logger?.error({ channel: where.channel, phone: where.phone }, 'gave up releasing the conversation lock; its lease frees it within 15 s');
  })();
}

/**
 * The per-customer turn (SPEC §3: one message of a customer at a time, in arrival order,
 * across every process): a FIFO of lock tokens in the conversation's slot, each with a lease
 * renewed while its holder works (`keepAlive`, like BullMQ's lock manager). A holder that
 * stalls past its lease loses the lock for good, and the fenced commit refuses its writes.
 */
export function createTurnLock(options: TurnLockOptions): TurnLock {
  const { redis, keys } = options;
  const run = scriptsFor(redis);
  const leaseMs = options.leaseMs ?? 15_000;
  const lockKeys = (ref: ConversationRef) => [keys.lockQueue(ref.channel, ref.phone), keys.lockLeases(ref.channel, ref.phone), keys.conversation(ref.channel, ref.phone)] as const;

  async function poll(lock: ConversationLock, deadline: number): Promise<{ conversation: Conversation; exists: boolean } | null> {
    let delay = 2;
    for (;;) {
      const reply = await guarded(run<[string, string[]?]>('poll', lockKeys(lock.ref), [lock.token, leaseMs]));
      if (reply[0] === 'acquired') return { conversation: conversationFromHash(reply[1] ?? []), exists: (reply[1]?.length ?? 0) > 0 };
      if (Date.now() + delay >= deadline) return null;
      await sleep(delay);
      delay = Math.min(delay * 2, 50);
    }
  }

  function release(lock: ConversationLock): Promise<void> {
    const { channel, phone } = lock.ref;
    const spec = JSON.stringify({ token: lock.token, release: true });
    const conversation = keys.conversation(channel, phone);
    return leaveInBackground(
      () => run('commit-turn', [conversation, keys.lockQueue(channel, phone), keys.lockLeases(channel, phone), conversation, keys.inbox(channel, phone), keys.outbox(channel, phone), conversation, conversation, conversation, conversation, conversation], [spec]),
      lock.ref,
      options.logger,
    );
  }

  async function heartbeat(lock: ConversationLock): Promise<boolean> {
    const [queue, leases] = lockKeys(lock.ref);
    return (await guarded(run<number>('heartbeat', [queue, leases], [lock.token, leaseMs]))) === 1;
  }

  return {
    leaseMs,

    async begin(ref: ConversationRef, messageId: string): Promise<BeginResult> {
      const lock: ConversationLock = { token: randomUUID(), ref };
      const reply = await guarded(
        run<[string, (string[] | string)?]>('begin', [...lockKeys(ref), keys.message(ref.channel, ref.phone, messageId)], [lock.token, leaseMs, options.inProgressTtlMs, IN_PROGRESS]),
      );
      if (reply[0] === 'in_progress') return { kind: 'in_progress' };
      if (reply[0] === 'duplicate') return { kind: 'duplicate', record: storedRecord(reply[1] as string, messageId) };
      if (reply[0] === 'acquired') return { kind: 'acquired', lock, conversation: conversationFromHash((reply[1] as string[] | undefined) ?? []) };
      return { kind: 'queued', lock };
    },

    async waitTurn(lock: ConversationLock, deadline: number): Promise<Conversation | null> {
      return (await poll(lock, deadline))?.conversation ?? null;
    },

    async acquire(ref: ConversationRef, deadline: number): Promise<HeldTurn | null> {
      const lock: ConversationLock = { token: randomUUID(), ref };
      const turn = await poll(lock, deadline);
      if (turn) return { lock, ...turn };
      await release(lock);
      return null;
    },

    heartbeat,
    release,

    keepAlive(lock: ConversationLock, log: Logger): () => void {
      // A lease found lost is logged at once; the fenced commit will then refuse to record anything.
      let lost = false;
      const timer = setInterval(() => {
        heartbeat(lock).then(
          (held) => {
            if (!held && !lost) {
              lost = true;
              log.warn('lost the conversation lock (its lease ran out: this process stalled); this turn will not be recorded');
            }
          },
          (error: unknown) => log.warn({ err: error }, 'could not renew the conversation lock'),
        );
      }, leaseMs / 3);
      timer.unref();
      return () => clearInterval(timer);
    },
  };
}
