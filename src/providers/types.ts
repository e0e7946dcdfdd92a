import type { Logger } from 'pino';
import type { Dispatcher } from 'undici';
import type { z } from 'zod';
import type { ConfigProblem } from '../config/problems.js';
import type { NoteInput } from '../handoff/note.js';

/** What a platform told us at handoff time, kept on the handoff record for later checks (SPEC §9.2, §8.4). */
export interface HandoffLearnt {
  mehubChatToken?: string;
  superagentesConversationId?: string;
}

/** What a platform needs to know about the customer being handed over (a handoff job carries it). */
export interface HandoffRequest extends NoteInput {
  /** The phone the customer last wrote from (digits, as written). */
  phone: string;
  /** The same number's other Brazilian ninth-digit form, tried once when a lookup by `phone` finds nothing (SPEC §11); null when none. */
  alternatePhone?: string | null;
  externalIds: { mehubChatToken?: string; superagentesConversationId?: string };
}

/** A channel's `handoff` block, as every platform sees it; each platform narrows it to its own keys. */
export interface HandoffBlock {
  provider: string;
  /** The channel's own token for the platform (overrides `providers.<name>.token`). */
  token?: string;
}

/** One try at performing a handoff on a platform. */
export interface HandoffAttempt {
  job: HandoffRequest;
  /** The channel's `handoff` block (provider-specific settings and token). */
  settings: HandoffBlock;
  /**
   * True when an earlier try may already have changed the platform: it sent the changing
   * request and then timed out, lost the connection, got a 5xx, or its worker died.
   */
  mayHaveApplied: boolean;
  /**
   * Awaited right before a request whose repetition would do harm (MeHub's cross-channel
   * transfer): claims the side effect for this try — persisted, and held by one try only, so
   * a worker killed mid-request, or a second worker running the same job, leaves every other
   * try knowing `mayHaveApplied` — and re-checks that the conversation still waits for the
   * handoff. Rejects when the adapter must not go on. Idempotent adapters need not call it.
   */
  beforeSideEffect: () => Promise<void>;
  log: Logger;
}

/** What a platform did, when it did it. */
export interface PlatformResult {
  /** What happened, for the log and the record: "chat abc transferred to xyz (new chat def)". */
  summary: string;
  /** What the platform told us that a later status check needs (SPEC §9.2). */
  learnt?: HandoffLearnt;
}

/**
 * One adapter per helpdesk platform, all with the same contract: resolve on success; reject
 * with an UpstreamError whose `retryable` says whether another try may succeed.
 */
export interface HandoffProvider {
  readonly name: string;
  perform(attempt: HandoffAttempt): Promise<PlatformResult>;
  /**
   * SPEC §9.2: asks the platform whether the human a conversation was handed to is done.
   * Resolves true only when the platform says so; rejects when it cannot be asked (the
   * caller then leaves the conversation with the human). Absent: the platform cannot tell.
   */
  isHumanDone?(check: StatusQuery): Promise<boolean>;
}

export interface StatusQuery {
  phone: string;
  /** The other ninth-digit form (SPEC §11), asked too when `phone` finds nothing. */
  alternatePhone?: string | null;
  settings: HandoffBlock;
  /** What the worker learnt at handoff time (the SuperAgentes conversation it changed…). */
  learnt: HandoffLearnt;
  timeoutMs: number;
}

/**
 * A helpdesk platform's room: everything the service knows about it comes from here — the
 * keys of a channel's `handoff` block, the shared `providers.<name>` settings, the environment
 * variable that overrides its base URL, the checks that span keys, and the adapter. Adding a
 * platform is a folder with one of these and a line in providers/registry.ts.
 */
export interface PlatformRoom<H extends z.ZodObject = z.ZodObject, S extends z.ZodObject = z.ZodObject> {
  readonly name: string;
  /** A channel's `handoff` block for this platform (`provider: <name>` and its own keys). */
  readonly handoff: H;
  /** `providers.<name>`: settings shared by every channel handing off there. */
  readonly settings: S;
  /** Overrides `providers.<name>.baseUrl` (tests, sandboxes, proxies). */
  readonly baseUrlEnv: string;
  /**
   * Problems that span keys, on the raw document (reported with every other problem):
   * `handoff` is the channel's block, `shared` the `providers.<name>` section.
   */
  crossCheck?(channel: string, handoff: Record<string, unknown>, shared: Record<string, unknown>): ConfigProblem[];
  /** The adapter, from the parsed shared settings. */
  create(settings: z.infer<S>, http: Dispatcher): HandoffProvider;
}
