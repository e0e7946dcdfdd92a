import type * as Crypto from 'node:crypto';
import { afterEach, describe, expect, it, vi } from 'vitest';

// The comparisons must go through node's timingSafeEqual on fixed-length digests: spy on it.
const timing = vi.hoisted(() => ({ calls: [] as [number, number][] }));
vi.mock('node:crypto', async (importOriginal) => {
  const original = await importOriginal<typeof Crypto>();
  return {
    ...original,
    timingSafeEqual: (a: NodeJS.ArrayBufferView, b: NodeJS.ArrayBufferView) => {
      timing.calls.push([a.byteLength, b.byteLength]);
      return original.timingSafeEqual(a, b);
    },
  };
});
const { bearerToken, constantTimeEqual, createAuthenticator, secretMatcher } = await import('../../src/webhook/auth.js');

describe('Standard Webhooks (SPEC §3 conformance vector)', () => {
  const secret = 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw';
  const headers = {
    'webhook-id': 'msg_p5jXN8AQM9LWM0D4loKWxJek',
    'webhook-timestamp': '1614265330',
    'webhook-signature': 'v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=',
  };
  const body = Buffer.from('{"test": 2432232314}');
  afterEach(() => vi.useRealTimers());

  it('accepts the vector at its own time', () => {
    vi.useFakeTimers({ now: 1614265330 * 1000 + 60_000, toFake: ['Date'] });
    expect(createAuthenticator({ signingSecret: secret })(body, headers)).toBe(true);
  });

  it('accepts when any of several signatures matches, rejects when none does', () => {
    vi.useFakeTimers({ now: 1614265330 * 1000, toFake: ['Date'] });
    const auth = createAuthenticator({ signingSecret: secret });
    expect(auth(body, { ...headers, 'webhook-signature': `v1,bm90IGl0 v2,xyz ${headers['webhook-signature']}` })).toBe(true);
    expect(auth(body, { ...headers, 'webhook-signature': 'v1,bm90IGl0' })).toBe(false);
    expect(auth(Buffer.from('{"test": 2432232315}'), headers)).toBe(false);
  });

  it('rejects outside ±5 minutes', () => {
    vi.useFakeTimers({ now: (1614265330 + 301) * 1000, toFake: ['Date'] });
    expect(createAuthenticator({ signingSecret: secret })(body, headers)).toBe(false);
    vi.setSystemTime((1614265330 - 301) * 1000);
    expect(createAuthenticator({ signingSecret: secret })(body, headers)).toBe(false);
  });

  it('rejects a missing or non-numeric timestamp', () => {
    vi.useFakeTimers({ now: 1614265330 * 1000, toFake: ['Date'] });
    const auth = createAuthenticator({ signingSecret: secret });
    expect(auth(body, { ...headers, 'webhook-timestamp': undefined })).toBe(false);
    expect(auth(body, { ...headers, 'webhook-timestamp': '1614265330abc' })).toBe(false);
  });
});

describe('bearer tokens', () => {
  it('parses the header strictly', () => {
    expect(bearerToken({ authorization: 'Bearer abc' })).toBe('abc');
    expect(bearerToken({ authorization: 'bearer abc' })).toBe('abc');
    expect(bearerToken({ authorization: 'Basic abc' })).toBeNull();
    expect(bearerToken({ authorization: 'Bearer a b' })).toBeNull();
    expect(bearerToken({})).toBeNull();
  });
  it('compares in constant time, whatever the lengths: timingSafeEqual on two 32-byte digests, once per comparison', () => {
    timing.calls.length = 0;
    expect(constantTimeEqual('abc', 'abc')).toBe(true);
    expect(constantTimeEqual('abc', 'abcd')).toBe(false);
    expect(constantTimeEqual('', 'a')).toBe(false);
    expect(timing.calls).toEqual([
      [32, 32],
      [32, 32],
      [32, 32],
    ]);
  });

  it('a Bearer channel checks its token through the same constant-time comparison', () => {
    const authenticate = createAuthenticator({ token: 'the-token' });
    timing.calls.length = 0;
    expect(authenticate(Buffer.alloc(0), { authorization: 'Bearer the-token' })).toBe(true);
    expect(authenticate(Buffer.alloc(0), { authorization: 'Bearer the-token-but-longer' })).toBe(false);
    expect(authenticate(Buffer.alloc(0), {})).toBe(false);
    expect(timing.calls).toEqual([
      [32, 32],
      [32, 32],
    ]);
    expect(secretMatcher('x')('x')).toBe(true);
  });
});
