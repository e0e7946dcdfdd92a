import express, { type NextFunction, type Request, type Response } from 'express';
import { z } from 'zod';
import type { Logger } from 'pino';
import type { Config } from '../config/index.js';
import type { ConversationActions, ReleaseResult } from '../conversations/actions.js';
import { effectiveState } from '../conversations/state.js';
import type { HeldTurn } from '../conversations/types.js';
import type { Identity } from '../identity/resolver.js';
import type { Keys } from '../keys.js';
import type { RedisClient } from '../redis/connection.js';
import { AppError } from '../errors.js';
import type { FirstResponseWatch } from '../handoff/first-response.js';
import { createHandoffRecords } from '../handoff/records.js';
import { legsOf } from '../providers/registry.js';
import { conversationFromHash } from '../conversations/state.js';
import { secretMatcher } from '../webhook/auth.js';
import { issuesOf, normalizePhone } from '../webhook/schema.js';

/** MeHub redelivers an event until it gets a 2xx: its `webhook_id` is remembered this long. */
const EVENT_TTL_MS = 7 * 24 * 60 * 60 * 1000;

const envelopeSchema = z.object(
  {
    event: z.string({ error: 'must be a string' }).min(1),
    data: z.record(z.string(), z.unknown(), { error: 'must be an object' }),
    timestamp: z.unknown().optional(),
    attempt: z.unknown().optional(),
    webhook_id: z.union([z.string().min(1).max(256), z.number()], { error: 'must be a string' }).transform(String),
  },
  { error: 'body must be the MeHub webhook envelope' },
);

/** What a CHAT_ENDED names (research §4; the exact `data` of this event was not captured publicly). */
const chatEndedSchema = z.object({
  chat: z.object({ token: z.string().min(1).optional(), channel: z.object({ token: z.string().min(1) }) }),
  contact: z.object({ phone: z.union([z.string(), z.number()]).transform(String) }),
});

/** What a MESSAGE_SENT names (research §4: `data.message{direction}`, `chat`, `user`, `contact`); anything else is not an attendant's answer. */
const messageSentSchema = z.object({
  message: z.object({ direction: z.string().optional() }),
  chat: z.object({ token: z.string().min(1).optional(), channel: z.object({ token: z.string().min(1) }) }),
  contact: z.object({ phone: z.union([z.string(), z.number()]).transform(String) }),
  user: z.unknown().optional(),
});

/** The envelope's `timestamp` (ISO text, or unix seconds or ms) in ms; null when absent or unreadable. */
export function eventTime(value: unknown): number | null {
  if (typeof value === 'number' && Number.isFinite(value)) return value < 1e12 ? value * 1000 : value;
  if (typeof value !== 'string' || value.trim() === '') return null;
  if (/^\d+(\.\d+)?$/.test(value.trim())) return eventTime(Number(value));
  const parsed = Date.parse(value);
  return Number.isNaN(parsed) ? null : parsed;
}

/**
 * `POST /platform-webhooks/mehub` (SPEC §9.2): MeHub's events, enabled by
 * `providers.mehub.webhookSecret` (404 otherwise), checked against `X-Webhook-Secret` in
 * constant time. On `CHAT_ENDED`, every MeHub channel whose `handoff.channel` is the chat's
 * channel gives that phone's conversation back to the bot if a human has it — taking the
 * customer's turn like a message does. Other events are accepted and ignored; a repeated
 * `webhook_id` is a no-op (remembered once the event was handled, so a failed one is redone).
 */
/** What the MeHub events endpoint needs. */
export interface MehubEventsDeps {
  config: Config;
  redis: RedisClient;
  keys: Keys;
  actions: ConversationActions;
  identity: Pick<Identity, 'phoneKey'>;
  /** SPEC §12: an attendant's message is a handoff's first response. */
  firstResponse: Pick<FirstResponseWatch, 'answered'>;
  logger: Logger;
}

