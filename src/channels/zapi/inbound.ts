import type { ZapiChannel } from './config.js';
import { bearerToken, secretMatcher } from '../../webhook/auth.js';
import { normalizePhone } from '../../webhook/schema.js';
import { createTally, isObject, obj, str } from '../reading.js';
import type { ChannelAdapter, ChannelMessage, IgnoreReason, InboundParse } from '../types.js';


/** Content objects of a received callback, in the order `what` names them: what a person (customer or business) sent. */
const CONTENT_KEYS = ['audio', 'video', 'image', 'document', 'sticker', 'location', 'contact', 'poll'] as const;

/** Where the text is, in order: a text, a caption, the button or list row chosen (developer.z-api.io/en/webhooks/on-message-received). */
const TEXT_PATHS: readonly (readonly [string, string])[] = [
  ['text', 'message'],
  ['image', 'caption'],
  ['video', 'caption'],
  ['document', 'caption'],
  ['buttonsResponseMessage', 'message'],
  ['listResponseMessage', 'message'],
  ['listResponseMessage', 'title'],
];

/** The customer's text of a received callback (SPEC §8.1), or null when it has none. */
export function zapiText(callback: Record<string, unknown>): string | null {
  for (const [content, field] of TEXT_PATHS) {
    const text = str(obj(callback[content])[field]);
    if (text) return text;
  }
  return null;
}

/** Why a received callback is not a message of a customer's own chat nor a person answering, or null when it may be one. */
function ignoredCallback(callback: Record<string, unknown>, phone: string | undefined): IgnoreReason | null {
  if (callback.isGroup === true || callback.isNewsletter === true || callback.broadcast === true) return 'group';
  if (phone && /-(group|broadcast)$|@newsletter$/.test(phone)) return 'group';
  if (callback.isEdit === true) return 'edit';
  if (callback.reaction !== undefined && callback.reaction !== null) return 'reaction';
  if (callback.pinMessage !== undefined && callback.pinMessage !== null) return 'pin';
  // "Waiting for message": WhatsApp has not delivered the content yet; answering it as
  // unsupported would claim its id before the real content can arrive.
  if (callback.waitingMessage === true) return 'system';
  // Calls, group and profile notices… carry `notification` and no content.
  if (str(callback.notification)) return 'system';
  return null;
}

/** `<digits>@lid` (or bare digits, as some callbacks give `chatLid`) → the LID's digits. */
function lidOf(value: unknown): string | undefined {
  return /^(\d+)(@lid)?$/.exec(str(value) ?? '')?.[1];
}

/**
 * The customer's addresses (SPEC §11): `phone` is a number (answered at it as given) or a
 * WhatsApp LID `<digits>@lid` (a customer known only by it, answered at it as given). Next to
 * a number, `chatLid` — the chat's LID — carries the customer's LID; `senderLid` too, but only
 * on the customer's own messages: on a `fromMe` callback the sender is the business.
 */
function addressOf(callback: Record<string, unknown>, phoneRaw: string, fromMe: boolean): Pick<ChannelMessage, 'phone' | 'lid' | 'to' | 'toKind'> | { why: string } {
  if (phoneRaw.endsWith('@lid')) {
    const lid = /^(\d+)@lid$/.exec(phoneRaw)?.[1];
    return lid ? { phone: null, lid, to: phoneRaw, toKind: 'lid' } : { why: 'phone is a WhatsApp LID (…@lid) without digits' };
  }
  const phone = normalizePhone(phoneRaw);
  if (!phone) return { why: 'phone is not a phone number' };
  const lid = lidOf(callback.chatLid) ?? (fromMe ? undefined : lidOf(callback.senderLid));
  return { phone, ...(lid === undefined ? {} : { lid }), to: phoneRaw };
}

/** One ignored callback as the answer of {@link ChannelAdapter.parse}; warn-level reasons are also listed in `skipped`. */
function ignoredAs(reason: IgnoreReason, why: string = reason): InboundParse {
  const tally = createTally();
  tally.item('', reason, why);
  return tally.result([]);
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
    // Z-API writes `ReceivedCallBack`; its English docs write `ReceivedCallback`. Other types are not messages (no reason).
    if (body.type.toLowerCase() !== 'receivedcallback') return { ok: true, messages: [], ignored: 1, skipped: [], ignoredBy: {} };

    const phoneRaw = str(body.phone);
    const reason = ignoredCallback(body, phoneRaw);
    if (reason) return ignoredAs(reason);
    const id = str(body.messageId);
    if (!id || !phoneRaw || id.length > 256) return ignoredAs('unreadable', !id || !phoneRaw ? 'no messageId or phone' : 'messageId is over 256 characters');
    const fromMe = body.fromMe === true;
    const address = addressOf(body, phoneRaw, fromMe);
    if ('why' in address) return ignoredAs('unknown_address', address.why);

    const text = zapiText(body);
    const what = CONTENT_KEYS.find((key) => isObject(body[key]));
    // A `fromMe` callback with neither text nor content (a carousel or template sent by the API, an
    // event…) is no person answering: taking the conversation over for it would be a false alarm.
    if (fromMe && text === null && what === undefined) return ignoredAs('system');
    const sentAt = typeof body.momment === 'number' && Number.isFinite(body.momment) && body.momment > 0 ? body.momment : undefined;
    // On a `fromMe` callback senderName is the business's own name, not the customer's.
    const base = {
      channel: name,
      messageId: id,
      ...address,
      name: fromMe ? null : (str(body.senderName) ?? str(body.chatName) ?? null),
      ...(sentAt === undefined ? {} : { sentAt }),
    };
    // A text too long for the bot's contract (4096) is still the customer's: it is cut, not refused.
    const cut = text === null ? null : [...text].slice(0, 4096).join('');
    let message: ChannelMessage;
    if (fromMe) {
      // Z-API marks what was sent through its API: an echo of ours (or another integration's), not a person.
      const owner = body.fromApi === true ? { ...base, kind: 'owner' as const, sentByApi: true } : { ...base, kind: 'owner' as const };
      message = cut !== null ? { ...owner, text: cut } : owner;
    } else message = cut !== null ? { ...base, kind: 'text', text: cut } : { ...base, kind: 'unsupported', what: what ?? 'unknown' };
    return { ok: true, messages: [message], ignored: 0, skipped: [], ignoredBy: {} };
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
