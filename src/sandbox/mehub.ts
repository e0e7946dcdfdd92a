import { randomBytes } from 'node:crypto';
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
}

export const MEHUB_DEFAULT_CHANNEL = 'origin0channel01';
const CHANNEL_LENGTH = 16;
const MESSAGE_MAX = 1000;
const PER_PAGE_DEFAULT = 20;
const PER_PAGE_MAX = 100;
const STATUSES: readonly MehubChatStatus[] = ['entrance', 'waiting', 'finished'];
const TOKEN_ALPHABET = 'abcdefghijklmnopqrstuvwxyz0123456789';

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

  /** Also forgets chats, contacts and transfers, and restores the constructor's permissions. */
  override reset(): void {
    super.reset();
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
    };
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
    const attendant = attendantValue as number | null;
    const messageValue = input.message === '' ? null : (input.message ?? null);
    if (messageValue !== null && typeof messageValue !== 'string') return fail(422, 'O campo message deve ser um texto.');
    if (messageValue !== null && codePointLength(messageValue) > MESSAGE_MAX) {
      return fail(422, `O campo message não pode ter mais de ${MESSAGE_MAX} caracteres.`);
    }
    const message = messageValue as string | null;

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
    return {
      status: 200,
      body: { success: true, message: 'Conversa transferida com sucesso.', data: { chatToken: chat.token, channel, attendant } },
    };
  }
}

function copyAccess(access: Map<number, Set<string>> | undefined): Map<number, Set<string>> {
  return new Map([...(access ?? [])].map(([id, channels]) => [id, new Set(channels)]));
}
