import { Writable } from 'node:stream';
import { expect, inject } from 'vitest';
import { parseConfig, type Config } from '../../src/config/index.js';
import { createLogger } from '../../src/observability/logger.js';
import { createRedis, waitForRedis, type RedisClient } from '../../src/redis/connection.js';
import { createApiService, createCore, type ApiService, type Core } from '../../src/service.js';
import { createWorkerService, type WorkerService } from '../../workers/index.js';
import { createHandoffRecords } from '../../src/handoff/records.js';
import { createConversationStore } from '../../src/conversations/store.js';
import type { Conversation } from '../../src/conversations/state.js';
import { waitUntil } from './wait.js';
import { BrpexEmulator } from '../../src/sandbox/brpex.js';
import { MehubEmulator } from '../../src/sandbox/mehub.js';
import { SuperagentesEmulator } from '../../src/sandbox/superagentes.js';
import { ToolzzEmulator } from '../../src/sandbox/toolzz.js';
import { WhatsappEmulator, metaJson, metaSignature } from '../../src/sandbox/whatsapp.js';
import { EvolutionEmulator } from '../../src/sandbox/evolution.js';
import { ZapiEmulator } from '../../src/sandbox/zapi.js';
import { ReplyReceiver } from '../../src/sandbox/reply-receiver.js';
import type { HandoffRecord } from '../../src/handoff/records.js';
import { createKeys, type Keys } from '../../src/keys.js';
import { deletePrefix, uniquePrefix } from './keys.js';
import { signedHeaders } from './sign.js';

export const TOOLZZ_TOKEN = 'toolzz-test-token-1234567890';
export const VENDAS_TOKEN = 'vendas-webhook-token-abcdef';
export const APP_TOKEN = 'app-webhook-token-123456';
export const SITE_SECRET = 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw';
export const BOT_ID = '6b3c9f0e-1c2d-4e5f-8a9b-0c1d2e3f4a5b';
export const MEHUB_TOKEN = 'mehub-token-abcdef';
export const SUPERAGENTES_TOKEN = 'superagentes-token-abcdef';
export const BRPEX_TOKEN = 'brpex-channel-token';
export const MEHUB_DESTINATION = 'xyz789abc123def4';
export const SITE_BOT_ID = '0f8e2a8c-3b4d-4c5e-9f60-718293a4b5c6';
export const WA_PHONE_NUMBER_ID = '106540352242922';
export const WA_ACCESS_TOKEN = 'wa-access-token-0123456789';
export const WA_APP_SECRET = 'wa-app-secret-abcdef';
export const WA_VERIFY_TOKEN = 'wa-verify-token';
export const REPLY_SECRET = 'whsec_cmVwbHktc2lnbmluZy1zZWNyZXQtMTIzNDU2Nzg5MA==';
export const EVO_TOKEN = 'evo-webhook-token-123';
export const EVO_API_KEY = 'evo-api-key-456';
export const ZAPI_TOKEN = 'zapi-webhook-token-789';
export const ZAPI_CLIENT_TOKEN = 'zapi-client-token-abc';
export const ZAPI_INSTANCE_ID = '3C2A1B0F9E8D7C6B5A4F3E2D1C0B9A8F';
export const ZAPI_INSTANCE_TOKEN = 'zapi-instance-token';

/**
 * Asynchronous channels (SPEC §8): WhatsApp Cloud API (→ MeHub), a `json` channel answered
 * through a signed `reply.url` (→ BRPEX), Evolution and Z-API (→ SuperAgentes). `replyUrl`
 * is the harness's receiver; base URLs come from the *_BASE_URL overrides.
 */
