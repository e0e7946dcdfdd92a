/**
 * Hooks the workers call for metrics (implemented by metrics.ts); every one optional so
 * tests and tools can leave them out. Defined here, in src/, so the metrics never depend on
 * the workers.
 */
export interface WorkerObserver {
  attempt?(provider: string, outcome: 'done' | 'retry' | 'failed', seconds: number): void;
  finished?(provider: string, outcome: 'done' | 'failed' | 'cancelled'): void;
  /** SPEC §12: a handoff moved on from one helpdesk to the next. */
  failover?(channel: string, from: string, to: string): void;
}

/** SPEC §12: the first-response watchdog. */
export interface FirstResponseObserver {
  /** A human answered, this many seconds after the handoff was done. */
  answered?(channel: string, seconds: number): void;
  /** Nobody answered in time, and `action` was taken. */
  breach?(channel: string, action: 'remind' | 'fallback' | 'bot'): void;
}

export interface DeliveryObserver {
  /** One send try: `sent`, `retry` or `failed` (for good, or reported failed later by the channel); `cancelled`: not sent, a person answered from the phone. */
  delivery?(channel: string, outcome: 'sent' | 'retry' | 'failed' | 'cancelled'): void;
  /** From the message's acceptance to its reply being sent, in seconds. */
  replyLatency?(channel: string, seconds: number): void;
}

/** Why a conversation came back to the bot, or (`phone`) a person took it from the phone: `handoff_releases_total{cause}`. */
export type ReleaseCause = 'ttl' | 'admin' | 'platform_event' | 'platform_status' | 'phone' | 'first_response';

export interface ReleaseObserver {
  released?(cause: ReleaseCause): void;
}
