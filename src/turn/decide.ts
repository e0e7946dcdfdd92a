import { DEFAULT_MESSAGES, isAsyncChannel } from '../config/index.js';
import { BACK_TO_BOT, conversationTtlMs, effectiveState, isWithHuman, type Conversation } from '../conversations/state.js';
import type { CustomerEvent } from '../channels/types.js';
import type { HandoffJob } from '../handoff/job.js';
import { isOpen, nextOpening } from '../hours/calendar.js';
import type { BotAnswer, TurnContext, TurnDecision } from './types.js';

/**
 * The decision at the heart of the service (SPEC §1, §3, §8.3, §9.2), pure: the conversation's
 * state × the channel's policies × the bot's answer → the outcome, what the customer is told,
 * and what to commit. The runner (turn/run.ts) reads, asks, and writes around it.
 */

/** The state that applies now: a human period that ran out, or a human the platform says is done, is the bot's. */
function stateNow(ctx: TurnContext) {
  const state = effectiveState(ctx.conversation, ctx.now);
  return isWithHuman(state) && ctx.humanDone ? 'bot' : state;
}

/** True when the turn must ask the Toolzz agent (the decision then needs its answer). */
export function needsBot(ctx: TurnContext): boolean {
  return !isWithHuman(stateNow(ctx)) && ctx.message.text !== null;
}

/** Where the customer wrote from this time (SPEC §11: replies go there; platforms get the phone). */
function whereTheCustomerIs(ctx: TurnContext): Partial<Conversation> {
  const { message } = ctx;
  if (!message.address) return message.contactPhone ? { contactPhone: message.contactPhone } : {};
  return { address: message.address, addressKind: message.addressKind ?? 'phone', ...(message.contactPhone ? { contactPhone: message.contactPhone } : {}) };
}

/** Fields a conversation back with the bot gets: a fresh one needs only its address. */
function backWithBot(ctx: TurnContext): Partial<Conversation> {
  const { conversation } = ctx;
  const address = whereTheCustomerIs(ctx);
  return conversation.state === 'bot' && !conversation.handoffId && !conversation.takenBy ? { ...address } : { ...BACK_TO_BOT, ...address };
}

function handoffDecision(
  ctx: TurnContext,
  learnt: Partial<Conversation>,
  bot: { botId: string; conversationId: string | null; reply: string | null },
  reason: HandoffJob['reason'],
  scheduledFor?: number,
): Pick<TurnDecision, 'commit' | 'handoff'> {
  const { message, channel, now, handoffId } = ctx;
  const job: HandoffJob = {
    handoffId,
    channel: ctx.channelName,
    provider: channel.handoff.provider,
    phone: message.phone,
    contactPhone: message.contactPhone,
    name: message.name,
    botId: bot.botId,
    // A handoff before the bot ever answered (an unsupported first message) has no Toolzz conversation yet.
    conversationId: bot.conversationId ?? `none:${handoffId}`,
    messageId: message.messageId,
    lastMessage: message.text ?? '',
    botReply: bot.reply,
    reason,
    ...(message.address ? { address: message.address, addressKind: message.addressKind ?? 'phone' } : {}),
    externalIds: message.externalIds,
    createdAt: new Date(now).toISOString(),
    ...(scheduledFor !== undefined ? { scheduledFor: new Date(scheduledFor).toISOString() } : {}),
  };
  // The human period starts when the handoff is done (SPEC §8.4); while pending (until the
  // opening, for one queued outside business hours), the conversation waits for it, kept at
  // least as long as a human period would keep it.
  const keepUntil = (scheduledFor ?? now) + channel.humanTtlMinutes * 60_000;
  return {
    handoff: job,
    commit: {
      conversation: {
        fields: { ...learnt, state: 'handoff_pending', handoffId, humanUntil: null, takenBy: 'handoff', ...whereTheCustomerIs(ctx) },
        ttlMs: conversationTtlMs(ctx.idleTtlMs, keepUntil, now),
      },
      handoff: { create: job },
    },
  };
}

/**
 * SPEC §12: the channel is closed now — when it opens (`opening`, on the hours' clock;
 * `startAt`, the same instant on the process's clock), and whether this customer is still to
 * be told.
 */
function closedNow(ctx: TurnContext): { opening: number; startAt: number; notice: string | null; outside: 'queue' | 'handoff' | 'bot' } | null {
  const hours = ctx.channel.hours;
  const now = ctx.hoursNow ?? ctx.now;
  if (!hours || isOpen(hours.calendar, now)) return null;
  // A calendar that does not open within a year (every day closed) queues nothing: now.
  const opening = nextOpening(hours.calendar, now) ?? now;
  return {
    opening,
    startAt: ctx.now + (opening - now),
    notice: ctx.conversation.hoursNoticeUntil === opening ? null : hours.message,
    outside: opening > now ? hours.outside : 'handoff',
  };
}

/** A reply and the business-hours message, as one text: a synchronous channel's `reply` (after a blank line). */
const withNotice = (reply: string | null, notice: string | null): string | null => (notice === null ? reply : reply ? `${reply}\n\n${notice}` : notice);

/**
 * A handoff the turn asks for, with business hours applied (SPEC §12): while open (or with
 * `outside: handoff`) it is queued now; with `outside: queue` it is queued for the next
 * opening, the conversation waiting for it (the bot stays quiet); with `outside: bot` there is
 * none and the customer stays with the bot. Outside hours the customer is told once per closed
 * period: after the turn's other messages (asynchronous channels), or at the end of the reply.
 */
