import type { Dispatcher } from 'undici';
import { z } from 'zod';
import type { WhatsappChannel } from './config.js';
import type { StoredDelivery } from '../../delivery/records.js';
import { classifyStatus, isUpstreamError, UpstreamError } from '../../errors.js';
import { requestJson } from '../../http/request.js';
import { joinUrl } from '../../http/url.js';
import { renderText, splitTextDelivery } from '../text-sender.js';
import type { ChannelSender, OutgoingPart, SendContext, SendResult } from '../types.js';
import { OUTSIDE_WINDOW_CODE, outsideWindow, windowSend } from './window.js';


const sentSchema = z.object({ messages: z.array(z.object({ id: z.string().min(1) })).min(1) });

/**
 * Meta's error codes that a later try may get past (research §1): 4 and 80007 (app / account
 * rate limits), 130429 (throughput), 131056 (pair rate limit: this recipient only — the
 * outbox retries this customer while others go on). Meta says to branch on `code`, not on the
 * HTTP status (code 4 comes with 400 or 429).
 */
export const WHATSAPP_RETRYABLE_CODES = new Set([4, 80007, 130429, 131056]);

/** An HTTP error from the Graph API, re-classified by Meta's `error.code`. */
export function classifyMetaError(error: UpstreamError): UpstreamError {
  if (error.kind !== 'http_status' || error.status === undefined) return error;
  const body = error.upstreamBody as { error?: { code?: unknown } } | undefined;
  const code = typeof body?.error?.code === 'number' ? body.error.code : undefined;
  if (code === undefined) return error;
  // The listed codes are retried whatever the status; any other code keeps the status's own
  // classification (429, 408, 425 and 5xx retried, other 4xx permanent: e.g. 131047).
  const retryable = WHATSAPP_RETRYABLE_CODES.has(code) || classifyStatus(error.status).retryable;
  return new UpstreamError(`whatsapp_${code}`, 'http_status', error.message, {
    status: error.status,
    retryable,
    ambiguous: error.ambiguous,
    retryAfterMs: error.retryAfterMs,
    upstreamMessage: error.upstreamMessage,
    upstreamBody: error.upstreamBody,
    cause: error,
  });
}

/**
 * Whom a send goes to: a phone as `to` (the `from` the customer wrote from), or a
 * business-scoped user ID as `recipient` with no `to` (SPEC §11; Meta: when both are given,
 * `to` wins, so a BSUID send carries only `recipient`).
 */
function addressee(delivery: StoredDelivery): { to: string } | { recipient: string } {
  return delivery.toKind === 'bsuid' ? { recipient: delivery.to } : { to: delivery.to };
}

/** The part a delivery outside the window becomes: the channel's template (SPEC §13). */
const TEMPLATE_PART: OutgoingPart = { body: { template: true } };

/**
 * WhatsApp Cloud API: `POST {baseUrl}/{apiVersion}/{phoneNumberId}/messages` with the access
 * token, one text message per part, to the address the customer wrote from. Returns the
 * `wamid` Meta gave it. Outside the customer's 24-hour window (SPEC §13) the delivery is the
 * channel's `windowTemplate` (`type: template`), or is not sent at all without one; free text
 * Meta refuses as outside the window (131047) is retried once as the template.
 */
export function createWhatsappSender(channel: WhatsappChannel, options: { http: Dispatcher; timeoutMs: number }): ChannelSender {
  const { whatsapp } = channel;
  const url = joinUrl(whatsapp.baseUrl, `/${whatsapp.apiVersion}/${whatsapp.phoneNumberId}/messages`);
  const template = whatsapp.windowTemplate;

  async function post(delivery: StoredDelivery, message: Record<string, unknown>): Promise<string[]> {
    try {
      const { data } = await requestJson(options.http, {
        service: 'whatsapp',
        method: 'POST',
        url,
        headers: { authorization: `Bearer ${whatsapp.accessToken}` },
        body: { messaging_product: 'whatsapp', recipient_type: 'individual', ...addressee(delivery), ...message },
        timeoutMs: options.timeoutMs,
        schema: sentSchema,
      });
      return data.messages.map((m) => m.id);
    } catch (error) {
      throw isUpstreamError(error) ? classifyMetaError(error) : error;
    }
  }

  const sendTemplate = async (delivery: StoredDelivery): Promise<SendResult> => {
    if (!template) throw new Error('no whatsapp.windowTemplate');
    const ids = await post(delivery, { type: 'template', template: { name: template.name, language: { code: template.language } } });
    return { ids, covers: true };
  };

  return {
    render: renderText,
    split(delivery, context?: SendContext) {
      const parts = splitTextDelivery(delivery);
      const lastInboundAt = context?.lastInboundAt ?? null;
      const how = windowSend(lastInboundAt, Date.now(), template);
      if (how === 'text') return parts;
      if (how === 'template') return [TEMPLATE_PART];
      throw outsideWindow(lastInboundAt);
    },
    async send(delivery, part, context?: SendContext) {
      if (part === TEMPLATE_PART || part.body.template === true) return sendTemplate(delivery);
      try {
        return { ids: await post(delivery, { type: 'text', text: { preview_url: false, body: part.body.text } }) };
      } catch (error) {
        if (!isUpstreamError(error) || error.code !== `whatsapp_${OUTSIDE_WINDOW_CODE}`) throw error;
        // Meta says the window is closed (the service's clock or record disagreed): the template, once.
        if (template) return sendTemplate(delivery);
        throw outsideWindow(context?.lastInboundAt ?? null, error);
      }
    },
  };
}
