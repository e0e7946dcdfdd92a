import type { Queue } from 'bullmq';
import type { Logger } from 'pino';
import type { Config } from './config/index.js';
import { createHandoffQueue, openQueue, type HandoffQueue } from './handoff/queue.js';
import { QUEUES, type Keys } from './keys.js';
import { createBullConnection } from './redis/connection.js';

/** The producer side of every BullMQ queue, on one connection of their own (not the request path's). */
export interface Queues {
  handoff: HandoffQueue;
  /** Per-customer drains of accepted messages (asynchronous channels). */
  inbox: Queue;
  /** Per-customer drains of replies to send. */
  outbox: Queue;
  /** The reconciler's schedule. */
  maintenance: Queue;
  /** By name, for the dashboard and the queue-depth gauge. */
  all: Record<string, Queue>;
  close(): Promise<void>;
}

export function openQueues(config: Config, keys: Keys, logger?: Logger): Queues {
  const connection = createBullConnection(config.redisTarget, 'producer');
  const handoff = createHandoffQueue({ connection, keys, retry: config.retry, logger });
  const inbox = openQueue(QUEUES.inbox, { connection, keys, logger });
  const outbox = openQueue(QUEUES.outbox, { connection, keys, logger });
  const maintenance = openQueue(QUEUES.maintenance, { connection, keys, logger });
  return {
    handoff,
    inbox,
    outbox,
    maintenance,
    all: { [QUEUES.handoff]: handoff.queue, [QUEUES.inbox]: inbox, [QUEUES.outbox]: outbox, [QUEUES.maintenance]: maintenance },
    async close() {
      await Promise.all([handoff.close(), inbox.close(), outbox.close(), maintenance.close()]);
      await connection.quit().catch(() => connection.disconnect());
    },
  };
}
