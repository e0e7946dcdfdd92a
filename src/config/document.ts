import { parse as parseYaml } from 'yaml';
import { ConfigError, type ConfigProblem } from './problems.js';

/**
 * The configuration document: YAML (so JSON too) whose string values may hold `${NAME}`
 * placeholders, replaced by environment variables after parsing.
 */

export type Env = Readonly<Record<string, string | undefined>>;

/**
 * Replaces `${NAME}` in every string value by the environment variable NAME.
 * A missing variable is recorded as a problem at the path where it was used.
 */
export function interpolate(value: unknown, env: Env, path: string[], problems: ConfigProblem[]): unknown {
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

/** Sets `key` under `path`, creating the objects on the way (a non-object on the way is left for the schema to report). */
export function setPath(root: Record<string, unknown>, path: readonly string[], key: string, value: string): void {
  let node = root;
  for (const part of path) {
    const next = node[part];
    if (next === undefined || next === null) node[part] = {};
    else if (typeof next !== 'object' || Array.isArray(next)) return; // the schema reports the bad type
    node = node[part] as Record<string, unknown>;
  }
  node[key] = value;
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

