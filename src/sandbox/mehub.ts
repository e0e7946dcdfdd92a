import { randomBytes, randomUUID } from 'node:crypto';
import { codePointLength } from '../text.js';
import { bearerAuth, Emulator, type RouteResult } from './emulator.js';

export type MehubChatStatus = 'entrance' | 'waiting' | 'finished';

export interface MehubContact {
  id: number;
  name: string;
  phone: string;
}

export interface MehubMessage {
  id: number;
  content: string;
  /** Laravel's format, with microseconds: `2025-10-29T10:30:00.000000Z`. */
  created_at: string;
}

/** A chat as `GET /api/v1/chats` returns it (plus `channel`, `attendant`, `linkedFrom`). */
export interface MehubChat {
  id: number;
  /** 12 characters `[a-z0-9]`. */
  token: string;
  is_open: boolean;
  status: MehubChatStatus;
  unreadCount: number;
  /** The token (16 characters) of the channel the chat belongs to. */
  channel: string;
  /** Attendant id; null = waiting queue. */
  attendant: number | null;
  contact: MehubContact;
  lastMessage: MehubMessage;
  /** Set on a chat created by a cross-channel transfer: the original chat's token. */
  linkedFrom?: string;
}

export interface AddChatOptions {
  phone: string;
  name?: string;
  channel?: string;
  attendant?: number | null;
  is_open?: boolean;
  /** Default: `finished` when closed, else `waiting`. */
  status?: MehubChatStatus;
  unreadCount?: number;
  lastMessage?: string;
  lastMessageAt?: Date;
  /** Default: a random 12-character token. */
  token?: string;
}

/** One applied transfer. */
export interface MehubTransfer {
  chatToken: string;
  channel: string;
  attendant: number | null;
  message: string | null;
  /** The chat created in the destination channel (cross-channel transfers only). */
  newChatToken?: string;
}

export interface MehubEmulatorOptions {
  token?: string;
  /** Channel of chats added without one (16 characters). */
  defaultChannel?: string;
  /** Transfers from or to these channels answer 403. */
  forbiddenChannels?: Iterable<string>;
  /** Attendants restricted to channels; a transfer to another channel answers 422. */
  attendantChannels?: Map<number, Set<string>>;
  /** When non-empty, only these destination channels exist (others answer 404); empty = any. */
  knownChannels?: Iterable<string>;
  /**
   * Sandbox mode: a lookup of an unknown contact's open chats creates one first, as if the
   * customer's WhatsApp chat had reached MeHub (the demo and `npm run sandbox` use it).
   */
  autoCreateChats?: boolean;
  /** Where platform events (webhooks) are POSTed; unset = none are sent. See {@link MehubEmulator.setWebhook}. */
  webhookUrl?: string;
  /** Sent as `X-Webhook-Secret` when set (MeHub's optional shared secret; not an HMAC). */
  webhookSecret?: string;
  /** Further attempts after the first when an answer is not 2xx or the request fails (default 3). */
  webhookRetries?: number;
  /** Wait between attempts (default 200 ms; the real platform's schedule is not documented). */
  webhookRetryDelayMs?: number;
  /** How long one attempt waits for an answer (default 30 000 ms, as MeHub documents). */
  webhookTimeoutMs?: number;
  /** Channel token → name, for `data.chat.channel.name` (default `Canal <token>`). */
  channelNames?: Record<string, string>;
}

/** MeHub's documented webhook events (research/channels.md §4). */
export type MehubWebhookEvent =
  | 'MESSAGE_SENT'
  | 'MESSAGE_RECEIVED'
  | 'CHAT_CREATED'
  | 'CHAT_ENDED'
  | 'CHAT_TRANSFERRED'
  | 'CHANNEL_CONNECTED'
  | 'CHANNEL_DISCONNECTED';

/** An attendant as `data.user` carries it. */
export interface MehubWebhookUser {
  id: number | string;
  name: string;
}

/** `data.message` of a message event (research §4: `message{id,content,type,file,direction,visibility}`). */
export interface MehubWebhookMessage {
  id: string;
  content: string;
  type: 'text';
  file: null;
  direction: 'outgoing' | 'incoming';
  visibility: 'public' | 'private';
}

