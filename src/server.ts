import { loadConfig, ConfigError, type Config } from './config.js';
import { createLogger } from './observability/logger.js';
import { createRedis, waitForRedis } from './redis.js';
import { createApiService, createWorkerService, type ApiService } from './service.js';

type Role = 'all' | 'api' | 'worker';

function roleFromArgs(argv: readonly string[]): Role {
  const arg = argv.find((a) => a.startsWith('--role='));
  const role = arg ? arg.slice('--role='.length) : 'all';
  if (role === 'all' || role === 'api' || role === 'worker') return role;
  process.stderr.write(`unknown --role=${role} (use all, api or worker)\n`);
  process.exit(2);
}

function fail(message: string): never {
  process.stderr.write(`${message}\n`);
  process.exit(1);
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
  const logger = createLogger({ level: config.logLevel });
  const redis = createRedis(config.redisUrl);
  try {
    await waitForRedis(redis, config.redisUrl, 10_000);
  } catch (error) {
    redis.disconnect();
    fail((error as Error).message);
  }
  redis.on('error', (error: Error) => logger.warn({ err: { message: error.message } }, 'redis connection error'));

  let api: ApiService | undefined;
  if (role !== 'worker') {
    api = createApiService(config, { redis, logger });
    const url = await api.listen(config.port);
    logger.info({ url, role, channels: Object.keys(config.channels) }, 'API listening');
  }

  let worker: ReturnType<typeof createWorkerService> | undefined;
  if (role !== 'api') {
    worker = createWorkerService(config, { redis, logger });
    await worker.worker.waitUntilReady();
    logger.info({ role, concurrency: config.worker.concurrency }, 'handoff worker running');
  }

  let stopping = false;
  const stop = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, 'shutting down');
    const forced = setTimeout(() => {
      logger.error('shutdown took too long; exiting');
      process.exit(1);
    }, 30_000);
    forced.unref();
    try {
      // Stop taking requests first (in-flight ones finish), then let active jobs finish.
      await api?.close();
      await worker?.close();
      await redis.quit().catch(() => redis.disconnect());
      logger.info('stopped');
      process.exit(0);
    } catch (error) {
      logger.error({ err: error }, 'error while shutting down');
      process.exit(1);
    }
  };
  process.on('SIGTERM', () => void stop('SIGTERM'));
  process.on('SIGINT', () => void stop('SIGINT'));
}

main().catch((error: unknown) => fail(`fatal: ${error instanceof Error ? error.message : String(error)}`));
