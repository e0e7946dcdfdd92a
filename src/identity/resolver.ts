import type { Logger } from 'pino';
import type { Config } from '../config/index.js';
import { fieldMap } from '../conversations/state.js';
import type { Keys } from '../keys.js';
import type { RedisClient } from '../redis/connection.js';
import { guarded } from '../redis/errors.js';
import { scriptsFor } from '../redis/scripts.js';
import { ninthDigitKey, otherNinthDigitForm } from './brazil.js';
import { isBsuid, isPhoneKey, lidAddress } from './key.js';

/** Alias links live this long, refreshed each time the alias is seen (SPEC §11: at least 90 days). */
export const ALIAS_TTL_MS = 90 * 24 * 60 * 60 * 1000;

/** The addresses one message carries (channels/types.ts `ChannelMessage`). */
export interface Addresses {
  phone: string | null;
  lid?: string;
  bsuid?: string;
}

/**
 * One customer, many addresses (SPEC §11). Every guarantee is per customer, so every message,
 * echo and admin request is first brought to its customer key:
 * - a phone: its digits, the 13-digit form for a Brazilian mobile (pure, no lookup);
 * - a LID or a BSUID seen with a phone: linked to the phone's customer (a link in a slot of
 *   its own, 90 days, refreshed on use) — the first time, what the alias's own conversation
 *   had is carried over (scripts/customer-merge-2.lua);
 * - a LID or a BSUID alone: the customer it was linked to, else a customer of its own.
 * Resolved before the customer's scripts run, so those stay in one slot on Redis Cluster.
 */
export interface Identity {
  /** The customer a message's addresses belong to. */
  resolve(channel: string, from: Addresses): Promise<string>;
  /** The customer an address given to the admin API names (a phone in either form, `lid:<digits>`, a BSUID). */
  lookup(channel: string, address: string): Promise<string | null>;
  /** Every address of a customer (admin `aliases`): both forms of its phone, its LIDs and BSUIDs. */
  aliasesOf(channel: string, customer: string): Promise<string[]>;
  /** The customer key of a phone's digits. */
  phoneKey(channel: string, digits: string): string;
  /** The other ninth-digit form of a phone, for a platform lookup that found nothing (null when none, or the rule is off). */
  alternatePhone(channel: string, digits: string): string | null;
}

export function createIdentity(deps: { config: Config; redis: RedisClient; keys: Keys; logger?: Logger }): Identity {
  const { config, redis, keys } = deps;
  const run = scriptsFor(redis);
  const idleTtlMs = config.conversations.ttlHours * 3_600_000;
  const ninthDigitOn = (channel: string) => config.channels[channel]?.identity.brazilNinthDigit !== false;

  const phoneKey = (channel: string, digits: string) => (ninthDigitOn(channel) ? ninthDigitKey(digits) : digits);

  /** Links `aliases` to `customer`; those that were new carry their former conversation over. */
  async function link(channel: string, customer: string, aliases: readonly string[]): Promise<void> {
    const previous = await guarded(Promise.all(aliases.map((alias) => redis.set(keys.alias(channel, alias), customer, 'PX', ALIAS_TTL_MS, 'GET'))));
    const fresh = aliases.filter((_, i) => previous[i] !== customer);
    if (fresh.length === 0) return;
    // A LID-only customer's key is the LID itself: its conversation is where it was.
    const owners = [...new Set(fresh.map((alias) => previous[aliases.indexOf(alias)] ?? alias))].filter((owner) => owner !== customer);
    const sources = await guarded(Promise.all(owners.map((owner) => redis.hgetall(keys.conversation(channel, owner)))));
    const source = sources.map(fieldMap).find((fields) => Object.keys(fields).length > 0) ?? {};
    const carried = await guarded(
      run<number>('customer-merge', [keys.conversation(channel, customer), keys.aliases(channel, customer)], [
        JSON.stringify({ aliases: fresh, aliasTtlMs: ALIAS_TTL_MS, source, conversationTtlMs: idleTtlMs }),
      ]),
    );
    deps.logger?.info({ channel, customer, aliases: fresh, carried: carried === 1 }, 'a customer address was linked to their phone');
  }

  async function aliasOwner(channel: string, alias: string): Promise<string | null> {
    return guarded(redis.getex(keys.alias(channel, alias), 'PX', ALIAS_TTL_MS));
  }

  return {
    phoneKey,

    alternatePhone(channel, digits) {
      return ninthDigitOn(channel) ? otherNinthDigitForm(digits) : null;
    },

    async resolve(channel, from) {
      const aliases = [from.lid !== undefined ? lidAddress(from.lid) : null, from.bsuid ?? null].filter((a): a is string => a !== null);
      if (from.phone !== null) {
        const customer = phoneKey(channel, from.phone);
        if (aliases.length > 0) await link(channel, customer, aliases);
        return customer;
      }
      const alias = aliases[0];
      if (alias === undefined) throw new Error('a message without any address of its customer');
      return (await aliasOwner(channel, alias)) ?? alias;
    },

    async lookup(channel, address) {
      if (/^\d{10,15}$/.test(address)) return phoneKey(channel, address);
      if (/^lid:\d{1,32}$/.test(address) || isBsuid(address)) return (await aliasOwner(channel, address)) ?? address;
      return null;
    },

    async aliasesOf(channel, customer) {
      const linked = await guarded(redis.smembers(keys.aliases(channel, customer)));
      const phones = isPhoneKey(customer) ? [customer, ...(ninthDigitOn(channel) ? [otherNinthDigitForm(customer)] : [])].filter((p): p is string => p !== null) : [customer];
      return [...new Set([...phones, ...linked.sort()])];
    },
  };
}
