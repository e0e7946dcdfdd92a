import type { Dispatcher } from 'undici';
import { Webhook } from 'standardwebhooks';
import { z } from 'zod';
import type { JsonChannel } from './config.js';
import type { StoredDelivery } from '../../delivery/records.js';
import { requestJson } from '../../http/request.js';
import type { ChannelSender } from '../types.js';

/**
 * `json` channels with `reply` (SPEC §8.2): every outcome is POSTed to `reply.url` as an event
 * signed with Standard Webhooks. `webhook-id` is derived from the delivery, so a retried event
 * keeps its id and body (the receiver de-duplicates on it); any 2xx is success.
 */
export function createCallbackSender(name: string, channel: JsonChannel, options: { http: Dispatcher; timeoutMs: number }): ChannelSender {
  const reply = channel.reply;
  if (!reply) throw new Error(`channel ${name} has no reply block`);
  const signer = new Webhook(reply.signingSecret);
  return {
    render(event) {
      switch (event.type) {
        case 'handoff.done':
        case 'handoff.failed':
          return [{ kind: 'event', event: { type: event.type, conversationId: event.conversationId, handoffId: event.handoffId, ...(event.failedMessage ? { reply: event.failedMessage } : {}) } }];
        case 'handoff.queued':
          return [{ kind: 'event', event: { type: event.type, reply: event.reply, conversationId: event.conversationId, handoffId: event.handoffId } }];
        case 'message.replied':
          return [{ kind: 'event', event: { type: event.type, reply: event.reply, conversationId: event.conversationId } }];
      }
    },
    split(delivery: StoredDelivery) {
      if (delivery.outgoing.kind !== 'event') throw new Error('a reply callback sends events, not texts');
      const { type, reply: text, conversationId, handoffId } = delivery.outgoing.event;
      const body: Record<string, unknown> = { type, channel: delivery.channel, messageId: delivery.messageId, phone: delivery.phone, conversationId };
      if (text !== undefined) body.reply = text;
      if (handoffId !== undefined) body.handoffId = handoffId;
      return [{ body }];
    },
    async send(delivery, part) {
      const payload = JSON.stringify(part.body);
      const id = `msg_${delivery.id}`;
      const now = new Date();
      await requestJson(options.http, {
        service: 'reply_callback',
        method: 'POST',
        url: reply.url,
        headers: {
          'webhook-id': id,
          'webhook-timestamp': String(Math.floor(now.getTime() / 1000)),
          'webhook-signature': signer.sign(id, now, payload),
        },
        rawBody: payload,
        timeoutMs: options.timeoutMs,
        schema: z.unknown(),
        ignoreBody: true,
      });
      return { ids: [] };
    },
  };
}