function askHandoff(
  ctx: TurnContext,
  learnt: Partial<Conversation>,
  bot: { botId: string; conversationId: string | null; reply: string | null },
  reason: HandoffJob['reason'],
  shown: { events: CustomerEvent[]; expired: boolean },
): TurnDecision {
  const closed = closedNow(ctx);
  const told: Partial<Conversation> = closed?.notice ? { hoursNoticeUntil: closed.opening } : {};
  const notice = closed?.notice ?? null;
  const noticeEvents: CustomerEvent[] = notice ? [{ type: 'message.replied', reply: notice, conversationId: bot.conversationId }] : [];
  if (closed?.outside === 'bot') {
    // No handoff: the bot's answer, then the message, and the customer stays with the bot.
    const events = shown.events.flatMap((event): CustomerEvent[] =>
      event.type !== 'handoff.queued' ? [event] : event.reply ? [{ type: 'message.replied', reply: event.reply, conversationId: event.conversationId }] : [],
    );
    return {
      outcome: { kind: 'replied', reply: withNotice(bot.reply, notice) ?? '', conversationId: bot.conversationId },
      events: [...events, ...noticeEvents],
      commit: { conversation: { fields: { ...learnt, ...told }, ttlMs: conversationTtlMs(ctx.idleTtlMs, null, ctx.now) } },
      handoff: null,
      expired: shown.expired,
    };
  }
  const handoff = handoffDecision(ctx, { ...learnt, ...told }, bot, reason, closed?.outside === 'queue' ? closed.startAt : undefined);
  return {
    outcome: { kind: 'handoff_queued', reply: withNotice(bot.reply, notice), conversationId: handoff.handoff?.conversationId ?? '', handoffId: ctx.handoffId },
    events: [...shown.events, ...noticeEvents],
    ...handoff,
    expired: shown.expired,
  };
}

/**
 * Decides one turn. `bot` is the agent's answer when {@link needsBot} said to ask, and
 * undefined otherwise. A bot failure is `bot_failed` on synchronous channels (the caller
 * answers 502/504) and the `botFailure` policy on asynchronous ones.
 */
export function decideTurn(ctx: TurnContext, bot?: BotAnswer): TurnDecision {
  const { channel, conversation, message, now } = ctx;
  const policies = isAsyncChannel(channel) ? channel : null;
  const stored = effectiveState(conversation, now);
  const expired = isWithHuman(conversation.state) && stored === 'bot';
  const state = stateNow(ctx);
  const idle = conversationTtlMs(ctx.idleTtlMs, null, now);
  const none = { handoff: null, expired };

  if (isWithHuman(state)) {
    // Nothing reaches the bot, nothing is sent: the human sees the message on the platform.
    return { outcome: { kind: 'human_active', handoffId: conversation.handoffId }, events: [], commit: {}, ...none };
  }
  const learnt = backWithBot(ctx);
  const botId = conversation.botId ?? channel.bot.id;
  const keepLearnt = Object.keys(learnt).length > 0 ? { conversation: { fields: learnt, ttlMs: idle } } : {};

  if (message.text === null) {
    const policy = policies?.unsupported ?? { action: 'reply' as const, message: DEFAULT_MESSAGES.unsupported };
    if (policy.action === 'ignore') return { outcome: { kind: 'ignored' }, events: [], commit: keepLearnt, ...none };
    if (policy.action === 'handoff') return askHandoff(ctx, learnt, { botId, conversationId: conversation.conversationId, reply: null }, 'unsupported', { events: [], expired });
    return {
      outcome: { kind: 'replied', reply: policy.message, conversationId: conversation.conversationId },
      events: [{ type: 'message.replied', reply: policy.message, conversationId: conversation.conversationId }],
      commit: { conversation: { fields: learnt, ttlMs: idle } },
      ...none,
    };
  }
  if (!bot) throw new Error('decideTurn: a text needs the bot’s answer (see needsBot)');

  if (bot.kind === 'failed') {
    // What was learnt is kept whatever the bot did: a conversation back from a human stays the bot's.
    const known = { ...learnt, ...bot.learnt };
    const keep = Object.keys(known).length > 0 ? { conversation: { fields: known, ttlMs: idle } } : {};
    if (!policies) return { outcome: { kind: 'bot_failed', error: bot.error }, events: [], commit: keep, ...none };
    const policy = policies.botFailure;
    if (policy.action === 'ignore') return { outcome: { kind: 'ignored' }, events: [], commit: keep, ...none };
    const conversationId = known.conversationId ?? conversation.conversationId;
    const notice = { type: 'message.replied' as const, reply: policy.message, conversationId };
    if (policy.action === 'reply') return { outcome: { kind: 'replied', reply: policy.message, conversationId }, events: [notice], commit: keep, ...none };
    return askHandoff(ctx, known, { botId: known.botId ?? botId, conversationId, reply: policy.message }, 'bot_failure', { events: [notice], expired });
  }

  const { reply } = bot;
  const answered = { ...learnt, botId: bot.botId, conversationId: bot.conversationId };
  if (reply.transferToAgent && !reply.targetBotId) {
    return askHandoff(ctx, answered, { botId: bot.botId, conversationId: bot.conversationId, reply: reply.content }, 'transfer_to_agent', {
      events: [{ type: 'handoff.queued', reply: reply.content, conversationId: bot.conversationId, handoffId: ctx.handoffId }],
      expired,
    });
  }
  const content = reply.content ?? '';
  return {
    outcome: { kind: 'replied', reply: content, conversationId: bot.conversationId },
    events: [{ type: 'message.replied', reply: content, conversationId: bot.conversationId }],
    commit: { conversation: { fields: answered, ttlMs: idle } },
    ...none,
  };
}
