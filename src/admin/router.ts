import { createBullBoard } from '@bull-board/api';
import { BullMQAdapter } from '@bull-board/api/bullMQAdapter';
import { ExpressAdapter } from '@bull-board/express';
import express, { type Request } from 'express';
import { z } from 'zod';
import { effectiveState, isWithHuman, type Conversation } from '../conversations/state.js';
import type { ConversationRef } from '../conversations/types.js';
import { AppError, isUpstreamError } from '../errors.js';
import { createHandoffRecords, HANDOFF_STATES, type HandoffState } from '../handoff/records.js';
import { superagentesBulkStatus } from '../providers/superagentes/provider.js';
import { normalizePhone } from '../webhook/schema.js';
import { adminAuth } from './auth.js';
import { createConsoleApi } from './console-api.js';
import { createConsoleRouter } from './console.js';
import { createDeliveryRoutes } from './deliveries.js';
import { invalid, limitOf, route } from './http.js';
import { newestRecords } from './lists.js';
import type { AdminDeps } from './types.js';

const bulkSchema = z.strictObject({
  status: z.enum(['UNRESOLVED', 'RESOLVED', 'HUMAN_REQUESTED'], { error: 'must be UNRESOLVED, RESOLVED or HUMAN_REQUESTED' }),
  channel: z.string().min(1).max(64).optional(),
  agentId: z.string().min(1).max(256).optional(),
  all: z.boolean().optional(),
});

/**
 * The admin API (SPEC §6) and the queue dashboard, under /admin, behind ADMIN_TOKEN. Each
 * route parses, calls a conversation action or a read, and maps the result to JSON; the
 * actions take the customer's turn themselves (conversations/actions.ts).
 */
export function createAdminRouter(deps: AdminDeps): express.Router {
  const { config, actions, logger } = deps;
  const records = createHandoffRecords(deps.redis, deps.keys);
  const router = express.Router();
  // The console's page answers 401 by itself (with the page that asks for the token).
  router.use(createConsoleRouter(config.adminToken));
  router.use('/admin', adminAuth(config.adminToken));
  router.use('/admin', express.json({ limit: '16kb' }));

  const board = new ExpressAdapter();
  board.setBasePath('/admin/queues');
  createBullBoard({ queues: Object.values(deps.queues).map((q) => new BullMQAdapter(q, { readOnlyMode: false })), serverAdapter: board });
  router.use('/admin/queues', board.getRouter() as express.Router);

  /** The customer any of their addresses names (SPEC §11): a phone in either form, `lid:<digits>`, a BSUID. */
  async function refOf(req: Request): Promise<ConversationRef> {
    const channel = String(req.params.channel);
    if (!config.channels[channel]) throw new AppError('unknown_channel', 'unknown channel', 404);
    const raw = String(req.params.phone);
    const customer = await deps.identity.lookup(channel, normalizePhone(raw) ?? raw);
    if (!customer) throw invalid('phone', 'must be a phone number with 10 to 15 digits, lid:<digits> or a business-scoped user ID');
    return { channel, phone: customer };
  }

  async function view(ref: ConversationRef, conversation: Conversation) {
    const record = conversation.handoffId ? await records.read(conversation.handoffId, ref) : null;
    const state = effectiveState(conversation, Date.now());
    return {
      channel: ref.channel,
      phone: ref.phone,
      state,
      // Who has it while it is with a human: a platform handoff, or a person answering from the phone.
      takenBy: isWithHuman(state) ? (conversation.takenBy ?? 'handoff') : null,
      botId: conversation.botId ?? config.channels[ref.channel]?.bot.id ?? null,
      conversationId: conversation.conversationId,
      aliases: await deps.identity.aliasesOf(ref.channel, ref.phone),
      handoff: record ? { id: record.id, provider: record.provider, state: record.state, attempts: record.attempts, lastError: record.lastError } : null,
    };
  }

  router.use(createConsoleApi(deps, view, refOf));

  router.get(
    '/admin/conversations/:channel/:phone',
    route(async (req, res) => {
      const ref = await refOf(req);
      const conversation = await deps.conversations.get(ref);
      if (!conversation) throw new AppError('conversation_not_found', 'no conversation for this customer', 404);
      res.json(await view(ref, conversation));
    }),
  );

  router.post(
    '/admin/conversations/:channel/:phone/release',
    route(async (req, res) => {
      const ref = await refOf(req);
      const result = await actions.releaseToBot(ref, 'admin');
      if (!result.released) throw new Error(`unreachable: an operator release has no guard (${result.why})`);
      logger.info({ channel: ref.channel, phone: ref.phone, handoffId: result.handoffId }, 'conversation released to the bot by an operator');
      res.json(await view(ref, result.conversation));
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
      const job = await actions.retryHandoff(id);
      logger.info({ handoffId: id, channel: job.channel, phone: job.phone }, 'failed handoff retried by an operator');
      res.status(202).json({ id, state: 'pending' });
    }),
  );

  router.use(createDeliveryRoutes(deps));

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
        const { count } = await superagentesBulkStatus({ baseUrl: settings.baseUrl, token: settings.token, timeoutMs: settings.timeoutMs, http: deps.http }, { status, channel, agentId, all });
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
