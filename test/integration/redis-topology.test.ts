import { Cluster, Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hasRedisServer } from '../../scripts/lib/local-redis.js';
import {
  hasRedisCli,
  startRedisCluster,
  startRedisSentinel,
  type RedisCluster,
  type RedisSentinelSet,
} from '../../scripts/lib/redis-topology.js';

/**
 * Smoke test of the local Redis topologies the cluster and sentinel tests and benchmarks run
 * against: a real 3-master Cluster, and a master + replica + 3 Sentinels that fail over.
 */
const available = hasRedisServer() && hasRedisCli();

async function eventually<T>(what: string, timeoutMs: number, attempt: () => Promise<T | undefined>): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  for (;;) {
    try {
      const value = await attempt();
      if (value !== undefined) return value;
    } catch (error) {
      lastError = error;
    }
    if (Date.now() > deadline) throw new Error(`${what} did not happen within ${timeoutMs} ms: ${String(lastError)}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

describe.skipIf(!available)('a local Redis Cluster', () => {
  let cluster: RedisCluster;
  let client: Cluster;

  beforeAll(async () => {
    cluster = await startRedisCluster();
    client = new Cluster(cluster.nodes);
  }, 60_000);
  afterAll(async () => {
    client?.disconnect();
    await cluster?.destroy();
  });

  it('spreads keys with distinct hash tags over every master', async () => {
    expect(cluster.nodes).toHaveLength(3);
    expect(cluster.nodesEnv).toBe(cluster.nodes.map((n) => `127.0.0.1:${n.port}`).join(','));

    await Promise.all(Array.from({ length: 200 }, (_, i) => client.set(`{tag${i}}:key`, String(i))));
    expect(await client.get('{tag42}:key')).toBe('42');

    for (const node of cluster.nodes) {
      const direct = new Redis({ host: node.host, port: node.port, lazyConnect: true });
      try {
        await direct.connect();
        expect(await direct.dbsize(), `keys on ${node.port}`).toBeGreaterThan(0);
      } finally {
        direct.disconnect();
      }
    }

    const [x, y] = await Promise.all([client.call('CLUSTER', 'KEYSLOT', '{abc}:x'), client.call('CLUSTER', 'KEYSLOT', '{abc}:y')]);
    expect(x).toBe(y);
  }, 60_000);
});

describe.skipIf(!available)('a local Redis Sentinel set', () => {
  let sentinel: RedisSentinelSet;
  let client: Redis;

  beforeAll(async () => {
    sentinel = await startRedisSentinel();
    // ioredis 6 backs off exponentially by default (50 ms · 2^n + jitter, up to 5 s), which
    // puts the reconnect up to seconds after the failover; retry at a steady pace instead.
    client = new Redis({ sentinels: sentinel.sentinels, name: sentinel.name, retryStrategy: () => 100 });
    client.on('error', () => undefined); // connection errors while the master is down
  }, 60_000);
  afterAll(async () => {
    client?.disconnect();
    await sentinel?.destroy();
  });

  it('fails over to the replica when the master is killed, and the client follows', async () => {
    expect(sentinel.sentinelsEnv).toBe(sentinel.sentinels.map((s) => `127.0.0.1:${s.port}`).join(','));

    await client.set('topology:before', '1');
    // The write is on the replica before the master dies, so it must survive the failover.
    expect(await client.wait(1, 5_000)).toBe(1);

    await sentinel.killMaster();
    const newMaster = await sentinel.waitForFailover(30_000);
    expect(newMaster.port).not.toBe(sentinel.master.port);
    expect(newMaster.port).toBe(sentinel.replica.port);

    await eventually('a write through the sentinel client after the failover', 30_000, async () => {
      await client.set('topology:after', '2');
      return true;
    });

    const direct = new Redis({ host: newMaster.host, port: newMaster.port, lazyConnect: true });
    try {
      await direct.connect();
      expect(await direct.get('topology:after')).toBe('2');
      expect(await direct.get('topology:before')).toBe('1');
    } finally {
      direct.disconnect();
    }
  }, 60_000);
});
