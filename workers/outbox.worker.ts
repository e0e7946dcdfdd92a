import type { Job } from 'bullmq';
import type { Logger } from 'pino';
import type { ConfiguredChannel } from '../src/channels/types.js';
import type { Config } from '../src/config/index.js';
import { createOutbox } from '../src/delivery/outbox.js';
import { isUpstreamError } from '../src/errors.js';
import { retryDelayMs } from '../src/handoff/retry.js';
import type { Keys } from '../src/keys.js';
import type { DeliveryObserver } from '../src/observability/observers.js';
import type { RedisClient } from '../src/redis/connection.js';
import { readLaneJob } from '../src/inbox/lanes.js';
import { classify, giveUp, nextStep, runAgainAt, startLaneWorker } from './shared.js';

export interface OutboxWorkerDeps {
  config: Config;
  keys: Keys;
  redis: RedisClient;
  channels: ReadonlyMap<string, ConfiguredChannel>;
  logger: Logger;
  observer?: DeliveryObserver;
}

/**
 * Sends one customer's replies through the channel, in order (SPEC §8.2): the outbox's head
 * is sent (each part of a split text once), and only then the next. A retryable failure keeps
 * it at the head and delays this customer's drain (others go on) by the `delivery` back-off
 * or the channel's Retry-After; a permanent one, or the last try, records it failed (error
 * log, metric) and the next reply goes. A 2xx is never sent again — except when the worker
 * dies between the channel's answer and recording it (at-least-once, like any sender).
 */
export function createOutboxWorker(deps: OutboxWorkerDeps) {
  const { config, logger } = deps;
  const outbox = createOutbox(deps.redis, deps.keys);

  async function drain(job: Job, token?: string): Promise<string> {
    const read = readLaneJob(job.data);
    if (!read.ok) return giveUp(`invalid outbox job: ${read.problem}`);
    const ref = read.ref;
    const sender = deps.channels.get(ref.channel)?.sender;
    let sent = 0;
    for (;;) {
      const id = await outbox.head(ref);
      if (!id) return `${sent} sent`;
      const begun = await outbox.begin(ref, id);
      if (begun.kind === 'cancelled') {
        deps.observer?.delivery?.(ref.channel, 'cancelled');
        logger.info({ channel: ref.channel, phone: ref.phone, deliveryId: id, outcome: 'cancelled' }, 'reply not sent: a person answered from the phone after it was written');
        continue;
      }
      if (begun.kind !== 'ok') continue;
      const { delivery, seen } = begun;
      const log = logger.child({ channel: ref.channel, phone: ref.phone, deliveryId: id, messageId: delivery.messageId, attempt: delivery.attempts });
      const started = performance.now();
      let partsSent = delivery.partsSent;
      const ids: string[] = [];
      // Parts whose ledger entries may go: confirmed by the channel, or certainly never sent.
      const forget: number[] = [];
      try {
        if (!sender) throw new Error(`channel ${ref.channel} has no sender in the configuration any more`);
        const parts = sender.split(delivery);
        if (seen > 0) {
          // An earlier try ended without an answer, but the customer got the text: its echo came.
          log.info({ parts: seen }, 'an earlier try of this reply reached the customer (its echo arrived): not sent again');
          partsSent = Math.min(parts.length, partsSent + seen);
        }
        for (; partsSent < parts.length; partsSent++) {
          ids.push(...(await sender.send(delivery, parts[partsSent] as (typeof parts)[number])).ids);
          forget.push(partsSent);
        }
      } catch (error) {
        const failure = classify(error);
        const lastError = failure.description;
        // A send that may have been applied keeps its ledger entry: its echo, whenever it
        // comes, is ours, and once seen the retry skips it (SPEC §8.4).
        const unsent = !failure.ambiguous && !(isUpstreamError(error) && error.kind === 'invalid_response');
        if (unsent) forget.push(partsSent);
        const fields = { lastError, partsSent: String(partsSent) };
        const ambiguous = !unsent;
        // The delivery counts its own tries (this lane job drains every reply of the customer).
        if (nextStep(failure, delivery.attempts, config.delivery.attempts) === 'retry') {
          await outbox.end(ref, id, { outcome: 'retry', fields, sentIds: ids, forget, ambiguous });
          deps.observer?.delivery?.(ref.channel, 'retry');
          const delay = retryDelayMs(delivery.attempts, config.delivery, failure.retryAfterMs);
          log.warn({ err: error, outcome: 'retry', retryInMs: delay }, 'delivery attempt');
          return runAgainAt(job, token, Date.now() + delay);
        }
        await outbox.end(ref, id, { outcome: 'failed', fields, sentIds: ids, forget, ambiguous });
        deps.observer?.delivery?.(ref.channel, 'failed');
        log.error({ err: error, lastError, outcome: 'failed' }, 'reply could not be delivered; recorded as failed, the next reply goes on');
        continue;
      }
      await outbox.end(ref, id, { outcome: 'sent', fields: { partsSent: String(partsSent), sentIds: ids.join(',') }, sentIds: ids, forget });
      sent += 1;
      deps.observer?.delivery?.(ref.channel, 'sent');
      if (delivery.acceptedAt) deps.observer?.replyLatency?.(ref.channel, (Date.now() - delivery.acceptedAt) / 1000);
      log.info({ outcome: 'sent', parts: partsSent, durationMs: Math.round(performance.now() - started) }, 'delivery attempt');
    }
  }

  return startLaneWorker('outbox', drain, deps);
}

export type OutboxWorker = ReturnType<typeof createOutboxWorker>;
