import { readFileSync } from 'node:fs';
import { Webhook } from 'standardwebhooks';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import { codePointLength } from './text.js';
import { NOTE_PLACEHOLDERS } from './handoff/note.js';

/**
 * The whole configuration: the YAML file (SPEC §2) plus the process environment.
 * Parsed once at the entrypoint with {@link loadConfig}; never read at import time.
 */

const DEFAULTS = {
  toolzzBaseUrl: 'https://kratos.api.toolzz.com.br',
  brpexBaseUrl: 'https://{subdomain}.brpex.com',
  mehubBaseUrl: 'https://chat.mehub.app',
  superagentesBaseUrl: 'https://dash.superagentes.ai',
} as const;

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
/** Channel keys become a URL segment and a Redis key part. */
export const CHANNEL_KEY = /^[a-z0-9-]{1,64}$/;
/** A DNS label: BRPEX's `{subdomain}` can never point the request at another host. */
export const BRPEX_SUBDOMAIN = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/;

const secret = z.string({ error: 'must be a string' }).min(1, { error: 'must not be empty' });
const positiveInt = z.number({ error: 'must be a number' }).int({ error: 'must be an integer' }).positive({ error: 'must be > 0' });

const httpUrl = z.string({ error: 'must be a string' }).refine(
  (value) => {
    try {
      // `{subdomain}` is a template placeholder, not part of a real host name.
      const url = new URL(value.replace('{subdomain}', 'x'));
      return url.protocol === 'http:' || url.protocol === 'https:';
    } catch {
      return false;
    }
  },
  { error: 'must be an http(s) URL' },
);

const template = z.string({ error: 'must be a string' }).superRefine((value, ctx) => {
  for (const match of value.matchAll(/\{([^{}]*)\}/g)) {
    const name = match[1] ?? '';
    if (!(NOTE_PLACEHOLDERS as readonly string[]).includes(name)) {
      ctx.addIssue({
        code: 'custom',
        message: `unknown placeholder {${name}} (known: ${NOTE_PLACEHOLDERS.map((p) => `{${p}}`).join(', ')})`,
      });
    }
  }
});

/** A Standard Webhooks secret: `whsec_` and a base64 key the library accepts. */
const standardWebhooksSecret = secret
  .refine((value) => value.startsWith('whsec_'), { error: 'must start with whsec_' })
  .refine(
    (value) => {
      try {
        new Webhook(value);
        return true;
      } catch {
        return false;
      }
    },
    { error: 'must be whsec_ followed by a non-empty base64 key' },
  );

const authSchema = z
  .strictObject({
    token: secret.optional(),
    signingSecret: standardWebhooksSecret.optional(),
  })
  .refine((auth) => (auth.token === undefined) !== (auth.signingSecret === undefined), {
    error: 'set exactly one of token or signingSecret',
  });

const providerBase = {
  token: secret.optional(),
  note: template.optional(),
  // Asynchronous channels: sent to the customer when their handoff fails for good (SPEC §9.2).
  failedMessage: z.string({ error: 'must be a string' }).min(1, { error: 'must not be empty' }).max(4096, { error: 'must be at most 4096 characters' }).optional(),
};
/** MeHub and SuperAgentes can be asked whether the human is done (SPEC §9.2). */
const statusCheck = z.boolean({ error: 'must be true or false' }).default(true);

const handoffSchema = z.discriminatedUnion(
  'provider',
  [
    z.strictObject({
      provider: z.literal('brpex'),
      subdomain: z.string({ error: 'must be a string' }).regex(BRPEX_SUBDOMAIN, {
        error: 'must be a DNS label: lowercase letters, digits and inner hyphens, at most 63 characters',
      }),
      ...providerBase,
    }),
    z.strictObject({
      provider: z.literal('mehub'),
      channel: z
        .string({ error: 'must be a string' })
        .refine((value) => codePointLength(value) === 16, { error: 'must be 16 characters' })
        .refine((value) => /^[A-Za-z0-9_-]+$/.test(value), { error: 'must contain only letters, digits, _ and -' }),
      attendant: positiveInt.optional(),
      statusCheck,
      ...providerBase,
    }),
    z.strictObject({
      provider: z.literal('superagentes'),
      assigneeIds: z.array(secret, { error: 'must be a list of strings' }).min(1, { error: 'must not be empty' }).optional(),
      priority: z.enum(['LOW', 'MEDIUM', 'HIGH'], { error: 'must be LOW, MEDIUM or HIGH' }).default('HIGH'),
      title: template.optional(),
      statusCheck,
      ...providerBase,
    }),
  ],
  { error: 'provider must be one of brpex, mehub, superagentes' },
);

