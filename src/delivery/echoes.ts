import { createHash } from 'node:crypto';

/**
 * Our own sends are never a person (SPEC §8.4). A `fromMe` echo is recognised by the id a send
 * call returned; when the call has not returned (in flight) or never will (a timeout, a lost
 * connection, a 5xx that may have been applied), by what was sent: the text, for that
 * customer. This is the text's key in the customer's sent ledger (keys.sentLedger).
 *
 * WhatsApp trims what a person or an API sends and may rewrite line endings, so the text is
 * normalised before it is hashed; 128 bits of SHA-256 keep a ledger field short.
 */
export function textFingerprint(text: string): string {
  const normalised = text.normalize('NFC').replace(/\r\n?/g, '\n').trim();
  return createHash('sha256').update(normalised).digest('base64url').slice(0, 22);
}

/** How long an echo of ours may still arrive without a known id: as long as the ids are remembered. */
export const ECHO_TTL_MS = 24 * 60 * 60 * 1000;
