import type { Logger } from 'pino';

/**
 * For errors that repeat while a dependency is down (a reconnect every 100 ms): logs the
 * first at `level`, then at most one line per `intervalMs` with how many were left out.
 */
export function throttledErrorLog(logger: Logger, message: string, intervalMs = 30_000, level: 'error' | 'warn' = 'error') {
  let last = 0;
  let suppressed = 0;
  return (error: Error): void => {
    const now = Date.now();
    if (now - last < intervalMs) {
      suppressed += 1;
      return;
    }
    logger[level]({ err: { message: error.message, code: (error as NodeJS.ErrnoException).code }, suppressed: suppressed || undefined }, message);
    last = now;
    suppressed = 0;
  };
}
