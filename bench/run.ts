/**
 * `npm run bench [-- --only P1,P3 --runs 3 --duration 5 --cpu-prof]`
 *
 * Starts everything on loopback (Redis from REDIS_URL or a throwaway redis-server, the
 * sandbox emulators, the orchestrator, the baselines), generates load from separate
 * processes, and prints one table per benchmark: medians over `--runs` runs, with the ratio
 * to each baseline measured in the same run.
 */
import { cpus, totalmem } from 'node:os';
import { parseArgs } from 'node:util';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { BrpexEmulator } from '../src/sandbox/brpex.js';
import { benchRedis, cleanupAll, deletePrefix, startNode, DIST } from './lib/procs.js';
import { fmt, median, percentile, table } from './lib/stats.js';
import { BENCH_TOKEN, runLoad, startBaseline, startOrchestrator, startToolzz, type CannonResult, type OpenLoopResult, type Service } from './lib/targets.js';
import { join } from 'node:path';

const { values } = parseArgs({
  options: {
    only: { type: 'string' },
    runs: { type: 'string', default: '3' },
    duration: { type: 'string', default: '5' },
    'cpu-prof': { type: 'boolean', default: false },
  },
});
const RUNS = Math.max(1, Number(values.runs));
const DURATION = Number(values.duration);
const only = values.only ? new Set(values.only.split(',').map((s) => s.trim().toUpperCase())) : null;
const wanted = (id: string) => only === null || only.has(id);
const say = (line = '') => process.stdout.write(`${line}\n`);
const nodeArgs = values['cpu-prof'] ? ['--cpu-prof', '--cpu-prof-dir', join(process.cwd(), 'bench/results/profiles')] : [];

let redisUrl = '';
let prefixSeq = 0;
const newPrefix = () => `bench-${process.pid}-${++prefixSeq}`;
const webhook = (service: Service, phones: 'unique' | number) => ({ url: service.url, path: '/webhooks/bench', kind: 'webhook', token: BENCH_TOKEN, phones });

/** Saturating throughput of each target, interleaved run by run; the first run of each is a warm-up. */
type Measured = CannonResult & { cpuUsPerRequest: number };

async function throughput(targets: { name: string; service: Service; target: Record<string, unknown> }[], connections: number): Promise<Map<string, Measured[]>> {
  const results = new Map<string, Measured[]>(targets.map((t) => [t.name, []]));
  for (const t of targets) await runLoad<CannonResult>('autocannon', { ...t.target, connections, durationSec: 2 });
  for (let run = 0; run < RUNS; run++) {
    for (const t of targets) {
      const cpuBefore = t.service.cpuMs();
      const result = await runLoad<CannonResult>('autocannon', { ...t.target, connections, durationSec: DURATION });
      const cpuUsPerRequest = ((t.service.cpuMs() - cpuBefore) * 1000) / result.total;
      results.get(t.name)?.push({ ...result, cpuUsPerRequest });
      say(`    run ${run + 1} ${t.name}: ${fmt(result.rps)} req/s, p99 ${result.latencyP99} ms, ${fmt(cpuUsPerRequest)} µs CPU/request, non-2xx ${result.non2xx}, errors ${result.errors}`);
    }
  }
  return results;
}

function ratioRows(results: Map<string, Measured[]>, baselines: string[]): (string | number)[][] {
  const medians = new Map([...results].map(([name, runs]) => [name, median(runs.map((r) => r.rps))]));
  return [...results].map(([name, runs]) => [
    name,
    fmt(medians.get(name) as number),
    fmt(median(runs.map((r) => r.latencyP99))),
    fmt(median(runs.map((r) => r.cpuUsPerRequest))),
    runs.reduce((sum, r) => sum + r.non2xx + r.errors, 0),
    ...baselines.map((b) => `${fmt((medians.get(name) as number) / (medians.get(b) as number), 2)}×`),
  ]);
}

async function p1(): Promise<void> {
  say('P1 — webhook path, the bot replies at once, saturated (64 connections, returning customers)');
  const toolzz = await startToolzz();
  const prefix = newPrefix();
  const orchestrator = await startOrchestrator({ redisUrl, prefix, toolzzUrl: toolzz.url, role: 'api', nodeArgs });
  const node = await startBaseline('node-forwarder', toolzz.url);
  const express = await startBaseline('express-forwarder', toolzz.url);
  const results = await throughput(
    [
      { name: 'node:http + undici forwarder', service: node, target: webhook(node, 10_000) },
      { name: 'Express + zod + undici forwarder', service: express, target: webhook(express, 10_000) },
      { name: 'handoff-orchestrator', service: orchestrator, target: webhook(orchestrator, 10_000) },
    ],
    64,
  );
  say();
  say(table(['target', 'req/s', 'p99 ms', 'CPU µs/request', 'errors', 'vs node:http', 'vs Express'], ratioRows(results, ['node:http + undici forwarder', 'Express + zod + undici forwarder'])));
  say('target: orchestrator ≥ 0.9 × the Express forwarder');
  await Promise.all([orchestrator.stop(), node.stop(), express.stop(), toolzz.stop()]);
  await deletePrefix(redisUrl, prefix);
}

