import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { Cluster, Redis } from 'ioredis';
import { deletePrefix as deleteKeys, hasRedisServer, redisAnswers, startRedisServer } from '../../scripts/lib/local-redis.js';
import { hasRedisCli, startRedisCluster, type HostPort } from '../../scripts/lib/redis-topology.js';

export { freePort } from '../../scripts/lib/local-redis.js';

export const ROOT = resolve(import.meta.dirname, '../../..');
export const DIST = join(ROOT, 'dist');

const cleanups: (() => void | Promise<void>)[] = [];
/** Runs at the end (or on Ctrl-C): stops every process the benchmark started. */
export async function cleanupAll(): Promise<void> {
  for (const step of cleanups.splice(0).reverse()) await Promise.resolve(step()).catch(() => undefined);
}
process.on('SIGINT', () => void cleanupAll().then(() => process.exit(130)));

/** Runs `step` in {@link cleanupAll} (in reverse order of registration). */
export function onCleanup(step: () => void | Promise<void>): void {
  cleanups.push(step);
}

/** REDIS_URL when it answers, else a throwaway redis-server (like the tests). */
export async function benchRedis(): Promise<string> {
  if (process.env.REDIS_URL) {
    if (!(await redisAnswers(process.env.REDIS_URL))) throw new Error(`REDIS_URL=${process.env.REDIS_URL} does not answer`);
    return process.env.REDIS_URL;
  }
  if (!hasRedisServer()) throw new Error('no Redis: set REDIS_URL or install redis-server');
  const server = await startRedisServer();
  cleanups.push(() => server.destroy());
  return server.url;
}

export interface Proc {
  child: ChildProcess;
  lines: string[];
  stop(): Promise<void>;
  /** Resident set size now (bytes), from /proc. */
  rss(): number;
  /** CPU time used so far (user + system, ms), from /proc. */
  cpuMs(): number;
}

/** CPU time (user + system, ms) of a process, from /proc/<pid>/stat (clock ticks of 10 ms). */
export function cpuMsOf(pid: number | undefined): number {
  try {
    const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.split(' ') ?? [];
    return (Number(fields[11]) + Number(fields[12])) * 10;
  } catch {
    return NaN;
  }
}

/**
 * Spawns `node <script> args` and waits for a line matching `ready` on stdout. Output is
 * kept only until ready (then discarded), so a chatty process costs nothing to read.
 */
export async function startNode(script: string, args: string[], env: Record<string, string>, ready: RegExp, nodeArgs: string[] = []): Promise<Proc> {
  const child = spawn(process.execPath, [...nodeArgs, script, ...args], { env: { PATH: process.env.PATH, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  const lines: string[] = [];
  const proc: Proc = {
    child,
    lines,
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
      await exited;
      clearTimeout(timer);
    },
    cpuMs: () => cpuMsOf(child.pid),
    rss() {
      try {
        const status = readFileSync(`/proc/${child.pid}/status`, 'utf8');
        return Number(/VmRSS:\s+(\d+) kB/.exec(status)?.[1] ?? 0) * 1024;
      } catch {
        return 0;
      }
    },
  };
  cleanups.push(() => proc.stop());
  await new Promise<void>((resolveReady, reject) => {
    let done = false;
    const onData = (chunk: Buffer) => {
      if (done) return;
      const text = chunk.toString('utf8');
      lines.push(...text.split('\n').filter(Boolean));
      if (ready.test(text)) {
        done = true;
        resolveReady();
      }
    };
    child.stdout?.on('data', onData);
    child.stderr?.on('data', onData);
    child.once('exit', (code) => {
      if (!done) reject(new Error(`${script} exited (${code}) before it was ready:\n${lines.join('\n')}`));
    });
  });
  return proc;
}

/** Writes a JSON config file for the service. */
export function writeConfig(document: unknown): string {
  const dir = mkdtempSync(join(tmpdir(), 'ho-bench-config-'));
  const path = join(dir, 'handoff.config.json');
  writeFileSync(path, JSON.stringify(document, null, 2));
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
  return path;
}

/** Where the service's Redis is: one server (REDIS_URL) or a Redis Cluster (REDIS_CLUSTER_NODES). */
export type BenchRedis = { kind: 'single'; url: string } | { kind: 'cluster'; nodes: HostPort[]; nodesEnv: string };

/** The service's environment for that Redis (SPEC §10). */
export function redisEnv(target: BenchRedis): Record<string, string> {
  return target.kind === 'cluster' ? { REDIS_CLUSTER_NODES: target.nodesEnv } : { REDIS_URL: target.url };
}

/** A client of every master (one for a single server), connected; disconnect with `.disconnect()`. */
export async function connectMasters(target: BenchRedis): Promise<{ masters: Redis[]; disconnect(): void; client: Redis | Cluster }> {
  if (target.kind === 'single') {
    const redis = new Redis(target.url);
    return { masters: [redis], client: redis, disconnect: () => redis.disconnect() };
  }
  const cluster = new Cluster(target.nodes, { scaleReads: 'master' });
  await new Promise<void>((resolve, reject) => {
    cluster.once('ready', resolve);
    cluster.once('error', reject);
  });
  return { masters: cluster.nodes('master'), client: cluster, disconnect: () => cluster.disconnect() };
}

let cluster: Promise<BenchRedis> | undefined;
/** A local 3-master Redis Cluster (started once, on first use; stopped by {@link cleanupAll}). */
export function benchCluster(): Promise<BenchRedis> {
  cluster ??= (async () => {
    if (!hasRedisServer() || !hasRedisCli()) throw new Error('a Redis Cluster needs redis-server and redis-cli on the PATH');
    const started = await startRedisCluster({ masters: 3 });
    cleanups.push(() => started.destroy());
    return { kind: 'cluster', nodes: started.nodes, nodesEnv: started.nodesEnv } as const;
  })();
  return cluster;
}

/** Deletes every key under `prefix:` (the benchmark's own), on one server or every master of a cluster. */
export async function deletePrefix(target: string | BenchRedis, prefix: string): Promise<void> {
  const where: BenchRedis = typeof target === 'string' ? { kind: 'single', url: target } : target;
  const masters = await connectMasters(where);
  try {
    await deleteKeys(masters.client, prefix);
  } finally {
    masters.disconnect();
  }
}
