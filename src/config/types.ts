import type { FileConfig } from './file.js';
import type { RedisTarget } from './env.js';

export type { FileConfig } from './file.js';
export type { RedisTarget } from './env.js';
export type { ChannelConfig, AsyncChannelConfig, ChannelKind } from '../channels/registry.js';
export type { HandoffSettings, ProviderName } from '../providers/registry.js';
export type { Env } from './document.js';
export type { ConfigProblem } from './problems.js';

export type DeliveryConfig = FileConfig['delivery'];
export type RetryConfig = FileConfig['retry'];

/** The whole configuration: the file (SPEC §2) and the process environment, parsed once and frozen. */
export interface Config extends FileConfig {
  readonly port: number;
  readonly redisTarget: RedisTarget;
  readonly adminToken: string | undefined;
  readonly logLevel: string;
  readonly configPath: string;
}
