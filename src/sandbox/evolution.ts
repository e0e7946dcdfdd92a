import { randomUUID } from 'node:crypto';
import { EchoingEmulator, postRaw, unixSeconds, upperHex, type EchoMode, type PostAnswer } from './channel-support.js';
import type { RouteResult } from './emulator.js';

/** When the echo `messages.upsert` of a sent message reaches the product, relative to the send call's answer. */
export type { EchoMode } from './channel-support.js';

/** One message the emulator accepted. */
export interface EvolutionSent {
  id: string;
  instance: string;
  /** `number` as the caller gave it. */
  number: string;
  remoteJid: string;
  text: string;
  at: number;
}

export interface EvolutionEmulatorOptions {
  /** Expected `apikey` header; undefined accepts any. */
  apiKey?: string;
  /** Instances that exist (default `["loja"]`); others answer 404. */
  instances?: string[];
  /** The product's webhook; echoes and {@link EvolutionEmulator.phoneSend} go there. */
  webhookUrl?: string;
  /** The instance's custom webhook headers, e.g. `{ authorization: 'Bearer …' }`. */
  webhookHeaders?: Record<string, string>;
  /** Default `after`; `before` is the race where the echo arrives before the send call returned its id. */
  echo?: EchoMode;
  /** With `echo: 'late'`: ms between a send being applied and its echo (default 0). */
  echoDelayMs?: number;
}

export interface EvolutionUpsertOptions {
  instance: string;
  /** `<digits>@s.whatsapp.net`, `<id>@g.us`…; or give `phone` (digits), or `lid`. */
  remoteJid?: string;
  /** The customer's digits: the JID, or with `lid` the phone next to it (`remoteJidAlt` / `senderPn`). */
  phone?: string;
  /**
   * A WhatsApp LID's digits (SPEC §11). Alone or with `addressingMode: 'lid'` (the default),
   * `remoteJid` is `<lid>@lid` and `phone` (if any) is next to it; with `phone` and
   * `addressingMode: 'pn'`, `remoteJid` is the phone's JID and the LID is next to it.
   */
  lid?: string;
  /** Which of `phone` and `lid` is the chat (`remoteJid`) when both are given, as Baileys 7 marks it in `key.addressingMode`. */
  addressingMode?: 'lid' | 'pn';
  /**
   * Where the other address of a message with both goes: `remoteJidAlt` (Baileys 7, Evolution
   * 2.3.x; the default), or the older versions' field — `senderPn` (the phone next to a LID) or
   * `senderLid` (the LID next to a phone).
   */
  lidPhoneField?: 'remoteJidAlt' | 'senderPn' | 'senderLid';
  /** Default: 32 upper-case hex characters (an Android-sent id). */
  id?: string;
  fromMe?: boolean;
  /** Default `Cliente <last 4 digits>`, or `Você` when `fromMe` (Evolution's own fallback). */
  pushName?: string;
  /** The content; with none of these the message is the text `Olá`. */
  text?: string;
  /** Raw `extendedTextMessage`: v2.3.6 rewrites it to `conversation`, older versions deliver it as is. */
  extendedText?: string;
  imageCaption?: string;
  /** An image without caption. */
  image?: true;
  videoCaption?: string;
  video?: true;
  audio?: true;
  sticker?: true;
  /** A document (PDF) with this caption in `documentMessage.caption`. */
  documentCaption?: string;
  /** A document with this caption as WhatsApp clients send it: `documentWithCaptionMessage.message.documentMessage`. */
  documentWithCaption?: string;
  /** A document without caption. */
  document?: true;
  /** A tap on a reply button: `buttonsResponseMessage.selectedDisplayText`. */
  buttonReply?: string;
  /** A choice in a list message: `listResponseMessage.title`. */
  listReply?: string;
  /** A reaction to an earlier message (an empty emoji removes it, as on WhatsApp). */
  reaction?: { emoji: string; messageId: string };
  /** An edit of an earlier message, as Baileys delivers it: `editedMessage` wrapping a `MESSAGE_EDIT` protocol message. */
  edited?: { messageId: string; text: string };
  /** The id of an earlier message deleted for everyone: a `REVOKE` protocol message. */
  revoked?: string;
  /** The group member who wrote (group JIDs). */
  participant?: string;
  /** Default `DELIVERY_ACK`, or `SERVER_ACK` when `fromMe`. */
  status?: string;
  /** Default `android`. */
  source?: string;
  messageTimestamp?: number;
  instanceId?: string;
  /** Envelope fields. */
  destination?: string;
  sender?: string;
  serverUrl?: string;
  apikey?: string;
}

