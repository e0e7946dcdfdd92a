import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig, parseConfig } from '../../src/config/index.js';
import { redactUrl } from '../../src/redis/connection.js';

const channel = {
  auth: { token: 'x' },
  bot: { id: '6b3c9f0e-1c2d-4e5f-8a9b-0c1d2e3f4a5b' },
  handoff: { provider: 'mehub', channel: 'xyz789abc123def4', attendant: 8 },
};
const base = () => ({ toolzz: { token: 't' }, providers: { mehub: { token: 'm' } }, channels: { vendas: structuredClone(channel) } });

function problems(document: unknown, env: Record<string, string> = {}): string[] {
  try {
    parseConfig(document, env);
  } catch (error) {
    if (error instanceof ConfigError) return error.problems.map((p) => `${p.path}: ${p.message}`);
    throw error;
  }
  return [];
}

describe('parseConfig', () => {
  it('fills the SPEC defaults', () => {
    const config = parseConfig(base(), {});
    expect(config.toolzz).toMatchObject({ baseUrl: 'https://kratos.api.toolzz.com.br', timeoutMs: 25000 });
    expect(config.providers.brpex).toEqual({ baseUrl: 'https://{subdomain}.brpex.com', timeoutMs: 10000 });
    expect(config.providers.superagentes.baseUrl).toBe('https://dash.superagentes.ai');
    expect(config.retry).toEqual({ attempts: 8, baseDelayMs: 2000, maxDelayMs: 300000 });
    expect(config.channels.vendas?.humanTtlMinutes).toBe(1440);
    expect(config.port).toBe(3000);
    expect(config.redisTarget).toEqual({ kind: 'single', url: 'redis://127.0.0.1:6379' });
    expect(config.adminToken).toBeUndefined();
    expect(Object.isFrozen(config.channels.vendas?.handoff)).toBe(true);
  });

  it('replaces ${NAME} anywhere in a string and names every missing variable by path', () => {
    const doc = base();
    doc.toolzz.token = 'Bearer-${TOOLZZ_TOKEN}';
    (doc.channels.vendas.auth as Record<string, string>).token = '${VENDAS}';
    expect(parseConfig(doc, { TOOLZZ_TOKEN: 'abc', VENDAS: 'v' }).toolzz.token).toBe('Bearer-abc');
    expect(problems(doc, {})).toEqual([
      'toolzz.token: environment variable TOOLZZ_TOKEN is not set',
      'channels.vendas.auth.token: environment variable VENDAS is not set',
    ]);
  });

  it('lists every bad path at once, with the SPEC wording', () => {
    const doc = base() as Record<string, any>;
    doc.channels.vendas.handoff.channel = 'short';
    doc.channels.vendas.bot.id = 'not-a-uuid';
    doc.retry = { attempts: 0 };
    doc.channels['Bad_Name'] = structuredClone(channel);
    const found = problems(doc);
    expect(found).toContain('channels.vendas.handoff.channel: must be 16 characters');
    expect(found).toContain('channels.vendas.bot.id: must be a UUID');
    expect(found).toContain('retry.attempts: must be > 0');
    expect(found.some((p) => p.startsWith('channels.Bad_Name'))).toBe(true);
  });

  it('rejects unknown keys (a typo must not silently disable a feature)', () => {
    const doc = base() as Record<string, any>;
    doc.channels.vendas.humanTTLMinutes = 5;
    doc.toolzz.timeout = 1;
    expect(problems(doc)).toEqual(['toolzz.timeout: unknown key', 'channels.vendas.humanTTLMinutes: unknown key']);
  });

  it('checks each provider’s own fields', () => {
    const brpex = { ...channel, handoff: { provider: 'brpex', subdomain: 'evil.com/x' } };
    const sa = { ...channel, handoff: { provider: 'superagentes', priority: 'URGENT', assigneeIds: [] } };
    const unknown = { ...channel, handoff: { provider: 'zendesk' } };
    const found = problems({ toolzz: { token: 't' }, channels: { a: brpex, b: sa, c: unknown } });
    expect(found).toContain('channels.a.handoff.subdomain: must be a DNS label: lowercase letters, digits and inner hyphens, at most 63 characters');
    expect(found).toContain('channels.a.handoff.token: required: BRPEX tokens are per channel');
    expect(found).toContain('channels.b.handoff.priority: must be LOW, MEDIUM or HIGH');
    expect(found).toContain('channels.b.handoff.assigneeIds: must not be empty');
    expect(found).toContain('channels.b.handoff.token: required when providers.superagentes.token is not set');
    expect(found).toContain('channels.c.handoff.provider: provider must be one of brpex, mehub, superagentes');
  });

  it('counts the MeHub channel length in code points', () => {
    const doc = base() as Record<string, any>;
    doc.channels.vendas.handoff.channel = 'é'.repeat(16);
    expect(problems(doc)).toEqual(['channels.vendas.handoff.channel: must contain only letters, digits, _ and -']);
  });

  it('requires exactly one auth mode and a valid signing secret', () => {
    const doc = base() as Record<string, any>;
    doc.channels.vendas.auth = { token: 'a', signingSecret: 'whsec_AAAA' };
    expect(problems(doc)).toEqual(['channels.vendas.auth: set exactly one of token or signingSecret']);
    doc.channels.vendas.auth = { signingSecret: 'MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw' };
    expect(problems(doc)).toEqual(['channels.vendas.auth.signingSecret: must start with whsec_']);
  });

  it('requires a Toolzz token per channel when there is no global one', () => {
    const doc = base() as Record<string, any>;
    delete doc.toolzz.token;
    expect(problems(doc)).toEqual(['channels.vendas.bot.token: required when toolzz.token is not set']);
    doc.channels.vendas.bot.token = 'own';
    expect(problems(doc)).toEqual([]);
  });

  it('rejects unknown placeholders in note templates', () => {
    const doc = base() as Record<string, any>;
    doc.channels.vendas.handoff.note = 'Cliente {nome}';
    expect(problems(doc)[0]).toMatch(/^channels\.vendas\.handoff\.note: unknown placeholder \{nome\}/);
  });

  it('applies the base URL overrides from the environment', () => {
    const config = parseConfig(base(), { TOOLZZ_BASE_URL: 'http://127.0.0.1:9', BRPEX_BASE_URL: 'http://127.0.0.1:8', MEHUB_BASE_URL: 'http://m', SUPERAGENTES_BASE_URL: 'http://s' });
    expect(config.toolzz.baseUrl).toBe('http://127.0.0.1:9');
    expect(config.providers.brpex.baseUrl).toBe('http://127.0.0.1:8');
    expect(config.providers.mehub.baseUrl).toBe('http://m');
    expect(config.providers.superagentes.baseUrl).toBe('http://s');
  });

  it('validates the environment part too', () => {
    expect(problems(base(), { PORT: 'abc', LOG_LEVEL: 'loud', REDIS_URL: 'http://x' })).toEqual([
      'PORT: must be a port number (0-65535)',
      'LOG_LEVEL: must be one of fatal, error, warn, info, debug, trace, silent',
      'REDIS_URL: must be a redis:// or rediss:// URL',
    ]);
  });

  it('a literal __proto__ key is an unknown key, not a prototype change', () => {
    const doc = JSON.parse('{"toolzz":{"token":"t","__proto__":{"polluted":1}},"providers":{"mehub":{"token":"m"}},"channels":{}}');
    expect(problems(doc)).toEqual(['toolzz.__proto__: unknown key']);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });
});

