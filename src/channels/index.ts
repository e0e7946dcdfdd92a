import type { Dispatcher } from 'undici';
import type { Config } from '../config/index.js';
import { configure } from './registry.js';
import type { ChannelContext, ConfiguredChannel } from './types.js';

/** The adapter and sender of every configured channel, built once. */
export function createChannels(config: Config, http: Dispatcher): ReadonlyMap<string, ConfiguredChannel> {
  const whatsappNumbers = new Map<string, { channel: string; appSecret: string }>();
  for (const [name, channel] of Object.entries(config.channels)) {
    if (channel.kind === 'whatsapp-cloud') whatsappNumbers.set(channel.whatsapp.phoneNumberId, { channel: name, appSecret: channel.whatsapp.appSecret });
  }
  const ctx: ChannelContext = { http, deliveryTimeoutMs: config.delivery.timeoutMs, whatsappNumbers };
  return new Map(Object.entries(config.channels).map(([name, channel]) => [name, configure(name, channel, ctx)]));
}