export interface EvolutionEnvelopeExtras {
  destination?: string;
  sender?: string;
  serverUrl?: string;
  apikey?: string;
}

/** The business phone the emulated instance is connected as. */
export const EVOLUTION_DEFAULT_SENDER = '5511900000000@s.whatsapp.net';
const MEDIA_URL = 'https://mmg.whatsapp.net/v/t62.7118-24/emulated.enc';
/** What sendText takes in `number`: digits, a phone's JID, or a LID's JID (Evolution's createJid keeps `@lid` as is). */
const NUMBER = /^\d+(@s\.whatsapp\.net|@lid)?$/;
const LID_JID = /^(\d+)@lid$/;

/**
 * An id as Baileys makes them: `3EB0…` (24 characters) for messages sent through the API
 * (Baileys' `getDevice` calls that `unknown`), 32 hex for a phone (`android`).
 */
const apiMessageId = () => `3EB0${upperHex(10)}`;
const phoneMessageId = () => upperHex(16);

/** Any other event (`messages.update`, `connection.update`, …) in Evolution's webhook envelope. */
export function evolutionEvent(event: string, instance: string, data: unknown, extras: EvolutionEnvelopeExtras = {}): unknown {
  return {
    event,
    instance,
    data,
    destination: extras.destination ?? 'http://127.0.0.1/webhook',
    date_time: new Date().toISOString(),
    sender: extras.sender ?? EVOLUTION_DEFAULT_SENDER,
    server_url: extras.serverUrl ?? 'http://127.0.0.1:8080',
    apikey: extras.apikey ?? 'emulated-instance-token',
  };
}

const documentMedia = (caption: string | undefined): Record<string, unknown> => {
  const media: Record<string, unknown> = { url: MEDIA_URL, mimetype: 'application/pdf', title: 'documento.pdf', fileName: 'documento.pdf', pageCount: 1 };
  if (caption !== undefined) media.caption = caption;
  return media;
};
/** What a button or list reply points back to: the business's message that offered the choice. */
const quoted = () => ({ stanzaId: apiMessageId(), participant: EVOLUTION_DEFAULT_SENDER });

/** The content (`message`) and `messageType` the options describe; `key` is the message's own key (for protocol messages). */
function messageContent(
  options: EvolutionUpsertOptions,
  key: { remoteJid: string; fromMe: boolean },
): { message: Record<string, unknown>; messageType: string } {
  if (options.extendedText !== undefined) return { message: { extendedTextMessage: { text: options.extendedText } }, messageType: 'extendedTextMessage' };
  if (options.imageCaption !== undefined || options.image) {
    const image: Record<string, unknown> = { url: MEDIA_URL, mimetype: 'image/jpeg' };
    if (options.imageCaption !== undefined) image.caption = options.imageCaption;
    return { message: { imageMessage: image }, messageType: 'imageMessage' };
  }
  if (options.videoCaption !== undefined || options.video) {
    const video: Record<string, unknown> = { url: MEDIA_URL, mimetype: 'video/mp4', seconds: 5 };
    if (options.videoCaption !== undefined) video.caption = options.videoCaption;
    return { message: { videoMessage: video }, messageType: 'videoMessage' };
  }
  if (options.audio) return { message: { audioMessage: { url: MEDIA_URL, mimetype: 'audio/ogg; codecs=opus', seconds: 3, ptt: true } }, messageType: 'audioMessage' };
  if (options.sticker) return { message: { stickerMessage: { url: MEDIA_URL, mimetype: 'image/webp', isAnimated: false } }, messageType: 'stickerMessage' };
  if (options.documentCaption !== undefined || options.document) {
    return { message: { documentMessage: documentMedia(options.documentCaption) }, messageType: 'documentMessage' };
  }
  if (options.documentWithCaption !== undefined) {
    const inner = { documentMessage: documentMedia(options.documentWithCaption) };
    return { message: { documentWithCaptionMessage: { message: inner } }, messageType: 'documentWithCaptionMessage' };
  }
  if (options.buttonReply !== undefined) {
    const reply = { selectedButtonId: 'btn-1', selectedDisplayText: options.buttonReply, type: 'DISPLAY_TEXT', contextInfo: quoted() };
    return { message: { buttonsResponseMessage: reply }, messageType: 'buttonsResponseMessage' };
  }
  if (options.listReply !== undefined) {
    const reply = { title: options.listReply, listType: 'SINGLE_SELECT', singleSelectReply: { selectedRowId: 'row-1' }, contextInfo: quoted() };
    return { message: { listResponseMessage: reply }, messageType: 'listResponseMessage' };
  }
  if (options.reaction !== undefined) {
    // Most often the customer reacting to the business's message (or the business to the customer's).
    const reacted = { ...key, fromMe: !key.fromMe, id: options.reaction.messageId };
    const reaction = { key: reacted, text: options.reaction.emoji, senderTimestampMs: String(Date.now()) };
    return { message: { reactionMessage: reaction }, messageType: 'reactionMessage' };
  }
  if (options.edited !== undefined) {
    const edited = { conversation: options.edited.text };
    const edit = { key: { ...key, id: options.edited.messageId }, type: 'MESSAGE_EDIT', editedMessage: edited, timestampMs: String(Date.now()) };
    return { message: { editedMessage: { message: { protocolMessage: edit } } }, messageType: 'editedMessage' };
  }
  if (options.revoked !== undefined) {
    return { message: { protocolMessage: { key: { ...key, id: options.revoked }, type: 'REVOKE' } }, messageType: 'protocolMessage' };
  }
  return { message: { conversation: options.text ?? 'Olá' }, messageType: 'conversation' };
}

