import { Cluster, Redis, SentinelConnector, type ClusterOptions, type RedisOptions } from 'ioredis';
import type { RedisTarget } from '../config/env.js';

/**
 * One Redis client type for the three deployments of SPEC §10. ioredis' `Redis` (one server,
 * or the master found through Sentinel) and `Cluster` answer the same commands and the same
 * `defineCommand` scripts; every key one script touches shares a hash slot (see keys.ts).
 */
export type RedisClient = Redis | Cluster;

/** Reconnect forever, backing off to 2 s: service resumes by itself when Redis is back. */
const retryStrategy = (attempt: number) => Math.min(100 * attempt, 2_000);

/** Request path: commands fail fast while Redis is away (503, never a hung webhook). */
const FAIL_FAST: RedisOptions = {
  enableOfflineQueue: false,
  maxRetriesPerRequest: 1,
  commandTimeout: 5_000,
  connectTimeout: 5_000,
};

/** BullMQ: its blocking and scripted commands must wait out a reconnect (maxRetriesPerRequest null). */
const PATIENT: RedisOptions = {
  maxRetriesPerRequest: null,
  connectTimeout: 5_000,
};

/**
 * ioredis' SentinelConnector, minus a race of its failover detector (ioredis 6.0): the detector
 * of a connection that died (the master was killed) stays subscribed while the client
 * reconnects, and when its +switch-master comes while the reconnect is asking the sentinels
 * for the master, the reconnect fails with 'Connection is closed.' and ioredis ends the client
 * for good — every later command fails, and BullMQ never reopens it. Each connect here drops
 * the dead connection's detector first; the connection it makes subscribes a new one.
 */
class FailoverSafeSentinelConnector extends SentinelConnector {
  // ioredis types a custom Connector's options as unknown; it passes the client's options.
  constructor(options: unknown) {
    super(options as ConstructorParameters<typeof SentinelConnector>[0]);
  }

  override connect(eventEmitter: Parameters<SentinelConnector['connect']>[0]) {
    const self = this as unknown as { failoverDetector: { cleanup(): void } | null };
    self.failoverDetector?.cleanup();
    self.failoverDetector = null;
    return super.connect(eventEmitter);
  }
}

function hostOptions(target: Extract<RedisTarget, { kind: 'single' }>): RedisOptions {
  const url = new URL(target.url);
  return {
    host: url.hostname.replace(/^\[|\]$/g, ''),
    port: Number(url.port || 6379),
    username: url.username ? decodeURIComponent(url.username) : undefined,
    password: url.password ? decodeURIComponent(url.password) : undefined,
    db: Number(url.pathname.slice(1) || 0),
    tls: url.protocol === 'rediss:' ? {} : undefined,
  };
}

function build(target: RedisTarget, base: RedisOptions, lazyConnect: boolean, autoPipelining: boolean): RedisClient {
  if (target.kind === 'cluster') {
    const options: ClusterOptions = {
      lazyConnect,
      enableOfflineQueue: base.enableOfflineQueue ?? true,
      // Not on a cluster: ioredis 6's cluster auto-pipelining mis-routes and mis-matches replies
      // of scripted commands (seen as 'All keys in the pipeline should belong to the same slots
      // allocation group' and 'results[i] is not iterable' in this suite). Commands issued
      // together still run concurrently, one per node connection.
      enableAutoPipelining: false,
      clusterRetryStrategy: retryStrategy,
      scaleReads: 'master',
      slotsRefreshTimeout: 2_000,
      redisOptions: {
        ...base,
        password: target.password,
        username: target.username,
        tls: target.tls ? {} : undefined,
      },
      // Managed TLS clusters hand out node names that must be connected to as given
      // (the certificate names them), not resolved to an IP first.
      dnsLookup: target.tls ? (address, callback) => callback(null, address) : undefined,
    };
    return new Cluster([...target.nodes], options);
  }
  if (target.kind === 'sentinel') {
    return new Redis({
      // A sentinel that accepts the connection and never answers (a paused host) is skipped
      // for the next one instead of holding every reconnect forever.
      sentinelCommandTimeout: 2_000,
      ...base,
      lazyConnect,
      sentinels: [...target.sentinels],
      name: target.name,
      password: target.password,
      username: target.username,
      sentinelPassword: target.sentinelPassword,
      db: target.db,
      // Subscribes to the sentinels' +switch-master, so a failover is noticed at once: after a
      // planned failover the old master takes writes (then lost) for ~10 s until Sentinel
      // demotes it. See FailoverSafeSentinelConnector for the race this needs fixed.
      failoverDetector: true,
      Connector: FailoverSafeSentinelConnector,
      // A write that still reaches a demoted master was not applied: reconnect (through the
      // sentinels, to the new master) and send it again.
      reconnectOnError: (error) => (error.message.startsWith('READONLY') ? 2 : false),
      retryStrategy,
      sentinelRetryStrategy: retryStrategy,
      enableAutoPipelining: autoPipelining,
    });
  }
  return new Redis({ ...hostOptions(target), ...base, lazyConnect, retryStrategy, enableAutoPipelining: autoPipelining });
}

