import { type Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hasRedisServer } from '../../scripts/lib/local-redis.js';
import { hasRedisCli, startRedisSentinel, type RedisSentinelSet } from '../../scripts/lib/redis-topology.js';
import { createRedis, waitForRedis, type RedisClient } from '../../src/redis/connection.js';
import type { RedisTarget } from '../../src/config/index.js';
import { waitUntil } from '../helpers/wait.js';

/**
 * The service's own Sentinel client (src/redis/connection.ts), against a real master +
 * replica + 3 sentinels. ioredis 6's failover detector has a race: the detector of a
 * connection that died stays subscribed while the client reconnects, and its +switch-master,
 * arriving while the reconnect asks a sentinel for the master, ends the client for good.
 * Here the first sentinel is paused (SIGSTOP), so every reconnect spends seconds asking it:
 * the failover the two others perform is announced inside that window, every time.
 */
const available = hasRedisServer() && hasRedisCli();

describe.skipIf(!available)('the Sentinel client', () => {
  let topology: RedisSentinelSet;
  let client: RedisClient;

  beforeAll(async () => {
    topology = await startRedisSentinel();
  }, 60_000);
  afterAll(async () => {
    client?.disconnect();
    await topology?.destroy();
  });

  it('a failover announced while it is reconnecting does not end it: it follows the new master', async () => {
    const target: RedisTarget = { kind: 'sentinel', sentinels: topology.sentinels, name: topology.name, db: 0 };
    // Each question to the paused sentinel hangs 8 s (2 s in production): the failover, 2–3 s
    // after the kill, is announced while the first reconnect waits on it.
    client = createRedis(target, { sentinelCommandTimeout: 8_000 });
    client.on('error', () => undefined); // connection errors while the master is down
    await waitForRedis(client, target, 10_000);
    await client.set('sentinel-client:before', '1');
    expect(await (client as Redis).wait(1, 5_000)).toBe(1);
    const ended = new Promise<'ended'>((resolve) => client.once('end', () => resolve('ended')));

    const firstSentinel = topology.pids[2]!; // pids: master, replica, then the sentinels
    process.kill(firstSentinel, 'SIGSTOP');
    try {
      await topology.killMaster();
      // Back on a master, or ended for good (the race): whichever comes first.
      const outcome = await Promise.race([
        ended,
        waitUntil(() => (client.status === 'ready' ? client.set('sentinel-client:after', '2').then(() => 'ready' as const, () => undefined) : undefined), {
          what: 'the client back on a master',
          timeoutMs: 40_000,
          intervalMs: 200,
        }),
      ]);
      expect(outcome).toBe('ready');
    } finally {
      process.kill(firstSentinel, 'SIGCONT');
    }
    const role = (await client.call('ROLE')) as unknown[];
    expect(role[0]).toBe('master');
    expect(await client.get('sentinel-client:before')).toBe('1');
    const info = await client.info('server');
    expect(info).toContain(`tcp_port:${topology.replica.port}`);
  }, 60_000);
});
