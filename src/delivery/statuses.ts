import type { Logger } from 'pino';
import type { StatusReport } from '../channels/types.js';
import type { Identity } from '../identity/resolver.js';
import type { Keys } from '../keys.js';
import type { DeliveryObserver } from '../observability/observers.js';
import type { Timeline } from '../timeline/store.js';
import type { RedisClient } from '../redis/connection.js';
import { scriptsFor } from '../redis/scripts.js';
import { createDeliveryRecords, DELIVERY_RECORD_TTL_MS } from './records.js';

/**
 * Statuses a channel reports after a send (SPEC §8.4, "failures reported later count"): each
 * is matched to the delivery by the id the send call returned (the echo key remembers which
 * delivery it was, for a day), and recorded on it. A `failed` one fails the delivery: error
 * log, `handoff_deliveries_total{outcome="failed"}`, and the admin index. A status of a message
 * the service did not send (or older than a day) is not ours to record.
 */
export interface StatusRecorder {
  /** Records every report of a delivery (each is atomic; their order does not matter, see delivery-status.lua). */
  record(reports: readonly StatusReport[]): Promise<void>;
}

export function createStatusRecorder(deps: {
  redis: RedisClient;
  keys: Keys;
  identity: Pick<Identity, 'phoneKey' | 'lookup'>;
  logger: Logger;
  observer?: DeliveryObserver;
  /** The console's timeline (SPEC §14): each status the channel reports. */
  timeline?: Pick<Timeline, 'append'>;
}): StatusRecorder {
  const { redis, keys, logger } = deps;
  const run = scriptsFor(redis);
  const records = createDeliveryRecords(redis, keys);

  async function record(report: StatusReport): Promise<void> {
    // The recipient to their customer (SPEC §11): the echo key lives in the customer's slot.
    const customer =
      report.phone !== null ? deps.identity.phoneKey(report.channel, report.phone) : report.bsuid !== undefined ? await deps.identity.lookup(report.channel, report.bsuid) : null;
    if (customer === null) return;
    const deliveryId = await redis.get(keys.echo(report.channel, customer, report.sentId));
    if (!deliveryId) return;
    const now = Date.now();
    const lastError = report.error ? `whatsapp_${report.error.code ?? 'failed'}: ${report.error.title}` : '';
    const spec = { status: report.status, at: report.at, lastError, finishedAt: new Date(now).toISOString(), failedTtlMs: DELIVERY_RECORD_TTL_MS };
    const reply = await run<string[]>('delivery-status', [keys.delivery(report.channel, customer, deliveryId)], [JSON.stringify(spec)]);
    await deps.timeline?.append({ channel: report.channel, phone: customer }, [
      { at: new Date(report.at || now).toISOString(), type: 'delivery', id: deliveryId, state: report.status === 'failed' ? 'failed' : 'sent', status: report.status, ...(lastError ? { lastError } : {}) },
    ]);
    if (reply[0] !== 'failed') return;
    await records.index.file(deliveryId, 'failed', now);
    if (reply[1] !== 'failed') deps.observer?.delivery?.(report.channel, 'failed');
    logger.error(
      { channel: report.channel, phone: customer, deliveryId, sentId: report.sentId, lastError, stateBefore: reply[1] },
      'the channel reports a reply it had accepted as failed; the delivery is recorded failed',
    );
  }

  return {
    async record(reports: readonly StatusReport[]): Promise<void> {
      await Promise.all(reports.map(record));
    },
  };
}
