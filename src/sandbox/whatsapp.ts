import { createHmac, randomBytes } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { codePointLength } from '../text.js';
import { ChannelEmulator, postAndRecord, postRaw, unixSeconds, type PostAnswer, type WebhookResult } from './channel-support.js';
import type { Fault, RouteResult } from './emulator.js';

/** One message the emulator accepted. */
export interface WhatsappSent {
  id: string;
  phoneNumberId: string;
  version: string;
  /** Whom it went to: the phone in the request's `to`, else the business-scoped user ID in its `recipient`. */
  to: string;
  /** The request's `recipient` (a business-scoped user ID), when it had one; `to` wins when both are given, as at Meta. */
  recipient?: string;
  /** The text sent; '' for a template. */
  text: string;
  /** A template message (`type: "template"`): its name and language code. */
  template?: { name: string; language: string };
  at: number;
}

export interface WhatsappEmulatorOptions {
  /** The Graph API bearer token; undefined accepts any. */
  accessToken?: string;
  /** Where status webhooks and WhatsApp Business app echoes go (the product's `/webhooks/{channel}`). */
  webhookUrl?: string;
  /** Signs status and echo webhooks (`X-Hub-Signature-256`); unsigned when undefined. */
  appSecret?: string;
  /** The number {@link WhatsappEmulator.appSend} answers from when no send told it one. */
  phoneNumberId?: string;
  /** POST a `sent` status webhook after every accepted message (default false). */
  statusWebhooks?: boolean;
}

export type MetaStatusValue = 'sent' | 'delivered' | 'read' | 'failed';

/**
 * A WhatsApp user as the builders take them: their phone (digits, as `from` / `to` /
 * `recipient_id` / `wa_id`), or `{ phone?, userId? }` — a business-scoped user ID (`user_id`,
 * `from_user_id`, `to_user_id`, `recipient_user_id`) with the phone, or without it for a user
 * whose phone Meta does not share (developers.facebook.com/documentation/business-messaging/whatsapp/business-scoped-user-ids).
 */
export type MetaUser = string | { phone?: string; userId?: string };

/** A business-scoped user ID: an ISO country code, a dot, alphanumerics (`BR.1502576394655843`, a parent BSUID `US.ENT.1181…`). */
const BSUID = /^[A-Z]{2}(\.[A-Za-z0-9]{1,128}){1,2}$/;

function userOf(user: MetaUser): { phone?: string; userId?: string } {
  const parts = typeof user === 'string' ? { phone: user } : user;
  if (parts.phone === undefined && parts.userId === undefined) throw new Error('whatsapp emulator: a user needs a phone or a userId');
  return parts;
}

/** One item of `value.messages[]` as Meta delivers it; the type-specific object is named after `type`. */
export interface MetaInboundMessage {
  /** The user's phone; absent when Meta does not share it (a user with a username). */
  from?: string;
  /** The user's business-scoped user ID. */
  from_user_id?: string;
  id: string;
  /** Unix seconds, as a string. */
  timestamp: string;
  type: string;
  context?: { from: string; id: string };
  [field: string]: unknown;
}

/** One item of `errors[]` of a `failed` status, as Meta sends it. */
export interface MetaStatusError {
  code: number;
  title: string;
  message: string;
  error_data: { details: string };
}

export interface MetaStatus {
  id: string;
  status: MetaStatusValue;
  timestamp: string;
  /** The phone the message was sent to (`to`); absent for a send to a BSUID. */
  recipient_id?: string;
  /** The BSUID the message was sent to (`recipient`). */
  recipient_user_id?: string;
  errors?: MetaStatusError[];
}

/**
 * One item of `value.message_echoes[]` (`field: "smb_message_echoes"`): a message the business
 * sent from the WhatsApp Business app, `from` its display number `to` the customer
 * (developers.facebook.com/documentation/business-messaging/whatsapp/webhooks/reference/smb_message_echoes).
 */
