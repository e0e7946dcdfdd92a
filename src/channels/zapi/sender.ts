import type { Dispatcher } from 'undici';
import { z } from 'zod';
import type { ZapiChannel } from './config.js';
import { requestJson } from '../../http/request.js';
import { joinUrl } from '../../http/url.js';
import { renderText, splitTextDelivery } from '../text-sender.js';
import type { ChannelSender } from '../types.js';


const sentSchema = z.object({ messageId: z.string().min(1), zaapId: z.string().optional(), id: z.string().optional() });

/**
 * Z-API: `POST {baseUrl}/instances/{instanceId}/token/{instanceToken}/send-text` with the
 * `Client-Token` header, one text per part, to the `phone` the customer wrote from as given —
 * a number, or `<digits>@lid` for a customer known only by a WhatsApp LID (SPEC §11). Returns
 * `messageId` (what the `fromMe` echo carries) and `id` when it differs; `zaapId` is Z-API's
 * queue id, never seen on a webhook.
 */
export function createZapiSender(channel: ZapiChannel, options: { http: Dispatcher; timeoutMs: number }): ChannelSender {
  const { zapi } = channel;
  const url = joinUrl(zapi.baseUrl, `/instances/${encodeURIComponent(zapi.instanceId)}/token/${encodeURIComponent(zapi.instanceToken)}/send-text`);
  return {
    render: renderText,
    split: splitTextDelivery,
    async send(delivery, part) {
      const { data } = await requestJson(options.http, {
        service: 'zapi',
        method: 'POST',
        url,
        headers: { 'client-token': zapi.clientToken },
        body: { phone: delivery.to, message: part.body.text },
        timeoutMs: options.timeoutMs,
        schema: sentSchema,
      });
      return { ids: [...new Set([data.messageId, data.id].filter((id): id is string => typeof id === 'string' && id !== ''))] };
    },
  };
}
