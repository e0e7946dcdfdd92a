/** The suite uses the same local-Redis tools as the demo and the benchmarks. */
export { freePort, hasRedisServer, startRedisServer, waitForRedis as waitForPing, type RedisServer } from '../../scripts/lib/local-redis.js';
