import type { Outgoing, StoredDelivery } from '../delivery/records.js';
import { splitText, textsOf } from './text.js';
import type { CustomerEvent, HandoffEndEvent, OutgoingPart } from './types.js';

/**
 * What the customer of a text channel (WhatsApp Cloud API, Evolution, Z-API) sees: the bot's
 * replies (the one that came with a handoff too), the handoff's `failedMessage` when it fails
 * for good, and nothing when a handoff is done (the attendant speaks next).
 */
export function renderText(event: CustomerEvent | HandoffEndEvent): Outgoing[] {
  if (event.type === 'message.replied' || event.type === 'handoff.queued') return textsOf(event.reply);
  if (event.type === 'handoff.failed') return textsOf(event.failedMessage);
  return [];
}

/** A text over 4096 characters goes as several messages, in order. */
export function splitTextDelivery(delivery: StoredDelivery): OutgoingPart[] {
  if (delivery.outgoing.kind !== 'text') throw new Error(`a text channel cannot send a ${delivery.outgoing.event.type} event`);
  return splitText(delivery.outgoing.text).map((text) => ({ body: { text } }));
}
