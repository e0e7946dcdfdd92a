import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { Redis } from 'ioredis';

export const ROOT = resolve(import.meta.dirname, '../../..');
export const DIST = join(ROOT, 'dist');

export async function freePort(): Promise<number> {
  return new Promise((resolvePort, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolvePort(port));
    });
  });
}

const cleanups: (() => void | Promise<void>)[] = [];
/** Runs at the end (or on Ctrl-C): stops every process the benchmark started. */
export async function cleanupAll(): Promise<void> {
  for (const step of cleanups.splice(0).reverse()) await Promise.resolve(step()).catch(() => undefined);
}
process.on('SIGINT', () => void cleanupAll().then(() => process.exit(130)));

async function pings(url: string): Promise<boolean> {
  const client = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null, connectTimeout: 1000 });
  client.on('error', () => undefined);
  try {
    await client.connect();
    return (await client.ping()) === 'PONG';
  } catch {
    return false;
  } finally {
    client.disconnect();
  }
}

/** REDIS_URL when it answers, else a throwaway redis-server (like the tests). */
export async function benchRedis(): Promise<string> {
  if (process.env.REDIS_URL) {
    if (!(await pings(process.env.REDIS_URL))) throw new Error(`REDIS_URL=${process.env.REDIS_URL} does not answer`);
    return process.env.REDIS_URL;
  }
  if (spawnSync('redis-server', ['--version'], { stdio: 'ignore' }).status !== 0) {
    throw new Error('no Redis: set REDIS_URL or install redis-server');
  }
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'ho-bench-redis-'));
  const child = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir], { stdio: 'ignore' });
  cleanups.push(() => {
    child.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  });
  const url = `redis://127.0.0.1:${port}`;
  for (let i = 0; i < 100 && !(await pings(url)); i++) await new Promise((r) => setTimeout(r, 50));
  return url;
}

export interface Proc {
  child: ChildProcess;
  lines: string[];
  stop(): Promise<void>;
  /** Resident set size now (bytes), from /proc. */
  rss(): number;
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

/** Deletes every key under `prefix:` (the benchmark's own). */
export async function deletePrefix(url: string, prefix: string): Promise<void> {
  const redis = new Redis(url);
  let cursor = '0';
  do {
    const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}:*`, 'COUNT', 5000);
    cursor = next;
    if (keys.length > 0) await redis.unlink(...keys);
  } while (cursor !== '0');
  redis.disconnect();
}
