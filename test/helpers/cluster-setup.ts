import type { TestProject } from 'vitest/node';
import { hasRedisCli, startRedisCluster } from '../../scripts/lib/redis-topology.js';
import { hasRedisServer } from './redis-server.js';

declare module 'vitest' {
  export interface ProvidedContext {
    /** Set in the `cluster` project: REDIS_CLUSTER_NODES of a local 3-master cluster. */
    redisClusterNodes: string;
  }
}

/**
 * The `cluster` project (vitest.config.ts): the core, handoff, channel and multi-process
 * suites run again on a real 3-master Redis Cluster started from the redis-server on the PATH
 * (SPEC §10). Without redis-server and redis-cli it fails with one line saying so.
 */
export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  if (!hasRedisServer() || !hasRedisCli()) {
    throw new Error('The cluster suite needs redis-server and redis-cli on the PATH (apt-get install redis-server).');
  }
  const cluster = await startRedisCluster({ masters: 3 });
  project.provide('redisClusterNodes', cluster.nodesEnv);
  return () => cluster.destroy();
}
