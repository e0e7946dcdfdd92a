import { z } from 'zod';
import { channelSchema } from '../channels/registry.js';
import { providersSchema } from '../providers/registry.js';
import { CHANNEL_KEY, httpUrl, positiveInt, retrySettings, secret, type RetryDefaults } from './fields.js';

/**
 * The configuration file (SPEC §2): its top-level sections. Channel kinds and platforms bring
 * their own keys from their rooms (channels/registry.ts, providers/registry.ts).
 */

export const TOOLZZ_BASE_URL = 'https://kratos.api.toolzz.com.br';
/** SPEC §5 `retry` defaults (handoff tries). */
export const RETRY_DEFAULTS: RetryDefaults = { attempts: 8, baseDelayMs: 2000, maxDelayMs: 300_000 };
/** SPEC §8.2 `delivery` defaults (replies through a channel). */
export const DELIVERY_DEFAULTS: RetryDefaults = { attempts: 5, baseDelayMs: 1000, maxDelayMs: 60_000 };

export const fileSchema = z.strictObject({
  toolzz: z
    .strictObject({
      baseUrl: httpUrl.default(TOOLZZ_BASE_URL),
      token: secret.optional(),
      timeoutMs: positiveInt.default(25_000),
      // Asynchronous channels: a call that certainly never reached Toolzz (connection
      // refused, DNS) is tried again after each of these delays (SPEC §8.3: 3 times, ~10 s).
      unreachableRetryMs: z.array(positiveInt, { error: 'must be a list of delays in ms' }).max(10).default([1000, 3000, 6000]),
    })
    .prefault({}),
  providers: providersSchema,
  retry: z.strictObject(retrySettings(RETRY_DEFAULTS)).prefault({}),
  // Replies and events sent through asynchronous channels (SPEC §8.2).
  delivery: z
    .strictObject({
      ...retrySettings(DELIVERY_DEFAULTS),
      // Per send call to the channel's API (SPEC §8.4).
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
      // Customers whose inbox (and, apart, outbox) one worker process drains at once. A drain
      // mostly waits for Toolzz: messages/s × bot latency must stay under it (300/s with a 1 s
      // bot needs 300).
      channelConcurrency: positiveInt.max(1000).default(500),
    })
    .prefault({}),
  channels: z.record(z.string().regex(CHANNEL_KEY, { error: 'channel keys must match [a-z0-9-]{1,64}' }), channelSchema, {
    error: 'must be a map of channel name to channel settings',
  }),
});

export type FileConfig = z.infer<typeof fileSchema>;
