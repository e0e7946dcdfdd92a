import type { TestProject } from 'vitest/node';
import { hasRedisServer, startRedisServer, waitForPing, type RedisServer } from './redis-server.js';

declare module 'vitest' {
  export interface ProvidedContext {
    redisUrl: string;
  }
}

/**
 * Where the suite's Redis comes from (SPEC §7): `REDIS_URL` when set; else a throwaway
 * `redis-server` from the PATH; else a testcontainers Redis container. Tests never flush:
 * each one writes under its own key prefix.
 */
export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  if (process.env.REDIS_URL) {
    await waitForPing(process.env.REDIS_URL, 5_000).catch(() => {
      throw new Error(`REDIS_URL=${process.env.REDIS_URL} does not answer PING; start Redis or unset REDIS_URL`);
    });
    project.provide('redisUrl', process.env.REDIS_URL);
    return async () => {};
  }
  if (hasRedisServer()) {
    const server: RedisServer = await startRedisServer();
    project.provide('redisUrl', server.url);
    return () => server.destroy();
  }
  try {
    const { GenericContainer } = await import('testcontainers');
    const container = await new GenericContainer('redis:7-alpine').withExposedPorts(6379).start();
    const url = `redis://${container.getHost()}:${container.getMappedPort(6379)}`;
    project.provide('redisUrl', url);
    return async () => {
      await container.stop();
    };
  } catch {
    throw new Error(
      'No Redis for the tests: set REDIS_URL, install redis-server (apt-get install redis-server), or run Docker for testcontainers.',
    );
  }
}
