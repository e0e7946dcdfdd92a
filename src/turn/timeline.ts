import type { TurnCommit } from '../conversations/types.js';
import type { TimelineEvent } from '../timeline/events.js';
import type { TurnContext, TurnDecision } from './types.js';

/**
 * What one turn adds to the conversation's timeline (SPEC §14), pure: the customer's message
 * (a debounced batch as one), what the customer was told, and the handoff it created.
 * Nothing for a synchronous bot failure (the message was not processed: the channel retries).
 */
export function timelineOf(ctx: TurnContext, decision: Pick<TurnDecision, 'outcome' | 'events' | 'handoff'>): TurnCommit['timeline'] {
  if (decision.outcome.kind === 'bot_failed') return undefined;
  const at = new Date(ctx.now).toISOString();
  const events: TimelineEvent[] = [{ at, type: 'message', messageId: ctx.message.messageId, text: ctx.message.text }];
  for (const event of decision.events) {
    const reply = event.type === 'message.replied' || event.type === 'handoff.queued' ? event.reply : null;
    if (reply) events.push({ at, type: 'reply', text: reply });
  }
  const job = decision.handoff;
  if (job) {
    events.push({ at, type: 'handoff', id: job.handoffId, provider: job.provider, state: 'pending', attempts: 0, lastError: null, leg: 0, ...(job.scheduledFor ? { scheduledFor: job.scheduledFor } : {}) });
  }
  return { events, name: ctx.message.name };
}
