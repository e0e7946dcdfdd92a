import express, { type NextFunction, type Request, type Response } from 'express';
import type { RedisClient } from './redis/connection.js';
import type { Logger } from 'pino';
import type { Config } from './config/index.js';
import { AppError } from './errors.js';
import { isRedisError } from './redis/errors.js';
import type { Metrics } from './observability/metrics.js';
import { requestLog } from './observability/request-log.js';
import { createWebhookRouter, type WebhookDeps } from './webhook/route.js';

export interface AppDeps {
  config: Config;
  redis: RedisClient;
  logger: Logger;
  /** Absent in a worker-only process, which serves only the operational endpoints. */
  webhook?: WebhookDeps;
  metrics?: Metrics;
  /** Extra routers mounted before the 404 handler (admin). */
  routers?: express.Router[];
}

/**
 * Maps body-parser's errors onto the contract's answers. They carry an HTTP `status`
 * (a body whose Content-Encoding does not match it fails in zlib with status 400 and no `type`).
 */
function bodyParserError(error: unknown): AppError | null {
  if (!error || typeof error !== 'object' || !('status' in error)) return null;
  const status = Number((error).status);
  if (status === 413) return new AppError('payload_too_large', 'body over 256 KiB', 413);
  if (status === 415) return new AppError('unsupported_media_type', 'unsupported Content-Encoding', 415);
  if (status >= 400 && status < 500) {
    const message = (error as { message?: unknown }).message;
    const reason = typeof message === 'string' ? message : 'unreadable body';
    return new AppError('invalid_request', `unreadable body: ${reason}`, 400);
  }
  return null;
}

/** Builds the HTTP app (no `listen`: tests mount it on their own server). */
export function createApp(deps: AppDeps): express.Express {
  const app = express();
  app.disable('x-powered-by');
  app.set('etag', false);
  const metrics = deps.metrics;
  app.use(
    requestLog(deps.logger, (done) => {
      if (metrics && done.path.startsWith('/webhooks/')) metrics.webhookRequest(done.channel ?? 'unknown', done.status);
    }),
  );
  // The webhook first: it is nearly all of the traffic.
  if (deps.webhook) app.use(createWebhookRouter(deps.webhook));

  app.get('/healthz', (_req, res) => {
    res.json({ status: 'ok' });
  });
  app.get('/readyz', async (_req, res) => {
    try {
      if (deps.redis.status !== 'ready') throw new Error(`redis ${deps.redis.status}`);
      await deps.redis.ping();
      res.json({ status: 'ready' });
    } catch {
      res.status(503).json({ status: 'unavailable' });
    }
  });
  if (metrics) app.use(metrics.router());
  for (const router of deps.routers ?? []) app.use(router);

  app.use((_req, res) => {
    res.status(404).json({ error: 'not_found' });
  });

  // Every failure answers JSON; never a stack trace to a caller.
  app.use((error: unknown, req: Request, res: Response, _next: NextFunction) => {
    let known = error instanceof AppError ? error : bodyParserError(error);
    // A Redis outage (a BullMQ call, an admin query) is a 503; anything else is not that outage.
    if (!known && isRedisError(error)) known = new AppError('unavailable', 'Redis is unavailable', 503, { cause: error });
    const log = (res.locals.log as Logger | undefined) ?? deps.logger;
    if (res.headersSent) {
      log.error({ err: error }, 'error after the response started');
      return;
    }
    if (!known) {
      log.error({ err: error }, 'unexpected error');
      res.status(500).json({ error: 'internal_error' });
      return;
    }
    if (known.httpStatus === 503) {
      log.warn({ err: known.cause ?? known, code: known.code }, 'service unavailable');
      res.setHeader('retry-after', '5');
      res.status(503).json({ error: known.code === 'conversation_busy' ? 'conversation_busy' : 'unavailable' });
      return;
    }
    if (known.httpStatus >= 500) log.error({ err: known.cause ?? known, code: known.code }, known.message);
    if (known.code === 'invalid_request') {
      res.status(400).json({ error: 'invalid_request', issues: known.issues ?? [{ path: '', message: known.message }] });
      return;
    }
    // 4xx from operator actions say what to do; the webhook's answers are exactly the contract's.
    const body: Record<string, unknown> = { error: known.code };
    if (req.path.startsWith('/admin/') && known.httpStatus === 409) body.message = known.message;
    res.status(known.httpStatus).json(body);
  });
  return app;
}
