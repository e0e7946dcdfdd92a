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

/**
 * A business-scoped user ID (SPEC §11): an ISO country code, a dot, alphanumerics
 * (`BR.1502576394655843`; a parent BSUID has one more part, `US.ENT.1181…`). Anything else in
 * those fields is not an address the Graph API would take back as `recipient`.
 */
const BSUID = /^[A-Z]{2}(\.[A-Za-z0-9]{1,128}){1,2}$/;
const bsuidOf = (value: unknown): string | undefined => {
  const text = str(value);
  return text !== undefined && BSUID.test(text) ? text : undefined;
};

/** One `contacts[]` item: the user's phone (`wa_id`, absent for a user whose phone Meta does not share), BSUID and profile name. */
interface Contact {
  waId?: string;
  userId?: string;
  name?: string;
}

function readContacts(contacts: unknown[]): Contact[] {
  return contacts.map((item) => {
    const entry = obj(item);
    return { waId: str(entry.wa_id), userId: bsuidOf(entry.user_id), name: str(obj(entry.profile).name) };
  });
}

/** Whom a message or echo item is about, or why it cannot be read. */
type Customer = Pick<ChannelMessage, 'phone' | 'bsuid' | 'to' | 'toKind' | 'name'> | { why: string };

/**
 * The customer of an item (SPEC §11): `address` is `from` (a customer's message) or `to` (an
 * echo) — a phone, answered at it as given; `userId` is `from_user_id` / `to_user_id`. Without
 * a phone, the customer is the BSUID (of `userId`, else of the change's only contact), answered
 * with `recipient`. `contacts` name the customer (messages only: echoes carry none).
 */
function customerOf(address: string | undefined, userId: unknown, contacts: readonly Contact[], field: 'from' | 'to'): Customer {
  if (address !== undefined) {
    const phone = normalizePhone(address);
    if (!phone) return { why: `${field} is not a phone number` };
    const contact = contacts.find((c) => c.waId === address);
    const bsuid = contact?.userId ?? bsuidOf(userId);
    return { phone, ...(bsuid ? { bsuid } : {}), to: address, name: contact?.name ?? null };
  }
  const only = contacts.length === 1 ? contacts[0] : undefined;
  const bsuid = bsuidOf(userId) ?? only?.userId;
  if (!bsuid) return { why: `no ${field} nor ${field}_user_id` };
  const contact = contacts.find((c) => c.userId === bsuid);
  return { phone: null, bsuid, to: bsuid, toKind: 'bsuid', name: contact?.name ?? null };
}

/** Where a change's items go: a channel, or why none (SPEC §8.4 "one tenant cannot speak for another"). */
type Route = { channel: string } | { reason: 'unknown_number' | 'foreign_number'; why: string };

/**
 * One `statuses[]` item → a {@link StatusReport}, or null for one the service cannot use (an
 * unknown status, no id, no recipient, no time): those are not failures of ours to record.
 * The recipient is `recipient_id` (a send to a phone) and/or `recipient_user_id` (a send to a
 * BSUID); sent, delivered and read statuses also list the user in `contacts[]`.
 */
function statusReport(item: unknown, channel: string, contacts: readonly Contact[]): StatusReport | null {
  const status = obj(item);
  const sentId = str(status.id);
  const recipient = str(status.recipient_id);
  const bsuid = bsuidOf(status.recipient_user_id) ?? contacts.find((c) => recipient !== undefined && c.waId === recipient)?.userId;
  const waId = recipient ?? contacts.find((c) => bsuid !== undefined && c.userId === bsuid)?.waId;
  const phone = waId ? normalizePhone(waId) : null;
  const at = unixMs(status.timestamp);
  if (!sentId || (!phone && !bsuid) || at === undefined || !isStatus(status.status)) return null;
  const report: StatusReport = { channel, phone, ...(bsuid ? { bsuid } : {}), sentId, status: status.status, at };
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
 * A customer is their phone (`from` / `to`) with its business-scoped user ID when Meta gives
 * one, or only that BSUID when Meta does not share the phone (SPEC §11).
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
        const contacts = readContacts(value.contacts ?? []);
        // A status of a number this channel may not speak for is dropped like the message would be.
        if ('channel' in target) {
          for (const item of value.statuses ?? []) {
            const report = statusReport(item, target.channel, contacts);
            if (report) statuses.push(report);
          }
        }
        // Customers' messages, or what the business sent from the WhatsApp Business app; other fields are not messages.
        const owner = change.field === 'smb_message_echoes';
        const items = owner ? value.message_echoes : change.field === 'messages' ? value.messages : undefined;
        if (!items) return;
        items.forEach((item, m) => {
          const path = `entry.${e}.changes.${c}.value.${owner ? 'message_echoes' : 'messages'}.${m}`;
          if (!('channel' in target)) return tally.item(path, target.reason, target.why);
          const message = obj(item);
          const type = str(message.type) ?? 'unknown';
          const ignoredAs = Object.hasOwn(IGNORED_TYPES, type) ? IGNORED_TYPES[type] : undefined;
          if (ignoredAs) return tally.item(path, ignoredAs);
          const id = str(message.id);
          if (!id) return tally.item(path, 'unreadable', 'no id');
          if (id.length > 256) return tally.item(path, 'unreadable', 'id is over 256 characters');
          // A customer's message comes `from` them; an echo of the business's own goes `to` them.
          const customer = owner
            ? customerOf(str(message.to), message.to_user_id, [], 'to')
            : customerOf(str(message.from), message.from_user_id, contacts, 'from');
          if ('why' in customer) return tally.item(path, 'unreadable', customer.why);
          const text = whatsappText(message);
          // A text too long for the bot's contract (4096) is still the customer's: it is cut, not refused.
          const cut = text === null ? null : [...text].slice(0, 4096).join('');
          const sentAt = unixMs(message.timestamp);
          const base = { channel: target.channel, messageId: id, ...customer, ...(sentAt === undefined ? {} : { sentAt }) };
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
