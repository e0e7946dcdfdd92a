import { createBullBoard } from '@bull-board/api';
import { BullMQAdapter } from '@bull-board/api/bullMQAdapter';
import { ExpressAdapter } from '@bull-board/express';
import { Job } from 'bullmq';
import express, { type NextFunction, type Request, type Response } from 'express';
import { z } from 'zod';
import { BACK_TO_BOT, effectiveState, isWithHuman, type Conversation } from '../conversations/state.js';
import type { ConversationLock, ConversationRef } from '../conversations/store.js';
import { AppError, isUpstreamError } from '../errors.js';
import { createHandoffOutcomes } from '../handoff/outcome.js';
import { createHandoffRecords, HANDOFF_STATES, type HandoffState } from '../handoff/records.js';
import { superagentesBulkStatus } from '../providers/superagentes.js';
import type { Core } from '../service.js';
import { normalizePhone } from '../webhook/schema.js';
import { adminAuth } from './auth.js';
import { createDeliveryRoutes } from './deliveries.js';
import { newestRecords } from './lists.js';

/** An operator action waits this long for the customer's turn. */
const ADMIN_LOCK_WAIT_MS = 10_000;

const bulkSchema = z.strictObject({
  status: z.enum(['UNRESOLVED', 'RESOLVED', 'HUMAN_REQUESTED'], { error: 'must be UNRESOLVED, RESOLVED or HUMAN_REQUESTED' }),
  channel: z.string().min(1).max(64).optional(),
  agentId: z.string().min(1).max(256).optional(),
  all: z.boolean().optional(),
});

export const invalid = (path: string, message: string) => new AppError('invalid_request', message, 400, { issues: [{ path, message }] });

type Handler = (req: Request, res: Response) => Promise<void>;
export const route = (handler: Handler) => (req: Request, res: Response, next: NextFunction) => {
  handler(req, res).catch(next);
};

/** `?limit=` of the admin lists: 1..1000, default 100. */
export function limitOf(req: Request): number {
  const limit = req.query.limit === undefined ? 100 : Number(req.query.limit);
  if (!Number.isInteger(limit) || limit < 1 || limit > 1000) throw invalid('limit', 'must be an integer from 1 to 1000');
  return limit;
}

/**
 * The admin API (SPEC §6) and the queue dashboard, under /admin, behind ADMIN_TOKEN.
 * Operator actions on a conversation take the customer's turn first, like a message does,
 * so they never interleave with a message being processed; their writes go through the
 * conversation store's fenced commit.
 */
