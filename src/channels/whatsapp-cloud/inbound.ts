import { createHmac } from 'node:crypto';
import { z } from 'zod';
import type { WhatsappChannel } from './config.js';
import { constantTimeEqual, secretMatcher } from '../../webhook/auth.js';
import { issuesOf, normalizePhone } from '../../webhook/schema.js';
import type { ChannelAdapter, ChannelMessage, IgnoreReason, InboundParse, StatusReport } from '../types.js';
import { createTally, obj, str } from '../reading.js';


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
                    // `field: "smb_message_echoes"`: what the business sent from the WhatsApp Business app (SPEC §9.3).
                    message_echoes: z.array(z.unknown(), { error: 'must be a list' }).optional(),
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

/** Meta's Unix-seconds strings (`"1739321024"`) → ms; undefined when it is not one. */
const unixMs = (value: unknown): number | undefined => (typeof value === 'string' && /^\d{1,12}$/.test(value) ? Number(value) * 1000 : undefined);

/** Types that are never a message to answer, and why: a reaction, an edit or delete of an earlier message, a notice. */
const IGNORED_TYPES: Readonly<Record<string, IgnoreReason>> = {
  reaction: 'reaction',
  edit: 'edit',
  revoke: 'deleted',
  system: 'system',
  ephemeral: 'system',
  request_welcome: 'system',
  errors: 'system',
};
const STATUS_VALUES: ReadonlySet<string> = new Set<StatusReport['status']>(['sent', 'delivered', 'read', 'failed']);
const isStatus = (value: unknown): value is StatusReport['status'] => typeof value === 'string' && STATUS_VALUES.has(value);

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

/** A configured `whatsapp-cloud` number: its channel and the app secret its deliveries are signed with. */
export interface WhatsappNumber {
  channel: string;
  appSecret: string;
}

/** `contacts[]` → the profile name of each `wa_id`. */
function contactNames(contacts: unknown[]): Map<string, string> {
  const names = new Map<string, string>();
  for (const contact of contacts) {
    const entry = obj(contact);
    const waId = str(entry.wa_id);
    const profileName = str(obj(entry.profile).name);
    if (waId && profileName) names.set(waId, profileName);
  }
  return names;
}

/** Where a change's items go: a channel, or why none (SPEC §8.4 "one tenant cannot speak for another"). */
type Route = { channel: string } | { reason: 'unknown_number' | 'foreign_number'; why: string };

/**
 * One `statuses[]` item → a {@link StatusReport}, or null for one the service cannot use (an
 * unknown status, no id, no recipient, no time): those are not failures of ours to record.
 */
function statusReport(item: unknown, channel: string): StatusReport | null {
  const status = obj(item);
  const sentId = str(status.id);
  const recipient = str(status.recipient_id);
  const phone = recipient ? normalizePhone(recipient) : null;
  const at = unixMs(status.timestamp);
  if (!sentId || !phone || at === undefined || !isStatus(status.status)) return null;
  const report: StatusReport = { channel, phone, sentId, status: status.status, at };
  if (status.status === 'failed') {
    const first = Array.isArray(status.errors) ? obj(status.errors[0]) : undefined;
    report.error = first
      ? { code: typeof first.code === 'number' ? first.code : null, title: str(first.title) ?? str(first.message) ?? 'failed' }
      : { code: null, title: 'failed' };
  }
  return report;
}

/**
 * WhatsApp Cloud API (Meta): `X-Hub-Signature-256` over the raw bytes with the app secret;
 * the `hub.challenge` verification GET. Every `entry[].changes[].value.messages[]` item is a
 * customer's message (a delivery may hold several, for several customers) and every
 * `smb_message_echoes` item a person answering from the WhatsApp Business app (SPEC §9.3);
 * both are routed by `metadata.phone_number_id`. `statuses[]` become {@link StatusReport}s.
 *
 * @param numbers every configured `whatsapp.phoneNumberId` → its channel and app secret (one
 *   app may deliver several numbers' messages to one callback URL).
 */