/** A text sent to the customer (a WhatsApp message holds up to 4096 characters; longer ones are split). */
const customerText = z.string({ error: 'must be a string' }).min(1, { error: 'must not be empty' }).max(4096, { error: 'must be at most 4096 characters' });

/** SPEC §8.3 defaults. */
export const DEFAULT_MESSAGES = {
  botFailureHandoff: 'Desculpe, não consegui responder agora. Vou transferir você para um atendente.',
  botFailureReply: 'Desculpe, não consegui responder agora. Pode repetir, por favor?',
  unsupported: 'Ainda não consigo entender áudios, imagens ou figurinhas. Pode escrever sua mensagem, por favor?',
} as const;

/** What an asynchronous channel does when the bot cannot answer (SPEC §8.3). */
const botFailureSchema = z
  .strictObject({
    action: z.enum(['handoff', 'reply', 'ignore'], { error: 'must be handoff, reply or ignore' }).default('handoff'),
    message: customerText.optional(),
  })
  .transform((policy) => ({
    action: policy.action,
    message: policy.message ?? (policy.action === 'reply' ? DEFAULT_MESSAGES.botFailureReply : DEFAULT_MESSAGES.botFailureHandoff),
  }));

/** What an asynchronous channel does with a message that has no text (SPEC §8.3). */
const unsupportedSchema = z
  .strictObject({
    action: z.enum(['reply', 'handoff', 'ignore'], { error: 'must be reply, handoff or ignore' }).default('reply'),
    message: customerText.optional(),
  })
  .transform((policy) => ({ action: policy.action, message: policy.message ?? DEFAULT_MESSAGES.unsupported }));

