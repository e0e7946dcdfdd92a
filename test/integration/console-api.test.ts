import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { metaEnvelope, metaText } from '../../src/sandbox/whatsapp.js';
import { indexMember } from '../../src/timeline/store.js';
import { asyncChannels, BRPEX_TOKEN, defaultChannels, message, startHarness, WA_PHONE_NUMBER_ID, type Harness } from '../helpers/harness.js';
import { waitUntil } from '../helpers/wait.js';

/**
 * The admin JSON the operator console reads (SPEC §14): the conversations list (filters,
 * search by any address or a part of the name, newest activity first, paging from the
 * conversation index), a conversation's timeline, the last 24 hours' figures — and the
 * console's page and its guards (401, CSP, cross-site changes refused).
 */
const ADMIN = 'console-api-admin-token';
let h: Harness;
let seq = 0;
const newPhone = () => `55419${String(Date.now() % 100000).padStart(5, '0')}${String(++seq).padStart(3, '0')}`;

beforeAll(async () => {
  h = await startHarness({
    worker: true,
    adminToken: ADMIN,
    file: { delivery: { timeoutMs: 1_000, baseDelayMs: 20, maxDelayMs: 100 } },
    channels: (replyUrl) => ({ ...asyncChannels(replyUrl), ...defaultChannels(), brpex: { auth: { token: 'console-brpex-token' }, bot: { id: '6b3c9f0e-1c2d-4e5f-8a9b-0c1d2e3f4a5b' }, handoff: { provider: 'brpex', subdomain: 'minhaempresa', token: BRPEX_TOKEN } } }),
  });
});
afterAll(async () => {
  await h.close();
});
beforeEach(() => {
  for (const emulator of h.emulators()) emulator.reset();
});

const admin = async (path: string, init: RequestInit = {}) => {
  const res = await fetch(`${h.url}${path}`, { ...init, headers: { authorization: `Bearer ${ADMIN}`, ...(init.headers as Record<string, string>) } });
  const text = await res.text();
  return { status: res.status, headers: res.headers, body: (text.startsWith('{') ? JSON.parse(text) : text) as Record<string, unknown> & string };
};
type Row = { channel: string; phone: string; name: string | null; state: string; takenBy: string | null; lastActivityAt: string; handoff: { state: string } | null; aliases: string[] };
const list = async (query: string) => {
  const res = await admin(`/admin/conversations?${query}`);
  expect(res.status).toBe(200);
  return res.body as unknown as { conversations: Row[]; next: string | null };
};
const says = (channel: string, phone: string, text: string, name = 'Cliente Teste') => h.send(channel, message(phone, text, { contact: { phone, name } }));

