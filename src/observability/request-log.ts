import { randomUUID } from 'node:crypto';
import type { NextFunction, Request, Response } from 'express';
import type { Logger } from 'pino';

const REQUEST_ID = /^[\w.:-]{1,128}$/;

/**
 * One log line per request (method, path, status, duration, channel, request id) and a
 * child logger in `res.locals.log` carrying the request id. An incoming `X-Request-Id` is
 * honoured when it looks like an id, else one is made; it is echoed in the response.
 */
export function requestLog(logger: Logger) {
  return (req: Request, res: Response, next: NextFunction): void => {
    const incoming = req.headers['x-request-id'];
    const reqId = typeof incoming === 'string' && REQUEST_ID.test(incoming) ? incoming : randomUUID();
    const started = performance.now();
    const log = logger.child({ reqId });
    res.locals.log = log;
    res.setHeader('x-request-id', reqId);
    let logged = false;
    const done = () => {
      if (logged) return;
      logged = true;
      const entry = {
        method: req.method,
        path: req.path,
        status: res.headersSent ? res.statusCode : undefined,
        durationMs: Math.round((performance.now() - started) * 100) / 100,
        channel: res.locals.channel as string | undefined,
        aborted: !res.writableFinished || undefined,
      };
      if (entry.status !== undefined && entry.status >= 500) log.error(entry, 'request');
      else log.info(entry, 'request');
    };
    res.on('finish', done);
    res.on('close', done);
    next();
  };
}
