import type { ConnectionOptions } from 'bullmq';
import { Redis, type RedisOptions } from 'ioredis';
import { redactUrl } from './config.js';

/**
 * Request-path connection: commands fail fast while Redis is away (no offline queue, one
 * retry, a command timeout), so webhooks answer 503 instead of hanging, and the client
 * keeps reconnecting in the background so service resumes by itself.
 */
export function createRedis(url: string, overrides: RedisOptions = {}): Redis {
  return new Redis(url, {
    lazyConnect: true,
    enableOfflineQueue: false,
    maxRetriesPerRequest: 1,
    commandTimeout: 5_000,
    connectTimeout: 5_000,
    retryStrategy: (attempt) => Math.min(100 * attempt, 2_000),
    // Commands issued in the same tick (many requests at once) go out in one write.
    enableAutoPipelining: true,
    ...overrides,
  });
}

/** Options for BullMQ Workers, whose blocking connection must retry forever (maxRetriesPerRequest null). */
export function workerRedisOptions(url: string): ConnectionOptions {
  const parsed = new URL(url);
  return {
    host: parsed.hostname,
    port: Number(parsed.port || 6379),
    username: parsed.username ? decodeURIComponent(parsed.username) : undefined,
    password: parsed.password ? decodeURIComponent(parsed.password) : undefined,
    db: Number(parsed.pathname.slice(1) || 0),
    tls: parsed.protocol === 'rediss:' ? {} : undefined,
    maxRetriesPerRequest: null,
    retryStrategy: (attempt: number) => Math.min(100 * attempt, 2_000),
  };
}

/** Connects and PINGs until Redis answers or `timeoutMs` runs out. */
export async function waitForRedis(redis: Redis, url: string, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  // The connection's own 'error' events carry the cause (ECONNREFUSED, WRONGPASS…); the
  // rejected connect() only says the connection closed.
  let cause: string | undefined;
  const onError = (error: Error) => (cause = error.message);
  redis.on('error', onError);
  try {
    if (redis.status === 'wait') redis.connect().catch(() => undefined);
    while (Date.now() < deadline) {
      try {
        if (redis.status === 'ready') {
          await redis.ping();
          return;
        }
      } catch (error) {
        cause = (error as Error).message;
      }
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  } finally {
    redis.off('error', onError);
  }
  throw new Error(
    `Redis at REDIS_URL=${redactUrl(url)} did not answer within ${Math.round(timeoutMs / 1000)} s${cause ? ` (${cause})` : ''}; ` +
      'start Redis (e.g. `docker compose up -d redis`) or point REDIS_URL at one',
  );
}