export interface MetaEcho extends MetaInboundMessage {
  /** The customer's phone; absent when Meta does not share it. */
  to?: string;
  /** The customer's business-scoped user ID. */
  to_user_id?: string;
}

export interface MetaEchoEnvelopeOptions {
  phoneNumberId: string;
  displayPhoneNumber?: string;
  wabaId?: string;
  echoes: MetaEcho[];
}

export interface MetaEnvelopeOptions {
  phoneNumberId: string;
  displayPhoneNumber?: string;
  wabaId?: string;
  messages?: MetaInboundMessage[];
  /**
   * Default: one contact per distinct sender of `messages` (`wa_id` = `from`, `user_id` =
   * `from_user_id`, each when the message has it), named `Cliente <last 4 characters>`. Given
   * with statuses only, they are the `contacts[]` Meta lists next to sent, delivered and read statuses.
   */
  contacts?: { wa_id?: string; user_id?: string; name: string }[];
  statuses?: MetaStatus[];
}

/** What the emulator's business number looks like when a builder needs one (button context). */
export const META_DEFAULT_DISPLAY_PHONE = '15550001234';
export const META_DEFAULT_WABA_ID = '102290129340398';

const DEFAULT_MESSAGES: Record<number, { message: string; details: string }> = {
  4: { message: '(#4) Application request limit reached', details: 'The app has reached its API call rate limit.' },
  100: { message: '(#100) Invalid parameter', details: 'A parameter is invalid.' },
  190: { message: 'Invalid OAuth access token - Cannot parse access token', details: 'The access token is invalid or expired.' },
  80007: { message: '(#80007) Rate limit issues', details: 'The WhatsApp Business Account has reached its rate limit.' },
  130429: { message: '(#130429) Rate limit hit', details: 'Cloud API message throughput has been reached.' },
  131000: { message: '(#131000) Something went wrong', details: 'Message failed to send due to an unknown error.' },
  131026: { message: '(#131026) Message undeliverable', details: 'Message could not be delivered to the recipient.' },
  131047: {
    message: '(#131047) Re-engagement message',
    details: 'Message failed to send because more than 24 hours have passed since the customer last replied to this number.',
  },
  131048: { message: '(#131048) Spam rate limit hit', details: 'Message failed to send because there are restrictions on how many messages can be sent from this phone number.' },
  131056: {
    message: '(#131056) (Business Account, Consumer Account) pair rate limit hit',
    details: 'Message failed to send because there were too many messages sent from this phone number to the same phone number in a short period of time.',
  },
};

