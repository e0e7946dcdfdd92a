import type { EvolutionChannel } from './config.js';
import { createAuthenticator } from '../../webhook/auth.js';
import { normalizePhone } from '../../webhook/schema.js';
import type { ChannelAdapter, ChannelMessage, IgnoreReason, InboundParse, ValidationIssue } from '../types.js';
import { createTally, isObject, obj, str } from '../reading.js';



/** `messages.upsert` as v2 names it, and `MESSAGES_UPSERT` as some versions (and the instance settings) spell it. */
const isUpsert = (event: string) => event.toLowerCase().replace(/_/g, '.') === 'messages.upsert';

/** A customer's own chat. */
const PERSONAL_JID = /^(\d+)@s\.whatsapp\.net$/;
/** Groups (`@g.us`), broadcast lists and status (`@broadcast`), newsletters: never one customer's chat. */
const GROUP_JID = /@(g\.us|broadcast|newsletter)$/;
/** A WhatsApp LID: an address that hides the phone (SPEC §11). */
const LID_JID = /^(\d+)@lid$/;

/** Content keys that are never a message to answer, and why (`protocolMessage` is told apart by its type below). */
const IGNORED_CONTENT: Readonly<Record<string, IgnoreReason>> = {
  reactionMessage: 'reaction',
  editedMessage: 'edit',
  pinInChatMessage: 'pin',
};
/** Keys Evolution and Baileys put next to the content that say nothing about its type. */
const NOT_CONTENT = new Set(['messageContextInfo', 'base64', 'mediaUrl', 'speechToText', 'contextInfo', 'senderKeyDistributionMessage']);

/**
 * Where the customer's text is, in order: a text, a caption, the title of the button or list
 * row they chose (Baileys' WAProto names; Evolution passes them through).
 */
const TEXT_PATHS: readonly (readonly string[])[] = [
  ['conversation'],
  // v2.3.6 rewrites extendedTextMessage into `conversation`; older versions deliver it as is.
  ['extendedTextMessage', 'text'],
  ['imageMessage', 'caption'],
  ['videoMessage', 'caption'],
  ['documentMessage', 'caption'],
  ['documentWithCaptionMessage', 'message', 'documentMessage', 'caption'],
  ['buttonsResponseMessage', 'selectedDisplayText'],
  ['templateButtonReplyMessage', 'selectedDisplayText'],
  ['listResponseMessage', 'title'],
  ['listResponseMessage', 'singleSelectReply', 'selectedRowId'],
  ['interactiveResponseMessage', 'body', 'text'],
];

/** The customer's text of a message (SPEC §8.1), or null when it has none. */
export function evolutionText(message: Record<string, unknown>): string | null {
  for (const path of TEXT_PATHS) {
    let node: unknown = message;
    for (const key of path) node = obj(node)[key];
    const text = str(node);
    if (text) return text;
  }
  return null;
}

/** `data.messageType` when Evolution gives it, else the content's key (`audioMessage`, `stickerMessage`…). */
function messageType(data: Record<string, unknown>, message: Record<string, unknown>): string {
  return str(data.messageType) ?? Object.keys(message).find((key) => !NOT_CONTENT.has(key)) ?? 'unknown';
}

/**
 * Why a message's content is not one to answer, or null when it is. A `protocolMessage` is a
 * delete (`REVOKE`, WAProto's 0 and default) or an edit (`MESSAGE_EDIT`, 14); its other types
 * are Baileys' housekeeping (ephemeral settings, history sync…). Enums arrive as names through
 * protobuf's JSON, as numbers from some versions.
 */
function ignoredContent(message: Record<string, unknown>, type: string): IgnoreReason | null {
  const keys = [type, ...Object.keys(message)];
  const found = keys.find((key) => Object.hasOwn(IGNORED_CONTENT, key));
  if (found) return IGNORED_CONTENT[found] ?? null;
  if (!keys.includes('protocolMessage')) return null;
  const protocolType = obj(message.protocolMessage).type;
  if (protocolType === undefined || protocolType === 'REVOKE' || protocolType === 0) return 'deleted';
  if (protocolType === 'MESSAGE_EDIT' || protocolType === 14) return 'edit';
  return 'system';
}

/** `messageTimestamp` (Unix seconds, a number or a numeric string) → ms; a protobuf Long object is left out. */
function sentAtOf(value: unknown): number | undefined {
  if (typeof value === 'number' && Number.isFinite(value) && value > 0) return value * 1000;
  if (typeof value === 'string' && /^\d{1,12}$/.test(value)) return Number(value) * 1000;
  return undefined;
}

/** A JID's digits when it is a phone's (`<digits>@s.whatsapp.net`) or a LID's (`<digits>@lid`). */
const phoneJid = (jid: unknown): string | undefined => PERSONAL_JID.exec(str(jid) ?? '')?.[1];
const lidJid = (jid: unknown): string | undefined => LID_JID.exec(str(jid) ?? '')?.[1];

