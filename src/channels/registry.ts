import { z } from 'zod';
import { evolution } from './evolution/index.js';
import { json } from './json/index.js';
import type { JsonChannel, JsonReplyChannel } from './json/config.js';
import type { ChannelContext, ConfiguredChannel, ChannelRoom } from './types.js';
import { whatsappCloud } from './whatsapp-cloud/index.js';
import { zapi } from './zapi/index.js';

/**
 * Every channel kind: one room each (its folder), listed once here. The channel schema, the
 * base URL overrides, the checks and the adapters are derived from this list.
 */
export const CHANNEL_KINDS = [json, whatsappCloud, evolution, zapi] as const;

type Room = (typeof CHANNEL_KINDS)[number];
export type ChannelKind = Room['kind'];

/** One `channels.<name>` block: one of the kinds, by `kind`. */
export const channelSchema = z.discriminatedUnion('kind', CHANNEL_KINDS.map((room) => room.schema) as unknown as [Room['schema'], ...Room['schema'][]], {
  error: `kind must be one of ${CHANNEL_KINDS.map((room) => room.kind).join(', ')}`,
});
export type ChannelConfig = z.infer<typeof channelSchema>;
/** A channel whose replies go through the channel's API (SPEC §8): every kind but plain `json`. */
export type AsyncChannelConfig = Exclude<ChannelConfig, JsonChannel> | JsonReplyChannel;

const roomOf = (kind: string): ChannelRoom => CHANNEL_KINDS.find((room) => room.kind === kind) as unknown as ChannelRoom;

/** True for channels whose replies go through the channel's API (SPEC §8). */
export function isAsyncChannel(channel: ChannelConfig): channel is AsyncChannelConfig {
  return roomOf(channel.kind).isAsynchronous(channel);
}

/** The kinds that have `key` among their own keys, as a phrase: "json, evolution or zapi". */
export function kindsWithKey(key: string): string | undefined {
  const kinds = CHANNEL_KINDS.filter((room) => (room.ownKeys as readonly string[]).includes(key)).map((room) => room.kind);
  if (kinds.length === 0) return undefined;
  return kinds.length === 1 ? kinds[0] : `${kinds.slice(0, -1).join(', ')} or ${kinds.at(-1)}`;
}

/** "kind whatsapp-cloud, evolution, zapi, or json with reply": the kinds whose channels are asynchronous. */
export const ASYNCHRONOUS_KINDS = `kind ${CHANNEL_KINDS.filter((room) => room.kind !== 'json').map((room) => room.kind).join(', ')}, or json with reply`;

/** Kinds whose own number's messages show a person answering (SPEC §9.3): a first-response signal whatever the platform (SPEC §12). */
export const PHONE_SIGNAL_KINDS: readonly string[] = CHANNEL_KINDS.filter((room) => (room as ChannelRoom).phoneSignal === true).map((room) => room.kind);

/** True for kinds with WhatsApp's 24-hour customer service window (SPEC §13): their customers' last message time is kept. */
export function hasCustomerWindow(channel: ChannelConfig): boolean {
  return roomOf(channel.kind).customerWindow === true;
}

/** A channel's configured (adapter and sender), built by its kind's room. */
export function configure(name: string, channel: ChannelConfig, ctx: ChannelContext): ConfiguredChannel {
  return roomOf(channel.kind).configure(name, channel, ctx);
}

/** The room of a kind (config loading: checks, overrides, completion). */
export function channelRoom(kind: string): ChannelRoom | undefined {
  return CHANNEL_KINDS.find((room) => room.kind === kind);
}