const common = {
  bot: z.strictObject({
    id: z.string({ error: 'must be a string' }).regex(UUID, { error: 'must be a UUID' }),
    token: secret.optional(),
  }),
  humanTtlMinutes: z.number({ error: 'must be a number' }).positive({ error: 'must be > 0' }).default(1440),
  handoff: handoffSchema,
};
const debounceMs = z.number({ error: 'must be a number' }).int({ error: 'must be an integer' }).min(0, { error: 'must be >= 0' }).max(60_000, { error: 'must be at most 60000' });
/** Keys of asynchronous channels (every kind but plain `json`; `json` with `reply` too). */
const asyncKeys = {
  botFailure: botFailureSchema.prefault({}),
  unsupported: unsupportedSchema.prefault({}),
  debounceMs: debounceMs.default(0),
};
const tokenAuth = z.strictObject({ token: secret }, { error: 'must be an object' });
const urlSecret = (what: string) => secret.refine((value) => !/[\s/?#]/.test(value), { error: `must be a ${what} without spaces, /, ? or #` });

const jsonChannel = z.strictObject({
  kind: z.literal('json'),
  auth: authSchema,
  reply: z
    .strictObject({
      url: httpUrl,
      signingSecret: standardWebhooksSecret,
    })
    .optional(),
  ...common,
  // Only with `reply` (crossFieldProblems names the rule on a synchronous channel); their
  // defaults are filled in by parseConfig when `reply` is set.
  botFailure: botFailureSchema.optional(),
  unsupported: unsupportedSchema.optional(),
  debounceMs: debounceMs.optional(),
});

const whatsappChannel = z.strictObject({
  kind: z.literal('whatsapp-cloud'),
  whatsapp: z.strictObject({
    phoneNumberId: z.string({ error: 'must be a string (quote it in YAML)' }).regex(/^\d{1,32}$/, { error: 'must be the phone number id (digits)' }),
    accessToken: secret,
    appSecret: secret,
    verifyToken: secret,
    apiVersion: z.string({ error: 'must be a string' }).regex(/^v\d+\.\d+$/, { error: 'must look like v21.0' }).default('v21.0'),
    baseUrl: httpUrl.default('https://graph.facebook.com'),
  }),
  // Coexistence: the number is also used in the WhatsApp Business app (SPEC §9.3).
  takeoverOnOwnerMessage: z.boolean({ error: 'must be true or false' }).default(true),
  ...common,
  ...asyncKeys,
});

const evolutionChannel = z.strictObject({
  kind: z.literal('evolution'),
  auth: tokenAuth,
  evolution: z.strictObject({
    baseUrl: httpUrl,
    instance: urlSecret('instance name'),
    apiKey: secret,
  }),
  takeoverOnOwnerMessage: z.boolean({ error: 'must be true or false' }).default(true),
  ...common,
  ...asyncKeys,
});

const zapiChannel = z.strictObject({
  kind: z.literal('zapi'),
  auth: tokenAuth,
  zapi: z.strictObject({
    instanceId: urlSecret('instance id'),
    instanceToken: urlSecret('instance token'),
    clientToken: secret,
    baseUrl: httpUrl.default('https://api.z-api.io'),
  }),
  takeoverOnOwnerMessage: z.boolean({ error: 'must be true or false' }).default(true),
  ...common,
  ...asyncKeys,
});

export const CHANNEL_KINDS = ['json', 'whatsapp-cloud', 'evolution', 'zapi'] as const;
export type ChannelKind = (typeof CHANNEL_KINDS)[number];

/** Keys that belong to one kind only: named as such when they appear on another. */
const KIND_KEYS: Record<string, string> = {
  reply: 'json',
  auth: 'json, evolution or zapi',
  whatsapp: 'whatsapp-cloud',
  evolution: 'evolution',
  zapi: 'zapi',
  takeoverOnOwnerMessage: 'whatsapp-cloud, evolution or zapi',
};

const channelSchema = z.discriminatedUnion('kind', [jsonChannel, whatsappChannel, evolutionChannel, zapiChannel], {
  error: `kind must be one of ${CHANNEL_KINDS.join(', ')}`,
});

const providerSettings = (baseUrl: string) => z.strictObject({ baseUrl: httpUrl.default(baseUrl), timeoutMs: positiveInt.default(10_000) });
const tokenProviderSettings = (baseUrl: string) => providerSettings(baseUrl).extend({ token: secret.optional() });
const retrySettings = (defaults: { attempts: number; baseDelayMs: number; maxDelayMs: number }) =>
  z
    .strictObject({
      attempts: positiveInt.max(100, { error: 'must be at most 100' }).default(defaults.attempts),
      baseDelayMs: positiveInt.default(defaults.baseDelayMs),
      maxDelayMs: positiveInt.default(defaults.maxDelayMs),
    })
    .prefault({});

const fileSchema = z
  .strictObject({
    toolzz: z
      .strictObject({
        baseUrl: httpUrl.default(DEFAULTS.toolzzBaseUrl),
        token: secret.optional(),
        timeoutMs: positiveInt.default(25_000),
        // Asynchronous channels: a call that certainly never reached Toolzz (connection
        // refused, DNS) is tried again after each of these delays (SPEC §8.3: 3 times, ~10 s).
        unreachableRetryMs: z.array(positiveInt, { error: 'must be a list of delays in ms' }).max(10).default([1000, 3000, 6000]),
      })
      .prefault({}),
    providers: z
      .strictObject({
        brpex: providerSettings(DEFAULTS.brpexBaseUrl).prefault({}),
        mehub: tokenProviderSettings(DEFAULTS.mehubBaseUrl).extend({ webhookSecret: secret.optional() }).prefault({}),
        superagentes: tokenProviderSettings(DEFAULTS.superagentesBaseUrl).prefault({}),
      })
      .prefault({}),
    retry: retrySettings({ attempts: 8, baseDelayMs: 2000, maxDelayMs: 300_000 }),
    // Replies and events sent through asynchronous channels (SPEC §8.2).
    delivery: z
      .strictObject({
        attempts: positiveInt.max(100, { error: 'must be at most 100' }).default(5),
        baseDelayMs: positiveInt.default(1000),
        maxDelayMs: positiveInt.default(60_000),
        // Per send call to the channel's API (not in the SPEC).
        timeoutMs: positiveInt.default(10_000),
      })
      .prefault({}),
    // Not in the SPEC's example, all optional: knobs an operator may need.
    // No braces: the prefix is put in front of hash-tagged keys (`{…}` picks the cluster slot).
    redis: z
      .strictObject({ keyPrefix: z.string().regex(/^[A-Za-z0-9_.-]{1,32}$/, { error: 'must be 1 to 32 letters, digits, _ . or -' }).default('ho') })
      .prefault({}),
    conversations: z
      .strictObject({
        ttlHours: z.number().positive().default(24),
        lockWaitMs: positiveInt.default(30_000),
      })
      .prefault({}),
    worker: z
      .strictObject({
        concurrency: positiveInt.max(1000).default(10),
        // A job whose worker stopped renewing its lock this long ago is taken over by another.
        lockDurationMs: positiveInt.default(30_000),
        stalledIntervalMs: positiveInt.default(30_000),
        // On SIGTERM, active jobs get this long to finish before the worker stops anyway.
        shutdownGraceMs: positiveInt.default(25_000),
        // Finds pending handoffs with no live job, stuck inboxes and outboxes, and trims
        // the admin indexes (any worker; one run at a time).
        reconcileIntervalMs: positiveInt.default(30_000),
        // Jobs of one queue (handoffs, inbox, outbox) run at once per worker process.
        channelConcurrency: positiveInt.max(1000).default(50),
      })
      .prefault({}),
    channels: z.record(
      z.string().regex(CHANNEL_KEY, { error: 'channel keys must match [a-z0-9-]{1,64}' }),
      channelSchema,
      { error: 'must be a map of channel name to channel settings' },
    ),
  });

type FileConfig = z.infer<typeof fileSchema>;
export type ChannelConfig = FileConfig['channels'][string];
type JsonChannelConfig = Extract<ChannelConfig, { kind: 'json' }>;
type AsyncPolicies = Required<Pick<JsonChannelConfig, 'botFailure' | 'unsupported' | 'debounceMs'>>;
export type AsyncChannelConfig = Exclude<ChannelConfig, { kind: 'json' }> | (JsonChannelConfig & AsyncPolicies & { reply: NonNullable<JsonChannelConfig['reply']> });
export type DeliveryConfig = FileConfig['delivery'];
export type HandoffSettings = ChannelConfig['handoff'];
export type ProviderName = HandoffSettings['provider'];
export type RetryConfig = FileConfig['retry'];

/** Where Redis is (SPEC §10): one server, a cluster, or a master found through Sentinel. */
export type RedisTarget =
  | { readonly kind: 'single'; readonly url: string }
  | {
      readonly kind: 'cluster';
      readonly nodes: readonly { host: string; port: number }[];
      readonly password?: string;
      readonly username?: string;
      readonly tls: boolean;
    }
  | {
      readonly kind: 'sentinel';
      readonly sentinels: readonly { host: string; port: number }[];
      readonly name: string;
      readonly password?: string;
      readonly username?: string;
      readonly sentinelPassword?: string;
      readonly db: number;
    };

export interface Config extends FileConfig {
  readonly port: number;
  readonly redisTarget: RedisTarget;
  readonly adminToken: string | undefined;
  readonly logLevel: string;
  readonly configPath: string;
}

/** One problem found in the configuration, named by its dotted path. */
export interface ConfigProblem {
  readonly path: string;
  readonly message: string;
}

/** Thrown by {@link loadConfig}; `problems` lists every bad path, not just the first. */
export class ConfigError extends Error {
  readonly code = 'CONFIG_INVALID';
  constructor(
    readonly source: string,
    readonly problems: readonly ConfigProblem[],
  ) {
    super(`invalid configuration (${source}):\n${problems.map((p) => `  ${p.path || '(root)'}: ${p.message}`).join('\n')}`);
    this.name = 'ConfigError';
  }
}

const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'];

const BASE_URL_OVERRIDES = [
  ['TOOLZZ_BASE_URL', ['toolzz']],
  ['BRPEX_BASE_URL', ['providers', 'brpex']],
  ['MEHUB_BASE_URL', ['providers', 'mehub']],
  ['SUPERAGENTES_BASE_URL', ['providers', 'superagentes']],
] as const;

/** `WHATSAPP_BASE_URL` etc. override the base URL of every channel of that kind. */
const CHANNEL_BASE_URL_OVERRIDES = [
  ['WHATSAPP_BASE_URL', 'whatsapp-cloud', 'whatsapp'],
  ['EVOLUTION_BASE_URL', 'evolution', 'evolution'],
  ['ZAPI_BASE_URL', 'zapi', 'zapi'],
] as const;

type Env = Readonly<Record<string, string | undefined>>;

/**
 * Replaces `${NAME}` in every string value by the environment variable NAME.
 * A missing variable is recorded as a problem at the path where it was used.
 */
function interpolate(value: unknown, env: Env, path: string[], problems: ConfigProblem[]): unknown {
  if (typeof value === 'string') {
    return value.replace(/\$\{([^}]*)\}/g, (_, name: string) => {
      const resolved = /^[A-Za-z_][A-Za-z0-9_]*$/.test(name) ? env[name] : undefined;
      if (resolved === undefined) {
        problems.push({
          path: path.join('.'),
          message: /^[A-Za-z_][A-Za-z0-9_]*$/.test(name)
            ? `environment variable ${name} is not set`
            : `\${${name}} is not a valid environment variable name`,
        });
        return '';
      }
      return resolved;
    });
  }
  if (Array.isArray(value)) return value.map((item, i) => interpolate(item, env, [...path, String(i)], problems));
  if (value !== null && typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const [key, item] of Object.entries(value)) {
      // defineProperty keeps a literal "__proto__" key an ordinary (and then rejected) key.
      Object.defineProperty(out, key, { value: interpolate(item, env, [...path, key], problems), enumerable: true, writable: true, configurable: true });
    }
    return out;
  }
  return value;
}

