import { createHash, timingSafeEqual } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';
import { Webhook } from 'standardwebhooks';

/** True when the request carries the channel's credentials. Checked before the body is parsed. */
export type Authenticator = (rawBody: Buffer, headers: IncomingHttpHeaders) => boolean;

const digest = (value: string) => createHash('sha256').update(value).digest();

/** Compares hashes, so neither the content nor the length of the token leaks through timing. */
export function constantTimeEqual(a: string, b: string): boolean {
  return timingSafeEqual(digest(a), digest(b));
}

/** A constant-time check against one secret whose hash is computed once. */
export function secretMatcher(secret: string): (presented: string) => boolean {
  const expected = digest(secret);
  return (presented) => timingSafeEqual(digest(presented), expected);
}

/** `Authorization: Bearer <token>` → token, or null. */
export function bearerToken(headers: IncomingHttpHeaders): string | null {
  const match = /^Bearer +(\S+) *$/i.exec(headers.authorization ?? '');
  return match?.[1] ?? null;
}

const header = (headers: IncomingHttpHeaders, name: string) => {
  const value = headers[name];
  return Array.isArray(value) ? value[0] : value;
};

/** Builds the channel's check once (the Standard Webhooks key is decoded at start-up). */
export function createAuthenticator(auth: { token?: string; signingSecret?: string }): Authenticator {
  if ('token' in auth && auth.token !== undefined) {
    const matches = secretMatcher(auth.token);
    return (_raw, headers) => {
      const token = bearerToken(headers);
      return token !== null && matches(token);
    };
  }
  // Standard Webhooks: HMAC-SHA256 over `{id}.{timestamp}.{raw body}`, timestamp within ±5 min,
  // any of the space-separated `v1,<base64>` signatures may match.
  const webhook = new Webhook((auth as { signingSecret?: string }).signingSecret as string);
  return (raw, headers) => {
    const id = header(headers, 'webhook-id');
    const timestamp = header(headers, 'webhook-timestamp');
    const signature = header(headers, 'webhook-signature');
    if (!id || !timestamp || !signature || !/^\d{1,12}$/.test(timestamp.trim())) return false;
    try {
      webhook.verify(raw, { 'webhook-id': id, 'webhook-timestamp': timestamp, 'webhook-signature': signature }, { jsonParse: false });
      return true;
    } catch {
      // WebhookVerificationError (bad/old signature) or a malformed header: both are a 401.
      return false;
    }
  };
}
