import { z } from 'zod';
import { customerText, secret, template } from '../config/fields.js';

/** Keys of every channel's `handoff` block, whatever the platform (SPEC §2, §5, §9.2). */
export const handoffKeys = {
  /** The channel's own token for the platform. */
  token: secret.optional(),
  /** The context note template (SPEC §5). */
  note: template.optional(),
  /**
   * How many lines of the conversation so far the context note gets as `{transcript}` (SPEC
   * §13; 0 turns it off, at most 50: what is kept).
   */
  transcript: z.number({ error: 'must be a whole number from 0 to 50' }).int({ error: 'must be a whole number from 0 to 50' }).min(0, { error: 'must be a whole number from 0 to 50' }).max(50, { error: 'must be a whole number from 0 to 50' }).default(10),
  /** Asynchronous channels: sent to the customer when their handoff fails for good (SPEC §9.2). */
  failedMessage: customerText.optional(),
};

/** MeHub and SuperAgentes can be asked whether the human is done (SPEC §9.2). */
export const statusCheckKey = z.boolean({ error: 'must be true or false' }).default(true);

/** `providers.<name>.token` or the channel's `handoff.token`: one of the two is required. */
export function tokenRequired(platform: string, channel: string, handoff: Record<string, unknown>, shared: Record<string, unknown>) {
  if (handoff.token !== undefined || shared.token !== undefined) return [];
  return [{ path: `channels.${channel}.handoff.token`, message: `required when providers.${platform}.token is not set` }];
}