describe('loadConfig', () => {
  const dir = mkdtempSync(join(tmpdir(), 'ho-config-'));

  it('reads YAML and JSON files', () => {
    const yamlPath = join(dir, 'a.yaml');
    writeFileSync(yamlPath, `toolzz:\n  token: \${T}\nproviders:\n  mehub: { token: m }\nchannels:\n  vendas:\n    auth: { token: x }\n    bot: { id: 6b3c9f0e-1c2d-4e5f-8a9b-0c1d2e3f4a5b }\n    handoff: { provider: mehub, channel: xyz789abc123def4 }\n`);
    expect(loadConfig({ T: 'tok' }, yamlPath).toolzz.token).toBe('tok');
    const jsonPath = join(dir, 'a.json');
    writeFileSync(jsonPath, JSON.stringify(base()));
    expect(Object.keys(loadConfig({}, jsonPath).channels)).toEqual(['vendas']);
  });

  it('accepts ${NAME} inside a YAML flow mapping, as the SPEC writes it, and keeps # in secrets', () => {
    const path = join(dir, 'flow.yaml');
    writeFileSync(path, `toolzz: { token: \${T} }\nproviders: { mehub: { token: m } }\nchannels:\n  site:\n    auth: { signingSecret: \${SITE_SECRET} }\n    bot: { id: 6b3c9f0e-1c2d-4e5f-8a9b-0c1d2e3f4a5b }\n    handoff: { provider: mehub, channel: xyz789abc123def4 }\n`);
    const config = loadConfig({ T: 'a#b: c', SITE_SECRET: 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw' }, path);
    expect(config.toolzz.token).toBe('a#b: c');
    expect((config.channels.site as { auth: { signingSecret?: string } } | undefined)?.auth.signingSecret).toBe('whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw');
  });

  it('the example config file is valid', () => {
    const env = Object.fromEntries(
      [
        'TOOLZZ_TOKEN', 'MEHUB_TOKEN', 'SUPERAGENTES_TOKEN', 'VENDAS_WEBHOOK_TOKEN', 'BRPEX_CHANNEL_TOKEN', 'APP_TOKEN', 'MEHUB_WEBHOOK_SECRET',
        'WA_ACCESS_TOKEN', 'WA_APP_SECRET', 'WA_VERIFY_TOKEN', 'APP_ASYNC_TOKEN', 'EVO_WEBHOOK_TOKEN', 'EVO_API_KEY', 'ZAPI_WEBHOOK_TOKEN', 'ZAPI_INSTANCE_TOKEN', 'ZAPI_CLIENT_TOKEN',
      ].map((k) => [k, 'x']),
    );
    const secret = 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw';
    const config = loadConfig({ ...env, SITE_SECRET: secret, APP_REPLY_SECRET: secret, APP_REPLY_URL: 'https://example.com/hooks' }, 'handoff.config.example.yaml');
    expect(Object.keys(config.channels)).toEqual(['vendas-whatsapp', 'suporte-site', 'app-premium', 'loja-wa', 'app-async', 'loja-evo', 'loja-zapi']);
    expect(config.channels['loja-wa']).toMatchObject({ kind: 'whatsapp-cloud', botFailure: { action: 'handoff' }, unsupported: { action: 'reply' }, debounceMs: 0 });
  });

  it('a missing file and broken YAML are config errors, not stack traces', () => {
    expect(() => loadConfig({}, join(dir, 'nope.yaml'))).toThrow(/HANDOFF_CONFIG: cannot read .*file not found/);
    const broken = join(dir, 'broken.yaml');
    writeFileSync(broken, 'toolzz: [\n');
    expect(() => loadConfig({}, broken)).toThrow(ConfigError);
  });
});

describe('redactUrl', () => {
  it('hides the password', () => {
    expect(redactUrl('redis://user:s3cret@host:6379/2')).toBe('redis://user:***@host:6379/2');
    expect(redactUrl('redis://127.0.0.1:6379')).toBe('redis://127.0.0.1:6379');
  });
});

describe('channel kinds (SPEC §8)', () => {
  const wa = () => ({
    kind: 'whatsapp-cloud',
    whatsapp: { phoneNumberId: '106540352242922', accessToken: 'a', appSecret: 's', verifyToken: 'v' },
    bot: { id: '6b3c9f0e-1c2d-4e5f-8a9b-0c1d2e3f4a5b' },
    handoff: { provider: 'mehub', channel: 'xyz789abc123def4' },
  });
  const withChannels = (channels: Record<string, unknown>) => ({ ...base(), channels });

  it('fills the SPEC defaults of a WhatsApp channel, policies and delivery included', () => {
    const config = parseConfig(withChannels({ wa: wa() }), {});
    expect(config.channels.wa).toMatchObject({
      kind: 'whatsapp-cloud',
      whatsapp: { apiVersion: 'v21.0', baseUrl: 'https://graph.facebook.com' },
      botFailure: { action: 'handoff', message: 'Desculpe, não consegui responder agora. Vou transferir você para um atendente.' },
      unsupported: { action: 'reply', message: 'Ainda não consigo entender áudios, imagens ou figurinhas. Pode escrever sua mensagem, por favor?' },
      debounceMs: 0,
    });
    expect(config.delivery).toEqual({ attempts: 5, baseDelayMs: 1000, maxDelayMs: 60000, timeoutMs: 10000 });
    expect(config.channels.vendas).toBeUndefined();
  });

  it('botFailure reply gets its own default message', () => {
    const config = parseConfig(withChannels({ wa: { ...wa(), botFailure: { action: 'reply' } } }), {});
    expect(config.channels.wa).toMatchObject({ botFailure: { action: 'reply', message: 'Desculpe, não consegui responder agora. Pode repetir, por favor?' } });
  });

  it('WHATSAPP_BASE_URL, EVOLUTION_BASE_URL and ZAPI_BASE_URL override every channel of their kind', () => {
    const config = parseConfig(
      withChannels({
        wa: wa(),
        evo: { kind: 'evolution', auth: { token: 't' }, evolution: { baseUrl: 'https://evo.example.com', instance: 'loja', apiKey: 'k' }, bot: wa().bot, handoff: wa().handoff },
        z: { kind: 'zapi', auth: { token: 't' }, zapi: { instanceId: 'I', instanceToken: 'T', clientToken: 'C' }, bot: wa().bot, handoff: wa().handoff },
      }),
      { WHATSAPP_BASE_URL: 'http://127.0.0.1:1', EVOLUTION_BASE_URL: 'http://127.0.0.1:2', ZAPI_BASE_URL: 'http://127.0.0.1:3' },
    );
    expect(config.channels.wa).toMatchObject({ whatsapp: { baseUrl: 'http://127.0.0.1:1' } });
    expect(config.channels.evo).toMatchObject({ evolution: { baseUrl: 'http://127.0.0.1:2' }, takeoverOnOwnerMessage: true });
    expect(config.channels.z).toMatchObject({ zapi: { baseUrl: 'http://127.0.0.1:3' } });
  });

  it('names every bad path at once: kind-specific keys on another kind, async-only keys on a synchronous channel, bad values', () => {
    const found = problems(
      withChannels({
        wa: { ...wa(), auth: { token: 'x' }, reply: { url: 'https://x', signingSecret: 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw' }, debounceMs: 70000 },
        vendas: { ...structuredClone(channel), whatsapp: {}, takeoverOnOwnerMessage: false, botFailure: { action: 'reply' }, debounceMs: 100 },
        other: { ...wa(), kind: 'telegram' },
        twin: { ...wa() },
        evo: { kind: 'evolution', auth: { token: 't' }, evolution: { instance: 'loja', apiKey: 'k' }, bot: wa().bot, handoff: { ...wa().handoff, failedMessage: '' } },
      }),
    );
    expect(found).toEqual(
      expect.arrayContaining([
        'channels.wa.auth: only allowed on channels of kind json, evolution or zapi',
        'channels.wa.reply: only allowed on channels of kind json',
        'channels.wa.debounceMs: must be at most 60000',
        'channels.vendas.whatsapp: only allowed on channels of kind whatsapp-cloud',
        'channels.vendas.takeoverOnOwnerMessage: only allowed on channels of kind whatsapp-cloud, evolution or zapi',
        'channels.vendas.botFailure: only on asynchronous channels (kind whatsapp-cloud, evolution, zapi, or json with reply)',
        'channels.vendas.debounceMs: only on asynchronous channels (kind whatsapp-cloud, evolution, zapi, or json with reply)',
        'channels.other.kind: kind must be one of json, whatsapp-cloud, evolution, zapi',
        'channels.twin.whatsapp.phoneNumberId: already used by channel wa',
        'channels.evo.evolution.baseUrl: is required (or set EVOLUTION_BASE_URL)',
        'channels.evo.handoff.failedMessage: must not be empty',
      ]),
    );
  });

  it('a json channel with reply is asynchronous and gets the policies; reply.signingSecret must be whsec_', () => {
    const config = parseConfig(withChannels({ app: { ...structuredClone(channel), reply: { url: 'https://example.com/r', signingSecret: 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw' } } }), {});
    expect(config.channels.app).toMatchObject({ kind: 'json', botFailure: { action: 'handoff' }, debounceMs: 0 });
    expect(problems(withChannels({ app: { ...structuredClone(channel), reply: { url: 'ftp://x', signingSecret: 'nope' } } }))).toEqual(
      expect.arrayContaining(['channels.app.reply.url: must be an http(s) URL', 'channels.app.reply.signingSecret: must start with whsec_']),
    );
  });

  it('Redis deployments (SPEC §10): cluster wins over sentinel over URL; every bad entry is named', () => {
    expect(parseConfig(base(), { REDIS_CLUSTER_NODES: '10.0.0.1:7000, 10.0.0.2:7001', REDIS_PASSWORD: 'p', REDIS_URL: 'redis://x' }).redisTarget).toEqual({
      kind: 'cluster',
      nodes: [
        { host: '10.0.0.1', port: 7000 },
        { host: '10.0.0.2', port: 7001 },
      ],
      password: 'p',
      username: undefined,
      tls: false,
    });
    expect(parseConfig(base(), { REDIS_CLUSTER_NODES: 'rediss://c.example.com:6379' }).redisTarget).toMatchObject({ kind: 'cluster', tls: true });
    expect(parseConfig(base(), { REDIS_SENTINELS: 's1:26379,s2:26379' }).redisTarget).toMatchObject({ kind: 'sentinel', name: 'mymaster', sentinels: [{ host: 's1', port: 26379 }, { host: 's2', port: 26379 }] });
    expect(problems(base(), { REDIS_CLUSTER_NODES: 'nohost,h:99999' })).toEqual(['REDIS_CLUSTER_NODES: "nohost" is not host:port', 'REDIS_CLUSTER_NODES: "h:99999" is not host:port']);
    expect(problems(base(), { REDIS_SENTINELS: 'a:1', REDIS_SENTINEL_NAME: 'bad name' })).toEqual(['REDIS_SENTINEL_NAME: must be a master name ([A-Za-z0-9._-])']);
  });
});
