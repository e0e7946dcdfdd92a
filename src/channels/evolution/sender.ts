import type { Dispatcher } from 'undici';
import { z } from 'zod';
import type { EvolutionChannel } from './config.js';
import { requestJson } from '../../http/request.js';
import { joinUrl } from '../../http/url.js';
import { renderText, splitTextDelivery } from '../text-sender.js';
import type { ChannelSender } from '../types.js';


/** The 201 answer: the sent message's key; its id comes back on the `fromMe` echo. */
const sentSchema = z.object({ key: z.object({ id: z.string().min(1) }) });

/**
 * Evolution API v2: `POST {baseUrl}/message/sendText/{instance}` with the `apikey` header, one
 * text per part, to the JID's digits the customer wrote from, or to `<digits>@lid` for a
 * customer known only by a WhatsApp LID (`number` is the delivery's address as is: Evolution
 * takes a LID JID there, SPEC §11). Returns the message's `key.id`, so the echo Evolution posts
 * back as `fromMe` is recognised as the service's own.
 */
export function createEvolutionSender(channel: EvolutionChannel, options: { http: Dispatcher; timeoutMs: number }): ChannelSender {
  const { evolution } = channel;
  const url = joinUrl(evolution.baseUrl, `/message/sendText/${encodeURIComponent(evolution.instance)}`);
  return {
    render: renderText,
    split: splitTextDelivery,
    async send(delivery, part) {
      const { data } = await requestJson(options.http, {
        service: 'evolution',
        method: 'POST',
        url,
        headers: { apikey: evolution.apiKey },
        body: { number: delivery.to, text: part.body.text },
        timeoutMs: options.timeoutMs,
        schema: sentSchema,
      });
      return { ids: [data.key.id] };
    },
  };
}
