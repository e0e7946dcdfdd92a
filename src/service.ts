import { once } from 'node:events';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type express from 'express';
import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import { Agent } from 'undici';
import { createApp } from './app.js';
import type { Config } from './config.js';
import { createConversationStore } from './conversations/store.js';
import { createHandoffQueue, type HandoffQueue } from './handoff/queue.js';
import { createKeys } from './keys.js';
import { createPipeline, MAX_BOT_HOPS, type Pipeline } from './pipeline/process-message.js';
import { createProviders } from './providers/index.js';
import { createToolzzClient } from './toolzz/client.js';
import { createHandoffWorker, type HandoffWorker } from '../workers/handoff.worker.js';

export interface ApiService {
  app: express.Express;
  pipeline: Pipeline;
  handoffs: HandoffQueue;
  /** Set once `listen` resolved. */
  server?: Server;
  url?: string;
  listen(port: number, host?: string): Promise<string>;
  /** Stops accepting, lets in-flight requests finish, closes what it opened (not `redis`). */
  close(): Promise<void>;
}

/**
 * Wires the API side (webhook → pipeline → Toolzz / handoff queue) on a connected Redis.
 * The caller owns `redis` and closes it after `close()`.
 */
export function createApiService(config: Config, deps: { redis: Redis; logger: Logger; http?: Agent }): ApiService {
  const keys = createKeys(config.redis.keyPrefix);
  const http = deps.http ?? new Agent({ keepAliveTimeout: 30_000, keepAliveMaxTimeout: 600_000 });
  const handoffs = createHandoffQueue({ connection: deps.redis, keys, retry: config.retry });
  const store = createConversationStore({
    redis: deps.redis,
    keys,
    // A message may wait for its turn, then make up to 1 + MAX_BOT_HOPS bot calls.
    inProgressTtlMs: config.conversations.lockWaitMs + (MAX_BOT_HOPS + 1) * config.toolzz.timeoutMs + 30_000,
  });
  const toolzz = createToolzzClient({ baseUrl: config.toolzz.baseUrl, timeoutMs: config.toolzz.timeoutMs, http });
  const pipeline = createPipeline({ config, store, toolzz, handoffs, redis: deps.redis, keys });
  const app = createApp({ config, redis: deps.redis, pipeline, logger: deps.logger });

  const service: ApiService = {
    app,
    pipeline,
    handoffs,
    async listen(port, host) {
      const server = host === undefined ? app.listen(port) : app.listen(port, host);
      await once(server, 'listening');
      // Longer than typical load-balancer idle timeouts, so they close first.
      server.keepAliveTimeout = 65_000;
      const address = server.address() as AddressInfo;
      service.server = server;
      service.url = `http://${address.address.includes(':') ? `[${address.address}]` : address.address}:${address.port}`;
      return service.url;
    },
    async close() {
      const server = service.server;
      if (server) {
        const closed = new Promise<void>((resolve) => server.close(() => resolve()));
        server.closeIdleConnections();
        await closed;
      }
      await handoffs.close();
      if (!deps.http) await http.close();
    },
  };
  return service;
}

/**
 * Wires the handoff worker: the three adapters on one HTTP agent, on a connected Redis.
 * The worker opens its own blocking connections (from `config.redisUrl`); `redis` serves the
 * record and conversation writes. The caller owns `redis`.
 */
export function createWorkerService(config: Config, deps: { redis: Redis; logger: Logger; http?: Agent }): HandoffWorker & { close(graceMs?: number): Promise<void> } {
  const http = deps.http ?? new Agent({ keepAliveTimeout: 30_000 });
  const handoffWorker = createHandoffWorker({ config, redis: deps.redis, providers: createProviders(config, http), logger: deps.logger });
  return {
    ...handoffWorker,
    async close(graceMs?: number) {
      await handoffWorker.close(graceMs);
      if (!deps.http) await http.close();
    },
  };
}
