import { once } from 'node:events';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type express from 'express';
import type { Logger } from 'pino';
import { Agent } from 'undici';
import { createAdminRouter } from './admin/router.js';
import { createMehubEventsRouter } from './platform-webhooks/mehub.js';
import { createApp } from './app.js';
import type { Config } from './config.js';
import { createConversationStore, type ConversationStore } from './conversations/store.js';
import { MAX_RESPONSE_BYTES } from './http/request.js';
import { createKeys, type Keys } from './keys.js';
import { createMetrics, type Metrics } from './observability/metrics.js';
import { createPipeline, type Pipeline } from './pipeline/process-message.js';
import { createTurn, MAX_BOT_HOPS, type Turn } from './pipeline/turn.js';
import { createStatusChecker } from './pipeline/status-check.js';
import { createProviders } from './providers/index.js';
import type { HandoffProvider } from './providers/types.js';
import { openQueues, type Queues } from './queues.js';
import type { RedisClient } from './redis/connection.js';
import { createToolzzClient } from './toolzz/client.js';
import type { ProviderName } from './config.js';
import { createChannels } from './channels/index.js';
import type { ChannelKit } from './channels/types.js';
import { createInbox, type Inbox } from './inbox/accept.js';
import { createLanes, type Lanes } from './inbox/lanes.js';
import { createStatusRecorder } from './delivery/statuses.js';

/** An HTTP server that can be started and stopped gracefully. */
export interface HttpService {
  app: express.Express;
  server?: Server;
  url?: string;
  listen(port: number, host?: string): Promise<string>;
  /** Stops accepting connections and waits for in-flight requests to finish. */
  close(): Promise<void>;
}

function httpService(app: express.Express): HttpService {
  let closing = false;
  const service: HttpService = {
    app,
    async listen(port, host) {
      const server = host === undefined ? app.listen(port) : app.listen(port, host);
      await once(server, 'listening');
      // While shutting down, every answer tells its keep-alive client to go away.
      server.prependListener('request', (_req, res) => {
        if (closing) res.setHeader('connection', 'close');
      });
      // Longer than typical load-balancer idle timeouts, so they close first.
      server.keepAliveTimeout = 65_000;
      const address = server.address() as AddressInfo;
      service.server = server;
      service.url = `http://${address.address.includes(':') ? `[${address.address}]` : address.address}:${address.port}`;
      return service.url;
    },
    async close() {
      const server = service.server;
      if (!server) return;
      closing = true;
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      // A keep-alive socket that goes idle after its last response would hold `close` open
      // until the keep-alive timeout: close idle sockets as they appear.
      server.closeIdleConnections();
      const sweeper = setInterval(() => server.closeIdleConnections(), 50);
      await closed.finally(() => clearInterval(sweeper));
    },
  };
  return service;
}

/**
 * What the API and the workers of one process share: the queues (producer side), the
 * conversation store, the Toolzz client, the turn, the platform adapters and the metrics.
 * The caller owns `redis` and closes it after `close()`.
 */
export interface Core {
  config: Config;
  keys: Keys;
  redis: RedisClient;
  logger: Logger;
  http: Agent;
  queues: Queues;
  store: ConversationStore;
  turn: Turn;
  providers: Record<ProviderName, HandoffProvider>;
  /** Every configured channel's inbound adapter and sender. */
  channels: ReadonlyMap<string, ChannelKit>;
  lanes: Lanes;
  inbox: Inbox;
  metrics: Metrics;
  close(): Promise<void>;
}

export interface CoreDeps {
  redis: RedisClient;
  logger: Logger;
  /** Shared HTTP agent for upstream calls; one is made (and closed) when absent. */
  http?: Agent;
}

export function createCore(config: Config, deps: CoreDeps): Core {
  const keys = createKeys(config.redis.keyPrefix);
  const http = deps.http ?? new Agent({ keepAliveTimeout: 30_000, keepAliveMaxTimeout: 600_000, maxResponseSize: MAX_RESPONSE_BYTES });
  const queues = openQueues(config, keys, deps.logger);
  const metrics = createMetrics({ queues: queues.all });
  const store = createConversationStore({
    redis: deps.redis,
    keys,
    logger: deps.logger,
    // A message may wait for its turn, then make up to 1 + MAX_BOT_HOPS bot calls.
    inProgressTtlMs: config.conversations.lockWaitMs + (MAX_BOT_HOPS + 1) * config.toolzz.timeoutMs + 30_000,
  });
  const toolzz = createToolzzClient({ baseUrl: config.toolzz.baseUrl, timeoutMs: config.toolzz.timeoutMs, http });
  const providers = createProviders(config, http);
  const statusCheck = createStatusChecker({ redis: deps.redis, keys, providers });
  const turn = createTurn({ config, toolzz, handoffs: queues.handoff, statusCheck, observer: metrics.pipeline });
  const lanes = createLanes(queues);
  return {
    channels: createChannels(config, http),
    lanes,
    inbox: createInbox({ config, redis: deps.redis, keys, store, lanes, logger: deps.logger, observer: metrics.pipeline }),
    config,
    keys,
    redis: deps.redis,
    logger: deps.logger,
    http,
    queues,
    store,
    turn,
    providers,
    metrics,
    async close() {
      await queues.close();
      if (!deps.http) await http.close();
    },
  };
}

export interface ApiService extends HttpService {
  pipeline: Pipeline;
}

/** The API side: webhooks → pipeline, /metrics, the admin API. `close()` stops the HTTP server only. */
export function createApiService(core: Core): ApiService {
  const { config, redis, logger, metrics } = core;
  const pipeline = createPipeline({ config, store: core.store, turn: core.turn });
  const admin = createAdminRouter(core);
  const statuses = createStatusRecorder({ redis, keys: core.keys, logger, observer: metrics.delivery });
  const webhook = { config, channels: core.channels, pipeline, inbox: core.inbox, statuses, observer: { inbound: metrics.inbound, ignoredMessages: metrics.ignoredMessages } };
  const app = createApp({ config, redis, webhook, logger, metrics, routers: [createMehubEventsRouter(core), admin] });
  return Object.assign(httpService(app), { pipeline });
}

/** The operational endpoints alone (/healthz, /readyz, /metrics), for a worker-only process. */
export function createOpsService(core: Core): HttpService {
  return httpService(createApp({ config: core.config, redis: core.redis, logger: core.logger, metrics: core.metrics }));
}
