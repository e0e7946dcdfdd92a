import { loadConfig, ConfigError, type Config } from './config/index.js';
import { createLogger } from './observability/logger.js';
import { createRedis, describeTarget, waitForRedis } from './redis/connection.js';
import { createApiService, createCore, createOpsService, type HttpService } from './service.js';
// The composition root: the only module of src/ that knows the workers (they depend on src/, never the reverse).
import { createWorkerService, type WorkerService } from '../workers/index.js';

/**
 * Entrypoint. `--role=all` (default, `npm start`): API and worker in one process;
 * `--role=api` / `--role=worker`: either alone (`npm run start:api` / `start:worker`), any
 * number of each on one Redis. A worker-only process serves /healthz, /readyz and /metrics
 * on WORKER_PORT when it is set.
 */
type Role = 'all' | 'api' | 'worker';

function fail(message: string): never {
  process.stderr.write(`${message}\n`);
  process.exit(1);
}

function roleFromArgs(argv: readonly string[]): Role {
  const arg = argv.find((a) => a.startsWith('--role='));
  const role = arg ? arg.slice('--role='.length) : 'all';
  if (role === 'all' || role === 'api' || role === 'worker') return role;
  fail(`unknown --role=${role} (use all, api or worker)`);
}

async function main(): Promise<void> {
  const role = roleFromArgs(process.argv.slice(2));
  let config: Config;
  try {
    config = loadConfig(process.env);
  } catch (error) {
    if (error instanceof ConfigError) fail(error.message);
    throw error;
  }
  const workerPort = process.env.WORKER_PORT ? Number(process.env.WORKER_PORT) : undefined;
  if (workerPort !== undefined && !(Number.isInteger(workerPort) && workerPort >= 0 && workerPort <= 65535)) {
    fail('invalid configuration (environment):\n  WORKER_PORT: must be a port number (0-65535)');
  }

  const logger = createLogger({ level: config.logLevel });
  const redis = createRedis(config.redisTarget);
  redis.on('error', () => undefined); // reported below (start-up) or by the readiness check
  try {
    await waitForRedis(redis, config.redisTarget, 10_000);
  } catch (error) {
    redis.disconnect();
    fail((error as Error).message);
  }
  let redisDown = false;
  redis.on('error', (error: Error) => {
    if (!redisDown) logger.error({ err: { message: error.message } }, 'lost the Redis connection; answering 503 until it is back');
    redisDown = true;
  });
  redis.on('ready', () => {
    if (redisDown) logger.info('Redis connection back');
    redisDown = false;
  });

  const core = createCore(config, { redis, logger });
  let http: HttpService | undefined;
  let worker: WorkerService | undefined;
  if (role !== 'worker') {
    const api = createApiService(core);
    const url = await api.listen(config.port);
    logger.info({ url, role, channels: Object.keys(config.channels), redis: describeTarget(config.redisTarget) }, 'API listening');
    http = api;
  } else if (workerPort !== undefined) {
    http = createOpsService(core);
    const url = await http.listen(workerPort);
    logger.info({ url }, 'worker health and metrics endpoints listening');
  }
  if (role !== 'api') {
    worker = createWorkerService(core);
    await worker.ready();
    logger.info({ role, concurrency: config.worker.concurrency }, 'workers running');
  }

  let stopping = false;
  const stop = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, 'shutting down: no new requests; finishing in-flight requests and active jobs');
    const forced = setTimeout(() => {
      logger.error('shutdown took too long; exiting');
      process.exit(1);
    }, config.worker.shutdownGraceMs + 15_000);
    forced.unref();
    try {
      await http?.close();
      await worker?.close();
      await core.close();
      await redis.quit().catch(() => redis.disconnect());
      logger.info('stopped');
      logger.flush(() => process.exit(0));
    } catch (error) {
      logger.error({ err: error }, 'error while shutting down');
      process.exit(1);
    }
  };
  process.on('SIGTERM', () => void stop('SIGTERM'));
  process.on('SIGINT', () => void stop('SIGINT'));
}

main().catch((error: unknown) => fail(`fatal: ${error instanceof Error ? error.message : String(error)}`));
