/**
 * `npm run bench [-- --only P1,P3 --runs 3 --duration 5 --cpu-prof --redis single|cluster|both]`
 *
 * Starts everything on loopback (Redis from REDIS_URL or a throwaway redis-server, the
 * sandbox emulators, the orchestrator, the baselines), generates load from separate
 * processes, and prints one table per benchmark: medians over `--runs` runs, with the ratio
 * to each baseline measured in the same run.
 *
 * P1-P6: the synchronous `json` channel and the handoff worker. P1, P2 and P4 also run the
 * service on a local 3-master Redis Cluster (`--redis both`, the default), printed beside the
 * one-server figures. P7/P8: a WhatsApp Cloud API channel (acknowledgement; end to end to the
 * Graph emulator). P9/P10: the same for an Evolution API channel, P11: Redis round trips per
 * held message with `debounceMs` on an Evolution channel (skipped while the service has no
 * Evolution channel).
 */
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { cpus, totalmem } from 'node:os';
import { parseArgs } from 'node:util';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { createKeys, parseWhere, QUEUES } from '../src/keys.js';
import { BrpexEmulator } from '../src/sandbox/brpex.js';
import { benchCluster, benchRedis, cleanupAll, connectMasters, deletePrefix, startNode, DIST, ROOT, type BenchRedis } from './lib/procs.js';
import { fmt, median, percentile, table } from './lib/stats.js';
import {
  asyncChannel,
  BENCH_TOKEN,
  EVO,
  runLoad,
  startBaseline,
  startChannelEmulator,
  startOrchestrator,
  startToolzz,
  WA,
  type CannonResult,
  type OpenLoopResult,
  type Service,
} from './lib/targets.js';
import { join } from 'node:path';

const { values } = parseArgs({
  options: {
    only: { type: 'string' },
    runs: { type: 'string', default: '3' },
    duration: { type: 'string', default: '5' },
    'cpu-prof': { type: 'boolean', default: false },
    // P1, P2, P4: the service on one Redis server, on a local 3-master Redis Cluster, or both.
    redis: { type: 'string', default: 'both' },
  },
});
if (!['single', 'cluster', 'both'].includes(values.redis)) throw new Error('--redis must be single, cluster or both');
const onSingle = values.redis !== 'cluster';
const onCluster = values.redis !== 'single';
const RUNS = Math.max(1, Number(values.runs));
const DURATION = Number(values.duration);
const only = values.only ? new Set(values.only.split(',').map((s) => s.trim().toUpperCase())) : null;
const wanted = (id: string) => only === null || only.has(id);
const say = (line = '') => process.stdout.write(`${line}\n`);
const nodeArgs = values['cpu-prof'] ? ['--cpu-prof', '--cpu-prof-dir', join(process.cwd(), 'bench/results/profiles')] : [];

let redisUrl = '';
const single = (): BenchRedis => ({ kind: 'single', url: redisUrl });
let prefixSeq = 0;
const newPrefix = () => `bench-${process.pid}-${++prefixSeq}`;
const webhook = (service: Service, phones: 'unique' | number) => ({ url: service.url, path: '/webhooks/bench', kind: 'webhook', token: BENCH_TOKEN, phones });

/**
 * A load's target with customers no earlier load process used (`newCustomers: true`): each
 * load process numbers its customers from 1, under a `customerBase` (10-99) of its own here.
 */
let nextCustomerBase = 10;
function fresh(target: Record<string, unknown>): Record<string, unknown> {
  if (target.newCustomers !== true) return target;
  const customerBase = nextCustomerBase;
  nextCustomerBase = nextCustomerBase >= 99 ? 10 : nextCustomerBase + 1;
  return { ...target, phones: 'unique', customerBase };
}

/** Saturating throughput of each target, interleaved run by run; the first run of each is a warm-up. */
type Measured = CannonResult & { cpuUsPerRequest: number };

