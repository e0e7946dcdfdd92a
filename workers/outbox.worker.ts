import { randomUUID } from 'node:crypto';
import type { Job } from 'bullmq';
import type { Logger } from 'pino';
import type { Config } from '../src/config/index.js';
import type { DeliveryAttempts } from '../src/delivery/attempt.js';
import type { Outbox } from '../src/delivery/outbox.js';
import type { Keys } from '../src/keys.js';
import type { DeliveryObserver } from '../src/observability/observers.js';
import { readLaneJob } from '../src/inbox/lanes.js';
import { giveUp, runAgainAt, startLaneWorker } from './shared.js';

export interface OutboxWorkerDeps {
  config: Config;
  keys: Keys;
  outbox: Outbox;
  attempts: DeliveryAttempts;
  logger: Logger;
  observer?: DeliveryObserver;
}

/**
 * Sends one customer's replies through the channel, in order (SPEC §8.2): the outbox's head
 * is tried (src/delivery/attempt.ts), and only then the next. A try to retry delays this
 * customer's drain (others go on) by its back-off. The inbox drain sends the reply it just
 * wrote itself when it is the only one (one job per message); while such a try holds the
 * customer's send lease this drain stops, and that sender hands the outbox over to it
 * afterwards if anything is left (the reconciler does, should it die).
 */
export function createOutboxWorker(deps: OutboxWorkerDeps) {
  const { logger, outbox, attempts } = deps;

  async function drain(job: Job, token?: string): Promise<string> {
    const read = readLaneJob(job.data);
    if (!read.ok) return giveUp(`invalid outbox job: ${read.problem}`);
    const ref = read.ref;
    let sent = 0;
    let id = await outbox.head(ref);
    while (id) {
      const lease = randomUUID();
      const begun = await outbox.begin(ref, id, lease);
      if (begun.kind === 'leased') {
        logger.info({ channel: ref.channel, phone: ref.phone, deliveryId: id }, 'another try of this customer’s replies is in flight; its sender hands the outbox over when done');
        return `${sent} sent; another try is in flight`;
      }
      if (begun.kind === 'cancelled') {
        deps.observer?.delivery?.(ref.channel, 'cancelled');
        logger.info({ channel: ref.channel, phone: ref.phone, deliveryId: id, outcome: 'cancelled' }, 'reply not sent: a person answered from the phone after it was written');
      }
      if (begun.kind !== 'ok') {
        id = await outbox.head(ref);
        continue;
      }
      const ended = await attempts.run(ref, { delivery: begun.delivery, seen: begun.seen, lease, lastInboundAt: begun.lastInboundAt });
      if (ended.outcome === 'retry') return runAgainAt(job, token, ended.retryAt);
      if (ended.outcome === 'sent') sent += 1;
      id = ended.next;
    }
    return `${sent} sent`;
  }

  return startLaneWorker('outbox', drain, deps);
}

export type OutboxWorker = ReturnType<typeof createOutboxWorker>;
