import { randomUUID } from 'node:crypto';
import type { NextFunction, Request, Response } from 'express';
import type { Logger } from 'pino';

const REQUEST_ID = /^[\w.:-]{1,128}$/;

/** What a finished request looked like, for metrics. */
export interface RequestSummary {
  path: string;
  status: number;
  channel: string | undefined;
}

/**
 * One log line per request (method, path, status, duration, channel, request id, and the
 * handoff id when the message started a handoff) and a
 * child logger in `res.locals.log` carrying the request id. An incoming `X-Request-Id` is
 * honoured when it looks like an id, else one is made; it is echoed in the response.
 * `onDone` sees every finished request (metrics).
 */
export function requestLog(logger: Logger, onDone?: (summary: RequestSummary) => void) {
  return (req: Request, res: Response, next: NextFunction): void => {
    const incoming = req.headers['x-request-id'];
    const reqId = typeof incoming === 'string' && REQUEST_ID.test(incoming) ? incoming : randomUUID();
    const started = performance.now();
    // Most requests log nothing but their request line: make the child logger on first use.
    let child: Logger | undefined;
    Object.defineProperty(res.locals, 'log', { get: () => (child ??= logger.child({ reqId })), enumerable: true });
    res.setHeader('x-request-id', reqId);
    // 'close' comes once per response, after 'finish' or when the client went away first.
    res.once('close', () => {
      const status = res.headersSent ? res.statusCode : undefined;
      const channel = res.locals.channel as string | undefined;
      const entry = {
        reqId,
        method: req.method,
        path: req.path,
        status,
        durationMs: Math.round((performance.now() - started) * 100) / 100,
        channel,
        handoffId: res.locals.handoffId as string | undefined,
        aborted: !res.writableFinished || undefined,
      };
      if (status !== undefined && status >= 500) logger.error(entry, 'request');
      else logger.info(entry, 'request');
      onDone?.({ path: entry.path, status: status ?? 499, channel });
    });
    next();
  };
}