async function throughput(targets: { name: string; service: Service; target: Record<string, unknown> }[], connections: number): Promise<Map<string, Measured[]>> {
  const results = new Map<string, Measured[]>(targets.map((t) => [t.name, []]));
  for (const t of targets) await runLoad<CannonResult>('autocannon', { ...fresh(t.target), connections, durationSec: 2 });
  for (let run = 0; run < RUNS; run++) {
    for (const t of targets) {
      const cpuBefore = t.service.cpuMs();
      const result = await runLoad<CannonResult>('autocannon', { ...fresh(t.target), connections, durationSec: DURATION });
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

type Started = { name: string; where: BenchRedis; prefix: string; service: Service };

/** The service once per Redis deployment asked for (`--redis`), each under a key prefix of its own. */
async function orchestratorOnEachRedis(options: Omit<Parameters<typeof startOrchestrator>[0], 'redisUrl' | 'redis' | 'prefix'>): Promise<Started[]> {
  const deployments: { label: string; where: BenchRedis }[] = [];
  if (onSingle) deployments.push({ label: 'one Redis', where: single() });
  if (onCluster) deployments.push({ label: 'Redis Cluster, 3 masters', where: await benchCluster() });
  const started: Started[] = [];
  for (const { label, where } of deployments) {
    const prefix = newPrefix();
    started.push({ name: `handoff-orchestrator (${label})`, where, prefix, service: await startOrchestrator({ ...options, redis: where, prefix }) });
  }
  return started;
}

async function stopAll(started: Started[]): Promise<void> {
  await Promise.all(started.map((s) => s.service.stop()));
  await Promise.all(started.map((s) => deletePrefix(s.where, s.prefix)));
}

async function p1(): Promise<void> {
  say('P1 — webhook path, the bot replies at once, saturated (64 connections, returning customers)');
  const toolzz = await startToolzz();
  const orchestrators = await orchestratorOnEachRedis({ toolzzUrl: toolzz.url, role: 'api', nodeArgs });
  const node = await startBaseline('node-forwarder', toolzz.url);
  const express = await startBaseline('express-forwarder', toolzz.url);
  const results = await throughput(
    [
      { name: 'node:http + undici forwarder', service: node, target: webhook(node, 10_000) },
      { name: 'Express + zod + undici forwarder', service: express, target: webhook(express, 10_000) },
      ...orchestrators.map((o) => ({ name: o.name, service: o.service, target: webhook(o.service, 10_000) })),
    ],
    64,
  );
  say();
  say(table(['target', 'req/s', 'p99 ms', 'CPU µs/request', 'errors', 'vs node:http', 'vs Express'], ratioRows(results, ['node:http + undici forwarder', 'Express + zod + undici forwarder'])));
  say('target: orchestrator ≥ 0.9 × the Express forwarder');
  await Promise.all([node.stop(), express.stop(), toolzz.stop()]);
  await stopAll(orchestrators);
}

async function p2(): Promise<void> {
  say('P2 — every message a handoff, saturated (64 connections, a new customer per message)');
  const toolzz = await startToolzz({ handoff: true });
  const orchestrators = await orchestratorOnEachRedis({ toolzzUrl: toolzz.url, role: 'api', nodeArgs });
  const baselinePrefix = newPrefix();
  const express = await startBaseline('express-forwarder', toolzz.url, ['--bullmq', redisUrl, '--prefix', baselinePrefix]);
  const results = await throughput(
    [
      { name: 'Express + zod + undici + BullMQ add', service: express, target: webhook(express, 'unique') },
      ...orchestrators.map((o) => ({ name: o.name, service: o.service, target: webhook(o.service, 'unique') })),
    ],
    64,
  );
  say();
  say(table(['target', 'req/s', 'p99 ms', 'CPU µs/request', 'errors', 'vs Express + BullMQ'], ratioRows(results, ['Express + zod + undici + BullMQ add'])));
  say('target: orchestrator ≥ 0.9 × the Express forwarder with one BullMQ add per request (the baseline uses the one Redis server)');
  await Promise.all([express.stop(), toolzz.stop()]);
  await stopAll(orchestrators);
  await deletePrefix(redisUrl, baselinePrefix);
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

/** `INFO commandstats` calls per command, summed over every master (one for a single server). */
async function commandStats(masters: Redis[]): Promise<Map<string, number>> {
  const stats = new Map<string, number>();
  for (const redis of masters) {
    const info = await redis.info('commandstats');
    for (const match of info.matchAll(/^cmdstat_([^:]+):calls=(\d+)/gm)) stats.set(match[1] as string, (stats.get(match[1] as string) ?? 0) + Number(match[2]));
  }
  return stats;
}

/** Calls per command between two {@link commandStats}, per `per` (our own INFO calls taken out). */
function statsDelta(before: Map<string, number>, after: Map<string, number>, masters: number, per: number): Map<string, number> {
  const delta = new Map<string, number>();
  for (const [command, calls] of after) {
    const diff = calls - (before.get(command) ?? 0) - (command === 'info' ? masters : 0);
    if (diff > 0) delta.set(command, diff / per);
  }
  return delta;
}

/** P4 on one deployment: per-command calls per replied message, one map per run. */
async function redisWork(where: BenchRedis, messages: number): Promise<Map<string, number>[]> {
  const toolzz = await startToolzz();
  const prefix = newPrefix();
  const orchestrator = await startOrchestrator({ redis: where, prefix, toolzzUrl: toolzz.url, role: 'api' });
  const target = webhook(orchestrator, 200);
  // First contact of each customer (creates their conversations), not counted.
  await runLoad<OpenLoopResult>('open-loop', { ...target, rate: 400, durationSec: 1, warmupSec: 0, connections: 8 });
  const redis = await connectMasters(where);
  const perRun: Map<string, number>[] = [];
  for (let run = 0; run < RUNS; run++) {
    const before = await commandStats(redis.masters);
    const result = await runLoad<OpenLoopResult>('open-loop', { ...target, rate: 500, durationSec: messages / 500, warmupSec: 0, connections: 16 });
    const after = await commandStats(redis.masters);
    const ok = result.statuses['200'] ?? 0;
    const delta = statsDelta(before, after, redis.masters.length, ok);
    perRun.push(delta);
    say(`    run ${run + 1} (${where.kind === 'single' ? 'one Redis' : 'Redis Cluster'}): ${ok} × 200 replied; per message: ${[...delta].map(([c, n]) => `${c} ${fmt(n, 2)}`).join(', ')}`);
  }
  redis.disconnect();
  await Promise.all([orchestrator.stop(), toolzz.stop()]);
  await deletePrefix(where, prefix);
  return perRun;
}

async function p4(): Promise<void> {
  const messages = 2000;
  say(`P4 — Redis work per replied message (${messages} messages of 200 returning customers, INFO commandstats before/after${onCluster ? '; on the cluster summed over every master' : ''})`);
  if (process.env.REDIS_URL) say('  (REDIS_URL is set: other clients of that Redis would add to the counts)');
  const deployments: { label: string; runs: Map<string, number>[] }[] = [];
  if (onSingle) deployments.push({ label: 'one Redis', runs: await redisWork(single(), messages) });
  if (onCluster) deployments.push({ label: 'Redis Cluster (3 masters)', runs: await redisWork(await benchCluster(), messages) });
  const per = (runs: Map<string, number>[], c: string) => median(runs.map((m) => m.get(c) ?? 0));
  const commands = [...new Set(deployments.flatMap((d) => d.runs.flatMap((m) => [...m.keys()])))].sort();
  say();
  say(table(['command', ...deployments.map((d) => `calls per replied message, ${d.label}`)], commands.map((c) => [c, ...deployments.map((d) => fmt(per(d.runs, c), 2))])));
  // Client → server round trips: each EVALSHA is one; a MULTI … EXEC block is sent as one pipeline.
  for (const d of deployments) {
    say(`round trips per replied message, ${d.label}: ${fmt(per(d.runs, 'evalsha') + per(d.runs, 'exec'), 2)} (EVALSHA ${fmt(per(d.runs, 'evalsha'), 2)} + MULTI/EXEC ${fmt(per(d.runs, 'exec'), 2)}); target ≤ 3`);
  }
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
      queued = await redis.zcard(createKeys(prefix).index('handoff', 'pending'));
      if (result.non2xx > 0 && queued === 0) throw new Error('could not queue handoffs');
    }
    await api.stop();
    const total = await redis.zcard(createKeys(prefix).index('handoff', 'pending'));
    const worker = await startOrchestrator({ redisUrl, prefix, toolzzUrl: toolzz.url, brpexUrl: brpex.url, role: 'worker', concurrency, nodeArgs });
    const workerCpu = worker.cpuMs();
    const ms = await drain(() => redis.zcard(createKeys(prefix).index('handoff', 'done')), total, 120_000);
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
    await drain(() => Promise.resolve(arrivals.size), expected, 30_000);
    // From the job's enqueue (its BullMQ timestamp; completed jobs are kept) to the platform
    // call, for the handoffs queued after the warm-up. (The record's createdAt is earlier: the
    // turn's start, before the bot was asked.)
    const keys = createKeys(prefix);
    const ids = await redis.zrange(keys.index('handoff', 'done'), '0', '-1');
    const wheres = ((await ids.reduce((p, id) => p.get(keys.where('handoff', id)), redis.pipeline()).exec()) ?? []).map(([, v]) => parseWhere(v as string | null));
    const pipeline = redis.pipeline();
    ids.forEach((id, i) => {
      const where = wheres[i];
      if (where) pipeline.hget(keys.handoff(where.channel, where.phone, id), 'phone').hget(`${keys.bullPrefix(QUEUES.handoff)}:${QUEUES.handoff}:${id}`, 'timestamp');
    });
    const values = ((await pipeline.exec()) ?? []).map(([, v]) => v as string | null);
    const measured: number[] = [];
    for (let i = 0; i + 1 < values.length; i += 2) {
      const queuedAt = Number(values[i + 1]);
      if (!(queuedAt >= measuredFrom)) continue;
      const latency = (arrivals.get(values[i] ?? '') ?? NaN) - queuedAt;
      if (Number.isFinite(latency)) measured.push(latency);
    }
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

// ---------------------------------------------------------------------------------------------
// Asynchronous channels (SPEC §8): WhatsApp Cloud API (P7, P8), Evolution API (P9, P10, P11).

type ChannelKind = 'whatsapp' | 'evolution';
const CHANNEL = { whatsapp: 'wa', evolution: 'evo' } as const;
const LABEL = { whatsapp: 'WhatsApp Cloud API', evolution: 'Evolution API' } as const;
const SEND_API = { whatsapp: 'WhatsApp Graph emulator', evolution: 'Evolution sendText emulator (echoes off)' } as const;

/** A benchmark that cannot run here; main prints the reason and goes on. */
class Skip extends Error {}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const sum = (values: number[]) => values.reduce((a, b) => a + b, 0);

/**
 * Load of one-message deliveries to the channel's webhook: signed like Meta (WhatsApp) or with
 * the Bearer token (Evolution); a unique message id each; customers drawn in turn from a pool
 * of `phones`, the same numbers in every load process (`customerBase`), so the runs after the
 * warm-up are returning customers.
 */
function channelTarget(kind: ChannelKind, service: { url: string }, phones: number | 'unique', extra: Record<string, unknown> = {}): Record<string, unknown> {
  return kind === 'whatsapp'
    ? { url: service.url, path: `/webhooks/${CHANNEL.whatsapp}`, kind: 'whatsapp', secret: WA.appSecret, account: WA.phoneNumberId, phones, customerBase: 71, ...extra }
    : { url: service.url, path: `/webhooks/${CHANNEL.evolution}`, kind: 'evolution', token: EVO.token, account: EVO.instance, phones, customerBase: 72, ...extra };
}

/** The Evolution channel is being added to the service: its benchmarks skip until it is there. */
function requireEvolution(): void {
  if (!existsSync(join(ROOT, 'src/channels/evolution/inbound.ts'))) throw new Skip('evolution channel not available (src/channels/evolution/inbound.ts does not exist yet)');
  if (!existsSync(join(DIST, 'src/channels/evolution/inbound.js'))) throw new Skip('evolution channel not available (src/channels/evolution/inbound.ts is not built: npm run build)');
}

/** The service with one asynchronous channel of `kind` whose replies go to `sendApi`. */
async function startChannelService(
  kind: ChannelKind,
  options: { prefix: string; role: 'api' | 'worker' | 'all'; toolzzUrl?: string; sendApi?: string; channel?: Record<string, unknown>; nodeArgs?: string[] },
): Promise<Service> {
  const sendApi = options.sendApi ?? 'http://127.0.0.1:9';
  try {
    return await startOrchestrator({
      redisUrl,
      prefix: options.prefix,
      toolzzUrl: options.toolzzUrl ?? 'http://127.0.0.1:9',
      role: options.role,
      nodeArgs: options.nodeArgs,
      channels: { [CHANNEL[kind]]: asyncChannel(kind, sendApi, options.channel) },
      env: kind === 'whatsapp' ? { WHATSAPP_BASE_URL: sendApi } : { EVOLUTION_BASE_URL: sendApi },
    });
  } catch (error) {
    const text = String(error instanceof Error ? error.message : error);
    if (kind === 'evolution' && /evolution/i.test(text) && /not supported|kind must be/i.test(text)) {
      throw new Skip(`evolution channel not available (the service refuses the channel: ${/^.*(not supported|kind must be).*$/m.exec(text)?.[0]?.trim()})`);
    }
    throw error;
  }
}

/** The bench channel emulators' control endpoints (bench/emulators.ts). */
async function control<T>(emulator: Service, method: 'GET' | 'POST', action: string): Promise<T> {
  const res = await fetch(`${emulator.url}/__sandbox/${action}`, { method });
  if (!res.ok) throw new Error(`${action}: ${res.status} ${await res.text()}`);
  return (await res.json()) as T;
}

/**
 * Waits until the emulator has accepted `count` sends and then none for `quietMs`, or
 * `timeoutMs` passed; returns how many it has.
 */
async function waitForSends(emulator: Service, count: number, timeoutMs: number, quietMs = 0): Promise<number> {
  const started = performance.now();
  let last = -1;
  let changedAt = started;
  for (;;) {
    const { count: now } = await control<{ count: number }>(emulator, 'GET', 'bench/count');
    if (now !== last) {
      last = now;
      changedAt = performance.now();
    }
    if (now >= count && performance.now() - changedAt >= quietMs) return now;
    if (performance.now() - started > timeoutMs) return now;
    await sleep(20);
  }
}

/** Open loop at `rate` against each target, interleaved run by run, after a 3 s warm-up each. */
async function openLoopRuns(targets: { name: string; target: Record<string, unknown> }[], rate: number, connections: number): Promise<Map<string, OpenLoopResult[]>> {
  const results = new Map<string, OpenLoopResult[]>(targets.map((t) => [t.name, []]));
  for (const t of targets) await runLoad<OpenLoopResult>('open-loop', { ...fresh(t.target), rate, durationSec: 3, warmupSec: 0, connections });
  for (let run = 0; run < RUNS; run++) {
    for (const t of targets) {
      const result = await runLoad<OpenLoopResult>('open-loop', { ...fresh(t.target), rate, durationSec: DURATION, warmupSec: 1, connections });
      results.get(t.name)?.push(result);
      const ok = result.statuses['200'] ?? 0;
      say(`    latency run ${run + 1} ${t.name}: p50 ${fmt(result.p50, 3)} ms, p99 ${fmt(result.p99, 3)} ms, ${ok}/${result.sent} × 200, errors ${result.errors}`);
    }
  }
  return results;
}

/** P7 / P9: webhook → 200 of an asynchronous channel, against Express + the channel's auth + one BullMQ add. */
async function acknowledgement(kind: ChannelKind): Promise<void> {
  const id = kind === 'whatsapp' ? 'P7' : 'P9';
  // Every message from a customer whose inbox is empty, as in production where inboxes drain
  // in milliseconds (with --role=api nothing drains: a returning customer would find messages
  // waiting and cost less than a real one).
  const rate = 1000;
  const auth = kind === 'whatsapp' ? 'signed (X-Hub-Signature-256)' : 'with a Bearer token';
  say(`${id} — ${LABEL[kind]} webhook → 200 (acknowledgement): one-message deliveries ${auth}, a unique message id each, each from a new customer (an empty inbox); saturated (64 connections), then ${rate}/s open loop; the service runs --role=api (nothing drains)`);
  if (kind === 'evolution') requireEvolution();
  const prefix = newPrefix();
  const orchestrator = await startChannelService(kind, { prefix, role: 'api', nodeArgs });
  const baselinePrefix = newPrefix();
  const baselineName = kind === 'whatsapp' ? 'Express raw + HMAC + BullMQ add' : 'Express raw + Bearer + BullMQ add';
  const baseline = await startBaseline('express-acceptor', '', [
    '--auth',
    kind === 'whatsapp' ? 'hmac' : 'bearer',
    '--secret',
    WA.appSecret,
    '--token',
    EVO.token,
    '--bullmq',
    redisUrl,
    '--prefix',
    baselinePrefix,
  ]);
  const targets = [
    { name: baselineName, service: baseline, target: channelTarget(kind, baseline, 'unique', { newCustomers: true }) },
    { name: 'handoff-orchestrator', service: orchestrator, target: channelTarget(kind, orchestrator, 'unique', { newCustomers: true }) },
  ];
  const saturated = await throughput(targets, 64);
  const latency = await openLoopRuns(targets, rate, 64);
  const base = latency.get(baselineName) as OpenLoopResult[];
  const b50 = median(base.map((r) => r.p50));
  const b99 = median(base.map((r) => r.p99));
  say();
  say(table(['target', 'req/s', 'p99 ms', 'CPU µs/request', 'errors', `vs ${baselineName}`], ratioRows(saturated, [baselineName])));
  say();
  say(
    table(
      ['target', `p50 ms at ${rate}/s`, 'p99 ms', 'added p50 ms', 'added p99 ms', 'non-200 + errors'],
      [...latency].map(([name, runs]) => {
        const p50 = median(runs.map((r) => r.p50));
        const p99 = median(runs.map((r) => r.p99));
        const bad = runs.reduce((n, r) => n + r.sent - (r.statuses['200'] ?? 0), 0);
        return [name, fmt(p50, 3), fmt(p99, 3), name === baselineName ? '—' : `${p50 >= b50 ? '+' : ''}${fmt(p50 - b50, 3)}`, name === baselineName ? '—' : `${p99 >= b99 ? '+' : ''}${fmt(p99 - b99, 3)}`, bad];
      }),
    ),
  );
  say(`target: orchestrator ≥ 0.9 × the baseline's req/s; at ${rate}/s p99 ≤ +5 ms over the baseline`);
  for (const [name, runs] of saturated) {
    const max = median(runs.map((r) => r.rps));
    if (max < rate) say(`note: ${name} saturates at ${fmt(max)} req/s here, below the ${rate}/s offered: its latency at ${rate}/s is mostly queueing`);
  }
  await Promise.all([orchestrator.stop(), baseline.stop()]);
  await Promise.all([deletePrefix(redisUrl, prefix), deletePrefix(redisUrl, baselinePrefix)]);
}

/** P8 / P10: delivery POSTed → the reply received by the channel's send API emulator. */
async function endToEnd(kind: ChannelKind): Promise<void> {
  const id = kind === 'whatsapp' ? 'P8' : 'P10';
  const rate = 300;
  // A lower rate, as a diagnostic: the latency of the path itself, without queueing for a busy CPU.
  const lowRate = 50;
  say(
    `${id} — ${LABEL[kind]} end to end, the bot (Toolzz emulator) answering at once (one row with a bot answering in 1 s): delivery POSTed → reply received by the ${SEND_API[kind]} in its own process; ${rate} messages/s open loop, as many customers (each writes about once a second); ${DURATION} s per run (first second not counted) after a 3 s warm-up; last row at ${lowRate}/s for comparison`,
  );
  if (kind === 'evolution') requireEvolution();
  const toolzz = await startToolzz();
  // A bot taking 1 s per answer: the reply's latency should be the bot's, ~300 turns in flight.
  const slowToolzz = await startToolzz({ latencyMs: 1000 });
  const emulator = await startChannelEmulator(kind);
  const modes: { name: string; roles: readonly ('all' | 'api' | 'worker')[]; rate: number; bot?: Service }[] = [
    { name: `--role=all (one process), ${rate}/s`, roles: ['all'], rate },
    { name: `--role=api + --role=worker, ${rate}/s`, roles: ['api', 'worker'], rate },
    { name: `--role=all (one process), ${rate}/s, bot answering in 1 s`, roles: ['all'], rate, bot: slowToolzz },
    { name: `--role=all (one process), ${lowRate}/s`, roles: ['all'], rate: lowRate },
  ];
  const rows: (string | number)[][] = [];
  for (const mode of modes) {
    const { name, roles } = mode;
    const customers = mode.rate;
    const prefix = newPrefix();
    const procs: Service[] = [];
    for (const role of roles) procs.push(await startChannelService(kind, { prefix, role, toolzzUrl: (mode.bot ?? toolzz).url, sendApi: emulator.url, nodeArgs }));
    const target = channelTarget(kind, procs[0] as Service, customers);
    // Warm-up (JIT; every customer's first contact), not counted.
    await control(emulator, 'POST', 'bench/clear');
    const warm = await runLoad<OpenLoopResult>('open-loop', { ...target, rate: mode.rate, durationSec: 3, warmupSec: 0, connections: 64 });
    const warmReplies = await waitForSends(emulator, warm.statuses['200'] ?? 0, 30_000, 200);
    if (warmReplies < (warm.statuses['200'] ?? 0)) say(`    warm-up: only ${warmReplies} of ${warm.statuses['200'] ?? 0} accepted messages were answered within 30 s`);
    const runs: { p50: number; p99: number; ack50: number; ack99: number; hook99: number; cpuUs: number }[] = [];
    let missing = 0;
    let total = 0;
    for (let run = 0; run < RUNS; run++) {
      await control(emulator, 'POST', 'bench/clear');
      const cpuBefore = sum(procs.map((p) => p.cpuMs()));
      const result = await runLoad<OpenLoopResult>('open-loop', { ...target, rate: mode.rate, durationSec: DURATION, warmupSec: 1, connections: 64, record: true });
      const accepted = result.statuses['200'] ?? 0;
      const replies = await waitForSends(emulator, accepted, 30_000);
      const cpuUs = ((sum(procs.map((p) => p.cpuMs())) - cpuBefore) * 1000) / replies;
      const { sends } = await control<{ sends: [string, number][] }>(emulator, 'GET', 'bench/sends');
      const receivedAt = new Map(sends);
      const fromPost: number[] = [];
      const fromAck: number[] = [];
      for (const [tag, sentAt, answeredAt] of result.messages ?? []) {
        const at = receivedAt.get(tag);
        if (at === undefined) continue;
        fromPost.push(at - sentAt);
        fromAck.push(at - answeredAt);
      }
      const recorded = result.messages?.length ?? 0;
      missing += recorded - fromPost.length + (result.sent - accepted);
      total += result.sent;
      const r = { p50: percentile(fromPost, 50), p99: percentile(fromPost, 99), ack50: percentile(fromAck, 50), ack99: percentile(fromAck, 99), hook99: result.p99, cpuUs };
      runs.push(r);
      say(
        `    run ${run + 1} ${name}: ${fromPost.length}/${recorded} measured replies, ${replies}/${accepted} accepted answered; POST → reply p50 ${fmt(r.p50, 2)} ms, p99 ${fmt(r.p99, 2)} ms; 200 → reply p50 ${fmt(r.ack50, 2)} ms, p99 ${fmt(r.ack99, 2)} ms; webhook p99 ${fmt(r.hook99, 2)} ms; ${fmt(cpuUs)} µs service CPU/message`,
      );
    }
    const m = (f: (r: (typeof runs)[number]) => number) => median(runs.map(f));
    rows.push([
      name,
      fmt(m((r) => r.p50), 2),
      fmt(m((r) => r.p99), 2),
      fmt(m((r) => r.ack50), 2),
      fmt(m((r) => r.ack99), 2),
      fmt(m((r) => r.hook99), 2),
      fmt(m((r) => r.cpuUs)),
      fmt((m((r) => r.cpuUs) * mode.rate) / 1e6, 2),
      `${missing} of ${total}`,
    ]);
    await Promise.all(procs.map((p) => p.stop()));
    await deletePrefix(redisUrl, prefix);
  }
  say();
  say(
    table(
      ['service, rate', 'POST → reply p50 ms', 'POST → reply p99 ms', '200 → reply p50 ms', '200 → reply p99 ms', 'webhook p99 ms', 'service CPU µs/message', 'service CPUs busy', 'unanswered (all runs)'],
      rows,
    ),
  );
  say(
    `target: POST → reply p50 ≤ 10 ms, p99 ≤ 50 ms at ${rate}/s. CPU: API and worker together, from /proc ("CPUs busy" = CPU per message × rate; one process cannot use more than one). Times on the system's monotonic clock, read by the load generator and the emulator. With the bot answering in 1 s, the reply's latency is the bot's plus the rest`,
  );
  await Promise.all([toolzz.stop(), slowToolzz.stop(), emulator.stop()]);
}

/** Subcommands as INFO commandstats names them (`client|setname`). */
const CONTAINER_COMMANDS = new Set(['client', 'cluster', 'config', 'script', 'command', 'object', 'xinfo', 'memory', 'function', 'acl', 'latency', 'module', 'pubsub', 'slowlog', 'xgroup']);

/**
 * Counts, with MONITOR, the commands clients send to Redis themselves: not those a script runs
 * (MONITOR shows them as `lua`) nor those queued inside MULTI … EXEC (the block is one EXEC).
 * INFO and MONITOR (the benchmark's own) are left out.
 */
async function clientCommands(url: string): Promise<{ stop(): Promise<Map<string, number>>; scripts: Map<string, number> }> {
  const redis = new Redis(url);
  const monitor = await redis.monitor();
  const counts = new Map<string, number>();
  /** EVALSHA calls by script name. */
  const scripts = new Map<string, number>();
  const names = scriptNames();
  const inMulti = new Set<string>();
  monitor.on('monitor', (_time: string, args: string[], source: string) => {
    if (source === 'lua' || args.length === 0) return;
    const head = String(args[0]).toLowerCase();
    if (head === 'evalsha' && !inMulti.has(source)) {
      const sha = String(args[1]);
      const name = names.get(sha) ?? `unknown script ${sha.slice(0, 8)} (first key ${String(args[3] ?? '')})`;
      scripts.set(name, (scripts.get(name) ?? 0) + 1);
    }
    const command = CONTAINER_COMMANDS.has(head) && args[1] !== undefined ? `${head}|${String(args[1]).toLowerCase()}` : head;
    if (command === 'info' || command === 'monitor') return;
    if (command === 'multi') {
      inMulti.add(source);
      return;
    }
    if (inMulti.has(source)) {
      if (command !== 'exec' && command !== 'discard') return;
      inMulti.delete(source);
    }
    counts.set(command, (counts.get(command) ?? 0) + 1);
  });
  return {
    scripts,
    async stop() {
      await sleep(50);
      monitor.disconnect();
      redis.disconnect();
      return counts;
    },
  };
}

let scriptNameCache: Map<string, string> | undefined;
/**
 * SHA1 → name of every script the service and BullMQ run (ioredis' EVALSHA is the SHA1 of the
 * script text): the service's `src/redis/scripts/*.lua` with their includes expanded as
 * src/redis/scripts.ts does, and BullMQ's bundled scripts.
 */
function scriptNames(): Map<string, string> {
  if (scriptNameCache) return scriptNameCache;
  const names = new Map<string, string>();
  const sha1 = (text: string) => createHash('sha1').update(text).digest('hex');
  const dir = join(DIST, 'src/redis/scripts');
  try {
    for (const file of readdirSync(dir).filter((f) => f.endsWith('.lua'))) {
      const text = readFileSync(join(dir, file), 'utf8').replace(/^--- @include "([a-z0-9-]+)"\s*$/gm, (_, name: string) => readFileSync(join(dir, 'includes', `${name}.lua`), 'utf8').trimEnd());
      names.set(sha1(text), `service ${file.replace(/(-\d+)?\.lua$/, '')}`);
    }
  } catch {
    // Names are a convenience: unknown scripts are shown by SHA.
  }
  try {
    const bull = createRequire(import.meta.url)(join(ROOT, 'node_modules/bullmq/dist/cjs/scripts/index.js')) as Record<string, { name?: string; content?: string }>;
    for (const script of Object.values(bull)) if (script?.name && script.content) names.set(sha1(script.content), `BullMQ ${script.name}`);
  } catch {
    // As above.
  }
  scriptNameCache = names;
  return names;
}

/** P11: Redis round trips per held message with `debounceMs` on an Evolution channel, bursts of messages per customer. */
async function debounceRoundTrips(): Promise<void> {
  const debounceMs = 200;
  const burst = 3;
  const customers = 200;
  const rate = 300;
  const messages = customers * burst;
  say(
    `P11 — Evolution API channel with debounceMs ${debounceMs}: bursts of ${burst} messages per customer (${customers} returning customers, ${messages} messages at ${rate}/s per run), --role=all; Redis calls per held message from INFO commandstats before/after (API, workers and BullMQ), client → server calls from MONITOR`,
  );
  requireEvolution();
  if (process.env.REDIS_URL) say('  (REDIS_URL is set: other clients of that Redis would add to the counts)');
  const toolzz = await startToolzz();
  const emulator = await startChannelEmulator('evolution');
  const prefix = newPrefix();
  const service = await startChannelService('evolution', { prefix, role: 'all', toolzzUrl: toolzz.url, sendApi: emulator.url, channel: { debounceMs }, nodeArgs });
  const target = channelTarget('evolution', service, customers, { burst, customerBase: 73 });
  const load = { ...target, rate, durationSec: messages / rate, warmupSec: 0, connections: 16 };
  // First contact of each customer (creates their conversations), not counted.
  await runLoad<OpenLoopResult>('open-loop', load);
  await waitForSends(emulator, customers, 30_000, 1000);
  const redis = new Redis(redisUrl);
  // What the idle service sends by itself (BullMQ's blocking waits, stalled-job checks): shown, not subtracted.
  const idle = await clientCommands(redisUrl);
  await sleep(2000);
  const idleCalls = sum([...(await idle.stop()).values()]) / 2;
  const perRun: Map<string, number>[] = [];
  const directRun: Map<string, number>[] = [];
  const scriptRun: Map<string, number>[] = [];
  const turnsPerBurst: number[] = [];
  for (let run = 0; run < RUNS; run++) {
    await control(emulator, 'POST', 'bench/clear');
    const direct = await clientCommands(redisUrl);
    const before = await commandStats([redis]);
    const result = await runLoad<OpenLoopResult>('open-loop', load);
    const held = result.statuses['200'] ?? 0;
    // Every burst answered, then quiet for 1 s: the last commits and job completions are done.
    const turns = await waitForSends(emulator, customers, 30_000, 1000);
    const after = await commandStats([redis]);
    const sent = await direct.stop();
    perRun.push(statsDelta(before, after, 1, held));
    directRun.push(new Map([...sent].map(([c, n]) => [c, n / held])));
    scriptRun.push(new Map([...direct.scripts].map(([c, n]) => [c, n / held])));
    turnsPerBurst.push(turns / customers);
    const trips = sum([...sent.values()]) / held;
    say(`    run ${run + 1}: ${held}/${result.sent} held messages accepted, ${turns} replies (${fmt(held / turns, 2)} messages per bot turn); client → server calls per held message ${fmt(trips, 2)}`);
  }
  redis.disconnect();
  const commands = [...new Set([...perRun, ...directRun].flatMap((m) => [...m.keys()]))].sort();
  const med = (runs: Map<string, number>[], c: string) => median(runs.map((m) => m.get(c) ?? 0));
  say();
  say(table(['command', 'calls per held message (commandstats)', 'of which sent by a client (MONITOR)'], commands.map((c) => [c, fmt(med(perRun, c), 2), fmt(med(directRun, c), 2)])));
  say();
  const scriptNamesSeen = [...new Set(scriptRun.flatMap((m) => [...m.keys()]))].sort((a, b) => med(scriptRun, b) - med(scriptRun, a));
  say(table(['EVALSHA of', 'calls per held message'], scriptNamesSeen.map((c) => [c, fmt(med(scriptRun, c), 2)])));
  const evalsha = med(directRun, 'evalsha');
  const exec = med(directRun, 'exec');
  const total = median(directRun.map((m) => sum([...m.values()])));
  say(
    `round trips per held message: ${fmt(total, 2)} (EVALSHA ${fmt(evalsha, 2)} + MULTI/EXEC ${fmt(exec, 2)} + other commands ${fmt(total - evalsha - exec, 2)}); target ≤ 4. Bot turns per burst: ${fmt(median(turnsPerBurst), 2)}. Idle background: ${fmt(idleCalls, 1)} client calls/s (included, not subtracted)`,
  );
  await Promise.all([service.stop(), toolzz.stop(), emulator.stop()]);
  await deletePrefix(redisUrl, prefix);
}

/** Share of all CPUs busy over `ms` (from /proc/stat), while the benchmark itself is idle. */
async function machineBusy(ms: number): Promise<number> {
  const read = () => {
    const fields = (readFileSync('/proc/stat', 'utf8').split('\n')[0] ?? '').trim().split(/\s+/).slice(1, 9).map(Number);
    const idle = (fields[3] ?? 0) + (fields[4] ?? 0);
    return { idle, total: sum(fields) };
  };
  try {
    const a = read();
    await sleep(ms);
    const b = read();
    return b.total > a.total ? 1 - (b.idle - a.idle) / (b.total - a.total) : 0;
  } catch {
    return 0;
  }
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
    ['P7', () => acknowledgement('whatsapp')],
    ['P8', () => endToEnd('whatsapp')],
    ['P9', () => acknowledgement('evolution')],
    ['P10', () => endToEnd('evolution')],
    ['P11', debounceRoundTrips],
  ];
  for (const [id, run] of benchmarks) {
    if (!wanted(id)) continue;
    say();
    // The figures assume the machine is otherwise idle: say so when it is not.
    const busy = await machineBusy(1000);
    if (busy > 0.1) say(`  (before ${id}: the machine was ${fmt(busy * 100)}% busy with other work over 1 s; the figures below share the CPUs with it)`);
    try {
      await run();
    } catch (error) {
      if (!(error instanceof Skip)) throw error;
      say(`  ${id} skipped: ${error.message}`);
    }
  }
}

main()
  .catch((error: unknown) => {
    process.stderr.write(`bench failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
    process.exitCode = 1;
  })
  .finally(() => cleanupAll());