describe('the conversations list', () => {
  it('lists each state, newest activity first, with name, takenBy and lastActivityAt; filters by channel and state', async () => {
    const bot = newPhone();
    const human = newPhone();
    const failed = newPhone();
    await says('vendas', bot, 'oi', 'Beatriz Bot');
    h.mehub.addChat({ phone: human, name: 'Hugo', lastMessage: 'oi' });
    const handed = await says('vendas', human, 'quero um atendente', 'Hugo Humano');
    await h.settled(handed.body.handoffId as string);
    const broken = await says('app', failed, 'quero um atendente', 'Fabi Falha'); // no SuperAgentes conversation: fails for good
    await h.settled(broken.body.handoffId as string);

    const all = await list('limit=200');
    const mine = all.conversations.filter((c) => [bot, human, failed].includes(c.phone));
    expect(mine.map((c) => [c.phone, c.state, c.takenBy, c.name])).toEqual([
      [failed, 'handoff_failed', null, 'Fabi Falha'],
      [human, 'human', 'handoff', 'Hugo Humano'],
      [bot, 'bot', null, 'Beatriz Bot'],
    ]);
    const times = all.conversations.map((c) => Date.parse(c.lastActivityAt));
    expect([...times].sort((a, b) => b - a)).toEqual(times);
    expect(mine[1]).toMatchObject({ channel: 'vendas', handoff: { state: 'done' }, aliases: expect.any(Array), botId: expect.any(String) });

    expect((await list('state=human&limit=200')).conversations.every((c) => c.state === 'human')).toBe(true);
    expect((await list('state=human&limit=200')).conversations.map((c) => c.phone)).toContain(human);
    expect((await list('state=handoff_failed&limit=200')).conversations.map((c) => c.phone)).toEqual(expect.arrayContaining([failed]));
    expect((await list('state=bot&channel=app&limit=200')).conversations.map((c) => c.phone)).not.toContain(bot);
    expect((await list('channel=app&limit=200')).conversations.every((c) => c.channel === 'app')).toBe(true);
    expect((await list('state=human&takenBy=phone&limit=200')).conversations.map((c) => c.phone)).not.toContain(human);
  });

  it('search: any address of the customer (the other ninth-digit form), a part of the name, a part of the phone', async () => {
    const phone = `551198${String(Date.now() % 10_000_000).padStart(7, '0')}`;
    await says('vendas', phone, 'oi', 'Joana D’Arc Pereira');
    const withoutNinth = phone.slice(0, 4) + phone.slice(5);
    expect((await list(`q=${withoutNinth}`)).conversations.map((c) => c.phone)).toEqual([phone]);
    expect((await list(`q=${encodeURIComponent('+55 (11) ' + phone.slice(4, 9) + '-' + phone.slice(9))}`)).conversations.map((c) => c.phone)).toEqual([phone]);
    expect((await list('q=d%E2%80%99arc%20pe&limit=200')).conversations.map((c) => c.phone)).toContain(phone);
    expect((await list(`q=${phone.slice(-6)}&limit=200`)).conversations.map((c) => c.phone)).toContain(phone);
    expect((await list('q=ninguem-com-este-nome&limit=200')).conversations).toEqual([]);
  });

  it('pages with a cursor: every conversation once, in order, then next null', async () => {
    const phones = [newPhone(), newPhone(), newPhone(), newPhone(), newPhone()];
    for (const phone of phones) await says('brpex', phone, 'oi', `Página ${phone}`);
    const seen: string[] = [];
    let cursor: string | null = null;
    let pages = 0;
    do {
      const page = await list(`channel=brpex&limit=2${cursor ? `&cursor=${cursor}` : ''}`);
      expect(page.conversations.length).toBeLessThanOrEqual(2);
      seen.push(...page.conversations.map((c) => c.phone));
      cursor = page.next;
      pages += 1;
    } while (cursor && pages < 20);
    const mine = seen.filter((p) => phones.includes(p));
    expect(mine).toEqual([...phones].reverse());
    expect(new Set(seen).size).toBe(seen.length);
    expect(cursor).toBeNull();
  });

  it('a busy conversation moves up the list at most every 5 s (one ZADD, not one per message); it shows its own last activity', async () => {
    const phone = newPhone();
    const member = indexMember({ channel: 'brpex', phone });
    await says('brpex', phone, 'oi');
    const first = Number(await h.redis.zscore(h.keys.conversationIndex(), member));
    expect(first).toBeGreaterThan(0);
    await says('brpex', phone, 'de novo');
    await says('brpex', phone, 'e mais uma');
    expect(Number(await h.redis.zscore(h.keys.conversationIndex(), member))).toBe(first);
    const updatedAt = Number(await h.redis.hget(h.keys.conversation('brpex', phone), 'updatedAt'));
    const [row] = (await list(`q=${phone}`)).conversations;
    expect(Date.parse(row?.lastActivityAt ?? '')).toBe(updatedAt);
    expect(updatedAt).toBeGreaterThanOrEqual(first);
  });

  it('a conversation that expired leaves the index when a listing meets it; bad parameters are 400', async () => {
    const phone = newPhone();
    await says('brpex', phone, 'oi');
    expect(await h.redis.zscore(h.keys.conversationIndex(), indexMember({ channel: 'brpex', phone }))).not.toBeNull();
    await h.redis.del(h.keys.conversation('brpex', phone));
    expect((await list('channel=brpex&limit=200')).conversations.map((c) => c.phone)).not.toContain(phone);
    expect(await h.redis.zscore(h.keys.conversationIndex(), indexMember({ channel: 'brpex', phone }))).toBeNull();
    for (const bad of ['state=weird', 'channel=nope', 'cursor=!!!', 'limit=0', 'takenBy=robot']) expect((await admin(`/admin/conversations?${bad}`)).status).toBe(400);
  });
});