export function createWhatsappAdapter(name: string, channel: WhatsappChannel, numbers: ReadonlyMap<string, WhatsappNumber>): ChannelAdapter {
  const appSecret = channel.whatsapp.appSecret;
  const verifyTokenMatches = secretMatcher(channel.whatsapp.verifyToken);

  function route(phoneNumberId: string | undefined): Route {
    if (phoneNumberId === channel.whatsapp.phoneNumberId) return { channel: name };
    const other = phoneNumberId ? numbers.get(phoneNumberId) : undefined;
    if (!other) return { reason: 'unknown_number', why: `phone_number_id ${phoneNumberId ?? '(none)'} is not a configured number` };
    // The signature was checked with this channel's secret: only a channel with the same secret trusts it.
    if (other.appSecret === appSecret) return { channel: other.channel };
    return { reason: 'foreign_number', why: `phone_number_id ${phoneNumberId} belongs to channel ${other.channel}, whose app secret is another` };
  }

  function parse(body: unknown): InboundParse {
    const parsed = envelopeSchema.safeParse(body);
    if (!parsed.success) return { ok: false, issues: issuesOf(parsed.error) };
    const messages: ChannelMessage[] = [];
    const statuses: StatusReport[] = [];
    const tally = createTally();
    parsed.data.entry.forEach((entry, e) =>
      entry.changes.forEach((change, c) => {
        const value = change.value;
        const target = route(value.metadata?.phone_number_id);
        tally.other(value.statuses?.length ?? 0);
        // A status of a number this channel may not speak for is dropped like the message would be.
        if ('channel' in target) {
          for (const item of value.statuses ?? []) {
            const report = statusReport(item, target.channel);
            if (report) statuses.push(report);
          }
        }
        // Customers' messages, or what the business sent from the WhatsApp Business app; other fields are not messages.
        const owner = change.field === 'smb_message_echoes';
        const items = owner ? value.message_echoes : change.field === 'messages' ? value.messages : undefined;
        if (!items) return;
        const names = owner ? new Map<string, string>() : contactNames(value.contacts ?? []);
        items.forEach((item, m) => {
          const path = `entry.${e}.changes.${c}.value.${owner ? 'message_echoes' : 'messages'}.${m}`;
          if (!('channel' in target)) return tally.item(path, target.reason, target.why);
          const message = obj(item);
          const type = str(message.type) ?? 'unknown';
          const ignoredAs = Object.hasOwn(IGNORED_TYPES, type) ? IGNORED_TYPES[type] : undefined;
          if (ignoredAs) return tally.item(path, ignoredAs);
          const id = str(message.id);
          // A customer's message comes `from` them; an echo of the business's own goes `to` them.
          const address = str(owner ? message.to : message.from);
          const phone = address ? normalizePhone(address) : null;
          if (!id || !address || !phone || id.length > 256) {
            const field = owner ? 'to' : 'from';
            const why = !id || !address ? `no id or ${field}` : !phone ? `${field} is not a phone number` : 'id is over 256 characters';
            return tally.item(path, 'unreadable', why);
          }
          const text = whatsappText(message);
          // A text too long for the bot's contract (4096) is still the customer's: it is cut, not refused.
          const cut = text === null ? null : [...text].slice(0, 4096).join('');
          const sentAt = unixMs(message.timestamp);
          const base = {
            channel: target.channel,
            messageId: id,
            phone,
            to: address,
            name: names.get(address) ?? null,
            ...(sentAt === undefined ? {} : { sentAt }),
          };
          if (owner) messages.push(cut !== null ? { ...base, kind: 'owner', text: cut } : { ...base, kind: 'owner' });
          else messages.push(cut !== null ? { ...base, kind: 'text', text: cut } : { ...base, kind: 'unsupported', what: type });
        });
      }),
    );
    return tally.result(messages, statuses);
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