export function createMehubEventsRouter(deps: MehubEventsDeps): express.Router {
  const { config, redis, keys, actions, logger } = deps;
  const records = createHandoffRecords(redis, keys);
  const router = express.Router();
  const secret = config.providers.mehub.webhookSecret;
  const matches = secret ? secretMatcher(secret) : undefined;

  // The destination channel token → the service's channels that hand off there (any leg of their chain, SPEC §12).
  const byDestination = new Map<string, string[]>();
  for (const [name, channel] of Object.entries(config.channels)) {
    for (const leg of legsOf(channel.handoff)) {
      if (leg.provider !== 'mehub') continue;
      const names = byDestination.get(leg.channel) ?? [];
      if (!names.includes(name)) byDestination.set(leg.channel, [...names, name]);
    }
  }

  /**
   * SPEC §12: an attendant answered on the platform (MESSAGE_SENT, outgoing, by a user): the
   * first response of the done MeHub handoff of that customer, if the message is about its chat.
   */
  async function attendantAnswered(channel: string, phone: string, event: { chatToken?: string; at: number | null }): Promise<boolean> {
    const ref = { channel, phone };
    const conversation = conversationFromHash(await redis.hgetall(keys.conversation(channel, phone)));
    if (!conversation.handoffId || conversation.takenBy === 'phone') return false;
    const full = await records.readFull(conversation.handoffId, ref);
    if (!full || full.record.state !== 'done' || full.record.provider !== 'mehub') return false;
    if (full.learnt.mehubChatToken && event.chatToken && event.chatToken !== full.learnt.mehubChatToken) return false;
    return deps.firstResponse.answered(ref, conversation.handoffId, event.at ?? Date.now());
  }

  /**
   * SPEC §8.4: a stale "done" never ends a newer episode — an event about another chat than
   * the one the current handoff went to (when known), or sent before that handoff was done.
   */
  async function staleFor(ref: { channel: string; phone: string }, handoffId: string | null, event: { chatToken?: string; at: number | null }): Promise<string | null> {
    const full = handoffId ? await records.readFull(handoffId, ref) : null;
    const knownChat = full?.learnt.mehubChatToken;
    if (knownChat && event.chatToken && event.chatToken !== knownChat) return `it is about chat ${event.chatToken}, the handoff went to chat ${knownChat}`;
    const doneAt = Date.parse(full?.record.finishedAt ?? '');
    // MeHub's timestamps may be whole seconds: a second of slack.
    if (event.at !== null && Number.isFinite(doneAt) && event.at < doneAt - 1_000) return `it was sent at ${new Date(event.at).toISOString()}, before the handoff was done (${full?.record.finishedAt})`;
    return null;
  }

  async function release(channel: string, phone: string, webhookId: string, event: { chatToken?: string; at: number | null }): Promise<boolean> {
    // Only a platform handoff's human is released here (not a person who took it from the
    // phone), and only by an event about this episode.
    const guard = async ({ conversation, exists }: HeldTurn): Promise<string | null> => {
      if (!exists || effectiveState(conversation, Date.now()) !== 'human' || conversation.takenBy === 'phone') return 'not with a platform human';
      return staleFor({ channel, phone }, conversation.handoffId, event);
    };
    let result: ReleaseResult;
    try {
      result = await actions.releaseToBot({ channel, phone }, 'platform_event', guard);
    } catch (error) {
      if (error instanceof AppError && error.code === 'conversation_busy') throw new AppError('unavailable', 'the customer’s turn is held; MeHub will redeliver', 503, { cause: error });
      throw error;
    }
    if (!result.released) {
      if (result.why !== 'not with a platform human') logger.info({ channel, phone, webhookId, why: result.why }, 'MeHub CHAT_ENDED is about an earlier episode; the conversation stays with the human');
      return false;
    }
    logger.info({ channel, phone, handoffId: result.handoffId, webhookId }, 'MeHub says the chat ended: the conversation is back with the bot');
    return true;
  }

  router.post('/platform-webhooks/mehub', express.raw({ type: () => true, limit: '256kb' }), (req: Request, res: Response, next: NextFunction) => {
    void (async () => {
      if (!matches) throw new AppError('not_found', 'MeHub events are not enabled (providers.mehub.webhookSecret)', 404);
      const presented = req.headers['x-webhook-secret'];
      if (typeof presented !== 'string' || !matches(presented)) throw new AppError('unauthorized', 'missing or bad X-Webhook-Secret', 401);
      let body: unknown;
      try {
        body = JSON.parse(Buffer.isBuffer(req.body) ? req.body.toString('utf8') : '');
      } catch {
        throw new AppError('invalid_request', 'malformed JSON', 400, { issues: [{ path: '', message: 'malformed JSON' }] });
      }
      const envelope = envelopeSchema.safeParse(body);
      if (!envelope.success) {
        throw new AppError('invalid_request', 'not a MeHub webhook', 400, { issues: issuesOf(envelope.error) });
      }
      const { event, data, webhook_id: webhookId } = envelope.data;
      const seenKey = keys.platformEvent('mehub', webhookId);
      if (await redis.exists(seenKey)) {
        res.json({ status: 'ok', duplicate: true });
        return;
      }
      let released = 0;
      if (event === 'MESSAGE_SENT') {
        const sent = messageSentSchema.safeParse(data);
        const phone = sent.success ? normalizePhone(sent.data.contact.phone) : null;
        if (sent.success && phone && sent.data.message.direction === 'outgoing' && sent.data.user) {
          const about = { chatToken: sent.data.chat.token, at: eventTime(envelope.data.timestamp) };
          for (const channel of byDestination.get(sent.data.chat.channel.token) ?? []) {
            const customer = deps.identity.phoneKey(channel, phone);
            if (await attendantAnswered(channel, customer, about)) logger.info({ channel, phone: customer, webhookId }, 'first human answer to a handed-off customer (MeHub MESSAGE_SENT)');
          }
        }
      }
      if (event === 'CHAT_ENDED') {
        const chat = chatEndedSchema.safeParse(data);
        const phone = chat.success ? normalizePhone(chat.data.contact.phone) : null;
        if (!chat.success || !phone) {
          throw new AppError('invalid_request', 'CHAT_ENDED without a chat channel token and a contact phone', 400, {
            issues: chat.success ? [{ path: 'data.contact.phone', message: 'must be a phone number' }] : chat.error.issues.map((i) => ({ path: `data.${i.path.join('.')}`, message: i.message })),
          });
        }
        const about = { chatToken: chat.data.chat.token, at: eventTime(envelope.data.timestamp) };
        // The contact's phone in either ninth-digit form names the customer (SPEC §11).
        for (const channel of byDestination.get(chat.data.chat.channel.token) ?? []) if (await release(channel, deps.identity.phoneKey(channel, phone), webhookId, about)) released += 1;
      }
      await redis.set(seenKey, '1', 'PX', EVENT_TTL_MS);
      res.json({ status: 'ok' });
      if (event !== 'CHAT_ENDED' && event !== 'MESSAGE_SENT') logger.debug({ event, webhookId }, 'MeHub event ignored');
      else if (released === 0) logger.info({ webhookId }, 'MeHub CHAT_ENDED matched no conversation with a human; ignored');
    })().catch(next);
  });
  return router;
}
