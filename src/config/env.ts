import type { Env } from './document.js';
import type { ConfigProblem } from './problems.js';

/** The process environment's settings (SPEC §2, §10): port, log level, admin token, where Redis is. */

export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'];

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
export function redisTargetFromEnv(env: Env, problems: ConfigProblem[]): RedisTarget {
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


/** PORT, LOG_LEVEL, ADMIN_TOKEN and the Redis target; each problem named by its variable. */
export function processSettings(env: Env, problems: ConfigProblem[]): { port: number; logLevel: string; adminToken: string | undefined; redisTarget: RedisTarget } {
  const port = Number(env.PORT ?? '3000');
  if (!Number.isInteger(port) || port < 0 || port > 65535) problems.push({ path: 'PORT', message: 'must be a port number (0-65535)' });
  const logLevel = env.LOG_LEVEL ?? 'info';
  if (!LOG_LEVELS.includes(logLevel)) problems.push({ path: 'LOG_LEVEL', message: `must be one of ${LOG_LEVELS.join(', ')}` });
  const redisTarget = redisTargetFromEnv(env, problems);
  const adminToken = env.ADMIN_TOKEN === '' ? undefined : env.ADMIN_TOKEN;
  return { port, logLevel, adminToken, redisTarget };
}