async function p2(): Promise<void> {
  say('P2 — every message a handoff, saturated (64 connections, a new customer per message)');
  const toolzz = await startToolzz({ handoff: true });
  const prefix = newPrefix();
  const orchestrator = await startOrchestrator({ redisUrl, prefix, toolzzUrl: toolzz.url, role: 'api', nodeArgs });
  const baselinePrefix = newPrefix();
  const express = await startBaseline('express-forwarder', toolzz.url, ['--bullmq', redisUrl, '--prefix', baselinePrefix]);
  const results = await throughput(
    [
      { name: 'Express + zod + undici + BullMQ add', service: express, target: webhook(express, 'unique') },
      { name: 'handoff-orchestrator', service: orchestrator, target: webhook(orchestrator, 'unique') },
    ],
    64,
  );
  say();
  say(table(['target', 'req/s', 'p99 ms', 'CPU µs/request', 'errors', 'vs Express + BullMQ'], ratioRows(results, ['Express + zod + undici + BullMQ add'])));
  say('target: orchestrator ≥ 0.9 × the Express forwarder with one BullMQ add per request');
  await Promise.all([orchestrator.stop(), express.stop(), toolzz.stop()]);
  await Promise.all([deletePrefix(redisUrl, prefix), deletePrefix(redisUrl, baselinePrefix)]);
}

async function p3(): Promise<void> {
  const rate = 1000;
  say(`P3 — added latency at ${rate} req/s (open loop, ${DURATION + 1} s per run, first second discarded)`);
  const toolzz = await startToolzz();
  const prefix = newPrefix();
  const orchestrator = await startOrchestrator({ redisUrl, prefix, toolzzUrl: toolzz.url, role: 'api', nodeArgs });
  const express = await startBaseline('express-forwarder', toolzz.url);
  const targets = [
    { name: 'Toolzz emulator, called directly', target: { url: toolzz.url, path: '/api/v1/chat/send-message', kind: 'toolzz' } },
    { name: 'Express + zod + undici forwarder', target: webhook(express, 10_000) },
    { name: 'handoff-orchestrator', target: webhook(orchestrator, 10_000) },
  ];
  const results = new Map<string, OpenLoopResult[]>(targets.map((t) => [t.name, []]));
  // Freshly started processes spend their first seconds compiling (JIT): warm each one up first.
  for (const t of targets) await runLoad<OpenLoopResult>('open-loop', { ...t.target, rate, durationSec: 3, warmupSec: 0, connections: 64 });
  for (let run = 0; run < RUNS; run++) {
    for (const t of targets) {
      const result = await runLoad<OpenLoopResult>('open-loop', { ...t.target, rate, durationSec: DURATION, warmupSec: 1, connections: 64 });
      results.get(t.name)?.push(result);
      say(`    run ${run + 1} ${t.name}: p50 ${fmt(result.p50, 3)} ms, p99 ${fmt(result.p99, 3)} ms, errors ${result.errors}`);
    }
  }
  const direct = results.get(targets[0]!.name) as OpenLoopResult[];
  const d50 = median(direct.map((r) => r.p50));
  const d99 = median(direct.map((r) => r.p99));
  const rows = [...results].map(([name, runs]) => {
    const p50 = median(runs.map((r) => r.p50));
    const p99 = median(runs.map((r) => r.p99));
    return [name, fmt(p50, 3), fmt(p99, 3), name === targets[0]!.name ? '—' : `+${fmt(p50 - d50, 3)}`, name === targets[0]!.name ? '—' : `+${fmt(p99 - d99, 3)}`];
  });
  say();
  say(table(['target', 'p50 ms', 'p99 ms', 'added p50 ms', 'added p99 ms'], rows));
  say('target: orchestrator adds p50 ≤ 1 ms, p99 ≤ 5 ms over calling the emulator directly');
  await Promise.all([orchestrator.stop(), express.stop(), toolzz.stop()]);
  await deletePrefix(redisUrl, prefix);
}

