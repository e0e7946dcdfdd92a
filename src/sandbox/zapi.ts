import { EchoingEmulator, postRaw, upperHex, type EchoMode, type PostAnswer } from './channel-support.js';
import type { RouteResult } from './emulator.js';

export type { EchoMode } from './channel-support.js';

/** One message the emulator accepted. */
export interface ZapiSent {
  /** `messageId` (and `id`) of the answer. */
  id: string;
  zaapId: string;
  instanceId: string;
  phone: string;
  text: string;
  at: number;
}

export interface ZapiEmulatorOptions {
  /** Expected `Client-Token` header; undefined accepts any. */
  clientToken?: string;
  /** Expected path ids; undefined accepts any. */
  instanceId?: string;
  instanceToken?: string;
  /** The product's webhook URL (with its `?token=`), as registered with `update-webhook-received-delivery`. */
  webhookUrl?: string;
  /** Default `after`; `before` is the race where the echo arrives before the send call returned its id. */
  echo?: EchoMode;
  /** With `echo: 'late'`: ms between a send being applied and its echo (default 0). */
  echoDelayMs?: number;
  /** The number the instance is connected as (`connectedPhone`). */
  connectedPhone?: string;
}

export interface ZapiReceivedOptions {
  instanceId: string;
  /** Default: 32 upper-case hex characters. */
  messageId?: string;
  /** Digits, a group id (`…-group`) with `isGroup`, or `<digits>@lid` as given; or give `lid`. */
  phone?: string;
  /**
   * A customer known only by a WhatsApp LID (SPEC §11): `phone` and `chatLid` are `<lid>@lid`
   * (developer.z-api.io/en/tips/lid). Not with `phone`.
   */
  lid?: string;
  /** Next to a number `phone`: the chat's LID digits, as `chatLid: "<digits>@lid"`. */
  chatLid?: string;
  /** The sender's LID digits, as `senderLid: "<digits>@lid"` (on a `fromMe` callback, the business's own). */
  senderLid?: string;
  fromMe?: boolean;
  /** Default `Cliente <last 4 digits>` (the business's name when `fromMe`). */
  senderName?: string;
  /** Default `Cliente <last 4 digits>`. */
  chatName?: string;
  /** The content; with none of these the message is the text `Olá`. */
  text?: string;
  imageCaption?: string;
  /** An image without caption. */
  image?: true;
  videoCaption?: string;
  video?: true;
  audio?: true;
  /** A document (PDF) with this caption in `document.caption`. */
  documentCaption?: string;
  /** A document without caption. */
  document?: true;
  /** A tap on a reply button: `buttonsResponseMessage` (`message` is the button's label). */
  buttonReply?: { buttonId: string; message: string };
  /** A choice in an option list: `listResponseMessage`. */
  listReply?: { message?: string; title: string; selectedRowId: string };
  /** A reaction to an earlier message: `reaction` (no other content). */
  reaction?: { emoji: string; messageId: string };
  /** A message pinned (or unpinned) in the chat: `pinMessage` (no other content). */
  pin?: { messageId: string; action?: 'pin' | 'unpin'; durationSecs?: number };
  /** A notice with no content, e.g. `CALL_VOICE`, `CALL_MISSED_VOICE`, `PROFILE_NAME_UPDATED`. */
  notification?: string;
  /** `fromApi`: the message was sent through Z-API's API (left out when undefined). */
  fromApi?: boolean;
  isGroup?: boolean;
  isNewsletter?: boolean;
  isEdit?: boolean;
  /** Group member who wrote. */
  participantPhone?: string;
  /** Default `ReceivedCallback` (the research notes spell it `ReceivedCallBack`; the product compares case-insensitively). */
  type?: string;
  /** Default `RECEIVED`. */
  status?: string;
  connectedPhone?: string;
  momment?: number;
}

export const ZAPI_DEFAULT_CONNECTED_PHONE = '5511900000000';
const MEDIA_URL = 'https://storage.z-api.io/instances/emulated/media';
/** What send-text takes in `phone`: digits, or a LID as `<digits>@lid` (developer.z-api.io/en/tips/lid). */
const PHONE = /^\d+(@lid)?$/;
const LID = /^(\d+)@lid$/;

