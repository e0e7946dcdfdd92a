import type { Logger } from 'pino';
import type { ConfiguredChannel } from '../channels/types.js';
import type { Config } from '../config/index.js';
import type { ConversationRef } from '../conversations/types.js';
import { classifyFailure, isUpstreamError } from '../errors.js';
import { retryDelayMs } from '../handoff/retry.js';
import type { DeliveryObserver } from '../observability/observers.js';
import { isRedisError } from '../redis/errors.js';
import type { BegunTry, Outbox } from './outbox.js';

/** How one try of a delivery ended. `next`: the outbox's head afterwards (null: empty). */
export type TryEnd = { outcome: 'sent' | 'failed'; next: string | null } | { outcome: 'retry'; retryAt: number };

/**
 * One try of a begun delivery (SPEC §8.2, §8.4), whoever runs it: the inbox drain sending the
 * reply it just wrote, or the outbox worker. Sends the parts still to send (each once), then
 * records how the try ended and gives the send lease up. A retryable failure keeps the
 * delivery at the head with its back-off (the `delivery` settings, or the channel's
 * Retry-After); a permanent one, or the last try, records it failed (error log, metric) and
 * the next reply may go. A 2xx is never sent again — except when the process dies between
 * the channel's answer and recording it (at-least-once, like any sender).
 */
export interface DeliveryAttempts {
  run(ref: ConversationRef, begun: BegunTry): Promise<TryEnd>;
}

export interface DeliveryAttemptDeps {
  config: Config;
  outbox: Outbox;
  channels: ReadonlyMap<string, ConfiguredChannel>;
  logger: Logger;
  observer?: DeliveryObserver;
}

export function createDeliveryAttempts(deps: DeliveryAttemptDeps): DeliveryAttempts {
  const { config, outbox, logger } = deps;
  return {
    async run(ref, { delivery, seen, lease, lastInboundAt }) {
      const id = delivery.id;
      const sender = deps.channels.get(ref.channel)?.sender;
      // The try's fields on each of its lines (a child logger per try costs more than it saves).
      const fields = { channel: ref.channel, phone: ref.phone, deliveryId: id, messageId: delivery.messageId, attempt: delivery.attempts };
      const started = performance.now();
      let partsSent = delivery.partsSent;
      let templated = false;
      const ids: string[] = [];
      // Parts whose ledger entries may go: confirmed by the channel, or certainly never sent.
      const forget: number[] = [];
      try {
        if (!sender) throw new Error(`channel ${ref.channel} has no sender in the configuration any more`);
        const context = { lastInboundAt };
        const parts = sender.split(delivery, context);
        if (seen > 0) {
          // An earlier try ended without an answer, but the customer got the text: its echo came.
          logger.info({ ...fields, parts: seen }, 'an earlier try of this reply reached the customer (its echo arrived): not sent again');
          partsSent = Math.min(parts.length, partsSent + seen);
        }
        for (; partsSent < parts.length; partsSent++) {
          const sent = await sender.send(delivery, parts[partsSent] as (typeof parts)[number], context);
          ids.push(...sent.ids);
          forget.push(partsSent);
          if (sent.covers) {
            templated = true;
            // The send stood in for the rest (a template in place of refused free text): none of it goes.
            for (let rest = partsSent + 1; rest < parts.length; rest++) forget.push(rest);
            partsSent = parts.length - 1;
          }
        }
      } catch (error) {
        const failure = classifyFailure(error, isRedisError);
        const lastError = failure.description;
        // A send that may have been applied keeps its ledger entry: its echo, whenever it
        // comes, is ours, and once seen the retry skips it (SPEC §8.4).
        const unsent = !failure.ambiguous && !(isUpstreamError(error) && error.kind === 'invalid_response');
        if (unsent) forget.push(partsSent);
        const written = { lastError, partsSent: String(partsSent) };
        const ambiguous = !unsent;
        // The delivery counts its own tries (one lane job drains every reply of the customer).
        if (failure.retryable && delivery.attempts < config.delivery.attempts) {
          const timeline = { at: new Date().toISOString(), type: 'delivery' as const, id, state: 'retry', lastError };
          await outbox.end(ref, id, { outcome: 'retry', fields: written, sentIds: ids, forget, ambiguous, lease, timeline });
          deps.observer?.delivery?.(ref.channel, 'retry');
          const delay = retryDelayMs(delivery.attempts, config.delivery, failure.retryAfterMs);
          logger.warn({ ...fields, err: error, outcome: 'retry', retryInMs: delay }, 'delivery attempt');
          return { outcome: 'retry', retryAt: Date.now() + delay };
        }
        const timeline = { at: new Date().toISOString(), type: 'delivery' as const, id, state: 'failed', lastError };
        const { next } = await outbox.end(ref, id, { outcome: 'failed', fields: written, sentIds: ids, forget, ambiguous, lease, timeline });
        deps.observer?.delivery?.(ref.channel, 'failed');
        logger.error({ ...fields, err: error, lastError, outcome: 'failed' }, 'reply could not be delivered; recorded as failed, the next reply goes on');
        return { outcome: 'failed', next };
      }
      const timeline = { at: new Date().toISOString(), type: 'delivery' as const, id, state: 'sent', ...(templated ? { template: true } : {}) };
      const { next } = await outbox.end(ref, id, { outcome: 'sent', fields: { partsSent: String(partsSent), sentIds: ids.join(',') }, sentIds: ids, forget, lease, timeline });
      deps.observer?.delivery?.(ref.channel, 'sent');
      if (delivery.acceptedAt) deps.observer?.replyLatency?.(ref.channel, (Date.now() - delivery.acceptedAt) / 1000);
      logger.info({ ...fields, outcome: 'sent', parts: partsSent, durationMs: Math.round(performance.now() - started) }, 'delivery attempt');
      return { outcome: 'sent', next };
    },
  };
}