export function createAdminRouter(core: Core): express.Router {
  const { config, redis, keys, store, queues, logger, metrics } = core;
  const records = createHandoffRecords(redis, keys);
  const outcomes = createHandoffOutcomes(redis, keys, store);
  const router = express.Router();
  router.use('/admin', adminAuth(config.adminToken));
  router.use('/admin', express.json({ limit: '16kb' }));

  const board = new ExpressAdapter();
  board.setBasePath('/admin/queues');
  createBullBoard({ queues: Object.values(queues.all).map((q) => new BullMQAdapter(q, { readOnlyMode: false })), serverAdapter: board });
  router.use('/admin/queues', board.getRouter());

  function refOf(req: Request): ConversationRef {
    const channel = String(req.params.channel);
    if (!config.channels[channel]) throw new AppError('unknown_channel', 'unknown channel', 404);
    const phone = normalizePhone(String(req.params.phone));
    if (!phone) throw invalid('phone', 'must be a phone number with 10 to 15 digits');
    return { channel, phone };
  }

  async function view(ref: ConversationRef, conversation: Conversation) {
    const record = conversation.handoffId ? await records.read(conversation.handoffId, ref) : null;
    const state = effectiveState(conversation, Date.now());
    return {
      channel: ref.channel,
      phone: ref.phone,
      state,
      // Who has it while it is with a human: a platform handoff, or a person answering from the phone.
      takenBy: isWithHuman(state) ? conversation.takenBy ?? 'handoff' : null,
      botId: conversation.botId ?? config.channels[ref.channel]?.bot.id ?? null,
      conversationId: conversation.conversationId,
      handoff: record ? { id: record.id, provider: record.provider, state: record.state, attempts: record.attempts, lastError: record.lastError } : null,
    };
  }

  /** Runs `action` holding the customer's turn; the lock is always given back. */
  async function withTurn<T>(ref: ConversationRef, action: (turn: { lock: ConversationLock; conversation: Conversation; exists: boolean }) => Promise<T>): Promise<T> {
    const turn = await store.acquire(ref, Date.now() + ADMIN_LOCK_WAIT_MS);
    if (!turn) throw new AppError('conversation_busy', 'a message of this customer is being processed; try again', 503);
    let done = false;
    try {
      const result = await action(turn);
      done = true;
      return result;
    } finally {
      // Commits release the lock themselves; an action that threw (or wrote nothing) gives it back here.
      if (!done) await store.release(turn.lock);
    }
  }

  /** A fenced commit that must succeed (the lock was taken a moment ago). */
  async function commitOrBusy(lock: ConversationLock, commit: Parameters<typeof store.commit>[1]): Promise<'ok' | 'not_failed'> {
    const result = await store.commit(lock, commit);
    if (result === 'lost' || result === 'superseded') throw new AppError('conversation_busy', 'lost the customer’s turn while acting; try again', 503);
    return result;
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
      const released = await withTurn(ref, async ({ lock, conversation, exists }) => {
        if (!exists) throw new AppError('conversation_not_found', 'no conversation for this customer', 404);
        const pending = conversation.handoffId ? await records.readFull(conversation.handoffId, ref) : null;
        if (pending?.record.state === 'pending' && pending.job) {
          // The job must not hand the customer off after an operator gave them back to the bot.
          await outcomes.finish(pending.job, 'failed', { lastError: 'cancelled: released by an operator' });
          // An active job is stopped by the worker's own conversation check.
          await Job.fromId(queues.handoff.queue, pending.record.id).then((job) => job?.remove().catch(() => undefined));
        }
        const withHuman = isWithHuman(effectiveState(conversation, Date.now()));
        await commitOrBusy(lock, { conversation: { fields: BACK_TO_BOT, ttlMs: core.turn.ttlFor(null, Date.now()) } });
        if (withHuman) metrics.pipeline.released?.('admin');
        logger.info({ channel: ref.channel, phone: ref.phone, handoffId: conversation.handoffId }, 'conversation released to the bot by an operator');
        return { ...conversation, ...BACK_TO_BOT };
      });
      res.json(await view(ref, released));
    }),
  );

  router.get(
    '/admin/handoffs',
    route(async (req, res) => {
      const state = req.query.state;
      if (state !== undefined && !HANDOFF_STATES.includes(state as HandoffState)) throw invalid('state', 'must be pending, done or failed');
      const limit = limitOf(req);
      const states = state ? [state as HandoffState] : HANDOFF_STATES;
      res.json({ handoffs: await newestRecords(records.index, states, limit, (id) => records.read(id)) });
    }),
  );

  router.get(
    '/admin/handoffs/:id',
    route(async (req, res) => {
      const record = await records.read(String(req.params.id));
      if (!record) throw new AppError('handoff_not_found', 'no such handoff', 404);
      res.json(record);
    }),
  );

  router.post(
    '/admin/handoffs/:id/retry',
    route(async (req, res) => {
      const id = String(req.params.id);
      const full = await records.readFull(id);
      if (!full?.job) throw new AppError('handoff_not_found', 'no such handoff', 404);
      const { record, job } = full;
      if (record.state !== 'failed') throw new AppError('not_failed', `the handoff is ${record.state}; only a failed handoff can be retried`, 409);
      const channel = config.channels[job.channel];
      if (!channel) throw new AppError('unknown_channel', `channel ${job.channel} is not in the configuration any more`, 409);

      await withTurn({ channel: job.channel, phone: job.phone }, async ({ lock, conversation }) => {
        const state = effectiveState(conversation, Date.now());
        if (isWithHuman(state) && conversation.handoffId !== id) {
          throw new AppError('conversation_busy', 'the conversation is already with a human through another handoff', 409);
        }
        // The failed job keeps its attemptsMade: remove it, so the new job gets a fresh round
        // of retry.attempts tries under the same id.
        const existing = await Job.fromId(queues.handoff.queue, id);
        if (existing) {
          const jobState = await existing.getState();
          if (jobState !== 'failed' && jobState !== 'completed') throw new AppError('not_failed', `the handoff's job is still ${jobState}`, 409);
          await existing.remove();
        }
        // Record and conversation re-opened in one fenced script; the side-effect claim stays,
        // so a MeHub transfer that may have applied is checked before anything is sent again.
        // The human period starts when the handoff is done (SPEC §8.4).
        const keepUntil = Date.now() + channel.humanTtlMinutes * 60_000;
        const reopened = await commitOrBusy(lock, {
          handoff: { reopen: id },
          conversation: { fields: { state: 'handoff_pending', handoffId: id, humanUntil: null, takenBy: 'handoff' }, ttlMs: core.turn.ttlFor(keepUntil, Date.now()) },
        });
        if (reopened === 'not_failed') throw new AppError('not_failed', 'the handoff is no longer failed', 409);
        try {
          await queues.handoff.enqueue(job);
        } catch (error) {
          // Pending with no job: the reconciler queues it within worker.reconcileIntervalMs.
          logger.warn({ err: error, handoffId: id }, 'could not queue the retried handoff now; the reconciler will');
        }
      });
      logger.info({ handoffId: id, channel: job.channel, phone: job.phone }, 'failed handoff retried by an operator');
      res.status(202).json({ id, state: 'pending' });
    }),
  );

  router.use(createDeliveryRoutes(core));

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
      try {
        const { count } = await superagentesBulkStatus({ baseUrl: settings.baseUrl, token: settings.token, timeoutMs: settings.timeoutMs, http: core.http }, { status, channel, agentId, all });
        logger.warn({ status, channel: channel ?? null, agentId: agentId ?? null, all: all === true, count }, 'SuperAgentes bulk status change by an operator');
        res.json({ count });
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