/** A chat's address as {@link zapiReceived} options: a LID chat as `lid` (so `chatLid` is there too), else `phone`. */
function chatOf(phone: string): Pick<ZapiReceivedOptions, 'phone' | 'lid'> {
  const lid = LID.exec(phone)?.[1];
  return lid === undefined ? { phone } : { lid };
}

const zapiId = () => upperHex(16);

function content(options: ZapiReceivedOptions, phone: string): Record<string, unknown> {
  if (options.imageCaption !== undefined || options.image) {
    const image: Record<string, unknown> = { imageUrl: `${MEDIA_URL}.jpeg`, thumbnailUrl: `${MEDIA_URL}-thumb.jpeg`, mimeType: 'image/jpeg' };
    if (options.imageCaption !== undefined) image.caption = options.imageCaption;
    return { image };
  }
  if (options.videoCaption !== undefined || options.video) {
    const video: Record<string, unknown> = { videoUrl: `${MEDIA_URL}.mp4`, mimeType: 'video/mp4', seconds: 5 };
    if (options.videoCaption !== undefined) video.caption = options.videoCaption;
    return { video };
  }
  if (options.audio) return { audio: { ptt: true, seconds: 3, audioUrl: `${MEDIA_URL}.ogg`, mimeType: 'audio/ogg; codecs=opus' } };
  if (options.documentCaption !== undefined || options.document) {
    const document: Record<string, unknown> = {
      documentUrl: `${MEDIA_URL}.pdf`,
      mimeType: 'application/pdf',
      title: 'documento',
      pageCount: 1,
      fileName: 'documento.pdf',
    };
    if (options.documentCaption !== undefined) document.caption = options.documentCaption;
    return { document };
  }
  if (options.buttonReply) return { buttonsResponseMessage: { buttonId: options.buttonReply.buttonId, message: options.buttonReply.message } };
  if (options.listReply) return { listResponseMessage: { ...options.listReply } };
  if (options.reaction) {
    const referencedMessage = { messageId: options.reaction.messageId, fromMe: !options.fromMe, phone, participant: null };
    return { reaction: { value: options.reaction.emoji, time: Date.now(), reactionBy: phone, referencedMessage } };
  }
  if (options.pin) {
    const referencedMessage = { messageId: options.pin.messageId, fromMe: true, phone, participant: null };
    return { pinMessage: { action: options.pin.action ?? 'pin', pinDurationInSecs: options.pin.durationSecs ?? 604_800, referencedMessage } };
  }
  if (options.notification !== undefined) return { notification: options.notification, notificationParameters: [], callId: null };
  return { text: { message: options.text ?? 'Olá' } };
}

/** An "on message received" webhook as Z-API posts it (developer.z-api.io/en/webhooks/on-message-received). */
export function zapiReceived(options: ZapiReceivedOptions): unknown {
  if ((options.phone === undefined) === (options.lid === undefined)) throw new Error('zapiReceived: give phone or lid');
  const phone = options.phone ?? `${options.lid}@lid`;
  const lids = {
    ...(options.lid === undefined ? {} : { chatLid: phone }),
    ...(options.chatLid === undefined ? {} : { chatLid: `${options.chatLid}@lid` }),
    ...(options.senderLid === undefined ? {} : { senderLid: `${options.senderLid}@lid` }),
  };
  const fromMe = options.fromMe ?? false;
  const customer = `Cliente ${phone.replace(/\D/g, '').slice(-4)}`;
  const isGroup = options.isGroup ?? false;
  return {
    ...lids,
    isStatusReply: false,
    connectedPhone: options.connectedPhone ?? ZAPI_DEFAULT_CONNECTED_PHONE,
    waitingMessage: false,
    isEdit: options.isEdit ?? false,
    isGroup,
    isNewsletter: options.isNewsletter ?? false,
    instanceId: options.instanceId,
    messageId: options.messageId ?? zapiId(),
    phone,
    fromMe,
    momment: options.momment ?? Date.now(),
    status: options.status ?? 'RECEIVED',
    chatName: options.chatName ?? customer,
    senderPhoto: null,
    senderName: options.senderName ?? (fromMe ? 'Atendimento' : customer),
    participantPhone: options.participantPhone ?? null,
    photo: 'https://pps.whatsapp.net/v/t61.24694-24/emulated.jpg',
    broadcast: false,
    type: options.type ?? 'ReceivedCallback',
    ...(options.fromApi === undefined ? {} : { fromApi: options.fromApi }),
    ...content(options, phone),
  };
}

