import { createBullBoard } from '@bull-board/api';
import { BullMQAdapter } from '@bull-board/api/bullMQAdapter';
import { ExpressAdapter } from '@bull-board/express';
import { Job } from 'bullmq';
import express, { type NextFunction, type Request, type Response } from 'express';
import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import type { Dispatcher } from 'undici';
import { z } from 'zod';
import type { Config } from '../config.js';
import { effectiveState, type Conversation } from '../conversations/state.js';
import type { ConversationRef, ConversationStore } from '../conversations/store.js';
import { AppError, isUpstreamError } from '../errors.js';
import { createHandoffOutcomes } from '../handoff/outcome.js';
import type { HandoffQueue } from '../handoff/queue.js';
import { handoffJobOptions } from '../handoff/queue.js';
import { readRecord, readRecordJob, recordFromHash, type HandoffRecord, type HandoffState } from '../handoff/records.js';
import { requestJson } from '../http/request.js';
import { joinUrl } from '../http/url.js';
import type { Keys } from '../keys.js';
import { normalizePhone } from '../webhook/schema.js';
import { adminAuth } from './auth.js';

export interface AdminDeps {
  config: Config;
  redis: Redis;
  keys: Keys;
  store: ConversationStore;
  handoffs: HandoffQueue;
  http: Dispatcher;
  logger: Logger;
}

/** An operator action waits this long for the customer's turn. */
const ADMIN_LOCK_WAIT_MS = 10_000;
const HANDOFF_STATES: readonly HandoffState[] = ['pending', 'done', 'failed'];

const bulkSchema = z.strictObject({
  status: z.enum(['UNRESOLVED', 'RESOLVED', 'HUMAN_REQUESTED'], { error: 'must be UNRESOLVED, RESOLVED or HUMAN_REQUESTED' }),
  channel: z.string().min(1).max(64).optional(),
  agentId: z.string().min(1).max(256).optional(),
  all: z.boolean().optional(),
});

const invalid = (path: string, message: string) => new AppError('invalid_request', message, 400, { issues: [{ path, message }] });

type Handler = (req: Request, res: Response) => Promise<void>;
const route = (handler: Handler) => (req: Request, res: Response, next: NextFunction) => {
  handler(req, res).catch(next);
};

/**
 * The admin API (SPEC §6) and the queue dashboard, under /admin, behind ADMIN_TOKEN.
 * Operator actions on a conversation take the customer's turn first, like a message does,
 * so they never interleave with a message being processed.
 */