/** `data` of an event (the emulator sends CHAT_CREATED, CHAT_TRANSFERRED, CHAT_ENDED and MESSAGE_SENT). */
export interface MehubWebhookData {
  chat: {
    token: string;
    status: MehubChatStatus;
    external_reference: string | null;
    channel: { token: string; name: string; type: 'whatsapp' };
    is_open: boolean;
  };
  contact: { phone: string; name: string; tags: string[] };
  user: MehubWebhookUser | null;
  message: MehubWebhookMessage | null;
}

/** What is POSTed to the webhook URL. `webhook_id` is per event: every retry of one event repeats it. */
export interface MehubWebhookEnvelope {
  event: MehubWebhookEvent;
  data: MehubWebhookData;
  /** When the event happened (ISO); the same on every attempt. */
  timestamp: string;
  /** 1 on the first delivery, then 2, 3, … (also counting on after {@link MehubEmulator.redeliver}). */
  attempt: number;
  webhook_id: string;
}

/** One delivery attempt: the answer's `status`, or the `error` when there was none. */
export interface MehubWebhookDelivery {
  event: MehubWebhookEvent;
  webhookId: string;
  /** The chat the event is about. */
  chatToken: string;
  attempt: number;
  status?: number;
  error?: string;
  /** When the answer (or the failure) came, ms since the epoch. */
  at: number;
}

/** An event as sent, kept for {@link MehubEmulator.redeliver}. */
interface SentEvent {
  event: MehubWebhookEvent;
  webhookId: string;
  data: MehubWebhookData;
  timestamp: string;
  /** The attempt number the next delivery attempt carries. */
  nextAttempt: number;
}

export interface CloseChatOptions {
  /** `data.user` of the CHAT_ENDED event; default the chat's attendant (`Atendente <id>`), or null. */
  attendant?: MehubWebhookUser;
}

export const MEHUB_DEFAULT_CHANNEL = 'origin0channel01';
const CHANNEL_LENGTH = 16;
const MESSAGE_MAX = 1000;
const PER_PAGE_DEFAULT = 20;
const PER_PAGE_MAX = 100;
const STATUSES: readonly MehubChatStatus[] = ['entrance', 'waiting', 'finished'];
const TOKEN_ALPHABET = 'abcdefghijklmnopqrstuvwxyz0123456789';

const WEBHOOK_RETRIES_DEFAULT = 3;
const WEBHOOK_RETRY_DELAY_DEFAULT = 200;
const WEBHOOK_TIMEOUT_DEFAULT = 30_000;

const fail = (status: number, message: string): RouteResult => ({ status, body: { success: false, message } });
const NOT_FOUND = fail(404, 'Conversa ou canal não encontrado.');
const FORBIDDEN = fail(403, 'Você não tem permissão para transferir conversas deste canal.');
const NO_ACCESS = fail(422, 'O atendente informado não tem acesso ao canal de destino.');

/** `2025-10-29T10:30:00.000000Z` (ISO with microseconds, as Laravel serializes dates). */
export function mehubTimestamp(date: Date): string {
  return date.toISOString().replace(/\.(\d{3})Z$/, '.$1000Z');
}

/** A non-negative integer given as a query string (Laravel's `integer` rule accepts "2"); NaN when not one. */
function queryInteger(value: string | null): number | undefined {
  if (value === null || value === '') return undefined;
  return /^\d+$/.test(value) ? Number(value) : Number.NaN;
}

