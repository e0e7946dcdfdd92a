import type { RetryConfig } from '../config/index.js';

/**
 * How long to wait before the next try (SPEC §5). A platform's `Retry-After` wins, capped at
 * `maxDelayMs`; otherwise exponential back-off with full jitter:
 * `random(0, min(maxDelayMs, baseDelayMs * 2^(failures - 1)))`.
 *
 * @param failures tries that failed so far (1 after the first failure)
 */
export function retryDelayMs(failures: number, retry: RetryConfig, retryAfterMs?: number, random: () => number = Math.random): number {
  if (retryAfterMs !== undefined && Number.isFinite(retryAfterMs) && retryAfterMs >= 0) return Math.min(retryAfterMs, retry.maxDelayMs);
  const ceiling = Math.min(retry.maxDelayMs, retry.baseDelayMs * 2 ** Math.max(0, failures - 1));
  return Math.floor(random() * ceiling);
}
