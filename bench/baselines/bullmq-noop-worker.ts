/**
 * Baseline: a raw BullMQ worker whose processor does nothing, in its own process.
 * argv: <redis url> <prefix> <concurrency>. Queue name "raw".
 */
import { Worker } from 'bullmq';

const [url = 'redis://127.0.0.1:6379', prefix = 'bench-raw', concurrency = '50'] = process.argv.slice(2);
const parsed = new URL(url);
const worker = new Worker('raw', () => Promise.resolve(undefined), {
  connection: { host: parsed.hostname, port: Number(parsed.port || 6379), db: Number(parsed.pathname.slice(1) || 0), maxRetriesPerRequest: null },
  prefix,
  concurrency: Number(concurrency),
  removeOnComplete: { count: 100_000 },
});
await worker.waitUntilReady();
process.stdout.write('ready\n');
process.on('SIGTERM', () => void worker.close().then(() => process.exit(0)));
