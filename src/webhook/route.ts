import express, { type NextFunction, type Request, type Response } from 'express';
import type { Logger } from 'pino';
import type { Config } from '../config.js';
import type { Pipeline } from '../pipeline/process-message.js';
import { createAuthenticator, type Authenticator } from './auth.js';
import { parseInbound } from './schema.js';
import { AppError } from '../errors.js';

const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/** SPEC §3: bodies up to 256 KiB. */
export const MAX_BODY_BYTES = 256 * 1024;

/**
 * `POST /webhooks/{channel}`: unknown channel (404) → content type (415) → raw body up to
 * 256 KiB (413) → UTF-8 (400) → credentials on the raw bytes (401) → JSON (400) → schema
 * (400) → pipeline.
 */
export function createWebhookRouter(deps: { config: Config; pipeline: Pipeline }): express.Router {
  const authenticators = new Map<string, Authenticator>();
  for (const [name, channel] of Object.entries(deps.config.channels)) authenticators.set(name, createAuthenticator(channel.auth));

  const router = express.Router();
  const readRaw = express.raw({ type: () => true, limit: MAX_BODY_BYTES });

  function precheck(req: Request, res: Response, next: NextFunction): void {
    const channel = String(req.params.channel);
    if (!authenticators.has(channel)) return next(new AppError('unknown_channel', `unknown channel`, 404));
    res.locals.channel = channel;
    if (!req.is(['application/json', 'application/*+json'])) {
      return next(new AppError('unsupported_media_type', 'Content-Type must be application/json', 415));
    }
    next();
  }

  async function handle(req: Request, res: Response, next: NextFunction): Promise<void> {
    try {
      const channel = res.locals.channel as string;
      const raw: Buffer = Buffer.isBuffer(req.body) ? req.body : Buffer.alloc(0);
      // JSON is UTF-8. Checked before the signature: for valid UTF-8 the text and the bytes
      // correspond one to one, so the library's check of the decoded text is a check of the raw
      // bytes; and ids made of invalid bytes cannot collapse into the same U+FFFD key.
      let text: string;
      try {
        text = utf8.decode(raw);
      } catch {
        res.status(400).json({ error: 'invalid_request', issues: [{ path: '', message: 'body is not valid UTF-8' }] });
        return;
      }
      const authenticate = authenticators.get(channel) as Authenticator;
      if (!authenticate(raw, req.headers)) throw new AppError('unauthorized', 'missing or bad credentials', 401);

      let body: unknown;
      try {
        body = JSON.parse(text);
      } catch (error) {
        res.status(400).json({ error: 'invalid_request', issues: [{ path: '', message: `malformed JSON: ${(error as Error).message}` }] });
        return;
      }
      const parsed = parseInbound(body);
      if (!parsed.ok) {
        res.status(400).json({ error: 'invalid_request', issues: parsed.issues });
        return;
      }
      const { phone, messageId } = parsed.message;
      let log: Logger | undefined;
      const result = await deps.pipeline.process(channel, parsed.message, () => (log ??= (res.locals.log as Logger).child({ channel, phone, messageId })));
      if (typeof result.body.handoffId === 'string') res.locals.handoffId = result.body.handoffId; // for the request line
      res.status(result.status).json(result.body);
    } catch (error) {
      next(error);
    }
  }

  router.post('/webhooks/:channel', precheck, readRaw, handle);
  return router;
}
