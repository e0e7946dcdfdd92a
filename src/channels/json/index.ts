import { objectAt } from '../../config/fields.js';
import { asyncDefaults } from '../common-keys.js';
import type { ChannelRoom } from '../types.js';
import { jsonChannel } from './config.js';
import { createJsonAdapter } from './inbound.js';
import { createCallbackSender } from './sender.js';

const ASYNC_ONLY = ['botFailure', 'unsupported', 'debounceMs'] as const;

/** `json` (SPEC §3, §8): the §3 body; synchronous unless `reply` is set. */
export const json = {
  kind: 'json' as const,
  schema: jsonChannel,
  ownKeys: ['reply', 'auth'],
  isAsynchronous: (channel) => channel.reply !== undefined,
  complete(channel) {
    if (!channel.reply) return channel;
    const defaults = asyncDefaults();
    return { ...channel, botFailure: channel.botFailure ?? defaults.botFailure, unsupported: channel.unsupported ?? defaults.unsupported, debounceMs: channel.debounceMs ?? defaults.debounceMs };
  },
  crossCheck(name, channel, context) {
    if (channel.reply !== undefined) return [];
    const problems = ASYNC_ONLY.filter((key) => channel[key] !== undefined).map((key) => ({ path: `channels.${name}.${key}`, message: `only on asynchronous channels (${context.asynchronousKinds})` }));
    if (objectAt(channel.handoff).failedMessage !== undefined) {
      problems.push({ path: `channels.${name}.handoff.failedMessage`, message: 'only on asynchronous channels (a synchronous channel has no way to reach the customer later)' });
    }
    return problems;
  },
  configure: (name, channel, ctx) => ({
    name,
    adapter: createJsonAdapter(name, channel),
    sender: channel.reply ? createCallbackSender(name, channel, { http: ctx.http, timeoutMs: ctx.deliveryTimeoutMs }) : undefined,
  }),
} satisfies ChannelRoom<typeof jsonChannel>;
