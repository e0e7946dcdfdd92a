import type { ChannelConfig } from '../../config.js';
import { bearerToken, secretMatcher } from '../../webhook/auth.js';
import { normalizePhone } from '../../webhook/schema.js';
import type { ChannelAdapter, ChannelMessage, InboundParse } from '../types.js';

type ZapiChannel = Extract<ChannelConfig, { kind: 'zapi' }>;

const str = (value: unknown): string | undefined => (typeof value === 'string' && value !== '' ? value : undefined);
const isObject = (value: unknown): value is Record<string, unknown> => value !== null && typeof value === 'object' && !Array.isArray(value);
const obj = (value: unknown): Record<string, unknown> => (isObject(value) ? value : {});

/** Content objects of a received callback, in the order `what` names them. */
const CONTENT_KEYS = ['audio', 'video', 'image', 'document', 'sticker', 'location', 'contact', 'poll'] as const;

/** The customer's text of a received callback (SPEC §8.1), or null when it has none. */
export function zapiText(callback: Record<string, unknown>): string | null {
  return str(obj(callback.text).message) ?? str(obj(callback.image).caption) ?? str(obj(callback.video).caption) ?? null;
}

/** Why a received callback is not a message of a customer's own chat, or null when it is one. */
function notACustomerMessage(callback: Record<string, unknown>, phone: string | undefined): string | null {
  if (callback.isGroup === true || phone?.endsWith('-group')) return 'group';
  if (callback.isNewsletter === true) return 'newsletter';
  if (callback.broadcast === true) return 'broadcast';
  if (callback.isEdit === true) return 'edit';
  if (callback.reaction !== undefined && callback.reaction !== null) return 'reaction';
  // "Waiting for message": WhatsApp has not delivered the content yet; answering it as
  // unsupported would claim its id before the real content can arrive.
  if (callback.waitingMessage === true) return 'waiting';
  // System notices (a missed call, a membership change…) carry `notification` and no content.
  if (str(callback.notification)) return 'notification';
  return null;
}

/**
 * Z-API "on message received": Z-API cannot sign or add headers, so the token rides in the
 * registered URL (`?token=<auth.token>`; a Bearer header works too), compared in constant time.
 * One callback is one message; other callback types (statuses, presence, delivery) are ignored.
 */
export function createZapiAdapter(name: string, channel: ZapiChannel): ChannelAdapter {
  const matches = secretMatcher(channel.auth.token);

  function parse(body: unknown): InboundParse {
    if (!isObject(body)) return { ok: false, issues: [{ path: '', message: 'body must be a JSON object' }] };
    if (typeof body.type !== 'string') return { ok: false, issues: [{ path: 'type', message: body.type === undefined ? 'is required' : 'must be a string' }] };
    // Z-API writes `ReceivedCallBack`; its English docs write `ReceivedCallback`.
    if (body.type.toLowerCase() !== 'receivedcallback') return { ok: true, messages: [], ignored: 1 };

    const phoneRaw = str(body.phone);
    if (notACustomerMessage(body, phoneRaw)) return { ok: true, messages: [], ignored: 1 };
    const id = str(body.messageId);
    const phone = phoneRaw ? normalizePhone(phoneRaw) : null;
    if (!id || !phoneRaw || !phone || id.length > 256) {
      const reason = !id || !phoneRaw ? 'no messageId or phone' : !phone ? 'phone is not a phone number' : 'messageId is over 256 characters';
      return { ok: true, messages: [], ignored: 1, skipped: [{ path: '', reason }] };
    }
    const text = zapiText(body);
    const fromMe = body.fromMe === true;
    // On a `fromMe` callback senderName is the business's own name, not the customer's.
    const base = { channel: name, messageId: id, phone, to: phoneRaw, name: fromMe ? null : (str(body.senderName) ?? str(body.chatName) ?? null) };
    // A text too long for the bot's contract (4096) is still the customer's: it is cut, not refused.
    const cut = text === null ? null : [...text].slice(0, 4096).join('');
    let message: ChannelMessage;
    if (fromMe) message = cut !== null ? { ...base, kind: 'owner', text: cut } : { ...base, kind: 'owner' };
    else message = cut !== null ? { ...base, kind: 'text', text: cut } : { ...base, kind: 'unsupported', what: CONTENT_KEYS.find((key) => isObject(body[key])) ?? 'unknown' };
    return { ok: true, messages: [message], ignored: 0 };
  }

  return {
    kind: 'zapi',
    authenticate(req) {
      const presented = req.query.get('token') ?? bearerToken(req.headers);
      return presented !== null && matches(presented);
    },
    parse,
  };
}
