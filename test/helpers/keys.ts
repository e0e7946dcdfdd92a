import { randomBytes } from 'node:crypto';

/** A key prefix no other test uses. */
export function uniquePrefix(label = 't'): string {
  return `test-${label}-${randomBytes(4).toString('hex')}`;
}

/** Deletes the keys this test wrote (its own prefix only; never FLUSHALL). */
export { deletePrefix } from '../../scripts/lib/local-redis.js';
