import { z } from 'zod';
import { codePointLength } from '../text.js';

/** A validated message of the §3 body. */
export interface InboundMessage {
  messageId: string;
  phone: string;
  name: string | null;
  text: string;
  externalIds: { mehubChatToken?: string; superagentesConversationId?: string };
}

/** Characters a phone may be written with: `+55 (11) 99999-0000`. */
const PHONE_CHARS = /^\+?[\d\s().-]+$/;

/**
 * `contact.phone` → digits only (DDI + DDD + number, 10–15 digits), or null if it is not a
 * phone number. The result identifies the customer within the channel.
 */
export function normalizePhone(raw: string): string | null {
  if (!PHONE_CHARS.test(raw)) return null;
  const digits = raw.replace(/\D/g, '');
  return digits.length >= 10 && digits.length <= 15 ? digits : null;
}

/** A string of `min`..`max` Unicode characters (code points, as the contract counts). */
const chars = (min: number, max: number) =>
  z
    .string({ error: 'must be a string' })
    .refine(
      (value) => {
        const length = codePointLength(value);
        return length >= min && length <= max;
      },
      { error: min === max ? `must be ${min} characters` : `must be ${min} to ${max} characters` },
    )
    // A lone surrogate (\ud800) is not a character; in a Redis key it would become U+FFFD and
    // collide with other ids.
    .refine((value) => value.isWellFormed(), { error: 'must be valid Unicode text (no lone surrogates)' });

/** Hints that end up in a platform URL path: a conservative alphabet, so no path tricks. */
const externalId = z
  .string({ error: 'must be a string' })
  .regex(/^[A-Za-z0-9_-]{1,128}$/, { error: 'must be 1 to 128 letters, digits, _ or -' });

/** SPEC §3 body. Unknown fields are ignored (channels add their own). */
export const inboundSchema = z.object(
  {
    messageId: chars(1, 256),
    contact: z.object(
      {
        phone: z
          .string({ error: 'must be a string' })
          .transform((raw, ctx) => {
            const phone = normalizePhone(raw);
            if (phone === null) {
              ctx.addIssue({ code: 'custom', message: 'must be a phone number with 10 to 15 digits (DDI + DDD + number)' });
              return z.NEVER;
            }
            return phone;
          }),
        name: chars(0, 256).nullish(),
      },
      { error: 'must be an object' },
    ),
    text: chars(1, 4096),
    timestamp: z.iso.datetime({ offset: true, error: 'must be an ISO 8601 date-time' }).optional(),
    externalIds: z
      .object(
        {
          mehubChatToken: externalId.optional(),
          superagentesConversationId: externalId.optional(),
        },
        { error: 'must be an object' },
      )
      .optional(),
  },
  { error: 'body must be a JSON object' },
);

export interface ValidationIssue {
  path: string;
  message: string;
}

/** A zod error as the 400 body's `issues` (a missing field says `is required`). */
export function issuesOf(error: z.ZodError): ValidationIssue[] {
  return error.issues.map((issue) => ({
    path: issue.path.map(String).join('.'),
    message: issue.code === 'invalid_type' && issue.input === undefined ? 'is required' : issue.message,
  }));
}

/** Validates a parsed body; returns the message or the list of issues (path + message). */
export function parseInbound(body: unknown): { ok: true; message: InboundMessage } | { ok: false; issues: ValidationIssue[] } {
  const parsed = inboundSchema.safeParse(body);
  if (!parsed.success) return { ok: false, issues: issuesOf(parsed.error) };
  const { messageId, contact, text, externalIds } = parsed.data;
  const ids: InboundMessage['externalIds'] = {};
  if (externalIds?.mehubChatToken) ids.mehubChatToken = externalIds.mehubChatToken;
  if (externalIds?.superagentesConversationId) ids.superagentesConversationId = externalIds.superagentesConversationId;
  return {
    ok: true,
    message: { messageId, phone: contact.phone, name: contact.name ? contact.name : null, text, externalIds: ids },
  };
}
