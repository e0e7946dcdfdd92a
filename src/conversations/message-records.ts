import type { MessageRecord } from './types.js';

/** The value of a message record while its message is being processed (synchronous path). */
export const IN_PROGRESS = '~in-progress';

/**
 * The answer stored for a processed messageId. A message first accepted while its channel was
 * asynchronous (`reply` set then) holds a plain marker: its first answer was SPEC §8.1's 202.
 * No stored state of an earlier configuration may turn into a 500 (SPEC §8.4).
 */
export function storedRecord(raw: string, messageId: string): MessageRecord {
  try {
    const parsed = JSON.parse(raw) as unknown;
    if (parsed && typeof parsed === 'object' && typeof (parsed as MessageRecord).status === 'number' && typeof (parsed as MessageRecord).body === 'object') return parsed as MessageRecord;
  } catch {
    // not JSON: the acceptance marker below
  }
  return { status: 202, body: { status: 'accepted', messageId } };
}