describe('a conversation’s timeline', () => {
  it('messages, replies, each handoff try with its error, the release; newest last', async () => {
    const phone = newPhone();
    h.brpex.inject('dispatch', { status: 503, body: { message: 'instável' } });
    await says('brpex', phone, 'oi');
    const handed = await says('brpex', phone, 'quero um atendente');
    await h.settled(handed.body.handoffId as string);
    const release = await admin(`/admin/conversations/brpex/${phone}/release`, { method: 'POST' });
    expect(release.status).toBe(200);
    const { events } = (await admin(`/admin/conversations/brpex/${phone}/timeline`)).body as unknown as { events: Record<string, unknown>[] };
    expect(events.map((e) => [e.type, e.state ?? null])).toEqual([
      ['message', null],
      ['reply', null],
      ['message', null],
      ['reply', null],
      ['handoff', 'pending'],
      ['handoff', 'pending'],
      ['handoff', 'done'],
      ['release', null],
    ]);
    expect(events[0]).toMatchObject({ text: 'oi', at: expect.any(String) });
    expect(events[5]).toMatchObject({ provider: 'brpex', attempts: 1, lastError: expect.stringContaining('503') });
    expect(events[6]).toMatchObject({ provider: 'brpex', attempts: 2, lastError: null });
    expect(events[7]).toMatchObject({ cause: 'admin' });
    const times = events.map((e) => Date.parse(e.at as string));
    expect([...times].sort((a, b) => a - b)).toEqual(times);
    // Any address names the customer; the timeline lives as long as the conversation.
    const [timelineTtl, conversationTtl] = await Promise.all([h.redis.pttl(h.keys.timeline('brpex', phone)), h.redis.pttl(h.keys.conversation('brpex', phone))]);
    expect(Math.abs(timelineTtl - conversationTtl)).toBeLessThan(2_000);
  });

  it('deliveries with the statuses Meta reports, on an asynchronous channel', async () => {
    const phone = newPhone();
    h.whatsapp.webhookUrl = `${h.url}/webhooks/wa`;
    h.whatsapp.failLater(131026);
    await h.sendMeta('wa', metaEnvelope({ phoneNumberId: WA_PHONE_NUMBER_ID, messages: [metaText(phone, 'oi')], contacts: [{ wa_id: phone, name: 'Wagner' }] }));
    await h.whatsapp.waitForStatusDeliveries(1);
    const events = await waitUntil(async () => ((await admin(`/admin/conversations/wa/${phone}/timeline`)).body as unknown as { events: Record<string, unknown>[] }).events, {
      what: 'the failed status on the timeline',
      done: (e) => e.some((x) => x.type === 'delivery' && x.status === 'failed'),
    });
    expect(events.filter((e) => e.type === 'delivery').map((e) => [e.state, e.status ?? null])).toEqual([
      ['sent', null],
      ['failed', 'failed'],
    ]);
    expect(events.find((e) => e.status === 'failed')).toMatchObject({ lastError: expect.stringContaining('131026') });
  });
});