async function commandStats(redis: Redis): Promise<Map<string, number>> {
  const info = await redis.info('commandstats');
  const stats = new Map<string, number>();
  for (const match of info.matchAll(/^cmdstat_([^:]+):calls=(\d+)/gm)) stats.set(match[1] as string, Number(match[2]));
  return stats;
}

async function p4(): Promise<void> {
  const messages = 2000;
  say(`P4 — Redis work per replied message (${messages} messages of 200 returning customers, INFO commandstats before/after)`);
  if (process.env.REDIS_URL) say('  (REDIS_URL is set: other clients of that Redis would add to the counts)');
  const toolzz = await startToolzz();
  const prefix = newPrefix();
  const orchestrator = await startOrchestrator({ redisUrl, prefix, toolzzUrl: toolzz.url, role: 'api' });
  const target = webhook(orchestrator, 200);
  // First contact of each customer (creates their conversations), not counted.
  await runLoad<OpenLoopResult>('open-loop', { ...target, rate: 400, durationSec: 1, warmupSec: 0, connections: 8 });
  const redis = new Redis(redisUrl);
  const perRun: Map<string, number>[] = [];
  for (let run = 0; run < RUNS; run++) {
    const before = await commandStats(redis);
    const result = await runLoad<OpenLoopResult>('open-loop', { ...target, rate: 500, durationSec: messages / 500, warmupSec: 0, connections: 16 });
    const after = await commandStats(redis);
    const ok = result.statuses['200'] ?? 0;
    const delta = new Map<string, number>();
    for (const [command, calls] of after) {
      const diff = calls - (before.get(command) ?? 0) - (command === 'info' ? 1 : 0);
      if (diff > 0) delta.set(command, diff / ok);
    }
    perRun.push(delta);
    say(`    run ${run + 1}: ${ok} × 200 replied; per message: ${[...delta].map(([c, n]) => `${c} ${fmt(n, 2)}`).join(', ')}`);
  }
  redis.disconnect();
  const commands = [...new Set(perRun.flatMap((m) => [...m.keys()]))].sort();
  const per = (c: string) => median(perRun.map((m) => m.get(c) ?? 0));
  // Client → server round trips: each EVALSHA is one; a MULTI … EXEC block is sent as one pipeline.
  const roundTrips = per('evalsha') + per('exec');
  say();
  say(table(['command', 'calls per replied message'], commands.map((c) => [c, fmt(per(c), 2)])));
  say(`round trips per replied message: ${fmt(roundTrips, 2)} (EVALSHA ${fmt(per('evalsha'), 2)} + MULTI/EXEC ${fmt(per('exec'), 2)}); target ≤ 3`);
  await Promise.all([orchestrator.stop(), toolzz.stop()]);
  await deletePrefix(redisUrl, prefix);
}

