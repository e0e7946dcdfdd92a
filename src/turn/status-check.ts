import type { Logger } from 'pino';
import type { ChannelConfig, ProviderName } from '../config/index.js';
import type { Conversation } from '../conversations/state.js';
import { createHandoffRecords } from '../handoff/records.js';
import { isPhoneKey } from '../identity/key.js';
import type { Identity } from '../identity/resolver.js';
import type { Keys } from '../keys.js';
import { legsOf, type HandoffLeg } from '../providers/registry.js';
import type { HandoffProvider } from '../providers/types.js';
import type { RedisClient } from '../redis/connection.js';

/**
 * Asks the platform whether the human a conversation was handed to is done (SPEC §9.2).
 * Resolves false whenever it cannot tell (check off, asked recently, failure, too slow):
 * the conversation then stays with the human.
 */
export interface StatusChecker {
  isHumanDone(channelName: string, channel: ChannelConfig, phone: string, conversation: Conversation, log: Logger): Promise<boolean>;
}

/** SPEC §9.2: a check that takes longer leaves the conversation with the human. */
export const STATUS_CHECK_TIMEOUT_MS = 2_000;
/** SPEC §9.2: at most once per this long per conversation, across every process. */
export const STATUS_CHECK_EVERY_MS = 30_000;

export function createStatusChecker(deps: { redis: RedisClient; keys: Keys; providers: Record<ProviderName, HandoffProvider>; identity: Pick<Identity, 'alternatePhone'> }): StatusChecker {
  const records = createHandoffRecords(deps.redis, deps.keys);
  return {
    async isHumanDone(channelName, channel, phone, conversation, log) {
      // Only platforms that can tell (not BRPEX), where the check is on — the leg that took the handoff (SPEC §12).
      const askable = (leg: HandoffLeg) => leg.provider !== 'brpex' && leg.statusCheck;
      if (!legsOf(channel.handoff).some(askable)) return false;
      // Only a platform handoff that reached a human can be asked about (a pending one has no
      // chat yet; a person answering from the phone is not on the platform).
      if (conversation.state !== 'human' || conversation.takenBy === 'phone' || !conversation.handoffId) return false;
      // The platform knows the phone the customer wrote from (SPEC §11), in either ninth-digit form.
      const contactPhone = conversation.contactPhone ?? (isPhoneKey(phone) ? phone : null);
      if (contactPhone === null) return false;
      // Claimed before asking, so concurrent messages (any process) ask once.
      const first = await deps.redis.set(deps.keys.statusCheck(channelName, phone), conversation.handoffId, 'PX', STATUS_CHECK_EVERY_MS, 'NX');
      if (first !== 'OK') return false;
      const full = await records.readFull(conversation.handoffId, { channel: channelName, phone });
      const settings = legsOf(channel.handoff)[full?.job?.leg ?? 0];
      if (!settings || !askable(settings)) return false;
      const provider = deps.providers[settings.provider];
      if (!provider.isHumanDone) return false;
      const learnt = { ...(full?.job?.externalIds ?? {}), ...(full?.learnt ?? {}) };
      let timer: NodeJS.Timeout | undefined;
      try {
        // One limit for the whole check (a MeHub listing may take several pages).
        const tooSlow = new Promise<never>((_, reject) => {
          timer = setTimeout(() => reject(new Error(`no answer within ${STATUS_CHECK_TIMEOUT_MS} ms`)), STATUS_CHECK_TIMEOUT_MS);
        });
        const query = { phone: contactPhone, alternatePhone: deps.identity.alternatePhone(channelName, contactPhone), settings, learnt, timeoutMs: STATUS_CHECK_TIMEOUT_MS };
        return await Promise.race([provider.isHumanDone(query), tooSlow]);
      } catch (error) {
        log.warn({ err: error, handoffId: conversation.handoffId }, 'could not ask the platform whether the human is done; the conversation stays with the human');
        return false;
      } finally {
        clearTimeout(timer);
      }
    },
  };
}
