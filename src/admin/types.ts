import type { Queue } from 'bullmq';
import type { Logger } from 'pino';
import type { Dispatcher } from 'undici';
import type { Config } from '../config/index.js';
import type { ConversationActions } from '../conversations/actions.js';
import type { ConversationReader } from '../conversations/types.js';
import type { Identity } from '../identity/resolver.js';
import type { Keys } from '../keys.js';
import type { RedisClient } from '../redis/connection.js';

/** What the admin API needs: reads, the conversation actions, the queues for the dashboard. */
export interface AdminDeps {
  config: Config;
  redis: RedisClient;
  keys: Keys;
  conversations: ConversationReader;
  identity: Pick<Identity, 'lookup' | 'aliasesOf'>;
  actions: ConversationActions;
  /** Every queue, by name (the dashboard). */
  queues: Record<string, Queue>;
  /** For the SuperAgentes bulk operation. */
  http: Dispatcher;
  logger: Logger;
}
