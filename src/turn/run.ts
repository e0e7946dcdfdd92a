import { randomUUID } from 'node:crypto';
import type { Config } from '../config/index.js';
import type { ConversationActions } from '../conversations/actions.js';
import { effectiveState, isWithHuman } from '../conversations/state.js';
import type { HandoffQueue } from '../handoff/queue.js';
import type { ReleaseObserver } from '../observability/observers.js';
import type { ToolzzClient } from '../toolzz/client.js';
import { createBotCaller } from './bot.js';
import { decideTurn, needsBot } from './decide.js';
import type { StatusChecker } from './status-check.js';
import { timelineOf } from './timeline.js';
import { transcriptOf } from './transcript.js';
import type { Turn, TurnContext } from './types.js';

/** Hooks for metrics; every one optional. */
export interface TurnObserver extends ReleaseObserver {
  botCall?(seconds: number, outcome: 'ok' | 'error'): void;
  handoffQueued?(provider: string): void;
}

export interface TurnDeps {
  config: Config;
  toolzz: ToolzzClient;
  handoffs: HandoffQueue;
  actions: Pick<ConversationActions, 'releaseWithinTurn'>;
  statusCheck?: StatusChecker;
  observer?: TurnObserver;
  /** Waits between tries of a bot call that never reached Toolzz (tests shorten it). */
  sleep?: (ms: number) => Promise<void>;
  /** The clock business hours are judged by (SPEC §12); default the process's. Tests set it to just before an opening. */
  hoursClock?: () => number;
}

/**
 * The thin runner around {@link decideTurn}, for the synchronous route and the inbox worker
 * alike, while they hold the customer's turn: asks the platform whether a human is done
 * (storing the release at once, SPEC §8.4), asks the bot when the decision needs it, and
 * returns the decision for the caller to commit in one script. A decided handoff's job is
 * queued by the caller once that commit went through ({@link Turn.queueHandoff}): a turn
 * superseded or fenced off at its commit leaves no job behind, and the worker never takes a
 * job before its record exists.
 */
export function createTurn(deps: TurnDeps): Turn {
  const { config } = deps;
  const idleTtlMs = config.conversations.ttlHours * 3_600_000;
  const bot = createBotCaller(deps);

  return {
    async run({ channelName, channel, message, conversation, lock, log, interrupted }) {
      const now = Date.now();
      let humanDone = false;
      if (isWithHuman(effectiveState(conversation, now)) && deps.statusCheck) {
        // SPEC §9.2: ask the platform whether the human is done (at most every 30 s).
        humanDone = await deps.statusCheck.isHumanDone(channelName, channel, message.phone, conversation, log);
        if (humanDone) {
          await deps.actions.releaseWithinTurn(lock);
          log.info({ handoffId: conversation.handoffId }, 'the platform says the human is done: back to the bot');
        }
      }
      const ctx: TurnContext = { channelName, channel, message, conversation, now, humanDone, idleTtlMs, handoffId: randomUUID(), ...(deps.hoursClock ? { hoursNow: deps.hoursClock() } : {}) };
      const answer = needsBot(ctx) ? (interrupted ? bot.interrupted(channel, log) : await bot.answer(channel, conversation, message.text ?? '', log)) : undefined;
      const decision = decideTurn(ctx, answer);
      if (decision.expired) deps.observer?.released?.('ttl');
      const transcript = transcriptOf(ctx, decision);
      const timeline = timelineOf(ctx, decision);
      const commit = { ...decision.commit, ...(transcript ? { transcript } : {}), ...(timeline ? { timeline } : {}) };
      return { outcome: decision.outcome, events: decision.events, commit, handoff: decision.handoff };
    },

    async queueHandoff(job, log) {
      try {
        await deps.handoffs.enqueue(job);
        deps.observer?.handoffQueued?.(job.provider);
      } catch (error) {
        // The record is stored (pending): the reconciler queues it within worker.reconcileIntervalMs.
        log.warn({ err: error, handoffId: job.handoffId }, 'could not queue a committed handoff now; the reconciler will');
      }
    },
  };
}
