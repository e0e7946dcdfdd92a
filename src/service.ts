import { once } from 'node:events';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type express from 'express';
import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import { Agent } from 'undici';
import { createAdminRouter } from './admin/router.js';
import { createApp } from './app.js';
import type { Config } from './config.js';
import { createConversationStore } from './conversations/store.js';
import { openHandoffQueue, type HandoffQueue } from './handoff/queue.js';
import { createKeys } from './keys.js';
import { createMetrics, type Metrics } from './observability/metrics.js';
import { createPipeline, MAX_BOT_HOPS, type Pipeline } from './pipeline/process-message.js';
import { createProviders } from './providers/index.js';
import { MAX_RESPONSE_BYTES } from './http/request.js';
import { createToolzzClient } from './toolzz/client.js';
import { createHandoffWorker, type HandoffWorker } from '../workers/handoff.worker.js';

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

export interface ApiService extends HttpService {
  pipeline: Pipeline;
  handoffs: HandoffQueue;
  metrics: Metrics;
}

export interface ServiceDeps {
  redis: Redis;
  logger: Logger;
  /** Shared HTTP agent for upstream calls; one is made (and closed) when absent. */
  http?: Agent;
  /** Shared metrics, so API and worker in one process expose one registry. */
  metrics?: Metrics;
}

/**
 * Wires the API side (webhook → pipeline → Toolzz / handoff queue, plus /metrics and the
 * admin API) on a connected Redis. The caller owns `redis` and closes it after `close()`.
 */
export function createApiService(config: Config, deps: ServiceDeps): ApiService {
  const keys = createKeys(config.redis.keyPrefix);
  const http = deps.http ?? new Agent({ keepAliveTimeout: 30_000, keepAliveMaxTimeout: 600_000, maxResponseSize: MAX_RESPONSE_BYTES });
  const handoffs = openHandoffQueue({ redis: deps.redis, keys, retry: config.retry, logger: deps.logger });
  const metrics = deps.metrics ?? createMetrics({ queue: handoffs.queue });
  const store = createConversationStore({
    redis: deps.redis,
    keys,
    // A message may wait for its turn, then make up to 1 + MAX_BOT_HOPS bot calls.
    inProgressTtlMs: config.conversations.lockWaitMs + (MAX_BOT_HOPS + 1) * config.toolzz.timeoutMs + 30_000,
  });
  const toolzz = createToolzzClient({ baseUrl: config.toolzz.baseUrl, timeoutMs: config.toolzz.timeoutMs, http });
  const pipeline = createPipeline({ config, store, toolzz, handoffs, redis: deps.redis, keys, observer: metrics.pipeline });
  const admin = createAdminRouter({ config, redis: deps.redis, keys, store, handoffs, http, logger: deps.logger });
  const app = createApp({ config, redis: deps.redis, pipeline, logger: deps.logger, metrics, routers: [admin] });

  const base = httpService(app);
  const closeHttp = base.close;
  return Object.assign(base, {
    pipeline,
    handoffs,
    metrics,
    async close() {
      await closeHttp();
      await handoffs.close();
      if (!deps.http) await http.close();
    },
  });
}

export interface WorkerService extends HandoffWorker {
  close(graceMs?: number): Promise<void>;
}

/**
 * Wires the handoff worker: the three adapters on one HTTP agent, on a connected Redis.
 * The worker opens its own blocking connections (from `config.redisUrl`); `redis` serves the
 * record and conversation writes. The caller owns `redis`.
 */
export function createWorkerService(config: Config, deps: ServiceDeps): WorkerService {
  const http = deps.http ?? new Agent({ keepAliveTimeout: 30_000, maxResponseSize: MAX_RESPONSE_BYTES });
  const handoffWorker = createHandoffWorker({
    config,
    redis: deps.redis,
    providers: createProviders(config, http),
    logger: deps.logger,
    observer: deps.metrics?.worker,
  });
  return {
    ...handoffWorker,
    async close(graceMs?: number) {
      await handoffWorker.close(graceMs);
      if (!deps.http) await http.close();
    },
  };
}

/** The operational endpoints alone (/healthz, /readyz, /metrics), for a worker-only process. */
export function createOpsService(config: Config, deps: { redis: Redis; logger: Logger; metrics: Metrics }): HttpService {
  return httpService(createApp({ config, redis: deps.redis, logger: deps.logger, metrics: deps.metrics }));
}