/** A `messages.upsert` webhook as Evolution v2 posts it (webhook.controller.ts + `prepareMessage`). */
export function evolutionUpsert(options: EvolutionUpsertOptions): unknown {
  if (options.remoteJid === undefined && options.phone === undefined && options.lid === undefined) {
    throw new Error('evolutionUpsert: give remoteJid or phone (or lid)');
  }
  const mode = options.addressingMode ?? 'lid';
  if (mode === 'pn' && (options.lid === undefined || options.phone === undefined)) throw new Error("evolutionUpsert: addressingMode 'pn' needs phone and lid");
  const field = options.lidPhoneField ?? 'remoteJidAlt';
  if (field !== 'remoteJidAlt' && field !== (mode === 'lid' ? 'senderPn' : 'senderLid')) {
    throw new Error(`evolutionUpsert: ${field} is not where a ${mode === 'lid' ? 'LID' : 'phone'} message carries its other address`);
  }
  const lidJid = options.lid === undefined ? undefined : `${options.lid}@lid`;
  const phoneJid = options.phone === undefined ? undefined : `${options.phone}@s.whatsapp.net`;
  const remoteJid = options.remoteJid ?? (mode === 'pn' ? phoneJid : (lidJid ?? phoneJid)) ?? '';
  const fromMe = options.fromMe ?? false;
  const key: Record<string, unknown> = { remoteJid, fromMe, id: options.id ?? phoneMessageId() };
  if (lidJid !== undefined) {
    const other = mode === 'pn' ? lidJid : phoneJid;
    if (other !== undefined) key[field] = other;
    key.addressingMode = mode;
  }
  if (options.participant !== undefined) key.participant = options.participant;
  const digits = (options.lid !== undefined ? options.phone : undefined) ?? remoteJid.split('@')[0] ?? '';
  const { message, messageType } = messageContent(options, { remoteJid, fromMe });
  return evolutionEvent(
    'messages.upsert',
    options.instance,
    {
      key,
      pushName: options.pushName ?? (fromMe ? 'Você' : `Cliente ${digits.slice(-4)}`),
      status: options.status ?? (fromMe ? 'SERVER_ACK' : 'DELIVERY_ACK'),
      message,
      messageType,
      messageTimestamp: options.messageTimestamp ?? unixSeconds(),
      instanceId: options.instanceId ?? randomUUID(),
      source: options.source ?? 'android',
    },
    options,
  );
}

/** POSTs an Evolution webhook with the instance's custom `headers` (Evolution signs nothing). */
export function deliverEvolutionWebhook(url: string, payload: unknown, headers: Record<string, string> = {}): Promise<PostAnswer> {
  return postRaw(url, JSON.stringify(payload), headers);
}

const badRequest = (messages: string[]): RouteResult => ({
  status: 400,
  // Evolution answers jsonschema's messages nested in an array (issue #2570's real answer).
  body: { status: 400, error: 'Bad Request', response: { message: [messages] } },
});

/**
 * Evolution API v2 `POST /message/sendText/{instance}`: header `apikey`, body `{number, text}`,
 * 201 with the sent message. Like the real one, each send is echoed to the instance's webhook
 * as a `fromMe` `messages.upsert` with the same id — after the answer, before it, or not at all.
 */
