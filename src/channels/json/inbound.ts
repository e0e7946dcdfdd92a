import type { JsonChannel } from './config.js';
import { createAuthenticator } from '../../webhook/auth.js';
import { parseInbound } from '../../webhook/schema.js';
import type { ChannelAdapter } from '../types.js';

/**
 * Plain `json` channels (SPEC §3): Bearer token or Standard Webhooks signature, the §3 body.
 * Synchronous ones answer with the pipeline's result; with `reply` the message is accepted
 * and answered through the `reply.url` callback.
 */
export function createJsonAdapter(name: string, channel: JsonChannel): ChannelAdapter {
  const authenticate = createAuthenticator(channel.auth);
  return {
    kind: 'json',
    authenticate: (req) => authenticate(req.raw, req.headers),
    parse(body) {
      const parsed = parseInbound(body);
      if (!parsed.ok) return parsed;
      const { messageId, phone, name: contactName, text, externalIds } = parsed.message;
      return { ok: true, ignored: 0, messages: [{ channel: name, messageId, phone, to: phone, name: contactName, kind: 'text', text, externalIds }] };
    },
  };
}
