import { AppError } from '../errors.js';

/**
 * True when `error` means Redis could not be reached or could not serve the command right
 * now (connection refused or lost, command timed out, a failover or cluster reshard in
 * progress): the request answers 503 and is retried. Anything else — a Lua error, a
 * validation error, a bug — is not an outage and must not be reported as one.
 * Classified by name, code and Redis's error prefix, not by `instanceof`.
 */
export function isRedisError(error: unknown): boolean {
  if (!(error instanceof Error)) return false;
  if (error.name === 'MaxRetriesPerRequestError' || error.name === 'ClusterAllFailedError') return true;
  const code = (error as NodeJS.ErrnoException).code;
  if (code !== undefined && CONNECTION_CODES.has(code)) return true;
  if (error.name === 'ReplyError') return UNAVAILABLE_REPLIES.test(error.message);
  return CLIENT_MESSAGES.test(error.message);
}

const CONNECTION_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH', 'ECONNABORTED']);
/** Redis replies that mean "not now" rather than "wrong". */
const UNAVAILABLE_REPLIES = /^(LOADING|READONLY|MASTERDOWN|CLUSTERDOWN|TRYAGAIN|BUSY|NOREPLICAS|OOM|NOAUTH|WRONGPASS)\b/;
/** ioredis' own words for a connection that cannot carry the command. */
const CLIENT_MESSAGES =
  /Connection is closed|enableOfflineQueue|Command timed out|None of startup nodes is available|Failed to refresh slots cache|All sentinels are unreachable|Connection in subscriber mode|Reached the max retries per request limit/;

/** Any Redis failure on the request path becomes a 503 `unavailable`; anything else is not Redis's fault. */
export async function guarded<T>(operation: Promise<T>): Promise<T> {
  try {
    return await operation;
  } catch (error) {
    if (isRedisError(error)) throw redisUnavailable(error);
    throw error;
  }
}

/** The 503 a request answers when Redis cannot serve it (SPEC §3). */
export function redisUnavailable(cause: unknown): AppError {
  return new AppError('unavailable', 'Redis is unavailable', 503, { cause, retryable: true });
}
