import type { EventEmitter } from 'node:events';

export interface WaitOptions<T> {
  /** Named in the timeout error. */
  what: string;
  timeoutMs?: number;
  /** Re-probe period when no event wakes the wait (default 25 ms; Infinity = events only). */
  intervalMs?: number;
  /** Re-probe at once when one of these emits (an emulator's 'request', a queue's event). */
  wakeOn?: ReadonlyArray<readonly [EventEmitter, string]>;
  /** What counts as done (default: a truthy value). */
  done?: (value: T) => boolean;
  /** Probe errors that mean "not yet" (default: none — any error rejects at once). */
  retryOn?: (error: unknown) => boolean;
}

/**
 * The suite's one wait: re-probes `probe` on each wake-up event (and every `intervalMs`),
 * one probe at a time, and resolves with the first value that is `done`. On timeout it
 * rejects naming `what`, with the last value or error seen — never a sleep-then-assert.
 */
export function waitUntil<T>(probe: () => T | Promise<T>, options: WaitOptions<T>): Promise<T> {
  const done = options.done ?? ((value: T) => Boolean(value));
  const timeoutMs = options.timeoutMs ?? 10_000;
  const intervalMs = options.intervalMs ?? 25;
  return new Promise<T>((resolve, reject) => {
    let last: { value?: T; error?: unknown } = {};
    let running = false;
    let again = false;
    let finished = false;
    const wakers = (options.wakeOn ?? []).map(([emitter, event]) => {
      const listener = () => void tick();
      emitter.on(event, listener);
      return () => emitter.off(event, listener);
    });
    const interval = Number.isFinite(intervalMs) ? setInterval(() => void tick(), intervalMs) : undefined;
    const timer = setTimeout(() => {
      finish();
      const seen = 'error' in last ? `last error: ${String(last.error)}` : `last value: ${JSON.stringify(last.value)}`;
      reject(new Error(`timed out after ${timeoutMs} ms waiting for ${options.what} (${seen})`));
    }, timeoutMs);
    function finish() {
      finished = true;
      clearTimeout(timer);
      if (interval) clearInterval(interval);
      for (const off of wakers) off();
    }
    async function tick(): Promise<void> {
      if (finished) return;
      if (running) {
        again = true;
        return;
      }
      running = true;
      try {
        const value = await probe();
        last = { value };
        if (!finished && done(value)) {
          finish();
          resolve(value);
        }
      } catch (error) {
        last = { error };
        if (!options.retryOn?.(error)) {
          finish();
          reject(error instanceof Error ? error : new Error(String(error)));
        }
      } finally {
        running = false;
        if (again && !finished) {
          again = false;
          void tick();
        }
      }
    }
    void tick();
  });
}