/**
 * MeHub chats API (seeds/mehub-chats-list-and-transfer.md): Bearer token,
 * `GET /api/v1/chats` with the documented filters and pagination, and
 * `POST /api/v1/chats/{token}/transfer`. As the page's "Como funciona" says, a transfer
 * within the chat's channel only changes the attendant (same chat), while a transfer to
 * another channel creates a new chat there for the same contact, linked to the original
 * (which is left as it was) — so repeating a cross-channel transfer creates another chat.
 *
 * Platform events: with a webhook URL set, an applied transfer sends CHAT_TRANSFERRED (after
 * CHAT_CREATED for the chat a cross-channel transfer creates), and {@link closeChat} — the
 * attendant ending the chat — sends CHAT_ENDED. Each event is POSTed as
 * `{event, data, timestamp, attempt, webhook_id}` with `X-Webhook-Secret` when a secret is set,
 * and retried (same `webhook_id`, `attempt` + 1) on a non-2xx answer or a failed request.
 * The exact `data` of CHAT_ENDED / CHAT_TRANSFERRED was not captured publicly
 * (research/channels.md §4): it follows the documented `data` fields (`chat`, `contact`, `user`,
 * `message`), with `message: null` since these events carry no message.
 */
export class MehubEmulator extends Emulator {
  forbiddenChannels: Set<string>;
  attendantChannels: Map<number, Set<string>>;
  knownChannels: Set<string>;
  readonly defaultChannel: string;
  private readonly byToken = new Map<string, MehubChat>();
  private readonly contacts = new Map<string, MehubContact>();
  private readonly applied: MehubTransfer[] = [];
  private nextChatId = 1;
  private nextContactId = 1;
  private nextMessageId = 1;
  private readonly options: MehubEmulatorOptions;
  /** Further attempts after the first (see {@link MehubEmulatorOptions.webhookRetries}). */
  webhookRetries: number;
  webhookRetryDelayMs: number;
  webhookTimeoutMs: number;
  private webhookUrl: string | undefined;
  private webhookSecret: string | undefined;
  private readonly deliveries: MehubWebhookDelivery[] = [];
  private readonly sentEvents = new Map<string, SentEvent>();
  /** Deliveries under way; {@link reset} and {@link close} abort them. */
  private readonly pending = new Set<Promise<unknown>>();
  private webhookAbort = new AbortController();

  constructor(options: MehubEmulatorOptions = {}) {
    super(
      'mehub',
      [
        {
          name: 'list',
          method: 'GET',
          pattern: '/api/v1/chats',
          handle: ({ query }) => this.list(query),
        },
        {
          name: 'transfer',
          method: 'POST',
          pattern: '/api/v1/chats/:token/transfer',
          handle: ({ params, body }) => this.transfer(params.token ?? '', body),
        },
      ],
      bearerAuth(options.token, { status: 401, body: { success: false, message: 'Não autenticado.' } }),
    );
    this.options = options;
    this.defaultChannel = options.defaultChannel ?? MEHUB_DEFAULT_CHANNEL;
    this.forbiddenChannels = new Set(options.forbiddenChannels);
    this.attendantChannels = copyAccess(options.attendantChannels);
    this.knownChannels = new Set(options.knownChannels);
    this.webhookUrl = options.webhookUrl;
    this.webhookSecret = options.webhookSecret;
    this.webhookRetries = options.webhookRetries ?? WEBHOOK_RETRIES_DEFAULT;
    this.webhookRetryDelayMs = options.webhookRetryDelayMs ?? WEBHOOK_RETRY_DELAY_DEFAULT;
    this.webhookTimeoutMs = options.webhookTimeoutMs ?? WEBHOOK_TIMEOUT_DEFAULT;
  }

  /** Where events go from now on (undefined = nowhere), and the `X-Webhook-Secret` to send (undefined = none). */
  setWebhook(url: string | undefined, secret?: string): void {
    this.webhookUrl = url;
    this.webhookSecret = secret;
  }

  /**
   * The attendant ends the chat: it becomes `is_open: false`, `status: 'finished'`, and a
   * CHAT_ENDED event is sent. Resolves once the event was answered 2xx or the retries ran out,
   * with the last delivery attempt (undefined when no webhook URL is set). Throws for an
   * unknown or already closed chat.
   */
  async closeChat(token: string, options: CloseChatOptions = {}): Promise<MehubWebhookDelivery | undefined> {
    const chat = this.byToken.get(token);
    if (!chat) throw new Error(`mehub emulator: no chat ${token}`);
    if (!chat.is_open) throw new Error(`mehub emulator: chat ${token} is already closed`);
    chat.is_open = false;
    chat.status = 'finished';
    const user = options.attendant ?? (chat.attendant === null ? null : attendantUser(chat.attendant));
    return this.track(this.deliver(this.newEvent('CHAT_ENDED', chat, user)));
  }

