import type { Logger } from 'pino';

/**
 * A Logger that builds the real one (usually a child with bindings, which costs a
 * serialisation) only when a line is actually written, and only once.
 */
export function lazyLogger(make: () => Logger): Logger {
  let logger: Logger | undefined;
  return new Proxy({} as Logger, {
    get(_target, property) {
      logger ??= make();
      const value = Reflect.get(logger, property, logger) as unknown;
      return typeof value === 'function' ? (value as (...args: unknown[]) => unknown).bind(logger) : value;
    },
  });
}
