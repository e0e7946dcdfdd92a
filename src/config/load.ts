import { readFileSync } from 'node:fs';
import { ASYNCHRONOUS_KINDS, CHANNEL_KINDS, channelRoom, kindsWithKey, PHONE_SIGNAL_KINDS, type ChannelConfig } from '../channels/registry.js';
import { PLATFORMS } from '../providers/registry.js';
import { parseConfigText, interpolate, setPath, type Env } from './document.js';
import { processSettings } from './env.js';
import { isObject, objectAt } from './fields.js';
import { DELIVERY_DEFAULTS, fileSchema, RETRY_DEFAULTS } from './file.js';
import { ConfigError, zodProblems, type ConfigProblem } from './problems.js';
import type { Config } from './types.js';

/** `TOOLZZ_BASE_URL` and each platform's variable override the matching `baseUrl` of the file. */
const BASE_URL_OVERRIDES: readonly (readonly [string, readonly string[]])[] = [['TOOLZZ_BASE_URL', ['toolzz']], ...PLATFORMS.map((room) => [room.baseUrlEnv, ['providers', room.name]] as const)];

function deepFreeze<T>(value: T): T {
  if (value !== null && typeof value === 'object' && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const item of Object.values(value)) deepFreeze(item);
  }
  return value;
}

/** The environment's base URL overrides, applied to the interpolated document before it is validated. */
function applyOverrides(document: Record<string, unknown>, env: Env): void {
  for (const [variable, path] of BASE_URL_OVERRIDES) {
    const override = env[variable];
    if (override !== undefined && override !== '') setPath(document, path, 'baseUrl', override);
  }
  for (const channel of Object.values(objectAt(document.channels))) {
    if (!isObject(channel)) continue;
    channel.kind ??= 'json';
    const override = channelRoom(String(channel.kind))?.baseUrlEnv;
    const value = override ? env[override.variable] : undefined;
    if (override && value !== undefined && value !== '') setPath(channel, [override.block], 'baseUrl', value);
  }
}

/** A `baseUrl` a kind's variable can set is named in its "is required". */
function requiredHint(path: readonly string[]): string | undefined {
  if (path[0] !== 'channels' || path.length !== 4 || path[3] !== 'baseUrl') return undefined;
  for (const room of CHANNEL_KINDS) if ('baseUrlEnv' in room && room.baseUrlEnv.block === path[2]) return ` (or set ${room.baseUrlEnv.variable})`;
  return undefined;
}

/**
 * Checks that span several keys, on the raw document rather than after the schema, so they are
 * reported together with every other problem instead of after those are fixed. Defaults they
 * need are the schema's own constants.
 */
function crossFieldProblems(document: Record<string, unknown>): ConfigProblem[] {
  const problems: ConfigProblem[] = [];
  for (const [section, defaults] of [['retry', RETRY_DEFAULTS], ['delivery', DELIVERY_DEFAULTS]] as const) {
    const block = objectAt(document[section]);
    const base = typeof block.baseDelayMs === 'number' ? block.baseDelayMs : defaults.baseDelayMs;
    const max = typeof block.maxDelayMs === 'number' ? block.maxDelayMs : defaults.maxDelayMs;
    if (base > max) problems.push({ path: `${section}.baseDelayMs`, message: `must not exceed ${section}.maxDelayMs` });
  }
  const toolzz = objectAt(document.toolzz);
  const providers = objectAt(document.providers);
  const channels = objectAt(document.channels);
  for (const [name, channel] of Object.entries(channels)) {
    if (!isObject(channel)) continue;
    problems.push(...(channelRoom(typeof channel.kind === 'string' ? channel.kind : 'json')?.crossCheck?.(name, channel, { channels, asynchronousKinds: ASYNCHRONOUS_KINDS }) ?? []));
    if (objectAt(channel.bot).token === undefined && toolzz.token === undefined) {
      problems.push({ path: `channels.${name}.bot.token`, message: 'required when toolzz.token is not set' });
    }
    const handoff = objectAt(channel.handoff);
    const room = PLATFORMS.find((r) => r.name === handoff.provider);
    if (room) problems.push(...room.crossCheck(name, handoff, objectAt(providers[room.name])));
    problems.push(...chainProblems(name, channel, handoff, providers));
  }
  return problems;
}


