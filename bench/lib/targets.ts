import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { DIST, freePort, startNode, writeConfig, type Proc } from './procs.js';

export const BENCH_TOKEN = 'bench-webhook-token';
export const BOT_ID = '6b3c9f0e-1c2d-4e5f-8a9b-0c1d2e3f4a5b';

export interface Service extends Proc {
  url: string;
}

/** The Toolzz emulator as its own process. */
export async function startToolzz(options: { latencyMs?: number; handoff?: boolean } = {}): Promise<Service> {
  const args = ['--latency', String(options.latencyMs ?? 0)];
  if (options.handoff) args.push('--handoff');
  const proc = await startNode(join(DIST, 'bench/emulators.js'), args, {}, /^ready /m);
  return { ...proc, url: (proc.lines.find((l) => l.startsWith('ready ')) as string).slice(6) };
}

/** The orchestrator (`dist/src/server.js`) on a config with one Bearer channel handing off to BRPEX. */
export async function startOrchestrator(options: {
  redisUrl: string;
  prefix: string;
  toolzzUrl: string;
  brpexUrl?: string;
  role: 'api' | 'worker' | 'all';
  concurrency?: number;
  logLevel?: string;
  nodeArgs?: string[];
}): Promise<Service> {
  const config = writeConfig({
    toolzz: { baseUrl: options.toolzzUrl, token: 'bench', timeoutMs: 25_000 },
    providers: { brpex: { baseUrl: options.brpexUrl ?? 'http://127.0.0.1:9', timeoutMs: 10_000 } },
    retry: { attempts: 3, baseDelayMs: 100, maxDelayMs: 1000 },
    redis: { keyPrefix: options.prefix },
    worker: { concurrency: options.concurrency ?? 50 },
    channels: {
      bench: {
        auth: { token: BENCH_TOKEN },
        bot: { id: BOT_ID },
        handoff: { provider: 'brpex', subdomain: 'bench', token: 'bench-brpex-token' },
      },
    },
  });
  const port = await freePort();
  const proc = await startNode(
    join(DIST, 'src/server.js'),
    [`--role=${options.role}`],
    { HANDOFF_CONFIG: config, REDIS_URL: options.redisUrl, PORT: String(port), LOG_LEVEL: options.logLevel ?? 'info' },
    options.role === 'api' ? /API listening/ : /workers running/,
    options.nodeArgs,
  );
  // The service logs a line per request; read and drop it, as a log shipper would.
  proc.child.stdout?.resume();
  return { ...proc, url: `http://127.0.0.1:${port}` };
}

export async function startBaseline(kind: 'node-forwarder' | 'express-forwarder', toolzzUrl: string, extra: string[] = []): Promise<Service> {
  const proc = await startNode(join(DIST, `bench/baselines/${kind}.js`), ['--toolzz', toolzzUrl, ...extra], {}, /^ready /m);
  return { ...proc, url: (proc.lines.find((l) => l.startsWith('ready ')) as string).slice(6) };
}

/** Runs a load generator script in its own process and returns its JSON result. */
export async function runLoad<T>(script: 'autocannon' | 'open-loop', options: Record<string, unknown>): Promise<T> {
  const child = spawn(process.execPath, [join(DIST, `bench/load/${script}.js`), JSON.stringify(options)], { stdio: ['ignore', 'pipe', 'inherit'] });
  let output = '';
  child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString('utf8')));
  const code = await new Promise((resolve) => child.once('exit', resolve));
  if (code !== 0) throw new Error(`${script} exited ${code}`);
  return JSON.parse(output.trim().split('\n').at(-1) as string) as T;
}

export interface CannonResult {
  rps: number;
  rpsSteady: number;
  total: number;
  non2xx: number;
  errors: number;
  timeouts: number;
  latencyP50: number;
  latencyP99: number;
  statusCodes: Record<string, { count: number }>;
}

export interface OpenLoopResult {
  sent: number;
  errors: number;
  statuses: Record<string, number>;
  p50: number;
  p90: number;
  p99: number;
  max: number;
}
