import type { IncomingHttpHeaders } from 'node:http';
import type { Dispatcher } from 'undici';
import type { z } from 'zod';
import type { ConfigProblem } from '../config/problems.js';
import type { StoredDelivery, Outgoing } from '../delivery/records.js';
import type { HandoffJob } from '../handoff/job.js';

/** A webhook request as the adapter sees it: the raw bytes (signatures), headers and query. */
export interface InboundRequest {
  raw: Buffer;
  headers: IncomingHttpHeaders;
  query: URLSearchParams;
}

/** What kind of address a reply goes to (SPEC §11): a phone, a WhatsApp LID, or a business-scoped user ID. */
export type AddressKind = 'phone' | 'lid' | 'bsuid';

/** One message of a delivery, in the one shape the pipeline understands. */
export interface ChannelMessage {
  /** The configured channel it belongs to (a WhatsApp delivery may carry another number's messages). */
  channel: string;
  messageId: string;
  /**
   * Digits of the phone the customer wrote from (for `owner`: the customer the business wrote
   * to); null when the message carries only a WhatsApp LID or a business-scoped user ID. The
   * customer is identified from this and `lid` / `bsuid` (SPEC §11, identity/).
   */
  phone: string | null;
  /** A WhatsApp LID's digits (Evolution, Z-API), when the message carries one (SPEC §11). */
  lid?: string;
  /** A WhatsApp Cloud API business-scoped user ID (`user_id`, e.g. `BR.1502576394655843`), when given (SPEC §11). */
  bsuid?: string;
  /** Where replies go, exactly as the channel gave it (`from`, the JID's digits, `phone`, `<digits>@lid`, a BSUID). */
  to: string;
  /** What `to` is: a phone (the default), a LID, or a BSUID (the Graph API's `recipient`). */
  toKind?: AddressKind;
  name: string | null;
  /**
   * `text`: a customer text; `unsupported`: a customer message without text; `owner`: sent
   * from the business's own number (`fromMe`, a WhatsApp Business app echo) — our own send's
   * echo or a person answering from the phone (SPEC §9.3, §8.4).
   */
  kind: 'text' | 'unsupported' | 'owner';
  text?: string;
  /** For `unsupported`: what it was (audio, sticker…). */
  what?: string;
  /** `owner` only: the channel says it was sent through its API (Z-API `fromApi`), so it is an echo of ours. */
  sentByApi?: boolean;
  /** When the channel says the message was sent (ms since the epoch), when it says so. */
  sentAt?: number;
  externalIds?: HandoffJob['externalIds'];
}

/**
 * Why an item of a delivery is not a message to process (`webhook_messages_ignored_total`'s
 * `reason`). The warn-level ones ({@link WARN_REASONS}) are messages that could not be read or
 * routed; the others are never a customer message nor a person answering (SPEC §8.1, §8.4).
 */
export type IgnoreReason =
  /** No id, no sender, an id over 256 characters, a body item that is not an object. */
  | 'unreadable'
  /** A sender address the service cannot use (a WhatsApp LID before §11, a JID that is not a phone). */
  | 'unknown_address'
  /** A `phone_number_id` no channel has. */
  | 'unknown_number'
  /** A `phone_number_id` of a channel with another app secret (SPEC §8.4: one tenant cannot speak for another). */
  | 'foreign_number'
  /** Group, broadcast, newsletter or status chats. */
  | 'group'
  | 'reaction'
  /** An edit of an earlier message (Meta `edit`, Evolution `editedMessage`, Z-API `isEdit`). */
  | 'edit'
  /** A deleted message (Meta `revoke`, Evolution `protocolMessage`). */
  | 'deleted'
  /** A pinned message notice (Z-API `pinMessage`). */
  | 'pin'
  /** System notices, calls, payment notices, encryption stubs, "waiting for message". */
  | 'system'
  /** A message of another Evolution instance posted to this channel's URL. */
  | 'other_instance';

/** Ignored items logged at warn: something that looked like a message could not be read or routed. */
export const WARN_REASONS: ReadonlySet<IgnoreReason> = new Set(['unreadable', 'unknown_address', 'unknown_number', 'foreign_number']);

/**
 * A delivery status the channel reported later for a message the service sent (WhatsApp
 * `statuses[]`, SPEC §8.4): `sentId` is the id the send call returned.
 */
export interface StatusReport {
  channel: string;
  /** Digits of the customer the status is about (`recipient_id`); null when only a BSUID is given. */
  phone: string | null;
  /** `recipient_user_id`, when given. */
  bsuid?: string;
  sentId: string;
  status: 'sent' | 'delivered' | 'read' | 'failed';
  /** When the channel says it happened (ms), for ordering. */
  at: number;
  /** `failed` only: the channel's error (Meta `errors[0]`: `code`, `title`). */
  error?: { code: number | null; title: string };
}

export type { ValidationIssue } from '../webhook/schema.js';
import type { ValidationIssue } from '../webhook/schema.js';

export type InboundParse =
  | {
      ok: true;
      messages: ChannelMessage[];
      /** Items of the delivery that are not messages to process (statuses, reactions, groups, other events). */
      ignored: number;
      /** Items that looked like messages but could not be read or routed (logged at warn; the rest of the delivery goes on). */
      skipped?: { path: string; reason: string }[];
      /** Message items not processed, by reason (`webhook_messages_ignored_total`); statuses and other events are not counted here. */
      ignoredBy?: Partial<Record<IgnoreReason, number>>;
      /** Delivery statuses of messages the service sent (WhatsApp `statuses[]`); also counted in `ignored`. */
      statuses?: StatusReport[];
    }
  | { ok: false; issues: ValidationIssue[] };