function setPath(root: Record<string, unknown>, path: readonly string[], key: string, value: string): void {
  let node = root;
  for (const part of path) {
    const next = node[part];
    if (next === undefined || next === null) node[part] = {};
    else if (typeof next !== 'object' || Array.isArray(next)) return; // the schema reports the bad type
    node = node[part] as Record<string, unknown>;
  }
  node[key] = value;
}

function zodProblems(error: z.ZodError): ConfigProblem[] {
  const problems: ConfigProblem[] = [];
  for (const issue of error.issues) {
    const path = issue.path.map(String);
    if (issue.code === 'unrecognized_keys') {
      for (const key of issue.keys) {
        const kind = path.length === 2 && path[0] === 'channels' ? KIND_KEYS[key] : undefined;
        problems.push({ path: [...path, key].join('.'), message: kind ? `only allowed on channels of kind ${kind}` : 'unknown key' });
      }
    } else if (issue.code === 'invalid_key' && path.length > 0) {
      problems.push({ path: path.join('.'), message: issue.issues[0]?.message ?? issue.message });
    } else if (issue.code === 'invalid_type' && issue.input === undefined) {
      const hint = path.at(-1) === 'baseUrl' && path.at(-2) === 'evolution' ? ' (or set EVOLUTION_BASE_URL)' : '';
      problems.push({ path: path.join('.'), message: `is required${hint}` });
    } else {
      problems.push({ path: path.join('.'), message: issue.message });
    }
  }
  return problems;
}

