import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { DIST, freePort, redisEnv, startNode, writeConfig, type BenchRedis, type Proc } from './procs.js';

export const BENCH_TOKEN = 'bench-webhook-token';
export const BOT_ID = '6b3c9f0e-1c2d-4e5f-8a9b-0c1d2e3f4a5b';

export interface Service extends Proc {
  url: string;
}

/** Credentials of the asynchronous channels the benchmarks configure. */
export const WA = { phoneNumberId: '106540352242922', accessToken: 'bench-wa-access-token', appSecret: 'bench-wa-app-secret', verifyToken: 'bench-wa-verify' } as const;
export const EVO = { token: 'bench-evo-webhook-token', apiKey: 'bench-evo-api-key', instance: 'loja' } as const;

/** The Toolzz emulator as its own process. */
export async function startToolzz(options: { latencyMs?: number; handoff?: boolean } = {}): Promise<Service> {
  const args = ['--latency', String(options.latencyMs ?? 0)];
  if (options.handoff) args.push('--handoff');
  const proc = await startNode(join(DIST, 'bench/emulators.js'), args, {}, /^ready /m);
  return { ...proc, url: (proc.lines.find((l) => l.startsWith('ready ')) as string).slice(6) };
}

/** A channel's send API emulator as its own process (WhatsApp Graph, or Evolution with echoes off); see bench/emulators.ts. */
export async function startChannelEmulator(kind: 'whatsapp' | 'evolution'): Promise<Service> {
  const args = kind === 'whatsapp' ? ['--kind', 'whatsapp', '--token', WA.accessToken] : ['--kind', 'evolution', '--token', EVO.apiKey, '--instance', EVO.instance];
  const proc = await startNode(join(DIST, 'bench/emulators.js'), args, {}, /^ready /m);
  return { ...proc, url: (proc.lines.find((l) => l.startsWith('ready ')) as string).slice(6) };
}

/** A channel of `kind` as the service's config has it (`baseUrl` where its replies go). */
export function asyncChannel(kind: 'whatsapp' | 'evolution', baseUrl: string, extra: Record<string, unknown> = {}): Record<string, unknown> {
  const common = { bot: { id: BOT_ID }, handoff: { provider: 'brpex', subdomain: 'bench', token: 'bench-brpex-token' }, ...extra };
  return kind === 'whatsapp'
    ? { kind: 'whatsapp-cloud', whatsapp: { ...WA, baseUrl }, ...common }
    : { kind: 'evolution', auth: { token: EVO.token }, evolution: { baseUrl, instance: EVO.instance, apiKey: EVO.apiKey }, ...common };
}

/** Node flags the service runs with, as the Dockerfile and `npm start` give them (docs/operations.md). */
export const SERVICE_NODE_ARGS = ['--max-semi-space-size=32'];

/** The orchestrator (`dist/src/server.js`); by default on a config with one Bearer channel `bench` handing off to BRPEX. */
export async function startOrchestrator(options: {
  /** One Redis server; or give `redis`. */
  redisUrl?: string;
  redis?: BenchRedis;
  prefix: string;
  toolzzUrl: string;
  brpexUrl?: string;
  role: 'api' | 'worker' | 'all';
  concurrency?: number;
  logLevel?: string;
  nodeArgs?: string[];
  /** Replaces the `bench` channel. */
  channels?: Record<string, unknown>;
  /** More environment (WHATSAPP_BASE_URL…). */
  env?: Record<string, string>;
}): Promise<Service> {
  const config = writeConfig({
    toolzz: { baseUrl: options.toolzzUrl, token: 'bench', timeoutMs: 25_000 },
    providers: { brpex: { baseUrl: options.brpexUrl ?? 'http://127.0.0.1:9', timeoutMs: 10_000 } },
    retry: { attempts: 3, baseDelayMs: 100, maxDelayMs: 1000 },
    redis: { keyPrefix: options.prefix },
    worker: { concurrency: options.concurrency ?? 50 },
    channels: options.channels ?? {
      bench: {
        auth: { token: BENCH_TOKEN },
        bot: { id: BOT_ID },
        handoff: { provider: 'brpex', subdomain: 'bench', token: 'bench-brpex-token' },
      },
    },
  });
  const redis: BenchRedis = options.redis ?? { kind: 'single', url: options.redisUrl as string };
  const port = await freePort();
  const proc = await startNode(
    join(DIST, 'src/server.js'),
    [`--role=${options.role}`],
    { HANDOFF_CONFIG: config, ...redisEnv(redis), PORT: String(port), LOG_LEVEL: options.logLevel ?? 'info', ...options.env },
    options.role === 'api' ? /API listening/ : /workers running/,
    [...SERVICE_NODE_ARGS, ...(options.nodeArgs ?? [])],
  );
  // The service logs a line per request; read and drop it, as a log shipper would.
  proc.child.stdout?.resume();
  return { ...proc, url: `http://127.0.0.1:${port}` };
}

export async function startBaseline(kind: 'node-forwarder' | 'express-forwarder' | 'express-acceptor', toolzzUrl: string, extra: string[] = []): Promise<Service> {
  const args = kind === 'express-acceptor' ? extra : ['--toolzz', toolzzUrl, ...extra];
  const proc = await startNode(join(DIST, `bench/baselines/${kind}.js`), args, {}, /^ready /m);
  return { ...proc, url: (proc.lines.find((l) => l.startsWith('ready ')) as string).slice(6) };
}

/** Runs a load generator script in its own process and returns its JSON result. */
export async function runLoad<T>(script: 'autocannon' | 'open-loop', options: Record<string, unknown>): Promise<T> {
  const child = spawn(process.execPath, [join(DIST, `bench/load/${script}.js`), JSON.stringify(options)], { stdio: ['ignore', 'pipe', 'inherit'] });
  let output = '';
  child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString('utf8')));
  const code = await new Promise((resolve) => child.once('exit', resolve));
  if (code !== 0) throw new Error(`${script} exited ${String(code)}`);
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
  /** With `record: true`: `[tag, sentAt, answeredAt]` per 2xx after the warm-up (ms of process.hrtime). */
  messages?: [string, number, number][];
}