/**
 * SPEC §12's keys of a channel's handoff: each `fallback` leg checked like the block itself
 * (its problems named at its own path), and `firstResponse` only where it can work — a signal
 * that a human answered must exist (the handoff is MeHub's, whose MESSAGE_SENT tells, or the
 * channel is a WhatsApp one, whose own number tells), `remind` and `bot` need a channel that
 * can reach the customer later, `remind` a message, `fallback` a leg to fall back to. (A
 * fallback leg without a signal gets no watchdog: handoff/first-response.ts.)
 */
function chainProblems(name: string, channel: Record<string, unknown>, handoff: Record<string, unknown>, providers: Record<string, unknown>): ConfigProblem[] {
  const problems: ConfigProblem[] = [];
  const fallback = Array.isArray(handoff.fallback) ? handoff.fallback : [];
  fallback.forEach((entry, i) => {
    const leg = objectAt(entry);
    const room = PLATFORMS.find((r) => r.name === leg.provider);
    if (!room) return;
    const at = `channels.${name}.handoff.fallback.${i}.`;
    for (const problem of room.crossCheck(name, leg, objectAt(providers[room.name]))) problems.push({ ...problem, path: problem.path.replace(`channels.${name}.handoff.`, at) });
  });
  const rule = handoff.firstResponse;
  if (!isObject(rule)) return problems;
  const at = `channels.${name}.handoff.firstResponse`;
  const kind = typeof channel.kind === 'string' ? channel.kind : 'json';
  const asynchronous = kind !== 'json' || channel.reply !== undefined;
  if (!PHONE_SIGNAL_KINDS.includes(kind) && handoff.provider !== 'mehub') {
    problems.push({ path: at, message: `needs a way to see a human answer: a MeHub handoff (its MESSAGE_SENT events), or a channel of kind ${PHONE_SIGNAL_KINDS.join(', ')} (a person answering from the phone)` });
  }
  if ((rule.action === 'remind' || rule.action === 'bot') && !asynchronous) {
    problems.push({ path: `${at}.action`, message: `${rule.action} only on asynchronous channels (a synchronous channel has no way to reach the customer later)` });
  }
  if (rule.action === 'remind' && rule.message === undefined) problems.push({ path: `${at}.message`, message: 'is required with action remind' });
  if (rule.action === 'fallback' && fallback.length === 0) problems.push({ path: `${at}.action`, message: 'fallback needs handoff.fallback: a leg to hand the customer to' });
  if (rule.message !== undefined && !asynchronous) problems.push({ path: `${at}.message`, message: 'only on asynchronous channels (a synchronous channel has no way to reach the customer later)' });
  return problems;
}

/**
 * Validates an already-parsed configuration document against the environment.
 * Throws {@link ConfigError} naming every bad path.
 */
export function parseConfig(document: unknown, env: Env, source = '(inline)'): Config {
  const problems: ConfigProblem[] = [];
  if (!isObject(document)) throw new ConfigError(source, [{ path: '', message: 'must be a mapping (YAML or JSON object)' }]);
  const resolved = interpolate(document, env, [], problems) as Record<string, unknown>;
  applyOverrides(resolved, env);
  const settings = processSettings(env, problems);

  // A missing ${VAR} is already reported at its path; the empty value left there is not news.
  const unresolved = new Set(problems.map((p) => p.path));
  const parsed = fileSchema.safeParse(resolved);
  if (!parsed.success) problems.push(...zodProblems(parsed.error, { kindsWithKey, requiredHint }).filter((p) => !unresolved.has(p.path)));
  problems.push(...crossFieldProblems(resolved));
  if (problems.length > 0 || !parsed.success) throw new ConfigError(source, problems);

  const channels: Record<string, ChannelConfig> = {};
  for (const [name, channel] of Object.entries(parsed.data.channels)) {
    const room = channelRoom(channel.kind);
    channels[name] = (room?.complete ? room.complete(channel) : channel) as ChannelConfig;
  }
  return deepFreeze({ ...parsed.data, channels, ...settings, configPath: source });
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

/** The Toolzz token a channel uses: its own `bot.token`, else `toolzz.token`. */
export function toolzzTokenFor(config: Config, channel: ChannelConfig): string {
  const token = channel.bot.token ?? config.toolzz.token;
  if (!token) throw new Error('unreachable: validated by the config schema');
  return token;
}