/** `errors[]` of a failed status for `code`: the title is the error's name without Meta's `(#code) ` prefix. */
function statusError(code: number): MetaStatusError {
  const known = DEFAULT_MESSAGES[code];
  const title = (known?.message ?? 'Error').replace(/^\(#\d+\) /, '');
  return { code, title, message: title, error_data: { details: known?.details ?? 'Error.' } };
}

const fbtraceId = () => randomBytes(8).toString('base64').replace(/[^A-Za-z0-9]/g, 'x');

/** A `wamid.…` id (base64-looking, like Meta's; unique per call). */
export function wamid(): string {
  return `wamid.HBgM${randomBytes(30).toString('base64').replace(/[^A-Za-z0-9]/g, 'A')}`;
}

const nowSeconds = () => String(unixSeconds());
const mediaId = () => String(1_000_000_000_000_000n + BigInt(`0x${randomBytes(6).toString('hex')}`));
const sha256 = () => randomBytes(32).toString('base64');

function errorBody(code: number, message: string, details: string | undefined): unknown {
  const error: Record<string, unknown> = { message, type: 'OAuthException', code };
  if (details !== undefined) error.error_data = { messaging_product: 'whatsapp', details };
  error.fbtrace_id = fbtraceId();
  return { error };
}

/**
 * A {@link Fault} answering Meta's error body for `code` with `status` — e.g. `metaError(131056)`
 * (pair rate limit), `metaError(131047)` (outside the 24 h window), `metaError(4, undefined, 429)`.
 * Meta says to branch on `code`, not on the HTTP status, so the status is the caller's choice.
 */
export function metaError(code: number, message?: string, status = 400): Fault {
  const known = DEFAULT_MESSAGES[code];
  return { status, body: errorBody(code, message ?? known?.message ?? `(#${code}) Error`, known?.details ?? 'Error.') };
}

/** `sha256=<hex>` for `X-Hub-Signature-256`: the HMAC-SHA256 of the raw body keyed with the App Secret. */
export function metaSignature(appSecret: string, rawBody: string | Buffer): string {
  return `sha256=${createHmac('sha256', appSecret).update(rawBody).digest('hex')}`;
}

/**
 * JSON as Meta puts it on the wire: non-ASCII characters and `/` escaped (`\u00e9`, `\/`).
 * The signature covers these bytes, so a receiver that re-serializes the parsed body
 * computes a different HMAC — which is what a test of raw-body verification needs.
 */
export function metaJson(payload: unknown): string {
  return JSON.stringify(payload)
    .replace(/[\u007f-\uffff]/g, (char) => `\\u${char.charCodeAt(0).toString(16).padStart(4, '0')}`)
    .replace(/\//g, '\\/');
}

/** A `whatsapp_business_account` delivery; `messages` / `contacts` / `statuses` keys are left out when empty, as Meta does. */
export function metaEnvelope(options: MetaEnvelopeOptions): unknown {
  const messages = options.messages ?? [];
  const contacts = options.contacts ?? defaultContacts(messages);
  const value: Record<string, unknown> = {
    messaging_product: 'whatsapp',
    metadata: { display_phone_number: options.displayPhoneNumber ?? META_DEFAULT_DISPLAY_PHONE, phone_number_id: options.phoneNumberId },
  };
  if ((messages.length > 0 || options.contacts) && contacts.length > 0) {
    value.contacts = contacts.map((c) => ({
      profile: { name: c.name },
      ...(c.wa_id === undefined ? {} : { wa_id: c.wa_id }),
      ...(c.user_id === undefined ? {} : { user_id: c.user_id }),
    }));
  }
  if (messages.length > 0) value.messages = messages;
  if (options.statuses && options.statuses.length > 0) value.statuses = options.statuses;
  return {
    object: 'whatsapp_business_account',
    entry: [{ id: options.wabaId ?? META_DEFAULT_WABA_ID, changes: [{ field: 'messages', value }] }],
  };
}

/** One contact per distinct sender, as Meta lists them next to the messages. */
function defaultContacts(messages: MetaInboundMessage[]): { wa_id?: string; user_id?: string; name: string }[] {
  const senders = new Map<string, { wa_id?: string; user_id?: string; name: string }>();
  for (const { from, from_user_id: userId } of messages) {
    const key = from ?? userId;
    if (key === undefined || senders.has(key)) continue;
    senders.set(key, { ...(from === undefined ? {} : { wa_id: from }), ...(userId === undefined ? {} : { user_id: userId }), name: `Cliente ${key.slice(-4)}` });
  }
  return [...senders.values()];
}

/** `from` and / or `from_user_id` of a user's message. */
function senderFields(user: MetaUser): Pick<MetaInboundMessage, 'from' | 'from_user_id'> {
  const { phone, userId } = userOf(user);
  return { ...(phone === undefined ? {} : { from: phone }), ...(userId === undefined ? {} : { from_user_id: userId }) };
}

/**
 * Every message builder takes the sender as a {@link MetaUser}: a phone (`from`), or
 * `{ phone, userId }` (`from` and `from_user_id`, a customer whose BSUID Meta gives next to the
 * phone), or `{ userId }` alone (no `from`: a customer whose phone Meta does not share).
 */
const base = (from: MetaUser, type: string, id?: string): MetaInboundMessage => ({ ...senderFields(from), id: id ?? wamid(), timestamp: nowSeconds(), type });
/** A reply to something the business sent carries `context` (the business number and that message's id). */
const context = () => ({ from: META_DEFAULT_DISPLAY_PHONE, id: wamid() });
const withCaption = <T extends Record<string, unknown>>(media: T, caption: string | undefined) =>
  caption === undefined ? media : { caption, ...media };

export function metaText(from: MetaUser, body: string, id?: string): MetaInboundMessage {
  return { ...base(from, 'text', id), text: { body } };
}

/** Tap on a reply button of an interactive message. */
export function metaButtonReply(from: MetaUser, title: string, id?: string): MetaInboundMessage {
  return { ...base(from, 'interactive', id), context: context(), interactive: { type: 'button_reply', button_reply: { id: `btn-${randomBytes(3).toString('hex')}`, title } } };
}

/** Choice in a list message. */
export function metaListReply(from: MetaUser, title: string, id?: string): MetaInboundMessage {
  return {
    ...base(from, 'interactive', id),
    context: context(),
    interactive: { type: 'list_reply', list_reply: { id: `row-${randomBytes(3).toString('hex')}`, title, description: '' } },
  };
}

/** Tap on a template's quick-reply button (`type: "button"`). */
export function metaButton(from: MetaUser, text: string, id?: string): MetaInboundMessage {
  return { ...base(from, 'button', id), context: context(), button: { text, payload: text } };
}

export function metaImage(from: MetaUser, caption?: string, id?: string): MetaInboundMessage {
  return { ...base(from, 'image', id), image: withCaption({ mime_type: 'image/jpeg', sha256: sha256(), id: mediaId() }, caption) };
}

export function metaVideo(from: MetaUser, caption?: string, id?: string): MetaInboundMessage {
  return { ...base(from, 'video', id), video: withCaption({ mime_type: 'video/mp4', sha256: sha256(), id: mediaId() }, caption) };
}

export function metaDocument(from: MetaUser, caption?: string, filename = 'documento.pdf', id?: string): MetaInboundMessage {
  return { ...base(from, 'document', id), document: withCaption({ filename, mime_type: 'application/pdf', sha256: sha256(), id: mediaId() }, caption) };
}

/** A voice note. */
export function metaAudio(from: MetaUser, id?: string): MetaInboundMessage {
  const media = mediaId();
  return {
    ...base(from, 'audio', id),
    audio: { mime_type: 'audio/ogg; codecs=opus', sha256: sha256(), id: media, url: `https://lookaside.fbsbx.com/whatsapp_business/attachments/?mid=${media}`, voice: true },
  };
}

export function metaSticker(from: MetaUser, id?: string): MetaInboundMessage {
  return { ...base(from, 'sticker', id), sticker: { mime_type: 'image/webp', sha256: sha256(), id: mediaId(), animated: false } };
}

export function metaLocation(from: MetaUser, id?: string): MetaInboundMessage {
  return { ...base(from, 'location', id), location: { latitude: -23.561414, longitude: -46.655881, name: 'Av. Paulista', address: 'Av. Paulista, São Paulo' } };
}

/** A reaction to `messageId` (an empty `emoji` removes it, as on WhatsApp). */
export function metaReaction(from: MetaUser, emoji: string, messageId: string): MetaInboundMessage {
  return { ...base(from, 'reaction'), reaction: { message_id: messageId, emoji } };
}

/** An edit of an earlier message (Coexistence numbers): `edit.message` is the new content. */
export function metaEdit(from: MetaUser, originalId: string, newText: string, id?: string): MetaInboundMessage {
  return { ...base(from, 'edit', id), edit: { original_message_id: originalId, message: { type: 'text', text: { body: newText } } } };
}

/** A deletion of an earlier message (Coexistence numbers). */
export function metaRevoke(from: MetaUser, originalId: string, id?: string): MetaInboundMessage {
  return { ...base(from, 'revoke', id), revoke: { original_message_id: originalId } };
}

/**
 * A status notification about the message sent to `recipient`: a phone (`recipient_id`), or
 * `{ userId }` for a send to a BSUID (`recipient_user_id`, no `recipient_id`); `failed` carries
 * Meta's `errors[]` for `code` (default 131026, undeliverable; e.g. 131047 for a message
 * outside the 24-hour window).
 */
export function metaStatus(id: string, recipient: MetaUser, status: MetaStatusValue, code = 131026): MetaStatus {
  const { phone, userId } = userOf(recipient);
  const result: MetaStatus = {
    id,
    status,
    timestamp: nowSeconds(),
    ...(phone === undefined ? {} : { recipient_id: phone }),
    ...(userId === undefined ? {} : { recipient_user_id: userId }),
  };
  if (status === 'failed') result.errors = [statusError(code)];
  return result;
}

/** A text the business sent from the WhatsApp Business app to `to` (a phone, or `{ phone?, userId }`), as an echo item. */
export function metaEcho(to: MetaUser, text: string, id?: string): MetaEcho {
  return metaEchoOf(to, metaText(META_DEFAULT_DISPLAY_PHONE, text, id));
}

/**
 * Any message builder's item (an image, {@link metaEdit}, {@link metaRevoke}, {@link metaReaction}…)
 * as the echo of the business sending it from the app: `from` the business number, `to` the
 * customer's phone and / or `to_user_id` their business-scoped user ID.
 */
export function metaEchoOf(to: MetaUser, message: MetaInboundMessage, from = META_DEFAULT_DISPLAY_PHONE): MetaEcho {
  const { from: _customer, from_user_id: _customerId, ...content } = message;
  const { phone, userId } = userOf(to);
  return { from, ...(phone === undefined ? {} : { to: phone }), ...(userId === undefined ? {} : { to_user_id: userId }), ...content };
}

/** A `smb_message_echoes` delivery (SPEC §9.3): what the business sent from the WhatsApp Business app. */
export function metaEchoEnvelope(options: MetaEchoEnvelopeOptions): unknown {
  const value = {
    messaging_product: 'whatsapp',
    metadata: { display_phone_number: options.displayPhoneNumber ?? META_DEFAULT_DISPLAY_PHONE, phone_number_id: options.phoneNumberId },
    message_echoes: options.echoes,
  };
  return { object: 'whatsapp_business_account', entry: [{ id: options.wabaId ?? META_DEFAULT_WABA_ID, changes: [{ field: 'smb_message_echoes', value }] }] };
}

/**
 * POSTs a delivery as Meta does: `content-type: application/json` and `x-hub-signature-256`
 * over the exact bytes sent. A string payload is sent as is (to test odd bytes); anything
 * else is serialized with {@link metaJson}.
 */
export function deliverMetaWebhook(url: string, payload: unknown, appSecret: string, extraHeaders: Record<string, string> = {}): Promise<PostAnswer> {
  const raw = typeof payload === 'string' ? payload : metaJson(payload);
  return postRaw(url, raw, { 'x-hub-signature-256': metaSignature(appSecret, raw), ...extraHeaders });
}

/** The subscription check Meta sends: `GET <base>?hub.mode=subscribe&hub.verify_token=…&hub.challenge=…`. */
export function verifyChallengeUrl(base: string, verifyToken: string, challenge: string | number): string {
  const url = new URL(base);
  url.searchParams.set('hub.mode', 'subscribe');
  url.searchParams.set('hub.verify_token', verifyToken);
  url.searchParams.set('hub.challenge', String(challenge));
  return url.toString();
}

const TEXT_MAX = 4096;
/** Meta's customer service window. */
const WINDOW_MS = 24 * 60 * 60 * 1000;

/** Meta's answer for `code` (see {@link metaError}) as a route result. */
function metaErrorResult(code: number): RouteResult {
  const fault = metaError(code);
  return { status: fault.status ?? 400, body: fault.body };
}

/** Whom a send went to, as statuses name them: its phone, or its BSUID when it was sent by `recipient` alone. */
function recipientOf(sent: WhatsappSent): string | { userId: string } {
  return sent.recipient === sent.to ? { userId: sent.to } : sent.to;
}

function invalid(details: string): RouteResult {
  return { status: 400, body: errorBody(100, '(#100) Invalid parameter', details) };
}

/**
 * Meta WhatsApp Cloud API send endpoint, `POST /{version}/{phoneNumberId}/messages`, text
 * messages only, to a phone (`to`) or a business-scoped user ID (`recipient`; `to` wins when
 * both are given, as at Meta): Bearer token, Meta's validation and error bodies (inject others with
 * {@link metaError}). Around it, the webhooks Meta posts: optional `sent` statuses after each
 * send, `failed` statuses on demand ({@link reportStatus}, {@link failLater}), and the echoes
 * of a person answering from the WhatsApp Business app ({@link appSend}), all signed.
 */
export class WhatsappEmulator extends ChannelEmulator<WhatsappSent> {
  statusWebhooks: boolean;
  /** Where status and echo webhooks go; settable, like `statusWebhooks`. */
  webhookUrl: string | undefined;
  private readonly options: WhatsappEmulatorOptions;
  /** Error codes of the next accepted sends that fail after their 200 (see {@link failLater}). */
  private readonly laterFailures: number[] = [];
  /** When each customer (phone or BSUID) last wrote, as told by {@link customerWrote}: the 24-hour window. */
  private readonly lastWrote = new Map<string, number>();

  constructor(options: WhatsappEmulatorOptions = {}) {
    super(
      'whatsapp',
      [
        {
          name: 'messages',
          method: 'POST',
          pattern: '/:version/:phoneNumberId/messages',
          handle: ({ params, body }) => this.send(params.version ?? '', params.phoneNumberId ?? '', body),
        },
      ],
      (headers: IncomingMessage['headers']) => {
        if (options.accessToken === undefined || headers.authorization === `Bearer ${options.accessToken}`) return null;
        return { status: 401, body: errorBody(190, 'Invalid OAuth access token - Cannot parse access token', undefined) };
      },
    );
    this.options = options;
    this.statusWebhooks = options.statusWebhooks ?? false;
    this.webhookUrl = options.webhookUrl;
  }

  /** Outcomes of the status and echo webhooks posted so far. */
  statusDeliveries(): WebhookResult[] {
    return this.webhooks.list();
  }

  waitForStatusDeliveries(count = 1, timeoutMs?: number): Promise<WebhookResult[]> {
    return this.webhooks.waitFor(count, undefined, timeoutMs);
  }

  /**
   * The next accepted send answers 200 as usual, then Meta reports it `failed` with `code`
   * (an asynchronous failure, e.g. 131026 undeliverable or 131047 outside the 24-hour window).
   * Queued: call it twice for the next two sends. Needs `webhookUrl` when the send arrives.
   */
  failLater(code = 131026): this {
    this.laterFailures.push(code);
    return this;
  }

  /**
   * Posts a signed status webhook for a message this emulator accepted (`recipient_id` its
   * phone, or `recipient_user_id` its BSUID for a send by `recipient`); `failed` carries Meta's
   * `errors[]` for `code`. Resolves once it was answered.
   */
  async reportStatus(sentId: string, status: MetaStatusValue, code?: number): Promise<WebhookResult> {
    const sent = this.sends.list().find((s) => s.id === sentId);
    if (!sent) throw new Error(`whatsapp emulator: no accepted send has id ${sentId}`);
    return this.postStatus(this.requireWebhook(), sent.phoneNumberId, metaStatus(sent.id, recipientOf(sent), status, code));
  }

  /**
   * A person answering `to` from the WhatsApp Business app (Coexistence): posts a signed
   * `smb_message_echoes` delivery with a fresh id no send returned, once it was answered;
   * returns the id. `to` is the customer's phone, or `{ phone?, userId }` (the echo carries
   * `to_user_id`; without `phone`, no `to`: a customer whose phone Meta does not share). The
   * number is `phoneNumberId`, else `options.phoneNumberId`, else the last send's.
   */
  async appSend(to: MetaUser, text: string, phoneNumberId?: string): Promise<string> {
    const url = this.requireWebhook();
    const echo = metaEcho(to, text);
    const raw = metaJson(metaEchoEnvelope({ phoneNumberId: phoneNumberId ?? this.options.phoneNumberId ?? this.lastPhoneNumberId(), echoes: [echo] }));
    await postAndRecord(this.webhooks, { kind: 'phone', id: echo.id, url }, raw, this.signature(raw));
    return echo.id;
  }

  /**
   * The customer `from` wrote to the business at `at` (epoch ms; default now): Meta's 24-hour
   * customer service window. Free text to a customer whose last message is older than 24 h
   * is refused like Meta does (400, `(#131047) Re-engagement message`); templates always go.
   * A customer never told of is not checked (the tests that do not care about the window).
   * Tests and the demo call it with the `timestamp` of the messages they deliver.
   */
  customerWrote(from: MetaUser, at: number = Date.now()): this {
    const key = typeof from === 'string' ? from : (from.phone ?? from.userId ?? '');
    this.lastWrote.set(key, Math.max(at, this.lastWrote.get(key) ?? 0));
    return this;
  }

  /** Also forgets sends, webhook outcomes, pending {@link failLater}s and what {@link customerWrote} said, and restores `statusWebhooks` and `webhookUrl`. */
  override reset(): void {
    super.reset();
    this.lastWrote.clear();
    this.statusWebhooks = this.options.statusWebhooks ?? false;
    this.webhookUrl = this.options.webhookUrl;
    this.laterFailures.length = 0;
  }

  /** `POST /__sandbox/customers/<phone or BSUID>/wrote` `{"at"?: epoch ms}`: {@link customerWrote}, for the sandbox CLI. */
  protected override controlAction(method: string, action: string, text: string): RouteResult | undefined {
    const wrote = /^customers\/([^/]+)\/wrote$/.exec(action);
    if (!wrote || method !== 'POST') return undefined;
    let at: unknown;
    try {
      at = text.trim() === '' ? undefined : (JSON.parse(text) as Record<string, unknown>).at;
    } catch {
      return { status: 400, body: { message: 'the body must be JSON: {"at"?: epoch ms}' } };
    }
    if (at !== undefined && (typeof at !== 'number' || !Number.isFinite(at))) return { status: 400, body: { message: 'at must be epoch milliseconds' } };
    const customer = decodeURIComponent(wrote[1] ?? '');
    this.customerWrote(customer, at);
    return { status: 200, body: { customer, lastWrote: this.lastWrote.get(customer) } };
  }

  override state(): unknown {
    return { sent: this.sent(), statusDeliveries: this.statusDeliveries(), statusWebhooks: this.statusWebhooks };
  }

  private requireWebhook(): string {
    if (!this.webhookUrl) throw new Error('whatsapp emulator: no webhookUrl configured');
    return this.webhookUrl;
  }

  private lastPhoneNumberId(): string {
    const last = this.sends.list().at(-1);
    if (!last) throw new Error('whatsapp emulator: no phoneNumberId (give one, or set options.phoneNumberId)');
    return last.phoneNumberId;
  }

  private signature(raw: string): Record<string, string> {
    return this.options.appSecret === undefined ? {} : { 'x-hub-signature-256': metaSignature(this.options.appSecret, raw) };
  }

  private send(version: string, phoneNumberId: string, body: unknown): RouteResult {
    if (body === null || typeof body !== 'object' || Array.isArray(body)) return invalid('The request body must be a JSON object.');
    const input = body as Record<string, unknown>;
    if (input.messaging_product !== 'whatsapp') return invalid('messaging_product must be "whatsapp".');
    if (input.recipient_type !== undefined && input.recipient_type !== 'individual') return invalid('recipient_type must be "individual".');
    // A phone in `to`, or a business-scoped user ID in `recipient`; with both, Meta sends to `to`.
    const { to, recipient } = input;
    if (to !== undefined && (typeof to !== 'string' || to === '')) return invalid('Param to must be a non-empty string.');
    if (recipient !== undefined && (typeof recipient !== 'string' || !BSUID.test(recipient))) return invalid('Param recipient must be a business-scoped user ID.');
    const addressee = typeof to === 'string' ? to : recipient;
    if (addressee === undefined) return invalid('The parameter to (or recipient) is required.');
    // Meta defaults an absent `type` to text; text and template are emulated.
    let textBody = '';
    let template: WhatsappSent['template'];
    if (input.type === 'template') {
      const given = input.template;
      if (given === null || typeof given !== 'object' || Array.isArray(given)) return invalid('The parameter template is required.');
      const { name, language } = given as Record<string, unknown>;
      if (typeof name !== 'string' || name === '') return invalid("The parameter template['name'] is required.");
      const code = language !== null && typeof language === 'object' ? (language as Record<string, unknown>).code : undefined;
      if (typeof code !== 'string' || code === '') return invalid("The parameter template['language']['code'] is required.");
      template = { name, language: code };
    } else {
      if (input.type !== undefined && input.type !== 'text') return invalid(`Message type ${JSON.stringify(input.type)} is not supported by the emulator (text and template only).`);
      const text = input.text;
      if (text === null || typeof text !== 'object' || Array.isArray(text)) return invalid('The parameter text is required.');
      const { body: given, preview_url: previewUrl } = text as Record<string, unknown>;
      if (typeof given !== 'string' || codePointLength(given) === 0) return invalid("The parameter text['body'] is required.");
      if (codePointLength(given) > TEXT_MAX) return invalid(`Param text['body'] must be at most ${TEXT_MAX} characters long.`);
      if (previewUrl !== undefined && typeof previewUrl !== 'boolean') return invalid("Param text['preview_url'] must be a boolean.");
      // The customer service window: free text only within 24 h of the customer's last message.
      const wrote = this.lastWrote.get(addressee);
      if (wrote !== undefined && Date.now() - wrote >= WINDOW_MS) return metaErrorResult(131047);
      textBody = given;
    }

    const id = wamid();
    const sent: WhatsappSent = { id, phoneNumberId, version, to: addressee, ...(typeof recipient === 'string' ? { recipient } : {}), text: textBody, ...(template ? { template } : {}), at: Date.now() };
    this.sends.push(sent);
    const user = recipientOf(sent);
    const webhookUrl = this.webhookUrl;
    const failCode = webhookUrl ? this.laterFailures.shift() : undefined;
    // After the answer is written, like Meta's asynchronous notifications.
    if (webhookUrl && failCode !== undefined) setImmediate(() => void this.postStatus(webhookUrl, phoneNumberId, metaStatus(id, user, 'failed', failCode)));
    else if (webhookUrl && this.statusWebhooks) setImmediate(() => void this.postStatus(webhookUrl, phoneNumberId, metaStatus(id, user, 'sent')));
    // `contacts[]` names the address used: `wa_id` for a phone, `user_id` for a BSUID.
    const contact = typeof user === 'string' ? { input: user, wa_id: user } : { input: user.userId, user_id: user.userId };
    return { status: 200, body: { messaging_product: 'whatsapp', contacts: [contact], messages: [{ id }] } };
  }

  private postStatus(url: string, phoneNumberId: string, status: MetaStatus): Promise<WebhookResult> {
    const raw = metaJson(metaEnvelope({ phoneNumberId, statuses: [status] }));
    return postAndRecord(this.webhooks, { kind: 'status', id: status.id, url }, raw, this.signature(raw));
  }
}
