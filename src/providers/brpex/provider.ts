import type { Dispatcher } from 'undici';
import { z } from 'zod';
import { BRPEX_SUBDOMAIN, isBrpexHandoff } from './config.js';
import { UpstreamError } from '../../errors.js';
import { requestJson } from '../../http/request.js';
import { joinUrl } from '../../http/url.js';
import type { HandoffProvider } from '../types.js';

const successSchema = z.object({ message: z.literal('success') });

/**
 * The account's base URL: `{subdomain}` replaced by the channel's subdomain, re-checked
 * here as a DNS label so no configuration can point the token at another host. A base URL
 * without `{subdomain}` (a sandbox or proxy) is used as is.
 */
export function brpexBaseUrl(template: string, subdomain: string): string {
  if (!template.includes('{subdomain}')) return template;
  if (!BRPEX_SUBDOMAIN.test(subdomain)) {
    throw new UpstreamError('brpex_bad_subdomain', 'http_status', `invalid BRPEX subdomain ${JSON.stringify(subdomain)}`, { retryable: false });
  }
  return template.replaceAll('{subdomain}', subdomain);
}

/**
 * BRPEX: `POST {base}/api/v1/dispatch-to-chat` with the channel's `token` header and the
 * phone; moves the phone's open ticket to human attendance. Sending it again after an
 * ambiguous failure only repeats the same move, so no check is needed first.
 */
export function createBrpexProvider(options: { baseUrl: string; timeoutMs: number; http: Dispatcher }): HandoffProvider {
  return {
    name: 'brpex',
    async perform({ job, settings }) {
      if (!isBrpexHandoff(settings)) throw new Error('brpex provider used for another platform');
      const url = joinUrl(brpexBaseUrl(options.baseUrl, settings.subdomain), '/api/v1/dispatch-to-chat');
      await requestJson(options.http, {
        service: 'brpex',
        method: 'POST',
        url,
        headers: { token: settings.token as string },
        body: { phone: job.phone },
        timeoutMs: options.timeoutMs,
        schema: successSchema,
      });
      return { summary: `ticket of ${job.phone} dispatched to human attendance on ${url.host}` };
    },
  };
}
