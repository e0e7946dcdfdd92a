import type { IncomingMessage } from 'node:http';
import { Emulator, type RouteResult } from './emulator.js';

export type BrpexTicketState = 'bot' | 'human';

/** An open ticket of one phone (BRPEX keeps at most one open ticket per phone here). */
export interface BrpexTicket {
  phone: string;
  state: BrpexTicketState;
  openedAt: string;
  /** When the last dispatch moved it to human attendance. */
  transferredAt?: string;
}

/** One applied `dispatch-to-chat` call. */
export interface BrpexDispatch {
  phone: string;
  /** The subdomain whose token the call carried (undefined when tokens are not per subdomain). */
  subdomain?: string;
  /** The ticket's state before this call (`human` = a repeated dispatch). */
  previousState: BrpexTicketState;
  at: string;
}

export interface BrpexEmulatorOptions {
  /** Channel tokens per subdomain; any of them is accepted (the Host header is not checked). */
  tokens?: Record<string, string> | undefined;
  /** A single accepted token (in addition to `tokens`). */
  token?: string;
  /**
   * Treat every phone as having an open ticket, created on the fly in state `bot`
   * (default true; the demo and most tests rely on it). When false, a phone without
   * {@link BrpexEmulator.openTicket} answers 404.
   */
  autoCreateTickets?: boolean;
}

const UNAUTHORIZED: RouteResult = { status: 401, body: { message: 'unauthorized' } };
/** DDI + DDD + number, digits only (E.164 allows at most 15 digits). */
const PHONE = /^\d{10,15}$/;

/**
 * BRPEX CRM `POST /api/v1/dispatch-to-chat` (seeds/brpex-dispatch-to-chat.md): header
 * `token: <channel token>`, body `{"phone"}`; moves the phone's open ticket to human
 * attendance and answers `{"message":"success"}`. The real host is `{subdomain}.brpex.com`;
 * on loopback the orchestrator calls this emulator's URL directly, so any Host is accepted.
 */
export class BrpexEmulator extends Emulator {
  autoCreateTickets: boolean;
  private readonly tickets = new Map<string, BrpexTicket>();
  private readonly applied: BrpexDispatch[] = [];
  /** Accepted token → the subdomain it belongs to (undefined for the single `token`). */
  private readonly tokenOwners: Map<string, string | undefined>;
  private readonly initialAutoCreate: boolean;

  constructor(options: BrpexEmulatorOptions = {}) {
    const tokenOwners = new Map<string, string | undefined>();
    if (options.token !== undefined) tokenOwners.set(options.token, undefined);
    for (const [subdomain, token] of Object.entries(options.tokens ?? {})) tokenOwners.set(token, subdomain);
    super(
      'brpex',
      [
        {
          name: 'dispatch',
          method: 'POST',
          pattern: '/api/v1/dispatch-to-chat',
          handle: ({ body, headers }) => this.dispatchToChat(body, headers),
        },
      ],
      (headers) => {
        const token = headerToken(headers);
        // The header is required; with no token configured any non-empty one is accepted.
        if (token === undefined || token === '') return UNAUTHORIZED;
        if (tokenOwners.size > 0 && !tokenOwners.has(token)) return UNAUTHORIZED;
        return null;
      },
    );
    this.tokenOwners = tokenOwners;
    this.autoCreateTickets = options.autoCreateTickets ?? true;
    this.initialAutoCreate = this.autoCreateTickets;
  }

  /** Opens a fresh ticket (state `bot`) for `phone`, replacing any previous one. */
  openTicket(phone: string): BrpexTicket {
    const ticket: BrpexTicket = { phone, state: 'bot', openedAt: new Date().toISOString() };
    this.tickets.set(phone, ticket);
    return { ...ticket };
  }

  /** Closes the phone's ticket: a later dispatch answers 404 unless `autoCreateTickets`. */
  closeTicket(phone: string): void {
    this.tickets.delete(phone);
  }

  /** The phone's open ticket, if any. */
  ticket(phone: string): BrpexTicket | undefined {
    const ticket = this.tickets.get(phone);
    return ticket && { ...ticket };
  }

  /** Applied dispatches, oldest first (only `phone`'s when given); `.length` is the count. */
  dispatches(phone?: string): BrpexDispatch[] {
    return this.applied.filter((d) => phone === undefined || d.phone === phone).map((d) => ({ ...d }));
  }

  /** Also forgets tickets and dispatches, and restores `autoCreateTickets`. */
  override reset(): void {
    super.reset();
    this.tickets.clear();
    this.applied.length = 0;
    this.autoCreateTickets = this.initialAutoCreate;
  }

  override state(): unknown {
    return {
      autoCreateTickets: this.autoCreateTickets,
      tickets: Object.fromEntries(this.tickets),
      dispatches: this.dispatches(),
    };
  }

  private dispatchToChat(body: unknown, headers: IncomingMessage['headers']): RouteResult {
    const phone = body !== null && typeof body === 'object' ? (body as Record<string, unknown>).phone : undefined;
    if (phone === undefined || phone === null || phone === '') return { status: 422, body: { message: 'The phone field is required.' } };
    if (typeof phone !== 'string' || !PHONE.test(phone)) {
      return { status: 422, body: { message: 'The phone field format is invalid.' } };
    }

    let ticket = this.tickets.get(phone);
    if (!ticket) {
      if (!this.autoCreateTickets) return { status: 404, body: { message: 'ticket not found' } };
      ticket = { phone, state: 'bot', openedAt: new Date().toISOString() };
      this.tickets.set(phone, ticket);
    }

    const at = new Date().toISOString();
    const dispatch: BrpexDispatch = { phone, previousState: ticket.state, at };
    const subdomain = this.tokenOwners.get(headerToken(headers) ?? '');
    if (subdomain !== undefined) dispatch.subdomain = subdomain;
    this.applied.push(dispatch);
    ticket.state = 'human';
    ticket.transferredAt = at;
    return { status: 200, body: { message: 'success' } };
  }
}

function headerToken(headers: IncomingMessage['headers']): string | undefined {
  const value = headers.token;
  return Array.isArray(value) ? value[0] : value;
}