/**
 * A channel kind's inbound side: wire format → internal messages. Built once per configured
 * channel; checks credentials on the raw bytes before anything is parsed.
 */
export interface ChannelAdapter {
  readonly kind: string;
  /** True when the request carries the channel's credentials (signature, token…). */
  authenticate(req: InboundRequest): boolean;
  /** The parsed JSON body → the messages to accept, or what is wrong with it. */
  parse(body: unknown): InboundParse;
  /** `GET /webhooks/{channel}`: a subscription check (WhatsApp's `hub.challenge`); absent = 404. */
  verify?(query: URLSearchParams): { status: number; body: string };
}

/** What the customer must be told after a turn, in order (asynchronous channels send it; the synchronous answer carries `reply`). */
export type CustomerEvent =
  | { type: 'message.replied'; reply: string; conversationId: string | null }
  | { type: 'handoff.queued'; reply: string | null; conversationId: string; handoffId: string };

/** How a handoff ended, for the customer (SPEC §8.2 events, §9.2 `failedMessage`). */
export type HandoffEndEvent = { type: 'handoff.done' | 'handoff.failed'; conversationId: string | null; handoffId: string; failedMessage?: string };

/** One send of a delivery (a split text is several). */
export interface OutgoingPart {
  /** For text channels: the text of this part. For callbacks: the event body. */
  body: Record<string, unknown>;
}

/**
 * A channel kind's outbound side: what the customer must see → sends through the channel's
 * API, on the shared HTTP helper (its errors say whether a retry may help).
 */
export interface ChannelSender {
  /** What an event becomes on this channel: texts for the customer, or one callback event. */
  render(event: CustomerEvent | HandoffEndEvent): Outgoing[];
  /**
   * The sends one delivery takes now, in order (a text over the channel's limit is split; on
   * WhatsApp Cloud API outside the 24-hour window, the one template). Throws an UpstreamError
   * when the delivery cannot go at all (outside the window with no template, SPEC §13).
   */
  split(delivery: StoredDelivery, context?: SendContext): OutgoingPart[];
  /**
   * Sends one part. Resolves with the ids the channel gave the sent message (its `fromMe`
   * echo must change nothing), and `covers: true` when that send stood in for the rest of the
   * delivery too (a template sent because Meta refused the free text, SPEC §13); rejects with
   * an UpstreamError whose `retryable` decides.
   */
  send(delivery: StoredDelivery, part: OutgoingPart, context?: SendContext): Promise<SendResult>;
}

/** What a try knows about the customer when it sends. */
export interface SendContext {
  /** When the customer last wrote (epoch ms; null: unknown) — WhatsApp's 24-hour window. */
  lastInboundAt: number | null;
}

export interface SendResult {
  ids: string[];
  covers?: boolean;
}

/** A configured channel's two halves. */
export interface ConfiguredChannel {
  name: string;
  adapter: ChannelAdapter;
  /** Absent for synchronous `json` channels (the reply is the HTTP answer). */
  sender?: ChannelSender;
}

/** What configuring a channel needs besides its own settings. */
export interface ChannelContext {
  http: Dispatcher;
  /** `delivery.timeoutMs`: each send call's time limit. */
  deliveryTimeoutMs: number;
  /** Every `whatsapp-cloud` number, for routing (a WhatsApp delivery may carry another number's messages). */
  whatsappNumbers: ReadonlyMap<string, { channel: string; appSecret: string }>;
}

/**
 * A channel kind's room: everything the service knows about a kind comes from here — the
 * keys of its `channels.<name>` block, the environment variable overriding its base URL, the
 * checks spanning keys, whether a channel is asynchronous, and its adapter and sender.
 * Adding a kind is a folder with one of these and a line in channels/registry.ts.
 */
export interface ChannelRoom<S extends z.ZodObject = z.ZodObject> {
  readonly kind: string;
  /** The whole `channels.<name>` block (its `kind` literal, the common keys and its own). */
  readonly schema: S;
  /** Keys only some kinds have: a key on another kind is named "only allowed on channels of kind …". */
  readonly ownKeys: readonly string[];
  /** `<variable>` overrides `<block>.baseUrl` of every channel of this kind (tests, sandboxes, proxies). */
  readonly baseUrlEnv?: { variable: string; block: string };
  /** True when replies go through the channel's API, after the webhook answered (SPEC §8). */
  isAsynchronous(channel: z.infer<S>): boolean;
  /** The business's own number shows a person answering from the phone (SPEC §9.3): a first-response signal (SPEC §12). */
  readonly phoneSignal?: boolean;
  /** Free text only within 24 h of the customer's last message (SPEC §13): the last inbound time is kept. */
  readonly customerWindow?: boolean;
  /** Defaults that depend on other keys, filled after parsing (`json` with `reply`). */
  complete?(channel: z.infer<S>): z.infer<S>;
  /** Problems spanning keys, on the raw document (reported with every other problem). */
  crossCheck?(name: string, channel: Record<string, unknown>, context: { channels: Record<string, unknown>; asynchronousKinds: string }): ConfigProblem[];
  /** The channel's inbound adapter and sender. */
  configure(name: string, channel: z.infer<S>, ctx: ChannelContext): ConfiguredChannel;
}
