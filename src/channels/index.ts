import type { Dispatcher } from 'undici';
import type { ChannelConfig, Config } from '../config.js';
import { createEvolutionAdapter } from './evolution/inbound.js';
import { createEvolutionSender } from './evolution/sender.js';
import { createJsonAdapter } from './json/inbound.js';
import { createCallbackSender } from './json/sender.js';
import type { ChannelKit } from './types.js';
import { createWhatsappAdapter, type WhatsappNumber } from './whatsapp-cloud/inbound.js';
import { createWhatsappSender } from './whatsapp-cloud/sender.js';
import { createZapiAdapter } from './zapi/inbound.js';
import { createZapiSender } from './zapi/sender.js';

export interface ChannelContext {
  config: Config;
  http: Dispatcher;
  /** Every `whatsapp-cloud` channel by its phone number id (WhatsApp deliveries are routed by it). */
  whatsappNumbers: ReadonlyMap<string, WhatsappNumber>;
}

/** One factory per channel kind: its inbound adapter and its sender. A new kind is one entry here. */
const KINDS: { [K in ChannelConfig['kind']]: (name: string, channel: Extract<ChannelConfig, { kind: K }>, ctx: ChannelContext) => ChannelKit } = {
  json: (name, channel, ctx) => ({
    name,
    adapter: createJsonAdapter(name, channel),
    sender: channel.reply ? createCallbackSender(name, channel, { http: ctx.http, timeoutMs: ctx.config.delivery.timeoutMs }) : undefined,
  }),
  'whatsapp-cloud': (name, channel, ctx) => ({
    name,
    adapter: createWhatsappAdapter(name, channel, ctx.whatsappNumbers),
    sender: createWhatsappSender(channel, { http: ctx.http, timeoutMs: ctx.config.delivery.timeoutMs }),
  }),
  evolution: (name, channel, ctx) => ({
    name,
    adapter: createEvolutionAdapter(name, channel),
    sender: createEvolutionSender(channel, { http: ctx.http, timeoutMs: ctx.config.delivery.timeoutMs }),
  }),
  zapi: (name, channel, ctx) => ({
    name,
    adapter: createZapiAdapter(name, channel),
    sender: createZapiSender(channel, { http: ctx.http, timeoutMs: ctx.config.delivery.timeoutMs }),
  }),
};

/** The adapter and sender of every configured channel, built once. */
export function createChannels(config: Config, http: Dispatcher): ReadonlyMap<string, ChannelKit> {
  const whatsappNumbers = new Map<string, WhatsappNumber>();
  for (const [name, channel] of Object.entries(config.channels)) {
    if (channel.kind === 'whatsapp-cloud') whatsappNumbers.set(channel.whatsapp.phoneNumberId, { channel: name, appSecret: channel.whatsapp.appSecret });
  }
  const ctx: ChannelContext = { config, http, whatsappNumbers };
  const kits = new Map<string, ChannelKit>();
  for (const [name, channel] of Object.entries(config.channels)) {
    const build = KINDS[channel.kind] as (name: string, channel: ChannelConfig, ctx: ChannelContext) => ChannelKit;
    kits.set(name, build(name, channel, ctx));
  }
  return kits;
}
