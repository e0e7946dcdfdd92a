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
}

/**
 * The thin runner around {@link decideTurn}, for the synchronous route and the inbox worker
 * alike, while they hold the customer's turn: asks the platform whether a human is done
 * (storing the release at once, SPEC §8.4), asks the bot when the decision needs it, queues a
 * decided handoff's job — before the caller's commit writes its record (the worker waits for
 * it; a commit that never happens leaves a job that finds no record and is dropped) — and
 * returns the rest for the caller to commit in one script.
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
      const ctx: TurnContext = { channelName, channel, message, conversation, now, humanDone, idleTtlMs, handoffId: randomUUID() };
      const answer = needsBot(ctx) ? (interrupted ? bot.interrupted(channel, log) : await bot.answer(channel, conversation, message.text ?? '', log)) : undefined;
      const decision = decideTurn(ctx, answer);
      if (decision.expired) deps.observer?.released?.('ttl');
      if (decision.handoff) {
        await deps.handoffs.enqueue(decision.handoff);
        deps.observer?.handoffQueued?.(decision.handoff.provider);
      }
      return { outcome: decision.outcome, events: decision.events, commit: decision.commit };
    },
  };
}
