import type { ChannelConfig } from '../../config.js';
import { createAuthenticator } from '../../webhook/auth.js';
import { normalizePhone } from '../../webhook/schema.js';
import type { ChannelAdapter, ChannelMessage, InboundParse, ValidationIssue } from '../types.js';

type EvolutionChannel = Extract<ChannelConfig, { kind: 'evolution' }>;

const str = (value: unknown): string | undefined => (typeof value === 'string' && value !== '' ? value : undefined);
const isObject = (value: unknown): value is Record<string, unknown> => value !== null && typeof value === 'object' && !Array.isArray(value);
const obj = (value: unknown): Record<string, unknown> => (isObject(value) ? value : {});

/** `messages.upsert` as v2 names it, and `MESSAGES_UPSERT` as some versions (and the instance settings) spell it. */
const isUpsert = (event: string) => event.toLowerCase().replace(/_/g, '.') === 'messages.upsert';

/** A customer's own chat; groups (`@g.us`), broadcasts and status (`@broadcast`), newsletters and `@lid` JIDs are not. */
const PERSONAL_JID = /^(\d+)@s\.whatsapp\.net$/;
const NOT_A_CUSTOMER_JID = /@(g\.us|broadcast|newsletter|lid)$/;

/** Content keys that are never a message to answer: a reaction, a delete or edit notice, an edit. */
const IGNORED_CONTENT = new Set(['reactionMessage', 'protocolMessage', 'editedMessage']);
/** Keys Evolution and Baileys put next to the content that say nothing about its type. */
const NOT_CONTENT = new Set(['messageContextInfo', 'base64', 'mediaUrl', 'speechToText', 'contextInfo', 'senderKeyDistributionMessage']);

/** The customer's text of a message (SPEC §8.1), or null when it has none. */
export function evolutionText(message: Record<string, unknown>): string | null {
  return (
    str(message.conversation) ??
    // v2.3.6 rewrites extendedTextMessage into `conversation`; older versions deliver it as is.
    str(obj(message.extendedTextMessage).text) ??
    str(obj(message.imageMessage).caption) ??
    str(obj(message.videoMessage).caption) ??
    null
  );
}

/** `data.messageType` when Evolution gives it, else the content's key (`audioMessage`, `stickerMessage`…). */
function messageType(data: Record<string, unknown>, message: Record<string, unknown>): string {
  return str(data.messageType) ?? Object.keys(message).find((key) => !NOT_CONTENT.has(key)) ?? 'unknown';
}

/**
 * Evolution API v2: no signature, so the instance's custom webhook header carries
 * `Authorization: Bearer <auth.token>` (constant time). Only `messages.upsert` of this channel's
 * instance holds messages; `data` is one message or a list of them. A bad item is skipped, not
 * a 400: Evolution would redeliver the whole batch, good items included.
 */
export function createEvolutionAdapter(name: string, channel: EvolutionChannel): ChannelAdapter {
  const authenticate = createAuthenticator({ token: channel.auth.token });
  const instance = channel.evolution.instance;

  function parse(body: unknown): InboundParse {
    if (!isObject(body)) return { ok: false, issues: [{ path: '', message: 'body must be a JSON object' }] };
    const issues: ValidationIssue[] = [];
    if (typeof body.event !== 'string') issues.push({ path: 'event', message: body.event === undefined ? 'is required' : 'must be a string' });
    if (issues.length > 0) return { ok: false, issues };
    const event = body.event as string;
    // Connection, QR code, status updates… are not messages.
    if (!isUpsert(event)) return { ok: true, messages: [], ignored: 1 };
    if (typeof body.instance !== 'string') issues.push({ path: 'instance', message: body.instance === undefined ? 'is required' : 'must be a string' });
    if (!isObject(body.data) && !Array.isArray(body.data)) issues.push({ path: 'data', message: body.data === undefined ? 'is required' : 'must be an object or a list' });
    if (issues.length > 0) return { ok: false, issues };

    const items: { item: unknown; path: string }[] = Array.isArray(body.data) ? body.data.map((item, i) => ({ item, path: `data.${i}` })) : [{ item: body.data, path: 'data' }];
    // Another instance posting to this channel's URL: its customers are not this channel's.
    if (body.instance !== instance) return { ok: true, messages: [], ignored: items.length };

    const messages: ChannelMessage[] = [];
    let ignored = 0;
    const skipped: { path: string; reason: string }[] = [];
    const skip = (path: string, reason: string) => {
      ignored += 1;
      skipped.push({ path, reason });
    };
    for (const { item, path } of items) {
      if (!isObject(item)) {
        skip(path, 'not an object');
        continue;
      }
      const key = obj(item.key);
      const id = str(key.id);
      const remoteJid = str(key.remoteJid);
      if (!id || !remoteJid) {
        skip(path, 'no key.id or key.remoteJid');
        continue;
      }
      if (NOT_A_CUSTOMER_JID.test(remoteJid)) {
        ignored += 1;
        continue;
      }
      const digits = PERSONAL_JID.exec(remoteJid)?.[1];
      const phone = digits ? normalizePhone(digits) : null;
      if (!digits || !phone || id.length > 256) {
        skip(path, !digits || !phone ? 'key.remoteJid is not <phone>@s.whatsapp.net' : 'key.id is over 256 characters');
        continue;
      }
      // A message with no content is a Baileys stub (a call, an encryption notice…), not something the customer wrote.
      if (!isObject(item.message)) {
        ignored += 1;
        continue;
      }
      const message = item.message;
      const type = messageType(item, message);
      if (IGNORED_CONTENT.has(type) || Object.keys(message).some((k) => IGNORED_CONTENT.has(k))) {
        ignored += 1;
        continue;
      }
      const text = evolutionText(message);
      const fromMe = key.fromMe === true;
      // On a `fromMe` message pushName is the business's own name, not the customer's.
      const base = { channel: name, messageId: id, phone, to: digits, name: fromMe ? null : (str(item.pushName) ?? null) };
      // A text too long for the bot's contract (4096) is still the customer's: it is cut, not refused.
      const cut = text === null ? null : [...text].slice(0, 4096).join('');
      if (fromMe) messages.push(cut !== null ? { ...base, kind: 'owner', text: cut } : { ...base, kind: 'owner' });
      else messages.push(cut !== null ? { ...base, kind: 'text', text: cut } : { ...base, kind: 'unsupported', what: type });
    }
    return { ok: true, messages, ignored, skipped };
  }

  return {
    kind: 'evolution',
    authenticate: (req) => authenticate(req.raw, req.headers),
    parse,
  };
}
