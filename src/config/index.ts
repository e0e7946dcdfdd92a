/**
 * The configuration: the YAML file (SPEC §2) plus the process environment, parsed once at the
 * entrypoint with {@link loadConfig} and frozen; never read at import time.
 */
export { loadConfig, parseConfig, toolzzTokenFor } from './load.js';
export { parseConfigText } from './document.js';
export { ConfigError } from './problems.js';
export { isAsyncChannel } from '../channels/registry.js';
export { DEFAULT_MESSAGES } from '../channels/common-keys.js';
export type * from './types.js';
