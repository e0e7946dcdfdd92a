import express, { type NextFunction, type Request, type Response } from 'express';
import type { Logger } from 'pino';
import type { ConfiguredChannel, IgnoreReason } from '../channels/types.js';
import type { StatusRecorder } from '../delivery/statuses.js';
import { isAsyncChannel, type Config } from '../config/index.js';
import { AppError } from '../errors.js';
import type { Inbox } from '../inbox/accept.js';
import type { Pipeline } from '../turn/synchronous.js';
import { parseInbound } from './schema.js';

const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/** SPEC §3: bodies up to 256 KiB. */
export const MAX_BODY_BYTES = 256 * 1024;

export interface WebhookDeps {
  config: Config;
  channels: ReadonlyMap<string, ConfiguredChannel>;
  /** Synchronous `json` channels. */
  pipeline: Pipeline;
  /** Asynchronous channels. */
  inbox: Inbox;
  /** Delivery statuses reported later (WhatsApp `statuses[]`). */
  statuses: StatusRecorder;
  observer?: {
    inbound?(channel: string, outcome: 'accepted' | 'duplicate' | 'ignored', count?: number): void;
    /** Message items not processed, by reason (`webhook_messages_ignored_total`). */
    ignoredMessages?(channel: string, reason: IgnoreReason, count: number): void;
  };
}

/** The raw query string's parameters (most webhooks have none: nothing is parsed then). */
const queryOf = (req: Request) => {
  const at = req.originalUrl.indexOf('?');
  return new URLSearchParams(at < 0 ? '' : req.originalUrl.slice(at + 1));
};

const invalid = (res: Response, issues: { path: string; message: string }[]) => res.status(400).json({ error: 'invalid_request', issues });

/**
 * `POST /webhooks/{channel}`: unknown channel (404) → content type (415) → raw body up to
 * 256 KiB (413) → the channel adapter's credentials on the raw bytes (401) → UTF-8 (400) →
 * JSON (400) → then either the synchronous pipeline (plain `json` channels, SPEC §3) or the
 * adapter's parse and the durable inbox (every other kind, SPEC §8.1: the answer comes once
 * each message is stored and de-duplicated, before any bot call).
 *
 * `GET /webhooks/{channel}`: the adapter's subscription check (WhatsApp's `hub.challenge`).
 */
export function createWebhookRouter(deps: WebhookDeps): express.Router {
  const router = express.Router();
  const readRaw = express.raw({ type: () => true, limit: MAX_BODY_BYTES });

  function precheck(req: Request, res: Response, next: NextFunction): void {
    const channel = String(req.params.channel);
    if (!deps.channels.has(channel)) return next(new AppError('unknown_channel', `unknown channel`, 404));
    res.locals.channel = channel;
    if (!req.is(['application/json', 'application/*+json'])) {
      return next(new AppError('unsupported_media_type', 'Content-Type must be application/json', 415));
    }
    next();
  }

  async function handle(req: Request, res: Response, next: NextFunction): Promise<void> {
    try {
      const name = res.locals.channel as string;
      const configured = deps.channels.get(name) as ConfiguredChannel;
      const channel = deps.config.channels[name];
      if (!channel) throw new AppError('unknown_channel', 'unknown channel', 404);
      const raw: Buffer = Buffer.isBuffer(req.body) ? req.body : Buffer.alloc(0);
      // Credentials first, on the raw bytes: a request that fails them gets 401 whatever its
      // body (SPEC §8.4), and tells an unauthenticated caller nothing about what it sent.
      if (!configured.adapter.authenticate({ raw, headers: req.headers, query: queryOf(req) })) throw new AppError('unauthorized', 'missing or bad credentials', 401);
      // JSON is UTF-8; ids made of invalid bytes must not collapse into the same U+FFFD key.
      let text: string;
      try {
        text = utf8.decode(raw);
      } catch {
        invalid(res, [{ path: '', message: 'body is not valid UTF-8' }]);
        return;
      }

      let body: unknown;
      try {
        body = JSON.parse(text);
      } catch (error) {
        invalid(res, [{ path: '', message: `malformed JSON: ${(error as Error).message}` }]);
        return;
      }

      if (!isAsyncChannel(channel)) {
        const parsed = parseInbound(body);
        if (!parsed.ok) {
          invalid(res, parsed.issues);
          return;
        }
        const { phone, messageId } = parsed.message;
        let log: Logger | undefined;
        const result = await deps.pipeline.process(name, parsed.message, () => (log ??= (res.locals.log as Logger).child({ channel: name, phone, messageId })));
        if (typeof result.body.handoffId === 'string') res.locals.handoffId = result.body.handoffId; // for the request line
        res.status(result.status).json(result.body);
        return;
      }

      const parsed = configured.adapter.parse(body);
      if (!parsed.ok) {
        invalid(res, parsed.issues);
        return;
      }
      // Nothing dropped in silence (SPEC §8.4): what could not be read or routed is logged, everything not processed is counted.
      if (parsed.skipped?.length) (res.locals.log as Logger).warn({ channel: name, skipped: parsed.skipped }, 'ignored items of the delivery that could not be read or routed');
      for (const [reason, count] of Object.entries(parsed.ignoredBy ?? {})) if (count) deps.observer?.ignoredMessages?.(name, reason as IgnoreReason, count);
      const [{ accepted, duplicates }] = await Promise.all([
        parsed.messages.length > 0 ? deps.inbox.accept(parsed.messages) : { accepted: 0, duplicates: new Set<string>() },
        parsed.statuses?.length ? deps.statuses.record(parsed.statuses) : undefined,
      ]);
      deps.observer?.inbound?.(name, 'accepted', accepted);
      if (duplicates.size) deps.observer?.inbound?.(name, 'duplicate', duplicates.size);
      if (parsed.ignored) deps.observer?.inbound?.(name, 'ignored', parsed.ignored);
      if (channel.kind === 'json') {
        const messageId = parsed.messages[0]?.messageId;
        res.status(202).json({ status: 'accepted', messageId, ...(messageId !== undefined && duplicates.has(messageId) ? { duplicate: true } : {}) });
        return;
      }
      res.status(200).json({ status: 'accepted', accepted });
    } catch (error) {
      next(error);
    }
  }

  router.post('/webhooks/:channel', precheck, readRaw, handle);
  router.get('/webhooks/:channel', (req, res, next) => {
    const configured = deps.channels.get(String(req.params.channel));
    if (!configured) return next(new AppError('unknown_channel', 'unknown channel', 404));
    res.locals.channel = configured.name;
    if (!configured.adapter.verify) return next(new AppError('not_found', 'this channel has no verification endpoint', 404));
    const answer = configured.adapter.verify(queryOf(req));
    res.status(answer.status).type('text/plain').send(answer.body);
  });
  return router;
}