/** The addresses of a message's chat (SPEC §11), or why it is no customer's. */
type Address = Pick<ChannelMessage, 'phone' | 'lid' | 'to' | 'toKind'> | { reason: IgnoreReason; why: string };

/**
 * The customer's addresses (SPEC §8.2, §11): the phone's digits (answered at them) and the LID,
 * whichever the key carries. Baileys 7 puts the other address of a one-to-one chat in
 * `remoteJidAlt` (the phone next to a LID, the LID next to a phone; Baileys itself maps it to
 * the chat, `fromMe` or not); older versions in `senderPn` / `senderLid`, the sender's — on a
 * `fromMe` message the business's own, so they are read on the customer's messages only. A LID
 * with no phone next to it is a customer of its own, answered at `<digits>@lid`. A group is not
 * an error; a JID that is neither a phone nor a LID is.
 */
function addressOf(key: Record<string, unknown>, remoteJid: string): Address {
  const fromMe = key.fromMe === true;
  if (GROUP_JID.test(remoteJid)) return { reason: 'group', why: 'group' };
  const remotePhone = phoneJid(remoteJid);
  const remoteLid = lidJid(remoteJid);
  if (remotePhone === undefined && remoteLid === undefined) {
    return { reason: 'unknown_address', why: 'key.remoteJid is neither <phone>@s.whatsapp.net nor <lid>@lid' };
  }
  const lid = remoteLid ?? [key.remoteJidAlt, fromMe ? undefined : key.senderLid].map(lidJid).find((alt) => alt !== undefined);
  const digits = remotePhone ?? [key.remoteJidAlt, fromMe ? undefined : key.senderPn].map(phoneJid).find((alt) => alt !== undefined);
  const phone = digits ? normalizePhone(digits) : null;
  if (phone && digits) return { phone, ...(lid === undefined ? {} : { lid }), to: digits };
  if (remoteLid === undefined) return { reason: 'unknown_address', why: 'key.remoteJid is <digits>@s.whatsapp.net, but its digits are no phone number' };
  return { phone: null, lid: remoteLid, to: remoteJid, toKind: 'lid' };
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
    // Connection, QR code, status updates… are not messages (and not message items: no reason).
    if (!isUpsert(event)) return { ok: true, messages: [], ignored: 1, skipped: [], ignoredBy: {} };
    if (typeof body.instance !== 'string') issues.push({ path: 'instance', message: body.instance === undefined ? 'is required' : 'must be a string' });
    if (!isObject(body.data) && !Array.isArray(body.data)) issues.push({ path: 'data', message: body.data === undefined ? 'is required' : 'must be an object or a list' });
    if (issues.length > 0) return { ok: false, issues };

    const items: { item: unknown; path: string }[] = Array.isArray(body.data) ? (body.data as unknown[]).map((item, i) => ({ item, path: `data.${i}` })) : [{ item: body.data, path: 'data' }];
    const messages: ChannelMessage[] = [];
    const tally = createTally();
    // Another instance posting to this channel's URL: its customers are not this channel's.
    if (body.instance !== instance) {
      for (const { path } of items) tally.item(path, 'other_instance');
      return tally.result(messages);
    }
    for (const { item, path } of items) {
      if (!isObject(item)) {
        tally.item(path, 'unreadable', 'not an object');
        continue;
      }
      const key = obj(item.key);
      const id = str(key.id);
      const remoteJid = str(key.remoteJid);
      if (!id || !remoteJid || id.length > 256) {
        tally.item(path, 'unreadable', !id || !remoteJid ? 'no key.id or key.remoteJid' : 'key.id is over 256 characters');
        continue;
      }
      const address = addressOf(key, remoteJid);
      if ('reason' in address) {
        tally.item(path, address.reason, address.why);
        continue;
      }
      // A message with no content is a Baileys stub (a call, an encryption notice…), not something anyone wrote.
      if (!isObject(item.message)) {
        tally.item(path, 'system');
        continue;
      }
      const message = item.message;
      const type = messageType(item, message);
      const ignoredAs = ignoredContent(message, type);
      if (ignoredAs) {
        tally.item(path, ignoredAs);
        continue;
      }
      const text = evolutionText(message);
      const fromMe = key.fromMe === true;
      const sentAt = sentAtOf(item.messageTimestamp);
      // On a `fromMe` message pushName is the business's own name, not the customer's.
      const base = {
        channel: name,
        messageId: id,
        ...address,
        name: fromMe ? null : (str(item.pushName) ?? null),
        ...(sentAt === undefined ? {} : { sentAt }),
      };
      // A text too long for the bot's contract (4096) is still the customer's: it is cut, not refused.
      const cut = text === null ? null : [...text].slice(0, 4096).join('');
      if (fromMe) messages.push(cut !== null ? { ...base, kind: 'owner', text: cut } : { ...base, kind: 'owner' });
      else messages.push(cut !== null ? { ...base, kind: 'text', text: cut } : { ...base, kind: 'unsupported', what: type });
    }
    return tally.result(messages);
  }

  return {
    kind: 'evolution',
    authenticate: (req) => authenticate(req.raw, req.headers),
    parse,
  };
}