function deepFreeze<T>(value: T): T {
  if (value !== null && typeof value === 'object' && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const item of Object.values(value)) deepFreeze(item);
  }
  return value;
}

const isObject = (value: unknown): value is Record<string, unknown> => value !== null && typeof value === 'object' && !Array.isArray(value);

/**
 * Checks that span several keys. Run on the raw document, not after the schema, so these
 * problems are reported together with every other one instead of after they are fixed.
 */
function crossFieldProblems(document: Record<string, unknown>): ConfigProblem[] {
  const problems: ConfigProblem[] = [];
  const toolzz = isObject(document.toolzz) ? document.toolzz : {};
  const providers = isObject(document.providers) ? document.providers : {};
  const retry = isObject(document.retry) ? document.retry : {};
  const base = typeof retry.baseDelayMs === 'number' ? retry.baseDelayMs : 2000;
  const max = typeof retry.maxDelayMs === 'number' ? retry.maxDelayMs : 300_000;
  if (base > max) problems.push({ path: 'retry.baseDelayMs', message: 'must not exceed retry.maxDelayMs' });
  const delivery = isObject(document.delivery) ? document.delivery : {};
  const deliveryBase = typeof delivery.baseDelayMs === 'number' ? delivery.baseDelayMs : 1000;
  const deliveryMax = typeof delivery.maxDelayMs === 'number' ? delivery.maxDelayMs : 60_000;
  if (deliveryBase > deliveryMax) problems.push({ path: 'delivery.baseDelayMs', message: 'must not exceed delivery.maxDelayMs' });
  const channels = isObject(document.channels) ? document.channels : {};
  const phoneNumberIds = new Map<string, string>();
  for (const [name, channel] of Object.entries(channels)) {
    if (!isObject(channel)) continue;
    const kind = channel.kind ?? 'json';
    const asynchronous = kind !== 'json' || channel.reply !== undefined;
    if (!asynchronous) {
      for (const key of ['botFailure', 'unsupported', 'debounceMs']) {
        if (channel[key] !== undefined) problems.push({ path: `channels.${name}.${key}`, message: 'only on asynchronous channels (kind whatsapp-cloud, evolution, zapi, or json with reply)' });
      }
      const handoffBlock = isObject(channel.handoff) ? channel.handoff : {};
      if (handoffBlock.failedMessage !== undefined) {
        problems.push({ path: `channels.${name}.handoff.failedMessage`, message: 'only on asynchronous channels (a synchronous channel has no way to reach the customer later)' });
      }
    }
    if (kind === 'whatsapp-cloud' && isObject(channel.whatsapp) && typeof channel.whatsapp.phoneNumberId === 'string') {
      const other = phoneNumberIds.get(channel.whatsapp.phoneNumberId);
      if (other) problems.push({ path: `channels.${name}.whatsapp.phoneNumberId`, message: `already used by channel ${other}` });
      else phoneNumberIds.set(channel.whatsapp.phoneNumberId, name);
    }
    const bot = isObject(channel.bot) ? channel.bot : {};
    if (bot.token === undefined && toolzz.token === undefined) {
      problems.push({ path: `channels.${name}.bot.token`, message: 'required when toolzz.token is not set' });
    }
    const handoff = isObject(channel.handoff) ? channel.handoff : {};
    if (handoff.token !== undefined) continue;
    if (handoff.provider === 'brpex') {
      problems.push({ path: `channels.${name}.handoff.token`, message: 'required: BRPEX tokens are per channel' });
    } else if (handoff.provider === 'mehub' || handoff.provider === 'superagentes') {
      const shared = isObject(providers[handoff.provider]) ? (providers[handoff.provider] as Record<string, unknown>) : {};
      if (shared.token === undefined) {
        problems.push({ path: `channels.${name}.handoff.token`, message: `required when providers.${handoff.provider}.token is not set` });
      }
    }
  }
  return problems;
}

