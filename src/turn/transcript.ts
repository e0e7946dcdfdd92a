import type { TurnCommit } from '../conversations/types.js';
import { legsOf } from '../providers/registry.js';
import type { TurnContext, TurnDecision } from './types.js';

/**
 * The conversation so far, for the attendant (SPEC §13), pure: the lines one turn adds to the
 * customer's transcript — the customer's message (a debounced batch is one line) and what the
 * service told them (the bot's reply after any bot-to-bot hops, a policy's message, the
 * business-hours notice) — and how many the channel keeps.
 */

/** Most lines a transcript keeps (SPEC §13). */
export const TRANSCRIPT_MAX_LINES = 50;

/** One line per text: the line breaks of a message (a debounced batch is joined by them) become " / ". */
const oneLine = (text: string): string => text.trim().replace(/\s*\n\s*/g, ' / ');

/** What a message without text (audio, sticker, image…) shows in the transcript. */
export const NO_TEXT_LINE = '(mensagem sem texto)';

/**
 * The transcript part of a turn's commit; undefined when the channel keeps none (every leg's
 * `transcript` is 0) or when nothing was processed (a synchronous bot failure: the channel
 * retries the message).
 */
export function transcriptOf(ctx: TurnContext, decision: Pick<TurnDecision, 'outcome' | 'events'>): TurnCommit['transcript'] {
  const keep = Math.min(TRANSCRIPT_MAX_LINES, Math.max(...legsOf(ctx.channel.handoff).map((leg) => leg.transcript)));
  if (keep <= 0 || decision.outcome.kind === 'bot_failed') return undefined;
  const { text } = ctx.message;
  const lines = [`Cliente: ${text === null ? NO_TEXT_LINE : oneLine(text)}`];
  for (const event of decision.events) {
    const reply = event.type === 'message.replied' || event.type === 'handoff.queued' ? event.reply : null;
    if (reply) lines.push(`Assistente: ${oneLine(reply)}`);
  }
  return { append: lines, keep, ttlMs: ctx.idleTtlMs };
}
