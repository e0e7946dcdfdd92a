import { readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { RedisClient } from './connection.js';

/**
 * The Lua scripts, one per file in `scripts/` (like BullMQ's `src/commands/`): a header names
 * every KEYS and ARGV slot; a `-N` suffix in the file name is its number of keys (no suffix:
 * variadic); `--- @include "name"` pulls in a shared function from `scripts/includes/` once.
 * Every script touches the keys of one hash slot only (one conversation, or one index), so
 * it runs on Redis Cluster as it does on one server.
 *
 * Read from disk once per process, on first use (never at import time), and defined on each
 * connection once (ioredis then calls EVALSHA, falling back to EVAL after a restart).
 */
export type ScriptName =
  | 'accept'
  | 'accept-owner'
  | 'begin'
  | 'claim-batch'
  | 'commit-turn'
  | 'customer-merge'
  | 'delivery-begin'
  | 'delivery-end'
  | 'delivery-status'
  | 'handoff-claim'
  | 'handoff-failover'
  | 'handoff-finish'
  | 'handoff-settle'
  | 'handoff-start'
  | 'heartbeat'
  | 'index-forget-if'
  | 'index-move'
  | 'poll'
  | 'timeline-append';

interface ScriptSource {
  name: string;
  lua: string;
  /** Declared number of keys, checked at every call; undefined = variadic. */
  keys: number | undefined;
  command: string;
}

const DIR = fileURLToPath(new URL('./scripts/', import.meta.url));
let sources: Map<string, ScriptSource> | undefined;

function expandIncludes(text: string, file: string): string {
  const seen = new Set<string>();
  return text.replace(/^--- @include "([a-z0-9-]+)"\s*$/gm, (_, name: string) => {
    if (seen.has(name)) throw new Error(`${file}: includes "${name}" twice`);
    seen.add(name);
    return readFileSync(`${DIR}includes/${name}.lua`, 'utf8').trimEnd();
  });
}

function loadSources(): Map<string, ScriptSource> {
  if (sources) return sources;
  const loaded = new Map<string, ScriptSource>();
  for (const file of readdirSync(DIR).filter((f) => f.endsWith('.lua')).sort()) {
    const match = /^([a-z-]+?)(?:-(\d+))?\.lua$/.exec(file);
    if (!match) throw new Error(`unexpected script file name ${file}`);
    const name = match[1] as string;
    if (loaded.has(name)) throw new Error(`two scripts named ${name}`);
    const command = `ho${name.replace(/(^|-)([a-z])/g, (_, __, c: string) => c.toUpperCase())}`;
    loaded.set(name, { name, lua: expandIncludes(readFileSync(`${DIR}${file}`, 'utf8'), file), keys: match[2] ? Number(match[2]) : undefined, command });
  }
  sources = loaded;
  return loaded;
}

type Callable = Record<string, (...args: (string | number)[]) => Promise<unknown>>;
const defined = new WeakSet<object>();
/**
 * The key counts each variadic script is called with, defined once per count up front:
 * ioredis needs a command's key count to route it by KEYS[1], and an auto-pipeline only knows
 * the commands defined before it was created. Kept tight, because ioredis copies every script
 * of a connection into each pipeline it builds (a flush of auto-pipelining included): 106
 * scripts made that copy ~125 µs per flush (bench P8's profile).
 */
export const VARIADIC_KEYS: Readonly<Record<string, readonly [number, number]>> = {
  // conversation, lock ×2, message, inbox, outbox, handoff, sent ledger, send lease, transcript, timeline + up to 4 deliveries
  'commit-turn': [11, 15],
  // record, conversation, outbox + up to 2 deliveries
  'handoff-finish': [3, 5],
  // outbox, record, sent ledger, send lease, timeline, conversation + up to 8 echo ids
  'delivery-end': [6, 14],
  // the states of one record kind (deliveries have four) + a new record's pointer
  'index-move': [3, 5],
};
/** The most echo ids one delivery remembers (a split text of a few parts, one or two ids each). */
export const MAX_ECHO_IDS = 8;

const commandName = (source: ScriptSource, keys: number) => (source.keys !== undefined ? source.command : `${source.command}K${keys}`);

/** Runs one script on `redis`; `keys` must all share one hash slot. */
export type RunScript = <T = unknown>(name: ScriptName, keys: readonly string[], args: readonly (string | number)[]) => Promise<T>;

/** The scripts bound to one connection (defined on it once). */
export function scriptsFor(redis: RedisClient): RunScript {
  const all = loadSources();
  if (!defined.has(redis)) {
    for (const source of all.values()) {
      const range = VARIADIC_KEYS[source.name];
      if (source.keys === undefined && !range) throw new Error(`variadic script ${source.name} has no key range in VARIADIC_KEYS`);
      const counts = source.keys !== undefined ? [source.keys] : Array.from({ length: (range as [number, number])[1] - (range as [number, number])[0] + 1 }, (_, i) => (range as [number, number])[0] + i);
      for (const count of counts) redis.defineCommand(commandName(source, count), { lua: source.lua, numberOfKeys: count });
    }
    defined.add(redis);
  }
  const callable = redis as unknown as Callable;
  return async <T>(name: ScriptName, keys: readonly string[], args: readonly (string | number)[]) => {
    const source = all.get(name);
    if (!source) throw new Error(`no script named ${name}`);
    if (source.keys !== undefined && keys.length !== source.keys) throw new Error(`script ${name} takes ${source.keys} keys, got ${keys.length}`);
    const range = VARIADIC_KEYS[name];
    if (source.keys === undefined && range && (keys.length < range[0] || keys.length > range[1])) {
      throw new Error(`script ${name} called with ${keys.length} keys (${range[0]} to ${range[1]})`);
    }
    // Defined with its number of keys, so ioredis sees the keys as keys and routes the call by
    // KEYS[1]'s slot; the same Lua (one SHA) whatever the count.
    const command = commandName(source, keys.length);
    return (await (callable[command] as Callable[string])(...keys, ...args)) as T;
  };
}

/** Every script's expanded source (for the tests that check each one is single-slot and well-formed). */
export function scriptSources(): ReadonlyMap<string, { lua: string; keys: number | undefined }> {
  return loadSources();
}
