import type { Logger } from 'pino';
import type { ChannelConfig } from '../config.js';
import type { Conversation } from '../conversations/state.js';

/**
 * Asks the platform whether the human a conversation was handed to is done (SPEC §9.2).
 * Resolves false whenever it cannot tell (check off, asked recently, failure, too slow):
 * the conversation then stays with the human.
 */
export interface StatusChecker {
  isHumanDone(channelName: string, channel: ChannelConfig, phone: string, conversation: Conversation, log: Logger): Promise<boolean>;
}