export class EvolutionEmulator extends EchoingEmulator<EvolutionSent> {
  private readonly instanceIds: Map<string, string>;
  private readonly options: EvolutionEmulatorOptions;

  constructor(options: EvolutionEmulatorOptions = {}) {
    super(
      'evolution',
      [
        {
          name: 'sendText',
          method: 'POST',
          pattern: '/message/sendText/:instance',
          handle: ({ params, body }) => this.sendText(params.instance ?? '', body),
        },
      ],
      (headers) =>
        options.apiKey === undefined || headers.apikey === options.apiKey
          ? null
          : { status: 401, body: { status: 401, error: 'Unauthorized', response: { message: 'Unauthorized' } } },
      options,
    );
    this.options = options;
    this.instanceIds = new Map((options.instances ?? ['loja']).map((name) => [name, randomUUID()]));
  }

  /**
   * An attendant answering from the business phone / WhatsApp Web: posts a `fromMe` upsert
   * with a fresh id that no sendText returned, once it was answered; returns the id. `number`
   * is digits or a JID; `<digits>@lid` is a chat known only by its LID (the upsert carries only the LID).
   */
  async phoneSend(number: string, text: string, instance = this.firstInstance()): Promise<string> {
    const id = phoneMessageId();
    const remoteJid = number.includes('@') ? number : `${number}@s.whatsapp.net`;
    await this.postPhoneMessage(id, JSON.stringify(this.upsert(instance, remoteJid, id, text, 'android')));
    return id;
  }

  override state(): unknown {
    return { instances: Object.fromEntries(this.instanceIds), sent: this.sent(), echoes: this.echoes(), echo: this.echo };
  }

  private firstInstance(): string {
    const first = this.instanceIds.keys().next();
    if (first.done) throw new Error('evolution emulator: no instance configured');
    return first.value;
  }

  private upsert(instance: string, remoteJid: string, id: string, text: string, source: string): unknown {
    const lid = LID_JID.exec(remoteJid)?.[1];
    return evolutionUpsert({
      instance,
      // A LID chat is LID-addressed (`addressingMode: 'lid'`), with no phone next to it.
      ...(lid === undefined ? { remoteJid } : { lid }),
      id,
      fromMe: true,
      text,
      source,
      instanceId: this.instanceIds.get(instance) ?? randomUUID(),
      destination: this.webhookUrl ?? '',
      serverUrl: this.url,
      apikey: this.options.apiKey ?? 'emulated-instance-token',
    });
  }

  private async sendText(instance: string, body: unknown): Promise<RouteResult> {
    const instanceId = this.instanceIds.get(instance);
    if (instanceId === undefined) {
      return { status: 404, body: { status: 404, error: 'Not Found', response: { message: [`The "${instance}" instance does not exist`] } } };
    }
    if (body === null || typeof body !== 'object' || Array.isArray(body)) return badRequest(['instance is not of a type(s) object']);
    const input = body as Record<string, unknown>;
    // Messages in jsonschema's wording, as Evolution validates with it; the digits rule is the
    // emulator's (the product must send the JID's digits, or a LID's JID, SPEC §8.2, §11).
    const errors: string[] = [];
    if (input.number === undefined) errors.push('instance requires property "number"');
    else if (typeof input.number !== 'string') errors.push('instance.number is not of a type(s) string');
    else if (!NUMBER.test(input.number)) errors.push('instance.number does not match pattern "^\\d+(@s\\.whatsapp\\.net|@lid)?$"');
    if (input.text === undefined) errors.push('instance requires property "text"');
    else if (typeof input.text !== 'string') errors.push('instance.text is not of a type(s) string');
    else if (input.text === '') errors.push('instance.text does not meet minimum length of 1');
    if (errors.length > 0) return badRequest(errors);

    const number = input.number as string;
    const text = input.text as string;
    const remoteJid = number.includes('@') ? number : `${number}@s.whatsapp.net`;
    const id = apiMessageId();
    const messageTimestamp = unixSeconds();
    this.sends.push({ id, instance, number, remoteJid, text, at: Date.now() });

    await this.echoSend(id, () => JSON.stringify(this.upsert(instance, remoteJid, id, text, 'unknown')));
    return {
      status: 201,
      body: {
        key: { remoteJid, fromMe: true, id },
        pushName: '',
        status: 'PENDING',
        message: { conversation: text },
        messageType: 'conversation',
        messageTimestamp,
        instanceId,
        source: 'unknown',
      },
    };
  }
}