export function asyncChannels(replyUrl: string, extra: Record<string, Record<string, unknown>> = {}): Record<string, unknown> {
  const channels: Record<string, Record<string, unknown>> = {
    wa: {
      kind: 'whatsapp-cloud',
      whatsapp: { phoneNumberId: WA_PHONE_NUMBER_ID, accessToken: WA_ACCESS_TOKEN, appSecret: WA_APP_SECRET, verifyToken: WA_VERIFY_TOKEN },
      bot: { id: BOT_ID },
      handoff: { provider: 'mehub', channel: MEHUB_DESTINATION },
    },
    'site-async': {
      auth: { token: APP_TOKEN },
      reply: { url: replyUrl, signingSecret: REPLY_SECRET },
      bot: { id: SITE_BOT_ID },
      handoff: { provider: 'brpex', subdomain: 'minhaempresa', token: BRPEX_TOKEN },
    },
    evo: {
      kind: 'evolution',
      auth: { token: EVO_TOKEN },
      evolution: { baseUrl: 'http://unused.invalid', instance: 'loja', apiKey: EVO_API_KEY },
      bot: { id: BOT_ID },
      handoff: { provider: 'superagentes', assigneeIds: ['member-1'] },
    },
    zapi: {
      kind: 'zapi',
      auth: { token: ZAPI_TOKEN },
      zapi: { instanceId: ZAPI_INSTANCE_ID, instanceToken: ZAPI_INSTANCE_TOKEN, clientToken: ZAPI_CLIENT_TOKEN },
      bot: { id: BOT_ID },
      handoff: { provider: 'superagentes', assigneeIds: ['member-1'] },
    },
  };
  for (const [name, overrides] of Object.entries(extra)) channels[name] = { ...channels[name], ...overrides };
  return channels;
}

/** The three example channels of SPEC §2, one per platform and auth mode. */
export function defaultChannels(): Record<string, unknown> {
  return {
    vendas: {
      auth: { token: VENDAS_TOKEN },
      bot: { id: BOT_ID },
      handoff: { provider: 'mehub', channel: MEHUB_DESTINATION, attendant: 8 },
    },
    site: {
      auth: { signingSecret: SITE_SECRET },
      bot: { id: SITE_BOT_ID },
      handoff: { provider: 'brpex', subdomain: 'minhaempresa', token: BRPEX_TOKEN },
    },
    app: {
      auth: { token: APP_TOKEN },
      bot: { id: '1a2b3c4d-5e6f-4a1b-8c2d-3e4f5a6b7c8d' },
      humanTtlMinutes: 0.05,
      handoff: { provider: 'superagentes', assigneeIds: ['member-1'] },
    },
  };
}

export interface HarnessOptions {
  /** Replaces the default channels (a function gets the reply receiver's URL: see asyncChannels). */
  channels?: Record<string, unknown> | ((replyUrl: string) => Record<string, unknown>);
  /** Extra top-level config (merged over the defaults). */
  file?: Record<string, unknown>;
  toolzzTimeoutMs?: number;
  redisUrl?: string;
  /** Also run the handoff worker in this process. */
  worker?: boolean;
  /** ADMIN_TOKEN (the admin API answers 404 without one). */
  adminToken?: string;
  /** The clock business hours are judged by (SPEC §12): tests put it just before an opening. */
  hoursClock?: () => number;
}

export interface Reply {
  status: number;
  body: Record<string, unknown>;
  headers: Headers;
}

/** Collects the service's log lines, to assert what it logged (or never logged). */
export class LogCapture extends Writable {
  readonly lines: string[] = [];
  override _write(chunk: Buffer, _encoding: string, callback: () => void): void {
    this.lines.push(...chunk.toString('utf8').split('\n').filter(Boolean));
    callback();
    this.emit('lines');
  }
  get text(): string {
    return this.lines.join('\n');
  }
  /**
   * Resolves once a line containing `text` was logged. Lines a worker writes after the
   * outcome a test waited on (a record's state) may come a moment later; rejects, naming
   * `text`, after `timeoutMs`.
   */
  async waitFor(text: string, timeoutMs = 5_000): Promise<void> {
    await waitUntil(() => this.text.includes(text), { what: `a log line containing ${JSON.stringify(text)}`, timeoutMs, intervalMs: Infinity, wakeOn: [[this, 'lines']] });
  }
}