  /**
   * The chat's attendant answers the customer (SPEC §12): a MESSAGE_SENT event with an
   * `outgoing` message and the attendant as `data.user`. Resolves like {@link closeChat}.
   * Throws for an unknown or closed chat.
   */
  async attendantReplies(token: string, content: string, options: CloseChatOptions = {}): Promise<MehubWebhookDelivery | undefined> {
    const chat = this.byToken.get(token);
    if (!chat) throw new Error(`mehub emulator: no chat ${token}`);
    if (!chat.is_open) throw new Error(`mehub emulator: chat ${token} is closed`);
    const user = options.attendant ?? attendantUser(chat.attendant ?? 1);
    const event = this.newEvent('MESSAGE_SENT', chat, user);
    event.data.message = { id: randomUUID(), content, type: 'text', file: null, direction: 'outgoing', visibility: 'public' };
    return this.track(this.deliver(event));
  }

  /** The newest open chat of a phone (optionally in one channel), e.g. the chat a handoff created; a copy. */
  openChat(phone: string, channel?: string): MehubChat | undefined {
    const chat = this.sorted()
      .filter((c) => c.contact.phone === phone && c.is_open && (channel === undefined || c.channel === channel))
      .at(-1);
    return chat && structuredClone(chat);
  }

  /** Every delivery attempt, oldest first (copies). */
  webhookDeliveries(): MehubWebhookDelivery[] {
    return this.deliveries.map((d) => ({ ...d }));
  }

  /**
   * Resolves with the first delivery attempt that matches (already recorded ones count), or
   * rejects after `timeoutMs` saying what was seen.
   */
  waitForWebhook(predicate: (d: MehubWebhookDelivery) => boolean, timeoutMs = 10_000): Promise<MehubWebhookDelivery> {
    const found = this.deliveries.find(predicate);
    if (found) return Promise.resolve({ ...found });
    return new Promise((resolve, reject) => {
      const check = (delivery: MehubWebhookDelivery) => {
        if (!predicate(delivery)) return;
        clearTimeout(timer);
        this.off('webhook', check);
        resolve({ ...delivery });
      };
      const timer = setTimeout(() => {
        this.off('webhook', check);
        const seen = this.deliveries.map((d) => `${d.event}#${d.attempt}→${d.status ?? d.error}`).join(', ') || 'none';
        reject(new Error(`mehub: waited ${timeoutMs} ms for a matching webhook delivery, saw: ${seen}`));
      }, timeoutMs);
      this.on('webhook', check);
    });
  }

  /**
   * Sends an earlier event again with the same `webhook_id` (a duplicate, as after a lost
   * answer), with retries; `attempt` counts on from the last one. Throws for an unknown id.
   */
  redeliver(webhookId: string): Promise<MehubWebhookDelivery | undefined> {
    const sent = this.sentEvents.get(webhookId);
    if (!sent) throw new Error(`mehub emulator: no event with webhook_id ${webhookId}`);
    return this.track(this.deliver(sent));
  }

  /** Also aborts webhook deliveries under way. */
  override async close(): Promise<void> {
    await this.abortDeliveries();
    await super.close();
  }

  /** Adds a chat (the contact is shared by every chat of the same phone); returns a copy. */
  addChat(options: AddChatOptions): MehubChat {
    const token = options.token ?? this.newToken();
    if (this.byToken.has(token)) throw new Error(`mehub emulator: chat token ${token} already exists`);
    const isOpen = options.is_open ?? true;
    const chat: MehubChat = {
      id: this.nextChatId++,
      token,
      is_open: isOpen,
      status: options.status ?? (isOpen ? 'waiting' : 'finished'),
      unreadCount: options.unreadCount ?? 0,
      channel: options.channel ?? this.defaultChannel,
      attendant: options.attendant ?? null,
      contact: this.contactFor(options.phone, options.name),
      lastMessage: {
        id: this.nextMessageId++,
        content: options.lastMessage ?? 'Olá, preciso de ajuda!',
        created_at: mehubTimestamp(options.lastMessageAt ?? new Date()),
      },
    };
    this.byToken.set(token, chat);
    return structuredClone(chat);
  }

