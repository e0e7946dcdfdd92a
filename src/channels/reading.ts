import { WARN_REASONS, type ChannelMessage, type IgnoreReason, type InboundParse, type StatusReport } from './types.js';

/**
 * Reading a channel's JSON field by field (never `as T` on what came from outside), and
 * counting what a delivery holds that is not a message to process — shared by the adapters.
 */

/** A non-empty string, else undefined. */
export const str = (value: unknown): string | undefined => (typeof value === 'string' && value !== '' ? value : undefined);
export const isObject = (value: unknown): value is Record<string, unknown> => value !== null && typeof value === 'object' && !Array.isArray(value);
/** The object, or an empty one (so a missing level reads as absent fields). */
export const obj = (value: unknown): Record<string, unknown> => (isObject(value) ? value : {});

/**
 * Counts the items of a delivery not turned into messages: every message item by its reason
 * (`webhook_messages_ignored_total`), warn-level reasons also listed with a human reason
 * (`skipped`); items that are not messages at all (statuses, other events) only in `ignored`.
 */
export function createTally() {
  const ignoredBy: Partial<Record<IgnoreReason, number>> = {};
  const skipped: { path: string; reason: string }[] = [];
  let ignored = 0;
  return {
    /** A message item not processed, for `reason` (`why` is what the warn log says). */
    item(path: string, reason: IgnoreReason, why: string = reason): void {
      ignored += 1;
      ignoredBy[reason] = (ignoredBy[reason] ?? 0) + 1;
      if (WARN_REASONS.has(reason)) skipped.push({ path, reason: why });
    },
    /** Items that are not messages (statuses, other events). */
    other(count: number): void {
      ignored += count;
    },
    result(messages: ChannelMessage[], statuses?: StatusReport[]): InboundParse {
      return { ok: true, messages, ignored, skipped, ignoredBy, ...(statuses ? { statuses } : {}) };
    },
  };
}
