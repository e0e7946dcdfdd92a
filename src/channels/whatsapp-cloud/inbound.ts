import { createHmac } from 'node:crypto';
import { z } from 'zod';
import type { ChannelConfig } from '../../config.js';
import { constantTimeEqual, secretMatcher } from '../../webhook/auth.js';
import { issuesOf, normalizePhone } from '../../webhook/schema.js';
import type { ChannelAdapter, ChannelMessage, InboundParse } from '../types.js';

type WhatsappChannel = Extract<ChannelConfig, { kind: 'whatsapp-cloud' }>;

/** The envelope Meta POSTs (research §1); message items are read field by field below. */
const envelopeSchema = z.object(
  {
    object: z.string({ error: 'must be a string' }),
    entry: z.array(
      z.object(
        {
          changes: z.array(
            z.object(
              {
                field: z.string({ error: 'must be a string' }),
                value: z
                  .object({
                    metadata: z.object({ phone_number_id: z.string({ error: 'must be a string' }) }, { error: 'must be an object' }).optional(),
                    contacts: z.array(z.unknown(), { error: 'must be a list' }).optional(),
                    messages: z.array(z.unknown(), { error: 'must be a list' }).optional(),
                    statuses: z.array(z.unknown(), { error: 'must be a list' }).optional(),
                  })
                  .loose(),
              },
              { error: 'must be an object' },
            ),
            { error: 'must be a list' },
          ),
        },
        { error: 'must be an object' },
      ),
      { error: 'must be a list' },
    ),
  },
  { error: 'body must be a JSON object' },
);

const str = (value: unknown): string | undefined => (typeof value === 'string' && value !== '' ? value : undefined);
const obj = (value: unknown): Record<string, unknown> => (value !== null && typeof value === 'object' && !Array.isArray(value) ? (value as Record<string, unknown>) : {});

/** Types that are never messages to answer (a reaction, a notice that a message was edited or deleted…). */
const IGNORED_TYPES = new Set(['reaction', 'system', 'ephemeral', 'request_welcome', 'errors']);

/** The customer's text of one message item, or null when it has none (SPEC §8.1). */
export function whatsappText(message: Record<string, unknown>): string | null {
  const type = message.type;
  if (type === 'text') return str(obj(message.text).body) ?? null;
  if (type === 'interactive') {
    const interactive = obj(message.interactive);
    return str(obj(interactive.button_reply).title) ?? str(obj(interactive.list_reply).title) ?? null;
  }
  if (type === 'button') return str(obj(message.button).text) ?? null;
  if (type === 'image' || type === 'video' || type === 'document') return str(obj(message[type]).caption) ?? null;
  return null;
}

/**
 * WhatsApp Cloud API (Meta): `X-Hub-Signature-256` over the raw bytes with the app secret;
 * the `hub.challenge` verification GET; every `entry[].changes[].value.messages[]` item is a
 * message (a delivery may hold several, for several customers), routed by
 * `metadata.phone_number_id` to the channel that has that number; `statuses[]` are not messages.
 *
 * @param numbers every configured `whatsapp.phoneNumberId` → its channel name (one app may
 *   deliver several numbers' messages to one callback URL).
 */
/** A configured `whatsapp-cloud` number: its channel and the app secret its deliveries are signed with. */
export interface WhatsappNumber {
  channel: string;
  appSecret: string;
}

export function createWhatsappAdapter(name: string, channel: WhatsappChannel, numbers: ReadonlyMap<string, WhatsappNumber>): ChannelAdapter {
  const appSecret = channel.whatsapp.appSecret;
  const verifyTokenMatches = secretMatcher(channel.whatsapp.verifyToken);

  function parse(body: unknown): InboundParse {
    const parsed = envelopeSchema.safeParse(body);
    if (!parsed.success) return { ok: false, issues: issuesOf(parsed.error) };
    const messages: ChannelMessage[] = [];
    let ignored = 0;
    const skipped: { path: string; reason: string }[] = [];
    parsed.data.entry.forEach((entry, e) =>
      entry.changes.forEach((change, c) => {
        const value = change.value;
        ignored += value.statuses?.length ?? 0;
        if (change.field !== 'messages' || !value.messages) return;
        const phoneNumberId = value.metadata?.phone_number_id;
        const target = phoneNumberId === channel.whatsapp.phoneNumberId ? name : phoneNumberId ? numbers.get(phoneNumberId)?.channel : undefined;
        const names = new Map<string, string>();
        for (const contact of value.contacts ?? []) {
          const c0 = obj(contact);
          const waId = str(c0.wa_id);
          const profileName = str(obj(c0.profile).name);
          if (waId && profileName) names.set(waId, profileName);
        }
        value.messages.forEach((item, m) => {
          const path = `entry.${e}.changes.${c}.value.messages.${m}`;
          const message = obj(item);
          const id = str(message.id);
          const from = str(message.from);
          const type = str(message.type) ?? 'unknown';
          if (!target) {
            ignored += 1;
            skipped.push({ path, reason: `phone_number_id ${phoneNumberId ?? '(none)'} is not a configured number` });
            return;
          }
          if (IGNORED_TYPES.has(type)) {
            ignored += 1;
            return;
          }
          const phone = from ? normalizePhone(from) : null;
          if (!id || !from || !phone || id.length > 256) {
            ignored += 1;
            skipped.push({ path, reason: !id || !from ? 'no id or from' : 'from is not a phone number' });
            return;
          }
          const text = whatsappText(message);
          const base = { channel: target, messageId: id, phone, to: from, name: names.get(from) ?? null };
          // A text too long for the bot's contract (4096) is still the customer's: it is cut, not refused.
          messages.push(text !== null ? { ...base, kind: 'text', text: [...text].slice(0, 4096).join('') } : { ...base, kind: 'unsupported', what: type });
        });
      }),
    );
    return { ok: true, messages, ignored, skipped };
  }

  return {
    kind: 'whatsapp-cloud',
    authenticate(req) {
      const header = req.headers['x-hub-signature-256'];
      const presented = Array.isArray(header) ? header[0] : header;
      if (!presented || !presented.startsWith('sha256=')) return false;
      const expected = `sha256=${createHmac('sha256', appSecret).update(req.raw).digest('hex')}`;
      return constantTimeEqual(presented.toLowerCase(), expected);
    },
    parse,
    verify(query) {
      const token = query.get('hub.verify_token');
      const challenge = query.get('hub.challenge');
      if (query.get('hub.mode') === 'subscribe' && token !== null && challenge !== null && verifyTokenMatches(token)) return { status: 200, body: challenge };
      return { status: 403, body: 'verification failed' };
    },
  };
}