  /** One chat by token (a copy). */
  chat(token: string): MehubChat | undefined {
    const chat = this.byToken.get(token);
    return chat && structuredClone(chat);
  }

  /** Every chat, by id ascending (copies). */
  chats(): MehubChat[] {
    return structuredClone(this.sorted());
  }

  /** Applied transfers, oldest first. */
  transfers(): MehubTransfer[] {
    return this.applied.map((t) => ({ ...t }));
  }

  /**
   * Also forgets chats, contacts, transfers and webhook deliveries (aborting those under way),
   * and restores the constructor's permissions. The webhook URL, secret and retry settings
   * are wiring, not data: they are kept.
   */
  override reset(): void {
    super.reset();
    void this.abortDeliveries();
    this.deliveries.length = 0;
    this.sentEvents.clear();
    this.byToken.clear();
    this.contacts.clear();
    this.applied.length = 0;
    this.nextChatId = 1;
    this.nextContactId = 1;
    this.nextMessageId = 1;
    this.forbiddenChannels = new Set(this.options.forbiddenChannels);
    this.attendantChannels = copyAccess(this.options.attendantChannels);
    this.knownChannels = new Set(this.options.knownChannels);
  }

  override state(): unknown {
    return {
      chats: this.chats(),
      transfers: this.transfers(),
      forbiddenChannels: [...this.forbiddenChannels],
      attendantChannels: Object.fromEntries([...this.attendantChannels].map(([id, channels]) => [id, [...channels]])),
      knownChannels: [...this.knownChannels],
      webhook: { url: this.webhookUrl ?? null, secret: this.webhookSecret !== undefined, deliveries: this.webhookDeliveries() },
    };
  }