/** POSTs a Z-API webhook; Z-API signs nothing, the product's token rides in the URL. */
export function deliverZapiWebhook(url: string, payload: unknown): Promise<PostAnswer> {
  return postRaw(url, JSON.stringify(payload));
}

/**
 * Z-API `POST /instances/{id}/token/{token}/send-text`: header `Client-Token`, body
 * `{phone, message}`, answers `{zaapId, messageId, id}`. Registered with
 * `update-webhook-received-delivery`, Z-API also posts the product's own sends back as
 * `fromMe` received callbacks with the same `messageId` — after the answer, before it, or not.
 */
export class ZapiEmulator extends EchoingEmulator<ZapiSent> {
  private readonly options: ZapiEmulatorOptions;

  constructor(options: ZapiEmulatorOptions = {}) {
    super(
      'zapi',
      [
        {
          name: 'send-text',
          method: 'POST',
          pattern: '/instances/:instanceId/token/:instanceToken/send-text',
          handle: ({ params, body }) => this.sendText(params.instanceId ?? '', params.instanceToken ?? '', body),
        },
      ],
      // Error bodies here and below are the emulator's choice: the research found no documented shape.
      (headers) =>
        options.clientToken === undefined || headers['client-token'] === options.clientToken
          ? null
          : { status: 401, body: { error: 'Client-Token not allowed' } },
      options,
    );
    this.options = options;
  }

  /**
   * An attendant answering from the business phone / WhatsApp Web: posts a `fromMe` received
   * callback (`fromApi: false`) with a fresh `messageId` that no send-text returned, once it was
   * answered; returns the id. `phone` is digits, or `<digits>@lid` for a chat known only by its LID.
   */
  async phoneSend(phone: string, text: string): Promise<string> {
    return this.postFromPhone({ ...chatOf(phone), text });
  }

  /**
   * Someone on the business phone pinning message `messageId` of the chat with `phone`: Z-API
   * posts it as a `fromMe` received callback carrying `pinMessage`, which is no one answering.
   * Returns the callback's own `messageId`.
   */
  async phonePin(phone: string, messageId: string): Promise<string> {
    return this.postFromPhone({ ...chatOf(phone), pin: { messageId } });
  }

  override state(): unknown {
    return { sent: this.sent(), echoes: this.echoes(), echo: this.echo };
  }

  private async postFromPhone(options: Omit<ZapiReceivedOptions, 'instanceId'>): Promise<string> {
    const messageId = zapiId();
    const callback = zapiReceived({
      instanceId: this.options.instanceId ?? 'EMULATED',
      messageId,
      fromMe: true,
      fromApi: false,
      status: 'RECEIVED',
      connectedPhone: this.options.connectedPhone,
      ...options,
    });
    await this.postPhoneMessage(messageId, JSON.stringify(callback));
    return messageId;
  }

  /** The echo of a send-text: Z-API marks messages sent through its API with `fromApi: true`. */
  private echoOf(instanceId: string, messageId: string, phone: string, text: string): unknown {
    return zapiReceived({ instanceId, messageId, ...chatOf(phone), fromMe: true, fromApi: true, text, status: 'SENT', connectedPhone: this.options.connectedPhone });
  }

  private async sendText(instanceId: string, instanceToken: string, body: unknown): Promise<RouteResult> {
    const { instanceId: expectedId, instanceToken: expectedToken } = this.options;
    if ((expectedId !== undefined && instanceId !== expectedId) || (expectedToken !== undefined && instanceToken !== expectedToken)) {
      return { status: 404, body: { error: 'Instance not found' } };
    }
    const input = body !== null && typeof body === 'object' && !Array.isArray(body) ? (body as Record<string, unknown>) : {};
    const { phone, message } = input;
    if (typeof phone !== 'string' || !PHONE.test(phone) || typeof message !== 'string' || message === '') {
      return { status: 400, body: { error: 'phone and message are required' } };
    }

    const messageId = zapiId();
    const zaapId = zapiId();
    this.sends.push({ id: messageId, zaapId, instanceId, phone, text: message, at: Date.now() });
    await this.echoSend(messageId, () => JSON.stringify(this.echoOf(instanceId, messageId, phone, message)));
    return { status: 200, body: { zaapId, messageId, id: messageId } };
  }
}