/** `host:port,host:port` (an entry may be `rediss://host:port` for TLS) → the list, or a problem. */
function hostList(variable: string, value: string, problems: ConfigProblem[]): { nodes: { host: string; port: number }[]; tls: boolean } {
  const nodes: { host: string; port: number }[] = [];
  let tls = false;
  for (const raw of value.split(',').map((entry) => entry.trim()).filter(Boolean)) {
    const entry = /^rediss:\/\//.test(raw) ? ((tls = true), raw.slice('rediss://'.length)) : raw.replace(/^redis:\/\//, '');
    const match = /^(\[[^\]]+\]|[^:/\s]+):(\d{1,5})$/.exec(entry);
    const port = match ? Number(match[2]) : NaN;
    if (!match || port < 1 || port > 65535) {
      problems.push({ path: variable, message: `"${raw}" is not host:port` });
      continue;
    }
    nodes.push({ host: (match[1] as string).replace(/^\[|\]$/g, ''), port });
  }
  if (nodes.length === 0 && !problems.some((p) => p.path === variable)) problems.push({ path: variable, message: 'must list at least one host:port' });
  return { nodes, tls };
}

/**
 * SPEC §10: `REDIS_CLUSTER_NODES` (with `REDIS_PASSWORD`) takes precedence, then
 * `REDIS_SENTINELS` (+ `REDIS_SENTINEL_NAME`, default `mymaster`), then `REDIS_URL`.
 */