  /**
   * `POST /__sandbox/chats/<token>/close` (body optional `{"attendant":{"id","name"}}`) →
   * `{chat, delivery}` once the CHAT_ENDED delivery is done; `POST /__sandbox/webhook`
   * `{"url","secret"?}`; `POST /__sandbox/webhooks/<webhook_id>/redeliver` → `{delivery}`.
   */
  protected override async controlAction(method: string, action: string, text: string): Promise<RouteResult | undefined> {
    if (method !== 'POST') return undefined;
    let body: Record<string, unknown>;
    try {
      const parsed: unknown = text === '' ? {} : JSON.parse(text);
      if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) throw new Error('not an object');
      body = parsed as Record<string, unknown>;
    } catch {
      return { status: 400, body: { message: 'expected a JSON object' } };
    }
    const close = /^chats\/([^/]+)\/close$/.exec(action);
    if (close) {
      const token = decodeURIComponent(close[1] ?? '');
      const chat = this.byToken.get(token);
      if (!chat) return { status: 404, body: { message: `no chat ${token}` } };
      if (!chat.is_open) return { status: 409, body: { message: `chat ${token} is already closed` } };
      const attendant = body.attendant;
      if (attendant !== undefined && !isUser(attendant)) return { status: 400, body: { message: 'attendant must be {"id","name"}' } };
      const delivery = await this.closeChat(token, attendant === undefined ? {} : { attendant });
      return { status: 200, body: { chat: this.chat(token), delivery: delivery ?? null } };
    }
    const reply = /^chats\/([^/]+)\/reply$/.exec(action);
    if (reply) {
      // The attendant answers (SPEC §12's first response): POST {"content", "attendant"?}.
      const token = decodeURIComponent(reply[1] ?? '');
      const chat = this.byToken.get(token);
      if (!chat) return { status: 404, body: { message: `no chat ${token}` } };
      if (!chat.is_open) return { status: 409, body: { message: `chat ${token} is closed` } };
      const attendant = body.attendant;
      if (attendant !== undefined && !isUser(attendant)) return { status: 400, body: { message: 'attendant must be {"id","name"}' } };
      const content = typeof body.content === 'string' && body.content !== '' ? body.content : 'Olá! Sou o atendente, como posso ajudar?';
      const delivery = await this.attendantReplies(token, content, attendant === undefined ? {} : { attendant });
      return { status: 200, body: { chat: this.chat(token), delivery: delivery ?? null } };
    }
    if (action === 'webhook') {
      const { url, secret } = body;
      if ((url !== undefined && url !== null && typeof url !== 'string') || (secret !== undefined && secret !== null && typeof secret !== 'string')) {
        return { status: 400, body: { message: 'expected {"url","secret"?}' } };
      }
      this.setWebhook(url ?? undefined, secret ?? undefined);
      return { status: 200, body: { ok: true } };
    }
    const redeliver = /^webhooks\/([^/]+)\/redeliver$/.exec(action);
    if (redeliver) {
      const webhookId = decodeURIComponent(redeliver[1] ?? '');
      if (!this.sentEvents.has(webhookId)) return { status: 404, body: { message: `no event with webhook_id ${webhookId}` } };
      return { status: 200, body: { delivery: (await this.redeliver(webhookId)) ?? null } };
    }
    return undefined;
  }

  private newEvent(event: MehubWebhookEvent, chat: MehubChat, user: MehubWebhookUser | null): SentEvent {
    return {
      event,
      webhookId: randomUUID(),
      timestamp: new Date().toISOString(),
      nextAttempt: 1,
      data: {
        chat: {
          token: chat.token,
          status: chat.status,
          external_reference: null,
          channel: { token: chat.channel, name: this.options.channelNames?.[chat.channel] ?? `Canal ${chat.channel}`, type: 'whatsapp' },
          is_open: chat.is_open,
        },
        contact: { phone: chat.contact.phone, name: chat.contact.name, tags: [] },
        user: user && { ...user },
        message: null,
      },
    };
  }

  private track<T>(promise: Promise<T>): Promise<T> {
    this.pending.add(promise);
    void promise.finally(() => this.pending.delete(promise));
    return promise;
  }

  private async abortDeliveries(): Promise<void> {
    this.webhookAbort.abort();
    this.webhookAbort = new AbortController();
    await Promise.allSettled([...this.pending]);
  }

  /**
   * Sends one event (nothing without a webhook URL): up to 1 + `webhookRetries` attempts,
   * `webhookRetryDelayMs` apart, until one is answered 2xx. Never rejects.
   */
  private async deliver(sent: SentEvent, signal = this.webhookAbort.signal): Promise<MehubWebhookDelivery | undefined> {
    const url = this.webhookUrl;
    if (url === undefined || signal.aborted) return undefined;
    this.sentEvents.set(sent.webhookId, sent);
    const secret = this.webhookSecret;
    let last: MehubWebhookDelivery | undefined;
    for (let i = 0; i <= this.webhookRetries; i++) {
      if (i > 0 && !(await abortableSleep(this.webhookRetryDelayMs, signal))) break;
      if (signal.aborted) break;
      const attempt = sent.nextAttempt++;
      const envelope: MehubWebhookEnvelope = { event: sent.event, data: sent.data, timestamp: sent.timestamp, attempt, webhook_id: sent.webhookId };
      const headers: Record<string, string> = { 'content-type': 'application/json' };
      if (secret !== undefined) headers['x-webhook-secret'] = secret;
      const delivery: MehubWebhookDelivery = { event: sent.event, webhookId: sent.webhookId, chatToken: sent.data.chat.token, attempt, at: 0 };
      try {
        const res = await fetch(url, {
          method: 'POST',
          headers,
          body: JSON.stringify(envelope),
          signal: AbortSignal.any([signal, AbortSignal.timeout(this.webhookTimeoutMs)]),
        });
        await res.arrayBuffer().catch(() => undefined);
        delivery.status = res.status;
      } catch (error) {
        const cause = (error as { cause?: { code?: string; message?: string } }).cause;
        delivery.error = cause?.code ?? cause?.message ?? (error as Error).message;
      }
      // Aborted by reset()/close(): the log belongs to what comes next; record nothing.
      if (signal.aborted) break;
      delivery.at = Date.now();
      last = delivery;
      this.deliveries.push(delivery);
      this.emit('webhook', { ...delivery });
      if (delivery.status !== undefined && delivery.status >= 200 && delivery.status < 300) break;
    }
    return last && { ...last };
  }

  private sorted(): MehubChat[] {
    return [...this.byToken.values()].sort((a, b) => a.id - b.id);
  }

  private contactFor(phone: string, name: string | undefined): MehubContact {
    let contact = this.contacts.get(phone);
    if (!contact) {
      contact = { id: this.nextContactId++, name: name ?? `Contato ${phone.slice(-4)}`, phone };
      this.contacts.set(phone, contact);
    } else if (name !== undefined) {
      contact.name = name;
    }
    return contact;
  }

  private newToken(): string {
    for (;;) {
      const token = [...randomBytes(12)].map((byte) => TOKEN_ALPHABET[byte % TOKEN_ALPHABET.length]).join('');
      if (!this.byToken.has(token)) return token;
    }
  }

  private list(query: URLSearchParams): RouteResult {
    const contactQuery = query.get('contact');
    if (this.options.autoCreateChats && contactQuery && /^\d{10,15}$/.test(contactQuery) && !query.get('channel')) {
      if (!this.sorted().some((chat) => chat.contact.phone === contactQuery && chat.is_open)) this.addChat({ phone: contactQuery });
    }
    const page = queryInteger(query.get('page')) ?? 1;
    const perPageAsked = queryInteger(query.get('per_page')) ?? PER_PAGE_DEFAULT;
    if (!(page >= 1)) return fail(422, 'O campo page deve ser um número inteiro maior que zero.');
    if (!(perPageAsked >= 1)) return fail(422, 'O campo per_page deve ser um número inteiro maior que zero.');
    // The page documents "máx: 100" without saying what happens above it; we clamp to 100
    // (the orchestrator always asks for 100, so either choice would serve).
    const perPage = Math.min(perPageAsked, PER_PAGE_MAX);

    const status = query.get('status') || undefined;
    if (status !== undefined && !STATUSES.includes(status as MehubChatStatus)) return fail(422, 'O status selecionado é inválido.');
    const isOpenText = query.get('is_open') || undefined;
    let isOpen: boolean | undefined;
    if (isOpenText !== undefined) {
      if (isOpenText === 'true' || isOpenText === '1') isOpen = true;
      else if (isOpenText === 'false' || isOpenText === '0') isOpen = false;
      else return fail(422, 'O campo is_open deve ser verdadeiro ou falso.');
    }
    const attendant = queryInteger(query.get('attendant'));
    if (Number.isNaN(attendant)) return fail(422, 'O campo attendant deve ser um número inteiro.');
    const contact = query.get('contact') || undefined;
    const channel = query.get('channel') || undefined;
    // `tag` is accepted and ignored: the emulator keeps no tags.

    const matching = this.sorted().filter(
      (chat) =>
        (status === undefined || chat.status === status) &&
        (isOpen === undefined || chat.is_open === isOpen) &&
        (contact === undefined || String(chat.contact.id) === contact || chat.contact.phone === contact) &&
        (channel === undefined || chat.channel === channel) &&
        (attendant === undefined || chat.attendant === attendant),
    );
    const start = (page - 1) * perPage;
    return {
      status: 200,
      body: {
        success: true,
        data: matching.slice(start, start + perPage),
        pagination: {
          total: matching.length,
          per_page: perPage,
          current_page: page,
          last_page: Math.max(1, Math.ceil(matching.length / perPage)),
        },
      },
    };
  }

  private transfer(token: string, body: unknown): RouteResult {
    const chat = this.byToken.get(token);
    if (!chat) return NOT_FOUND;

    const input = body !== null && typeof body === 'object' && !Array.isArray(body) ? (body as Record<string, unknown>) : {};
    const { channel } = input;
    if (channel === undefined || channel === null || channel === '') return fail(422, 'O campo channel é obrigatório.');
    if (typeof channel !== 'string' || codePointLength(channel) !== CHANNEL_LENGTH) {
      return fail(422, `O campo channel deve ter ${CHANNEL_LENGTH} caracteres.`);
    }
    // Absent, null and "" all mean "no attendant" / "no message" (Laravel turns "" into null).
    const attendantValue = input.attendant === '' ? null : (input.attendant ?? null);
    if (attendantValue !== null && (typeof attendantValue !== 'number' || !Number.isSafeInteger(attendantValue))) {
      return fail(422, 'O campo attendant deve ser um número inteiro.');
    }
    const attendant = attendantValue;
    const messageValue = input.message === '' ? null : (input.message ?? null);
    if (messageValue !== null && typeof messageValue !== 'string') return fail(422, 'O campo message deve ser um texto.');
    if (messageValue !== null && codePointLength(messageValue) > MESSAGE_MAX) {
      return fail(422, `O campo message não pode ter mais de ${MESSAGE_MAX} caracteres.`);
    }
    const message = messageValue;

    if (this.knownChannels.size > 0 && !this.knownChannels.has(channel)) return NOT_FOUND;
    if (this.forbiddenChannels.has(chat.channel) || this.forbiddenChannels.has(channel)) return FORBIDDEN;
    const access = attendant === null ? undefined : this.attendantChannels.get(attendant);
    if (access && !access.has(channel)) return NO_ACCESS;

    const record: MehubTransfer = { chatToken: chat.token, channel, attendant, message };
    if (channel === chat.channel) {
      // Same channel: only the responsible attendant changes; no attendant = waiting queue.
      chat.attendant = attendant;
    } else {
      const created: MehubChat = {
        id: this.nextChatId++,
        token: this.newToken(),
        is_open: true,
        status: 'waiting',
        unreadCount: 0,
        channel,
        attendant,
        contact: chat.contact,
        lastMessage: { id: this.nextMessageId++, content: chat.lastMessage.content, created_at: mehubTimestamp(new Date()) },
        linkedFrom: chat.token,
      };
      this.byToken.set(created.token, created);
      record.newChatToken = created.token;
    }
    this.applied.push(record);
    if (this.webhookUrl !== undefined) {
      // Sent after the answer is built, in order: the new chat exists before it is transferred to.
      const user = attendant === null ? null : attendantUser(attendant);
      const createdChat = record.newChatToken === undefined ? undefined : this.byToken.get(record.newChatToken);
      const createdEvent = createdChat && this.newEvent('CHAT_CREATED', createdChat, user);
      const transferredEvent = this.newEvent('CHAT_TRANSFERRED', chat, user);
      const signal = this.webhookAbort.signal;
      void this.track(
        (async () => {
          if (createdEvent) await this.deliver(createdEvent, signal);
          await this.deliver(transferredEvent, signal);
        })(),
      );
    }
    return {
      status: 200,
      body: { success: true, message: 'Conversa transferida com sucesso.', data: { chatToken: chat.token, channel, attendant } },
    };
  }
}

function attendantUser(id: number): MehubWebhookUser {
  return { id, name: `Atendente ${id}` };
}

function isUser(value: unknown): value is MehubWebhookUser {
  if (value === null || typeof value !== 'object') return false;
  const { id, name } = value as Record<string, unknown>;
  return (typeof id === 'number' || typeof id === 'string') && typeof name === 'string';
}

/** Resolves true after `ms`, or false as soon as `signal` aborts. */
function abortableSleep(ms: number, signal: AbortSignal): Promise<boolean> {
  if (signal.aborted) return Promise.resolve(false);
  return new Promise((resolve) => {
    const onAbort = () => {
      clearTimeout(timer);
      resolve(false);
    };
    const timer = setTimeout(() => {
      signal.removeEventListener('abort', onAbort);
      resolve(true);
    }, ms);
    signal.addEventListener('abort', onAbort, { once: true });
  });
}

function copyAccess(access: Map<number, Set<string>> | undefined): Map<number, Set<string>> {
  return new Map([...(access ?? [])].map(([id, channels]) => [id, new Set(channels)]));
}
