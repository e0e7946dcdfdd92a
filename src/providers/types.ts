import type { Logger } from 'pino';
import type { HandoffSettings, ProviderName } from '../config.js';
import type { HandoffJob } from '../handoff/job.js';
import type { HandoffLearnt } from '../handoff/records.js';

/** One try at performing a handoff on a platform. */
export interface HandoffAttempt {
  job: HandoffJob;
  /** The channel's `handoff` block (provider-specific settings and token). */
  settings: HandoffSettings;
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
  beforeSideEffect(): Promise<void>;
  log: Logger;
}

export interface HandoffOutcome {
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
  readonly name: ProviderName;
  perform(attempt: HandoffAttempt): Promise<HandoffOutcome>;
  /**
   * SPEC §9.2: asks the platform whether the human a conversation was handed to is done.
   * Resolves true only when the platform says so; rejects when it cannot be asked (the
   * caller then leaves the conversation with the human). Absent: the platform cannot tell.
   */
  isHumanDone?(check: StatusQuery): Promise<boolean>;
}

export interface StatusQuery {
  phone: string;
  settings: HandoffSettings;
  /** What the worker learnt at handoff time (the SuperAgentes conversation it changed…). */
  learnt: HandoffLearnt;
  timeoutMs: number;
}
