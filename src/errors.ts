/**
 * The project's errors carry meaning, not just text: a stable `code`, the HTTP status the
 * API answers with, whether a retry may succeed, and the original `cause`.
 */
export class AppError extends Error {
  constructor(
    readonly code: string,
    message: string,
    readonly httpStatus: number,
    options: { cause?: unknown; retryable?: boolean; issues?: { path: string; message: string }[] } = {},
  ) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'AppError';
    this.retryable = options.retryable ?? false;
    this.issues = options.issues;
  }
  readonly retryable: boolean;
  /** For `invalid_request`: what was wrong, by path (the 400 body's `issues`). */
  readonly issues: { path: string; message: string }[] | undefined;
}

/** Why an upstream HTTP call failed; decides retries (see {@link classifyStatus}). */
export type UpstreamErrorKind =
  | 'timeout' // no answer within the time limit: the request may have been applied
  | 'network' // connection refused / reset / DNS: may or may not have reached the server
  | 'http_status' // the server answered with a non-success status
  | 'invalid_response' // 2xx, but the body is not what the API documents
  | 'not_found' // a lookup that found nothing (e.g. MeHub `no_open_chat`)
  | 'not_sent'; // the call was not made: the channel's rules refuse it (WhatsApp's 24-hour window)

/**
 * A failed call to Toolzz or a helpdesk platform. `status` is the upstream HTTP status when
 * there was one; `upstreamMessage` is the platform's own message (recorded on the handoff).
 */
export class UpstreamError extends Error {
  readonly retryable: boolean;
  readonly status: number | undefined;
  readonly retryAfterMs: number | undefined;
  readonly upstreamMessage: string | undefined;
  /** The error body as JSON, when it was JSON (a channel may classify by its own codes: Meta's `error.code`). */
  readonly upstreamBody: unknown;
  /** True when the request may have been applied even though we saw no success. */
  readonly ambiguous: boolean;

  constructor(
    readonly code: string,
    readonly kind: UpstreamErrorKind,
    message: string,
    options: {
      status?: number;
      retryable: boolean;
      retryAfterMs?: number;
      upstreamMessage?: string;
      upstreamBody?: unknown;
      ambiguous?: boolean;
      cause?: unknown;
    },
  ) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'UpstreamError';
    this.status = options.status;
    this.retryable = options.retryable;
    this.retryAfterMs = options.retryAfterMs;
    this.upstreamMessage = options.upstreamMessage;
    this.upstreamBody = options.upstreamBody;
    this.ambiguous = options.ambiguous ?? false;
  }
}

/** SPEC §5: network error, timeout, 408, 425, 429 and 5xx are worth retrying; other 4xx are not. */
export function classifyStatus(status: number): { retryable: boolean; ambiguous: boolean } {
  if (status === 408 || status === 425 || status === 429) return { retryable: true, ambiguous: status === 408 };
  if (status >= 500 && status <= 599) return { retryable: true, ambiguous: true };
  return { retryable: false, ambiguous: false };
}

export function isUpstreamError(error: unknown): error is UpstreamError {
  return error instanceof Error && error.name === 'UpstreamError';
}

/**
 * Why a try failed, as recorded on a handoff or delivery (`lastError`): the upstream's own
 * words, prefixed with our code when it is a lookup that found nothing (`no_conversation: …`);
 * anything else by its error name.
 */
export function describeFailure(error: unknown): string {
  if (isUpstreamError(error)) return error.kind === 'not_found' && !error.message.startsWith(error.code) ? `${error.code}: ${error.message}` : error.message;
  return error instanceof Error ? `${error.name}: ${error.message}` : String(error);
}

/**
 * What a failure means for another try, whoever tried (a handoff, a delivery): the one
 * classification the workers map onto BullMQ (workers/shared.ts, STYLE §4).
 * - `upstream`: the platform or channel said (its `retryable`, `Retry-After`, and whether the
 *   request may have been applied);
 * - `redis`: Redis was away — worth another try;
 * - `bug`: anything else — retrying a bug only delays the customer.
 */
export interface FailureClass {
  source: 'upstream' | 'redis' | 'bug';
  retryable: boolean;
  /** The request may have been applied although no success was seen. */
  ambiguous: boolean;
  retryAfterMs: number | undefined;
  /** What is recorded (`lastError`). */
  description: string;
}

export function classifyFailure(error: unknown, isRedisError: (error: unknown) => boolean): FailureClass {
  const description = describeFailure(error);
  if (isUpstreamError(error)) return { source: 'upstream', retryable: error.retryable, ambiguous: error.ambiguous, retryAfterMs: error.retryAfterMs, description };
  if (isRedisError(error)) return { source: 'redis', retryable: true, ambiguous: true, retryAfterMs: undefined, description };
  return { source: 'bug', retryable: false, ambiguous: true, retryAfterMs: undefined, description };
}