/**
 * The request-path connection (webhooks, admin, scripts). Call {@link waitForRedis} before use.
 * `overrides` are merged into the per-node options (tests shorten timeouts).
 */
export function createRedis(target: RedisTarget, overrides: RedisOptions = {}): RedisClient {
  // Commands issued in the same tick (many requests at once) go out in one write.
  return build(target, { ...FAIL_FAST, ...overrides }, true, true);
}

/**
 * A connection for BullMQ, never the request-path one: BullMQ defines dozens of scripts on
 * it, and ioredis copies every script of a connection into each MULTI. `producer` (queues the
 * request path adds to) fails fast like the request path, so a webhook answers 503 instead of
 * hanging; `worker` waits out reconnects, as BullMQ Workers require (they duplicate it for
 * their blocking connection).
 */
export function createBullConnection(target: RedisTarget, role: 'producer' | 'worker'): RedisClient {
  // No auto-pipelining: each flush would copy BullMQ's ~60 scripts into a new pipeline
  // (~70 µs), more than the write it saves.
  const client = build(target, role === 'producer' ? FAIL_FAST : PATIENT, false, false);
  // BullMQ reports its own connection errors (its 'error' events); without this listener
  // ioredis would print them unformatted.
  client.on('error', () => undefined);
  return client;
}

/** `host:port` of the deployment, passwords hidden, and the variable that named it (for start-up lines). */
export function describeTarget(target: RedisTarget): string {
  if (target.kind === 'cluster') return `REDIS_CLUSTER_NODES=${target.nodes.map((n) => `${n.host}:${n.port}`).join(',')}`;
  if (target.kind === 'sentinel') return `REDIS_SENTINELS=${target.sentinels.map((n) => `${n.host}:${n.port}`).join(',')} (master ${target.name})`;
  return `REDIS_URL=${redactUrl(target.url)}`;
}

/** `redis://user:secret@host` → `redis://user:***@host`, for messages and logs. */
export function redactUrl(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password) parsed.password = '***';
    return parsed.toString();
  } catch {
    return '(unparseable URL)';
  }
}

/** True once the client can run commands (a cluster: its slots are known). */
export function isReady(redis: RedisClient): boolean {
  return redis.status === 'ready';
}

/** Connects and PINGs until Redis answers or `timeoutMs` runs out; the error names the variable. */
export async function waitForRedis(redis: RedisClient, target: RedisTarget, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  // The connection's own 'error' events carry the cause (ECONNREFUSED, WRONGPASS…); the
  // rejected connect() only says the connection closed.
  let cause: string | undefined;
  const onError = (error: Error) => (cause = error.message);
  redis.on('error', onError);
  try {
    if (redis.status === 'wait') redis.connect().catch((error: Error) => (cause ??= error.message));
    while (Date.now() < deadline) {
      try {
        if (isReady(redis)) {
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
  const remedy =
    target.kind === 'single'
      ? 'start Redis (e.g. `docker compose up -d redis`) or point REDIS_URL at one'
      : target.kind === 'cluster'
        ? 'check that the nodes of REDIS_CLUSTER_NODES answer and the cluster is up (`redis-cli --cluster check <node>`)'
        : 'check REDIS_SENTINELS and that the sentinels know a master named REDIS_SENTINEL_NAME';
  throw new Error(`Redis at ${describeTarget(target)} did not answer within ${Math.round(timeoutMs / 1000)} s${cause ? ` (${cause})` : ''}; ${remedy}`);
}