export function createAdminRouter(deps: AdminDeps): express.Router {
  const { config, redis, keys, store, handoffs, logger } = deps;
  const outcomes = createHandoffOutcomes(redis, keys);
  const router = express.Router();
  router.use('/admin', adminAuth(config.adminToken));
  router.use('/admin', express.json({ limit: '16kb' }));

  const board = new ExpressAdapter();
  board.setBasePath('/admin/queues');
  createBullBoard({ queues: [new BullMQAdapter(handoffs.queue, { readOnlyMode: false })], serverAdapter: board });
  router.use('/admin/queues', board.getRouter());

  function refOf(req: Request): ConversationRef {
    const channel = String(req.params.channel);
    if (!config.channels[channel]) throw new AppError('unknown_channel', 'unknown channel', 404);
    const phone = normalizePhone(String(req.params.phone));
    if (!phone) throw invalid('phone', 'must be a phone number with 10 to 15 digits');
    return { channel, phone };
  }

  async function view(ref: ConversationRef, conversation: Conversation) {
    const record = conversation.handoffId ? await readRecord(redis, keys, conversation.handoffId) : null;
    return {
      channel: ref.channel,
      phone: ref.phone,
      state: effectiveState(conversation, Date.now()),
      botId: conversation.botId ?? config.channels[ref.channel]?.bot.id ?? null,
      conversationId: conversation.conversationId,
      handoff: record ? { id: record.id, provider: record.provider, state: record.state, attempts: record.attempts, lastError: record.lastError } : null,
    };
  }

  async function withTurn<T>(ref: ConversationRef, action: (conversation: Conversation, commit: (c: Partial<Conversation>) => Promise<void>) => Promise<T>): Promise<T> {
    const turn = await store.acquire(ref, Date.now() + ADMIN_LOCK_WAIT_MS);
    if (!turn) throw new AppError('conversation_busy', 'a message of this customer is being processed; try again', 503);
    let committed = false;
    try {
      return await action(turn.conversation, async (fields) => {
        committed = true;
        await store.commit(turn.lock, { conversation: fields });
      });
    } finally {
      if (!committed) await store.commit(turn.lock, {}).catch(() => undefined);
    }
  }

  router.get(
    '/admin/conversations/:channel/:phone',
    route(async (req, res) => {
      const ref = refOf(req);
      const conversation = await store.get(ref);
      if (!conversation) throw new AppError('conversation_not_found', 'no conversation for this customer', 404);
      res.json(await view(ref, conversation));
    }),
  );

  router.post(
    '/admin/conversations/:channel/:phone/release',
    route(async (req, res) => {
      const ref = refOf(req);
      const released = await withTurn(ref, async (conversation, commit) => {
        const pending = conversation.handoffId ? await readRecord(redis, keys, conversation.handoffId) : null;
        if (pending?.state === 'pending') {
          // The job must not hand the customer off after an operator gave them back to the bot.
          const job = await readRecordJob(redis, keys, pending.id);
          if (job) await outcomes.finish(job, 'failed', { lastError: 'cancelled: released by an operator' });
          await Job.fromId(handoffs.queue, pending.id)
            .then((j) => j?.remove())
            .catch(() => undefined); // an active job is stopped by the worker's own conversation check
        }
        const fields: Partial<Conversation> = { state: 'bot', handoffId: null, humanUntil: null, jobQueued: false };
        await commit(fields);
        logger.info({ channel: ref.channel, phone: ref.phone, handoffId: conversation.handoffId }, 'conversation released to the bot by an operator');
        return { ...conversation, ...fields };
      });
      res.json(await view(ref, released));
    }),
  );

  router.get(
    '/admin/handoffs',
    route(async (req, res) => {
      const state = req.query.state;
      if (state !== undefined && !HANDOFF_STATES.includes(state as HandoffState)) throw invalid('state', 'must be pending, done or failed');
      const limit = req.query.limit === undefined ? 100 : Number(req.query.limit);
      if (!Number.isInteger(limit) || limit < 1 || limit > 1000) throw invalid('limit', 'must be an integer from 1 to 1000');
      const states = state ? [state as HandoffState] : HANDOFF_STATES;
      const ids = new Map<string, number>();
      for (const s of states) {
        const entries = await redis.zrevrange(keys.handoffIndex(s), 0, limit - 1, 'WITHSCORES');
        for (let i = 0; i + 1 < entries.length; i += 2) ids.set(entries[i] as string, Number(entries[i + 1]));
      }
      const newest = [...ids].sort((a, b) => b[1] - a[1]).slice(0, limit);
      const pipeline = redis.pipeline();
      for (const [id] of newest) pipeline.hgetall(keys.handoff(id));
      const results = (await pipeline.exec()) ?? [];
      const records = results.map(([, hash]) => recordFromHash(hash as Record<string, string>)).filter((r): r is HandoffRecord => r !== null);
      res.json({ handoffs: records });
    }),
  );

  router.get(
    '/admin/handoffs/:id',
    route(async (req, res) => {
      const record = await readRecord(redis, keys, String(req.params.id));
      if (!record) throw new AppError('handoff_not_found', 'no such handoff', 404);
      res.json(record);
    }),
  );

  router.post(
    '/admin/handoffs/:id/retry',
    route(async (req, res) => {
      const id = String(req.params.id);
      const record = await readRecord(redis, keys, id);
      const job = record ? await readRecordJob(redis, keys, id) : null;
      if (!record || !job) throw new AppError('handoff_not_found', 'no such handoff', 404);
      if (record.state !== 'failed') throw new AppError('not_failed', `the handoff is ${record.state}; only a failed handoff can be retried`, 409);
      const channel = config.channels[job.channel];
      if (!channel) throw new AppError('unknown_channel', `channel ${job.channel} is not in the configuration any more`, 409);

      await withTurn({ channel: job.channel, phone: job.phone }, async (conversation, commit) => {
        const state = effectiveState(conversation, Date.now());
        if ((state === 'handoff_pending' || state === 'human') && conversation.handoffId !== id) {
          throw new AppError('conversation_busy', 'the conversation is already with a human through another handoff', 409);
        }
        if (!(await outcomes.reopen(id))) throw new AppError('not_failed', 'the handoff is no longer failed', 409);
        const humanUntil = Date.now() + channel.humanTtlMinutes * 60_000;
        await commit({ state: 'handoff_pending', handoffId: id, humanUntil, jobQueued: true });
        const existing = await Job.fromId(handoffs.queue, id);
        if (existing && (await existing.getState()) === 'failed') await existing.retry('failed');
        else {
          await existing?.remove().catch(() => undefined);
          await handoffs.queue.add('handoff', job, handoffJobOptions(job, config.retry));
        }
      });
      logger.info({ handoffId: id, channel: job.channel, phone: job.phone }, 'failed handoff retried by an operator');
      res.status(202).json({ id, state: 'pending' });
    }),
  );

  router.post(
    '/admin/superagentes/bulk-status',
    route(async (req, res) => {
      const parsed = bulkSchema.safeParse(req.body ?? {});
      if (!parsed.success) {
        throw new AppError('invalid_request', 'invalid body', 400, { issues: parsed.error.issues.map((i) => ({ path: i.path.join('.'), message: i.message })) });
      }
      const { status, channel, agentId, all } = parsed.data;
      // Without a filter SuperAgentes changes EVERY conversation of the workspace.
      if (!channel && !agentId && all !== true) throw invalid('', 'refused: give a channel or agentId filter, or "all": true to change every conversation of the workspace');
      const settings = config.providers.superagentes;
      if (!settings.token) throw invalid('', 'providers.superagentes.token is not configured');
      const url = joinUrl(settings.baseUrl, '/api/conversations/update-status');
      if (channel) url.searchParams.set('channel', channel);
      if (agentId) url.searchParams.set('agentId', agentId);
      try {
        const { data } = await requestJson(deps.http, {
          service: 'superagentes',
          method: 'POST',
          url,
          headers: { authorization: `Bearer ${settings.token}` },
          body: { status },
          timeoutMs: settings.timeoutMs,
          schema: z.object({ count: z.number().int().nonnegative() }).loose(),
        });
        logger.warn({ status, channel: channel ?? null, agentId: agentId ?? null, all: all === true, count: data.count }, 'SuperAgentes bulk status change by an operator');
        res.json({ count: data.count });
      } catch (error) {
        if (!isUpstreamError(error)) throw error;
        res.status(502).json({ error: 'upstream_error', status: error.status ?? null, message: error.upstreamMessage ?? error.message });
      }
    }),
  );

  router.use('/admin', (_req, res) => {
    res.status(404).json({ error: 'not_found' });
  });
  return router;
}