export interface Harness {
  url: string;
  config: Config;
  toolzz: ToolzzEmulator;
  brpex: BrpexEmulator;
  mehub: MehubEmulator;
  superagentes: SuperagentesEmulator;
  whatsapp: WhatsappEmulator;
  evolution: EvolutionEmulator;
  zapi: ZapiEmulator;
  replies: ReplyReceiver;
  redis: RedisClient;
  /** What the API and worker of the harness share (queues, store, turn…). */
  core: Core;
  api: ApiService;
  worker?: WorkerService;
  prefix: string;
  keys: Keys;
  /** The single Redis of the suite (also when the harness runs on the cluster). */
  redisUrl: string;
  /** How a spawned process reaches the harness's Redis: REDIS_URL, or REDIS_CLUSTER_NODES in the cluster project. */
  redisEnv: Record<string, string>;
  logs: LogCapture;
  /** POSTs a JSON body to `/webhooks/{channel}` with the channel's credentials. */
  send(channel: string, body: unknown, options?: { headers?: Record<string, string>; raw?: string | Buffer; auth?: boolean }): Promise<Reply>;
  /** POSTs a Meta envelope to a whatsapp-cloud channel, signed like Meta (over the bytes sent). */
  sendMeta(channel: string, envelope: unknown, options?: { secret?: string | null }): Promise<Reply>;
  /** Every emulator of the harness, to reset between tests. */
  emulators(): { reset(): void }[];
  /** Sends a message that makes the agent ask for a human; asserts the 202, returns the handoffId. */
  handOff(channel: string, phone: string, extra?: Record<string, unknown>): Promise<string>;
  /** Resolves with the handoff record once it is no longer pending. */
  settled(handoffId: string, timeoutMs?: number): Promise<HandoffRecord>;
  /** The stored conversation of a customer (null when none). */
  conversation(channel: string, phone: string): Promise<Conversation | null>;
  close(): Promise<void>;
}

/** `base` with `over` merged in, objects key by key (so `file: { toolzz: { timeoutMs } }` keeps the rest). */
function merge(base: Record<string, unknown>, over: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = { ...base };
  for (const [key, value] of Object.entries(over)) {
    const current = out[key];
    const plain = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === 'object' && !Array.isArray(v);
    out[key] = plain(current) && plain(value) ? merge(current, value) : value;
  }
  return out;
}

let counter = 0;
/** A unique webhook body for `phone`. */
export function message(phone: string, text: string, extra: Record<string, unknown> = {}): Record<string, unknown> {
  counter += 1;
  return { messageId: `wamid.${Date.now()}.${counter}.${Math.random().toString(36).slice(2)}`, contact: { phone, name: 'João' }, text, ...extra };
}

