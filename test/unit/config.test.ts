import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig, parseConfig } from '../../src/config.js';
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
      ['TOOLZZ_TOKEN', 'MEHUB_TOKEN', 'SUPERAGENTES_TOKEN', 'VENDAS_WEBHOOK_TOKEN', 'BRPEX_CHANNEL_TOKEN', 'APP_TOKEN'].map((k) => [k, 'x']),
    );
    const config = loadConfig({ ...env, SITE_SECRET: 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw' }, 'handoff.config.example.yaml');
    expect(Object.keys(config.channels)).toEqual(['vendas-whatsapp', 'suporte-site', 'app-premium']);
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
