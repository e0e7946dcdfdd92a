/**
 * Open-loop load at a fixed rate, in a process of its own, timed with hrtime (autocannon
 * only has millisecond resolution). Requests are sent on schedule whether or not earlier
 * ones have answered. argv[2]: JSON {url, path, kind, token?, secret?, account?, phones?,
 * customerBase?, burst?, rate, durationSec, warmupSec, connections, record?}. Prints one JSON
 * line with latencies in ms.
 *
 * With `record: true` the line also holds `messages`: `[tag, sentAt, answeredAt]` for every
 * request after the warm-up that got a 2xx, times in ms of `process.hrtime` — the system's
 * monotonic clock, the same in every process of this machine, so they compare with the times
 * an emulator process records for the replies.
 */
import { Pool } from 'undici';
import { percentile } from '../lib/stats.js';
import { makeRequest, type LoadTarget } from './bodies.js';

const options = JSON.parse(process.argv[2] ?? '{}') as LoadTarget & { rate: number; durationSec: number; warmupSec: number; connections: number; record?: boolean };
const pool = new Pool(options.url, { connections: options.connections, pipelining: 1, keepAliveTimeout: 30_000 });
const total = Math.round(options.rate * (options.durationSec + options.warmupSec));
const warmup = Math.round(options.rate * options.warmupSec);
const intervalNs = 1e9 / options.rate;
const latencies: number[] = [];
const statuses = new Map<number, number>();
const messages: [string, number, number][] = [];
let errors = 0;
let finished = 0;
let sent = 0;

const done = new Promise<void>((resolve) => {
  const fire = (index: number) => {
    const { body, headers, tag } = makeRequest(options);
    const started = process.hrtime.bigint();
    pool
      .request({ method: 'POST', path: options.path, headers, body })
      .then(async (res) => {
        await res.body.dump();
        const answered = process.hrtime.bigint();
        statuses.set(res.statusCode, (statuses.get(res.statusCode) ?? 0) + 1);
        if (index >= warmup) {
          latencies.push(Number(answered - started) / 1e6);
          if (options.record && res.statusCode < 300) messages.push([tag, Number(started) / 1e6, Number(answered) / 1e6]);
        }
      })
      .catch(() => {
        errors += 1;
      })
      .finally(() => {
        finished += 1;
        if (finished === total) resolve();
      });
  };
  const start = process.hrtime.bigint();
  const tick = () => {
    const elapsed = Number(process.hrtime.bigint() - start);
    while (sent < total && sent * intervalNs <= elapsed) fire(sent++);
    if (sent < total) setTimeout(tick, 1);
  };
  tick();
});

await done;
await pool.close();
process.stdout.write(
  `${JSON.stringify({
    sent: total,
    errors,
    statuses: Object.fromEntries(statuses),
    p50: percentile(latencies, 50),
    p90: percentile(latencies, 90),
    p99: percentile(latencies, 99),
    max: percentile(latencies, 100),
    ...(options.record ? { messages } : {}),
  })}\n`,
);