async function drain(count: () => Promise<number>, total: number, timeoutMs: number): Promise<number> {
  const started = performance.now();
  while ((await count()) < total) {
    if (performance.now() - started > timeoutMs) throw new Error(`drain did not finish within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
  return performance.now() - started;
}

async function p5(): Promise<void> {
  const jobs = 5000;
  const concurrency = 50;
  say(`P5 — handoff worker, helpdesk (BRPEX emulator) answers at once: ${jobs} handoffs, concurrency ${concurrency}`);
  const brpex = new BrpexEmulator();
  brpex.maxRecorded = 0;
  const arrivals = new Map<string, number>();
  brpex.on('request', (r: { body: { phone?: string } }) => {
    if (r.body?.phone) arrivals.set(r.body.phone, Date.now());
  });
  await brpex.start();
  const toolzz = await startToolzz({ handoff: true });
  const redis = new Redis(redisUrl);
  const ours: number[] = [];
  const raw: number[] = [];
  const oursCpu: number[] = [];
  const rawCpuPerJob: number[] = [];

  for (let run = 0; run < RUNS; run++) {
    // Ours: queue the handoffs through the API (worker stopped), then time the worker draining them.
    const prefix = newPrefix();
    const api = await startOrchestrator({ redisUrl, prefix, toolzzUrl: toolzz.url, brpexUrl: brpex.url, role: 'api' });
    let queued = 0;
    while (queued < jobs) {
      const result = await runLoad<CannonResult>('autocannon', { ...webhook(api, 'unique'), connections: 32, durationSec: 1 });
      queued = await redis.zcard(`${prefix}:handoffs:pending`);
      if (result.non2xx > 0 && queued === 0) throw new Error('could not queue handoffs');
    }
    await api.stop();
    const total = await redis.zcard(`${prefix}:handoffs:pending`);
    const worker = await startOrchestrator({ redisUrl, prefix, toolzzUrl: toolzz.url, brpexUrl: brpex.url, role: 'worker', concurrency, nodeArgs });
    const workerCpu = worker.cpuMs();
    const ms = await drain(() => redis.zcard(`${prefix}:handoffs:done`), total, 120_000);
    ours.push((total / ms) * 1000);
    oursCpu.push(((worker.cpuMs() - workerCpu) * 1000) / total);
    await worker.stop();
    await deletePrefix(redisUrl, prefix);

    // Raw BullMQ: the same number of jobs, a no-op processor at the same concurrency, in its own process.
    const rawPrefix = newPrefix();
    const url = new URL(redisUrl);
    const connection = { host: url.hostname, port: Number(url.port || 6379), db: Number(url.pathname.slice(1) || 0) };
    const queue = new Queue('raw', { connection, prefix: rawPrefix });
    for (let i = 0; i < total; i += 1000) {
      await queue.addBulk(Array.from({ length: Math.min(1000, total - i) }, (_, k) => ({ name: 'noop', data: { phone: `55119${i + k}`, text: 'x'.repeat(200) } })));
    }
    const rawWorker = await startNode(join(DIST, 'bench/baselines/bullmq-noop-worker.js'), [redisUrl, rawPrefix, String(concurrency)], {}, /^ready/m);
    const rawCpu = rawWorker.cpuMs();
    const rawMs = await drain(async () => (await queue.getJobCounts('completed')).completed ?? 0, total, 120_000);
    raw.push((total / rawMs) * 1000);
    rawCpuPerJob.push(((rawWorker.cpuMs() - rawCpu) * 1000) / total);
    await rawWorker.stop();
    await queue.obliterate({ force: true }).catch(() => undefined);
    await queue.close();
    await deletePrefix(redisUrl, rawPrefix);
    say(`    run ${run + 1}: orchestrator worker ${fmt(ours.at(-1) as number)} handoffs/s (${fmt(oursCpu.at(-1) as number)} µs CPU each), raw BullMQ no-op ${fmt(raw.at(-1) as number)} jobs/s (${fmt(rawCpuPerJob.at(-1) as number)} µs CPU each)`);
  }

  // Latency: API + worker running, 500 handoffs/s open loop; enqueue (record createdAt) → BRPEX call.
  const rate = 500;
  const latencyRuns: { p50: number; p99: number }[] = [];
  for (let run = 0; run < RUNS; run++) {
    const prefix = newPrefix();
    // API and worker as separate processes, as the README recommends under load.
    const api = await startOrchestrator({ redisUrl, prefix, toolzzUrl: toolzz.url, brpexUrl: brpex.url, role: 'api' });
    const worker = await startOrchestrator({ redisUrl, prefix, toolzzUrl: toolzz.url, brpexUrl: brpex.url, role: 'worker', concurrency });
    arrivals.clear();
    // Warm both processes up (JIT), then measure only the handoffs created afterwards.
    const warm = await runLoad<OpenLoopResult>('open-loop', { ...webhook(api, 'unique'), rate, durationSec: 3, warmupSec: 0, connections: 32 });
    const measuredFrom = Date.now();
    const result = await runLoad<OpenLoopResult>('open-loop', { ...webhook(api, 'unique'), rate, durationSec: DURATION, warmupSec: 0, connections: 32 });
    const expected = (warm.statuses['202'] ?? 0) + (result.statuses['202'] ?? 0);
    await drain(async () => arrivals.size, expected, 30_000);
    const ids = await redis.zrange(`${prefix}:handoffs:done`, '0', '-1');
    const pipeline = redis.pipeline();
    for (const id of ids) pipeline.hmget(`${prefix}:handoff:${id}`, 'phone', 'createdAt');
    const rows = ((await pipeline.exec()) ?? []).map(([, v]) => v as [string, string]);
    const measured = rows
      .filter(([, createdAt]) => Date.parse(createdAt) >= measuredFrom)
      .map(([phone, createdAt]) => (arrivals.get(phone) ?? NaN) - Date.parse(createdAt))
      .filter(Number.isFinite);
    latencyRuns.push({ p50: percentile(measured, 50), p99: percentile(measured, 99) });
    say(`    latency run ${run + 1}: ${measured.length} handoffs, enqueue → platform call p50 ${fmt(percentile(measured, 50))} ms, p99 ${fmt(percentile(measured, 99))} ms`);
    await Promise.all([api.stop(), worker.stop()]);
    await deletePrefix(redisUrl, prefix);
  }
  say();
  say(
    table(
      ['measure', 'orchestrator worker', 'raw BullMQ no-op worker', 'ratio', 'target'],
      [
        ['throughput (per s)', fmt(median(ours)), fmt(median(raw)), `${fmt(median(ours) / median(raw), 2)}×`, '≥ 0.40×'],
        ['worker CPU per job (µs)', fmt(median(oursCpu)), fmt(median(rawCpuPerJob)), `${fmt(median(oursCpu) / median(rawCpuPerJob), 1)}×`, ''],
        [`enqueue → platform call p50 at ${rate}/s (ms)`, fmt(median(latencyRuns.map((r) => r.p50))), '—', '—', ''],
        [`enqueue → platform call p99 at ${rate}/s (ms)`, fmt(median(latencyRuns.map((r) => r.p99))), '—', '—', '≤ 20 ms'],
      ],
    ),
  );
  redis.disconnect();
  await toolzz.stop();
  await brpex.close();
}

async function p6(): Promise<void> {
  // Open loop at 500 req/s with 2 s replies keeps ~1000 conversations in flight, each a new
  // customer. (A closed loop of 1000 connections started together completes in waves every
  // 2 s, which makes any per-second rate meaningless.)
  const rate = 500;
  const duration = Math.max(DURATION * 3, 15);
  say(`P6 — slow bot (2 s per reply): ${rate} req/s offered for ${duration} s = ~${rate * 2} conversations in flight`);
  const toolzz = await startToolzz({ latencyMs: 2000 });
  const prefix = newPrefix();
  const orchestrator = await startOrchestrator({ redisUrl, prefix, toolzzUrl: toolzz.url, role: 'api', nodeArgs });
  const express = await startBaseline('express-forwarder', toolzz.url);
  const rows: (string | number)[][] = [];
  for (const [name, service] of [
    ['Express + zod + undici forwarder', express],
    ['handoff-orchestrator', orchestrator],
  ] as const) {
    const served: number[] = [];
    const p99: number[] = [];
    let errors = 0;
    let peak = 0;
    for (let run = 0; run < RUNS; run++) {
      const sampler = setInterval(() => (peak = Math.max(peak, service.rss())), 100);
      const result = await runLoad<OpenLoopResult>('open-loop', { ...webhook(service, 'unique'), rate, durationSec: duration, warmupSec: 0, connections: rate * 3 });
      clearInterval(sampler);
      const ok = (result.statuses['200'] ?? 0) + (result.statuses['202'] ?? 0);
      served.push(ok / duration);
      p99.push(result.p99);
      errors += result.sent - ok;
      say(`    run ${run + 1} ${name}: ${fmt(ok / duration)} req/s served (${ok}/${result.sent} ok), p50 ${fmt(result.p50)} ms, p99 ${fmt(result.p99)} ms, peak RSS ${fmt(peak / 2 ** 20)} MB`);
    }
    rows.push([name, fmt(median(served)), fmt(median(p99)), errors, fmt(peak / 2 ** 20)]);
  }
  say();
  say(table(['target', 'req/s served', 'p99 ms', 'errors (all runs)', 'peak RSS MB'], rows));
  say('target: orchestrator ≥ 450 req/s, 0 errors, RSS ≤ 400 MB (the p99 shows whether it kept up with the 2 s bot)');
  await Promise.all([orchestrator.stop(), express.stop(), toolzz.stop()]);
  await deletePrefix(redisUrl, prefix);
}

async function main(): Promise<void> {
  say(`handoff-orchestrator benchmarks — ${new Date().toISOString()}`);
  say(`machine: ${cpus().length} × ${cpus()[0]?.model.trim()}, ${fmt(totalmem() / 2 ** 30, 1)} GiB, Node ${process.version}; runs ${RUNS}, ${DURATION} s each`);
  redisUrl = await benchRedis();
  say(`Redis: ${redisUrl}`);
  const benchmarks: [string, () => Promise<void>][] = [
    ['P1', p1],
    ['P2', p2],
    ['P3', p3],
    ['P4', p4],
    ['P5', p5],
    ['P6', p6],
  ];
  for (const [id, run] of benchmarks) {
    if (!wanted(id)) continue;
    say();
    await run();
  }
}

main()
  .catch((error: unknown) => {
    process.stderr.write(`bench failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
    process.exitCode = 1;
  })
  .finally(() => cleanupAll());
