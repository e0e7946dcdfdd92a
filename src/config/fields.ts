import { Webhook } from 'standardwebhooks';
import { z } from 'zod';
import { NOTE_PLACEHOLDERS } from '../handoff/note.js';

/**
 * Field schemas shared by every room of the configuration (the top-level sections, each
 * channel kind's and each platform's own keys). Leaf module: imports nothing of the service
 * but the note placeholders.
 */

/** Channel keys become a URL segment and a Redis key part. */
export const CHANNEL_KEY = /^[a-z0-9-]{1,64}$/;
export const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export const secret = z.string({ error: 'must be a string' }).min(1, { error: 'must not be empty' });
export const positiveInt = z.number({ error: 'must be a number' }).int({ error: 'must be an integer' }).positive({ error: 'must be > 0' });
export const bool = z.boolean({ error: 'must be true or false' });

export const httpUrl = z.string({ error: 'must be a string' }).refine(
  (value) => {
    try {
      // `{subdomain}` is a template placeholder, not part of a real host name.
      const url = new URL(value.replace('{subdomain}', 'x'));
      return url.protocol === 'http:' || url.protocol === 'https:';
    } catch {
      return false;
    }
  },
  { error: 'must be an http(s) URL' },
);

/** A note or title template: only the known placeholders (SPEC §5). */
export const template = z.string({ error: 'must be a string' }).superRefine((value, ctx) => {
  for (const match of value.matchAll(/\{([^{}]*)\}/g)) {
    const name = match[1] ?? '';
    if (!(NOTE_PLACEHOLDERS as readonly string[]).includes(name)) {
      ctx.addIssue({ code: 'custom', message: `unknown placeholder {${name}} (known: ${NOTE_PLACEHOLDERS.map((p) => `{${p}}`).join(', ')})` });
    }
  }
});

/** A Standard Webhooks secret: `whsec_` and a base64 key the library accepts. */
export const standardWebhooksSecret = secret
  .refine((value) => value.startsWith('whsec_'), { error: 'must start with whsec_' })
  .refine(
    (value) => {
      try {
        new Webhook(value);
        return true;
      } catch {
        return false;
      }
    },
    { error: 'must be whsec_ followed by a non-empty base64 key' },
  );

/** A text sent to the customer (a WhatsApp message holds up to 4096 characters; longer ones are split). */
export const customerText = z.string({ error: 'must be a string' }).min(1, { error: 'must not be empty' }).max(4096, { error: 'must be at most 4096 characters' });

/** A secret that becomes a URL path segment. */
export const urlSecret = (what: string) => secret.refine((value) => !/[\s/?#]/.test(value), { error: `must be a ${what} without spaces, /, ? or #` });

/** `auth: {token}` of the channels that can only send a token. */
export const tokenAuth = z.strictObject({ token: secret }, { error: 'must be an object' });

/** A back-off policy (SPEC §5); `defaults` are written once, where the section is defined. */
export interface RetryDefaults {
  attempts: number;
  baseDelayMs: number;
  maxDelayMs: number;
}
export const retrySettings = (defaults: RetryDefaults) => ({
  attempts: positiveInt.max(100, { error: 'must be at most 100' }).default(defaults.attempts),
  baseDelayMs: positiveInt.default(defaults.baseDelayMs),
  maxDelayMs: positiveInt.default(defaults.maxDelayMs),
});

/** A platform's shared settings (`providers.<name>`): its base URL and request time limit. */
export const platformSettings = (baseUrl: string) => ({ baseUrl: httpUrl.default(baseUrl), timeoutMs: positiveInt.default(10_000) });

/** What any key of the raw document is, read defensively (checks that span keys run on it). */
export const isObject = (value: unknown): value is Record<string, unknown> => value !== null && typeof value === 'object' && !Array.isArray(value);
export const objectAt = (value: unknown): Record<string, unknown> => (isObject(value) ? value : {});