function redisTargetFromEnv(env: Env, problems: ConfigProblem[]): RedisTarget {
  const password = env.REDIS_PASSWORD || undefined;
  const username = env.REDIS_USERNAME || undefined;
  if (env.REDIS_CLUSTER_NODES) {
    const { nodes, tls } = hostList('REDIS_CLUSTER_NODES', env.REDIS_CLUSTER_NODES, problems);
    return { kind: 'cluster', nodes, password, username, tls };
  }
  if (env.REDIS_SENTINELS) {
    const { nodes } = hostList('REDIS_SENTINELS', env.REDIS_SENTINELS, problems);
    const name = env.REDIS_SENTINEL_NAME || 'mymaster';
    if (!/^[A-Za-z0-9._-]{1,64}$/.test(name)) problems.push({ path: 'REDIS_SENTINEL_NAME', message: 'must be a master name ([A-Za-z0-9._-])' });
    return { kind: 'sentinel', sentinels: nodes, name, password, username, sentinelPassword: env.REDIS_SENTINEL_PASSWORD || undefined, db: 0 };
  }
  const url = env.REDIS_URL ?? 'redis://127.0.0.1:6379';
  if (!/^rediss?:\/\//.test(url)) problems.push({ path: 'REDIS_URL', message: 'must be a redis:// or rediss:// URL' });
  else {
    try {
      new URL(url);
    } catch {
      problems.push({ path: 'REDIS_URL', message: 'is not a valid URL' });
    }
  }
  return { kind: 'single', url };
}

/**
 * Validates an already-parsed configuration document against the environment.
 * Throws {@link ConfigError} naming every bad path.
 */
export function parseConfig(document: unknown, env: Env, source = '(inline)'): Config {
  const problems: ConfigProblem[] = [];
  if (document === null || typeof document !== 'object' || Array.isArray(document)) {
    throw new ConfigError(source, [{ path: '', message: 'must be a mapping (YAML or JSON object)' }]);
  }
  const resolved = interpolate(document, env, [], problems) as Record<string, unknown>;
  for (const [variable, path] of BASE_URL_OVERRIDES) {
    const override = env[variable];
    if (override !== undefined && override !== '') setPath(resolved, path, 'baseUrl', override);
  }
  if (isObject(resolved.channels)) {
    for (const channel of Object.values(resolved.channels)) {
      if (!isObject(channel)) continue;
      if (channel.kind === undefined) channel.kind = 'json';
      for (const [variable, kind, block] of CHANNEL_BASE_URL_OVERRIDES) {
        const override = env[variable];
        if (channel.kind === kind && override !== undefined && override !== '') setPath(channel, [block], 'baseUrl', override);
      }
    }
  }

  const port = Number(env.PORT ?? '3000');
  if (!Number.isInteger(port) || port < 0 || port > 65535) problems.push({ path: 'PORT', message: 'must be a port number (0-65535)' });
  const logLevel = env.LOG_LEVEL ?? 'info';
  if (!LOG_LEVELS.includes(logLevel)) problems.push({ path: 'LOG_LEVEL', message: `must be one of ${LOG_LEVELS.join(', ')}` });
  const redisTarget = redisTargetFromEnv(env, problems);

  // A missing ${VAR} is already reported at its path; the empty value left there is not news.
  const unresolved = new Set(problems.map((p) => p.path));
  const parsed = fileSchema.safeParse(resolved);
  if (!parsed.success) problems.push(...zodProblems(parsed.error).filter((p) => !unresolved.has(p.path)));
  problems.push(...crossFieldProblems(resolved));
  if (problems.length > 0 || !parsed.success) throw new ConfigError(source, problems);

  for (const channel of Object.values(parsed.data.channels)) {
    if (channel.kind !== 'json' || !channel.reply) continue;
    channel.botFailure ??= asyncKeys.botFailure.parse(undefined);
    channel.unsupported ??= asyncKeys.unsupported.parse(undefined);
    channel.debounceMs ??= 0;
  }
  const adminToken = env.ADMIN_TOKEN === '' ? undefined : env.ADMIN_TOKEN;
  return deepFreeze({ ...parsed.data, port, redisTarget, adminToken, logLevel, configPath: source });
}

// `auth: { signingSecret: ${SITE_SECRET} }` (as the SPEC writes it) is not valid YAML: in a
// flow mapping, `{` and `}` end a plain scalar. The placeholders are swapped for brackets
// YAML does not treat specially before parsing, and swapped back after; the values are only
// substituted on the parsed strings, so a secret containing `#` or `: ` cannot change the
// document's structure.
const OPEN = '\u27e6';
const CLOSE = '\u27e7';
const protectPlaceholders = (text: string) => text.replace(/\$\{([A-Za-z_][A-Za-z0-9_]*)\}/g, `${OPEN}$1${CLOSE}`);
function restorePlaceholders(value: unknown): unknown {
  if (typeof value === 'string') return value.replace(/\u27e6([A-Za-z_][A-Za-z0-9_]*)\u27e7/g, '${$1}');
  if (Array.isArray(value)) return value.map(restorePlaceholders);
  if (value !== null && typeof value === 'object') {
    for (const [key, item] of Object.entries(value)) {
      Object.defineProperty(value, key, { value: restorePlaceholders(item), enumerable: true, writable: true, configurable: true });
    }
  }
  return value;
}

/**
 * Parses configuration text (YAML, so JSON too) into a document whose `${NAME}` placeholders
 * are still in place. Throws {@link ConfigError} on a YAML syntax error.
 */
export function parseConfigText(text: string, source: string): unknown {
  try {
    return restorePlaceholders(parseYaml(protectPlaceholders(text), { uniqueKeys: true, maxAliasCount: 100 }));
  } catch (error) {
    const message = (error as Error).message.split('\n')[0] ?? 'invalid YAML';
    throw new ConfigError(source, [{ path: '', message: `not valid YAML: ${message}` }]);
  }
}

/**
 * Reads and validates the configuration file at `path` (YAML, so JSON too).
 * Throws {@link ConfigError} with every problem found; never a raw parser stack.
 */
export function loadConfig(env: Env, path = env.HANDOFF_CONFIG ?? './handoff.config.yaml'): Config {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    const reason =
      (error as NodeJS.ErrnoException).code === 'ENOENT'
        ? 'file not found (copy handoff.config.example.yaml to handoff.config.yaml, or set HANDOFF_CONFIG to your file)'
        : (error as Error).message;
    throw new ConfigError(path, [{ path: 'HANDOFF_CONFIG', message: `cannot read ${path}: ${reason}` }]);
  }
  return parseConfig(parseConfigText(text, path), env, path);
}

/** True for channels whose replies go through the channel's API (SPEC §8): every kind but plain `json`. */
export function isAsyncChannel(channel: ChannelConfig): channel is AsyncChannelConfig {
  return channel.kind !== 'json' || channel.reply !== undefined;
}

/** The Toolzz token a channel uses: its own `bot.token`, else `toolzz.token`. */
export function toolzzTokenFor(config: Config, channel: ChannelConfig): string {
  const token = channel.bot.token ?? config.toolzz.token;
  if (!token) throw new Error('unreachable: validated by the config schema');
  return token;
}