describe('figures and the page', () => {
  it('figures of the last 24 h: handoffs by outcome, failed deliveries, first response p50/p90', async () => {
    const before = (await admin('/admin/figures')).body as unknown as { handoffs: { done: number; failed: number }; deliveriesFailed: number; since: string; firstResponseSeconds: { p50: number | null; p90: number | null } };
    const phone = newPhone();
    const handed = await says('brpex', phone, 'quero um atendente');
    await h.settled(handed.body.handoffId as string);
    // A reply Meta accepts, then reports failed.
    const customer = newPhone();
    h.whatsapp.webhookUrl = `${h.url}/webhooks/wa`;
    h.whatsapp.failLater(131026);
    await h.sendMeta('wa', metaEnvelope({ phoneNumberId: WA_PHONE_NUMBER_ID, messages: [metaText(customer, 'oi')], contacts: [{ wa_id: customer, name: 'Wagner' }] }));
    await h.whatsapp.waitForStatusDeliveries(1);
    // Times to a first human response (as the watchdog records them): two today, one older than 24 h.
    await h.redis.zadd(h.keys.firstResponses(), Date.now(), '30.000:a', Date.now(), '90.000:b', Date.now() - 25 * 3_600_000, '999.000:old');
    const after = await waitUntil(async () => (await admin('/admin/figures')).body as unknown as typeof before, {
      what: 'the failed delivery counted',
      done: (f) => f.deliveriesFailed === before.deliveriesFailed + 1,
    });
    expect(after.handoffs).toEqual({ ...before.handoffs, done: before.handoffs.done + 1 });
    expect(Date.now() - Date.parse(after.since)).toBeGreaterThanOrEqual(24 * 3_600_000 - 5_000);
    expect(before.firstResponseSeconds).toEqual({ p50: null, p90: null });
    expect(after.firstResponseSeconds).toEqual({ p50: 30, p90: 90 });
  });

  it('401 without the token, for the API and the page; the page with the token, under a strict CSP', async () => {
    for (const path of ['/admin/conversations', '/admin/figures', '/admin/conversations/brpex/5541999990000/timeline']) expect((await fetch(`${h.url}${path}`)).status).toBe(401);
    const anonymous = await fetch(`${h.url}/admin/console`);
    expect(anonymous.status).toBe(401);
    expect(anonymous.headers.get('www-authenticate')).toBeNull(); // the page asks for the token itself
    expect(await anonymous.text()).toContain('id="login"');
    const basic = await fetch(`${h.url}/admin/console`, { headers: { authorization: `Basic ${Buffer.from(`ops:${ADMIN}`).toString('base64')}` } });
    expect(basic.status).toBe(200);
    const csp = basic.headers.get('content-security-policy') ?? '';
    expect(csp).toContain("script-src 'self'");
    expect(csp).toContain("default-src 'none'");
    expect(csp).not.toContain('unsafe');
    expect(await basic.text()).toContain('/admin/console/assets/console.js');
    const js = await fetch(`${h.url}/admin/console/assets/console.js`);
    expect(js.headers.get('content-type')).toMatch(/^text\/javascript/);
    expect((await fetch(`${h.url}/admin/console/assets/secrets.json`)).status).toBe(404);
  });

  it('a change made with Basic credentials from another site is refused; from the page’s own origin it goes', async () => {
    const phone = newPhone();
    await says('brpex', phone, 'oi');
    const basic = `Basic ${Buffer.from(`ops:${ADMIN}`).toString('base64')}`;
    const path = `${h.url}/admin/conversations/brpex/${phone}/release`;
    expect((await fetch(path, { method: 'POST', headers: { authorization: basic, origin: 'https://evil.example' } })).status).toBe(403);
    expect((await fetch(path, { method: 'POST', headers: { authorization: basic, 'sec-fetch-site': 'cross-site' } })).status).toBe(403);
    expect((await fetch(path, { method: 'POST', headers: { authorization: basic, origin: h.url } })).status).toBe(200);
    expect((await fetch(path, { method: 'POST', headers: { authorization: `Bearer ${ADMIN}`, origin: 'https://evil.example' } })).status).toBe(200);
  });
});
