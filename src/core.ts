import type { Logger } from 'pino';
import { Agent } from 'undici';
import { createChannels } from './channels/index.js';
import type { ConfiguredChannel } from './channels/types.js';
import type { Config, ProviderName } from './config/index.js';
import { createConversationActions, type ConversationActions } from './conversations/actions.js';
import { createConversationStore } from './conversations/store.js';
import type { ConversationStore } from './conversations/types.js';
import { MAX_RESPONSE_BYTES } from './http/request.js';
import { createFirstResponseWatch, type FirstResponseWatch } from './handoff/first-response.js';
import { createIdentity, type Identity } from './identity/resolver.js';
import { createInbox, type Inbox } from './inbox/accept.js';
import { createLanes, type Lanes } from './inbox/lanes.js';
import { createInboxStore, type InboxStore } from './inbox/store.js';
import { createKeys, type Keys } from './keys.js';
import { createTimeline, type Timeline } from './timeline/store.js';
import { createMetrics, type Metrics } from './observability/metrics.js';
import { createStatusChecker } from './turn/status-check.js';
import { MAX_BOT_HOPS } from './turn/bot.js';
import { createTurn } from './turn/run.js';
import type { Turn } from './turn/types.js';
import { createProviders } from './providers/registry.js';
import type { HandoffProvider } from './providers/types.js';
import { openQueues, type Queues } from './queues.js';
import type { RedisClient } from './redis/connection.js';
import { createToolzzClient } from './toolzz/client.js';

/**
 * What the API and the workers of one process share: the queues (producer side), the
 * conversation layer and its actions, the inboxes, the turn, the platform adapters, the
 * channels and the metrics. The caller owns `redis` and closes it after `close()`.
 */
export interface Core {
  config: Config;
  keys: Keys;
  redis: RedisClient;
  logger: Logger;
  http: Agent;
  queues: Queues;
  /** The per-customer turn, its fenced commit, and reads (conversations/). */
  conversations: ConversationStore;
  /** What can be done to a conversation, whoever asks (conversations/actions.ts). */
  actions: ConversationActions;
  /** Every address to its customer (SPEC §11). */
  identity: Identity;
  /** The customers' inboxes (asynchronous channels). */
  inboxStore: InboxStore;
  /** Accepting a delivery's messages into the inboxes (the webhook's side). */
  inbox: Inbox;
  turn: Turn;
  providers: Record<ProviderName, HandoffProvider>;
  /** Every configured channel's inbound adapter and sender. */
  channels: ReadonlyMap<string, ConfiguredChannel>;
  lanes: Lanes;
  /** The first-response watchdog (SPEC §12): started when a handoff is done, told when a human answers. */
  firstResponse: FirstResponseWatch;
  /** Each conversation's timeline and the console's list (SPEC §14). */
  timeline: Timeline;
  metrics: Metrics;
  close(): Promise<void>;
}

export interface CoreDeps {
  redis: RedisClient;
  logger: Logger;
  /** Shared HTTP agent for upstream calls; one is made (and closed) when absent. */
  http?: Agent;
  /** The clock business hours are judged by (SPEC §12); the process's by default (tests move it). */
  hoursClock?: () => number;
}

/** Builds the shared core of a process (composition: every factory gets exactly what it uses). */
export function createCore(config: Config, deps: CoreDeps): Core {
  const { redis, logger } = deps;
  const keys = createKeys(config.redis.keyPrefix);
  const http = deps.http ?? new Agent({ keepAliveTimeout: 30_000, keepAliveMaxTimeout: 600_000, maxResponseSize: MAX_RESPONSE_BYTES });
  const queues = openQueues(config, keys, logger);
  const metrics = createMetrics({ queues: queues.all });
  const conversations = createConversationStore({
    redis,
    keys,
    logger,
    // A message may wait for its turn, then make up to 1 + MAX_BOT_HOPS bot calls.
    inProgressTtlMs: config.conversations.lockWaitMs + (MAX_BOT_HOPS + 1) * config.toolzz.timeoutMs + 30_000,
  });
  const channels = createChannels(config, http);
  const lanes = createLanes(queues);
  const timeline = createTimeline(redis, keys, logger);
  const firstResponse = createFirstResponseWatch({ config, redis, keys, queue: queues.handoff.queue, observer: metrics.firstResponse, timeline });
  const actions = createConversationActions({
    config,
    redis,
    keys,
    locks: conversations,
    commits: conversations,
    handoffs: queues.handoff,
    channels,
    scheduleOutboxDrain: (ref) => lanes.scheduleOutboxDrain(ref),
    firstResponse,
    logger,
    observer: metrics.pipeline,
    timeline,
  });
  const inboxStore = createInboxStore(redis, keys, conversations.leaseMs);
  const identity = createIdentity({ config, redis, keys, logger });
  const toolzz = createToolzzClient({ baseUrl: config.toolzz.baseUrl, timeoutMs: config.toolzz.timeoutMs, http });
  const providers = createProviders(config.providers, http);
  const statusCheck = createStatusChecker({ redis, keys, providers, identity });
  const turn = createTurn({ config, toolzz, handoffs: queues.handoff, statusCheck, actions, observer: metrics.pipeline, ...(deps.hoursClock ? { hoursClock: deps.hoursClock } : {}) });
  return {
    config,
    keys,
    redis,
    logger,
    http,
    queues,
    conversations,
    actions,
    identity,
    inboxStore,
    inbox: createInbox({ config, redis, keys, inbox: inboxStore, actions, identity, lanes, logger }),
    turn,
    providers,
    channels,
    lanes,
    firstResponse,
    timeline,
    metrics,
    async close() {
      await queues.close();
      if (!deps.http) await http.close();
    },
  };
}