/** Starts a Toolzz emulator and the API on loopback ports, on the suite's Redis under a fresh prefix. */
export async function startHarness(options: HarnessOptions = {}): Promise<Harness> {
  const toolzz = new ToolzzEmulator({ token: TOOLZZ_TOKEN });
  const brpex = new BrpexEmulator({ token: BRPEX_TOKEN });
  const mehub = new MehubEmulator({ token: MEHUB_TOKEN });
  const superagentes = new SuperagentesEmulator({ token: SUPERAGENTES_TOKEN });
  const whatsapp = new WhatsappEmulator({ accessToken: WA_ACCESS_TOKEN, appSecret: WA_APP_SECRET });
  const evolution = new EvolutionEmulator({ apiKey: EVO_API_KEY, instances: ['loja'], webhookHeaders: { authorization: `Bearer ${EVO_TOKEN}` } });
  const zapi = new ZapiEmulator({ clientToken: ZAPI_CLIENT_TOKEN, instanceId: ZAPI_INSTANCE_ID, instanceToken: ZAPI_INSTANCE_TOKEN });
  const replies = new ReplyReceiver({ signingSecret: REPLY_SECRET });
  const all = [toolzz, brpex, mehub, superagentes, whatsapp, evolution, zapi, replies];
  await Promise.all(all.map((e) => e.start()));
  const prefix = uniquePrefix();
  const redisUrl = options.redisUrl ?? inject('redisUrl');
  // The `cluster` project runs the same suites on a Redis Cluster (SPEC §10).
  const clusterNodes = options.redisUrl ? undefined : inject('redisClusterNodes');
  const redisEnv: Record<string, string> = clusterNodes ? { REDIS_CLUSTER_NODES: clusterNodes } : { REDIS_URL: redisUrl };
  const config = parseConfig(
    merge({
      toolzz: { baseUrl: toolzz.url, token: TOOLZZ_TOKEN, timeoutMs: options.toolzzTimeoutMs ?? 2000 },
      providers: {
        brpex: { baseUrl: brpex.url, timeoutMs: 1000 },
        mehub: { baseUrl: mehub.url, token: MEHUB_TOKEN, timeoutMs: 1000 },
        superagentes: { baseUrl: superagentes.url, token: SUPERAGENTES_TOKEN, timeoutMs: 1000 },
      },
      retry: { attempts: 5, baseDelayMs: 10, maxDelayMs: 100 },
      worker: { concurrency: 10, shutdownGraceMs: 2000 },
      redis: { keyPrefix: prefix },
      channels: typeof options.channels === 'function' ? options.channels(replies.endpoint) : (options.channels ?? defaultChannels()),
    }, options.file ?? {}),
    { ...redisEnv, LOG_LEVEL: 'info', ADMIN_TOKEN: options.adminToken, WHATSAPP_BASE_URL: whatsapp.url, EVOLUTION_BASE_URL: evolution.url, ZAPI_BASE_URL: zapi.url },
  );
  const redis = createRedis(config.redisTarget);
  await waitForRedis(redis, config.redisTarget, 5_000);
  const logs = new LogCapture();
  const logger = createLogger({ level: 'debug', destination: logs });
  const core = createCore(config, { redis, logger, ...(options.hoursClock ? { hoursClock: options.hoursClock } : {}) });
  const api = createApiService(core);
  const url = await api.listen(0, '127.0.0.1');
  const worker = options.worker ? createWorkerService(core) : undefined;
  await worker?.ready();
  const keys = createKeys(prefix);
  const records = createHandoffRecords(redis, keys);
  const store = createConversationStore({ redis, keys, inProgressTtlMs: 1 });

  const credentials = (channel: string, raw: string): Record<string, string> => {
    const settings = config.channels[channel];
    const auth = (settings && 'auth' in settings ? settings.auth : {}) as { token?: string; signingSecret?: string };
    if (auth.token) return { authorization: `Bearer ${auth.token}` };
    if (auth.signingSecret) return signedHeaders(auth.signingSecret, raw);
    return {};
  };

  const harness: Harness = {
    url,
    config,
    toolzz,
    brpex,
    mehub,
    superagentes,
    whatsapp,
    evolution,
    zapi,
    replies,
    redis,
    core,
    api,
    worker,
    prefix,
    keys,
    redisUrl,
    redisEnv,
    logs,
    async send(channel, body, opts = {}) {
      const raw = opts.raw ?? JSON.stringify(body);
      const headers: Record<string, string> = {
        'content-type': 'application/json',
        ...(opts.auth === false ? {} : credentials(channel, raw.toString())),
        ...opts.headers,
      };
      const response = await fetch(`${url}/webhooks/${channel}`, { method: 'POST', headers, body: raw });
      const text = await response.text();
      let parsed: Record<string, unknown>;
      try {
        parsed = JSON.parse(text) as Record<string, unknown>;
      } catch {
        throw new Error(`non-JSON answer ${response.status}: ${text.slice(0, 200)}`);
      }
      return { status: response.status, body: parsed, headers: response.headers };
    },
    async sendMeta(channel, envelope, opts = {}) {
      const raw = metaJson(envelope);
      const secret = opts.secret === undefined ? WA_APP_SECRET : opts.secret;
      return harness.send(channel, undefined, { raw, auth: false, headers: secret ? { 'x-hub-signature-256': metaSignature(secret, raw) } : {} });
    },
    emulators: () => all,
    async handOff(channel, phone, extra = {}) {
      const res = await harness.send(channel, message(phone, 'quero falar com um atendente', extra));
      expect(res.status, JSON.stringify(res.body)).toBe(202);
      return res.body.handoffId as string;
    },
    async settled(handoffId, timeoutMs = 15_000) {
      // Wakes on the worker's own events; the interval covers workers in other processes.
      const wakeOn = worker ? ([[worker.handoff.worker, 'completed'], [worker.handoff.worker, 'failed']] as const) : [];
      const record = await waitUntil(() => records.read(handoffId), { what: `handoff ${handoffId} to settle`, timeoutMs, wakeOn, done: (r) => r !== null && r.state !== 'pending' });
      return record as HandoffRecord;
    },
    conversation: (channel, phone) => store.get({ channel, phone }),
    async close() {
      await worker?.close();
      await api.close();
      await core.close();
      await Promise.all(all.map((e) => e.close()));
      await deletePrefix(redis, prefix);
      await redis.quit();
    },
  };
  return harness;
}
