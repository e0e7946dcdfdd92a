import { once } from 'node:events';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { deliverEvolutionWebhook, evolutionUpsert } from '../../src/sandbox/evolution.js';
import { deliverZapiWebhook, zapiReceived } from '../../src/sandbox/zapi.js';
import { metaEdit, metaEnvelope, metaRevoke, metaStatus, metaText } from '../../src/sandbox/whatsapp.js';
import { createWorkerService } from '../../workers/index.js';
import {
  asyncChannels,
  BOT_ID,
  BRPEX_TOKEN,
  EVO_TOKEN,
  MEHUB_DESTINATION,
  message,
  startHarness,
  WA_APP_SECRET,
  WA_PHONE_NUMBER_ID,
  ZAPI_INSTANCE_ID,
  ZAPI_TOKEN,
  type Harness,
} from '../helpers/harness.js';
import { sample, scrape } from '../helpers/metrics.js';
import { waitUntil } from '../helpers/wait.js';

/**
 * SPEC §8.4, the edges: whatever the timing, the right party answers. Each case scripts the
 * other party at the bad moment — a send applied but answered after the timeout, an echo
 * before or after the retry, a person on the phone while the bot thinks, a failure reported
 * later by webhook, a job that is lost — and checks who answered, and how often.
 */
const ADMIN = 'edges-admin-token';
const OTHER_NUMBER = '200000000000002';
const TWIN_NUMBER = '300000000000003';
const WA_SETTINGS = { accessToken: 'wa-access-token-0123456789', verifyToken: 'wa-verify-token' };
const MEHUB_SECRET = 'edges-mehub-secret';
let h: Harness;
let seq = 0;
const newPhone = () => `55629${String(Date.now() % 100000).padStart(5, '0')}${String(++seq).padStart(3, '0')}`;

beforeAll(async () => {
  h = await startHarness({
    worker: true,
    adminToken: ADMIN,
    file: {
      // Sends time out fast; a Retry-After of 2 s is honoured (not capped below it).
      delivery: { timeoutMs: 400, attempts: 4, baseDelayMs: 100, maxDelayMs: 3_000 },
      // The reconciler runs every 250 ms and looks at what is older than that.
      worker: { reconcileIntervalMs: 250 },
      providers: { mehub: { webhookSecret: MEHUB_SECRET } },
    },
    channels: (replyUrl) => {
      const base = asyncChannels(replyUrl);
      return asyncChannels(replyUrl, {
        'evo-burst': { ...(base.evo as Record<string, unknown>), debounceMs: 1_000 },
        'zapi-reply': { ...(base.zapi as Record<string, unknown>), botFailure: { action: 'reply' } },
        vendas: { auth: { token: 'edges-vendas-token' }, bot: { id: BOT_ID }, handoff: { provider: 'mehub', channel: MEHUB_DESTINATION } },
        // Another tenant's number (another app secret), and a second number of the same app.
        'wa-other': { ...(base.wa as Record<string, unknown>), whatsapp: { ...WA_SETTINGS, phoneNumberId: OTHER_NUMBER, appSecret: 'another-tenant-app-secret' } },
        'wa-twin': { ...(base.wa as Record<string, unknown>), whatsapp: { ...WA_SETTINGS, phoneNumberId: TWIN_NUMBER, appSecret: WA_APP_SECRET } },
        'slow-brpex': { auth: { token: 'edges-brpex-token' }, bot: { id: BOT_ID }, humanTtlMinutes: 0.05, handoff: { provider: 'brpex', subdomain: 'minhaempresa', token: BRPEX_TOKEN } },
      });
    },
  });
});
afterAll(async () => {
  await h.close();
});
beforeEach(() => {
  for (const emulator of h.emulators()) emulator.reset();
  h.evolution.webhookUrl = `${h.url}/webhooks/evo`;
  h.zapi.webhookUrl = `${h.url}/webhooks/zapi-reply?token=${ZAPI_TOKEN}`;
  h.mehub.setWebhook(undefined);
  h.whatsapp.webhookUrl = `${h.url}/webhooks/wa`;
});

const evo = (channel: string, phone: string, text: string) =>
  deliverEvolutionWebhook(`${h.url}/webhooks/${channel}`, evolutionUpsert({ instance: 'loja', phone, pushName: 'Bia', text }), { authorization: `Bearer ${EVO_TOKEN}` });
const admin = async (path: string) => {
  const res = await fetch(`${h.url}${path}`, { headers: { authorization: `Bearer ${ADMIN}` } });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
};
type Delivery = { id: string; phone: string; state: string; attempts: number; lastError: string | null; status: string | null };
const deliveriesOf = async (phone: string, state?: string): Promise<Delivery[]> =>
  ((await admin(`/admin/deliveries${state ? `?state=${state}` : ''}`)).body.deliveries as Delivery[]).filter((d) => d.phone === phone);
const deliveryOf = (phone: string, state: string) =>
  waitUntil(() => deliveriesOf(phone, state), { what: `a ${state} delivery for ${phone}`, done: (list) => list.length > 0 }).then((list) => list[0] as Delivery);
const inboxEmpty = (channel: string, phone: string) => waitUntil(() => h.redis.llen(h.keys.inbox(channel, phone)), { what: `the ${channel} inbox of ${phone} to drain`, done: (n) => n === 0 });
const botCallsFor = (text: string) => h.toolzz.calls('send-message', (r) => (r.body as { message?: string }).message?.includes(text) ?? false).length;
const sentTo = (phone: string) => h.evolution.sent().filter((s) => s.number === phone);

describe('our own sends are never a person (SPEC §8.4)', () => {
  it('a send applied but answered after the timeout: its echo is ours, the reply is not sent again, the bot keeps the conversation', async () => {
    const phone = newPhone();
    const before = sample(await scrape(h.url), 'handoff_releases_total', { cause: 'phone' });
    // Evolution applies the send (and posts its echo) at once, but answers after the 400 ms timeout.
    h.evolution.inject('sendText', { applyThenDelayMs: 1_500 });
    await evo('evo', phone, 'oi, tem pronta entrega?');
    await h.evolution.waitForEchoes(1, (e) => e.status === 200);
    const delivery = await deliveryOf(phone, 'sent');
    expect(delivery.attempts).toBe(2); // the try that timed out, and the one that found its echo and did not send
    expect(sentTo(phone)).toHaveLength(1);
    expect((await h.conversation('evo', phone))?.state).toBe('bot');
    expect(sample(await scrape(h.url), 'handoff_releases_total', { cause: 'phone' })).toBe(before);
    await evo('evo', phone, 'e o frete?');
    await h.evolution.waitForSent(2, (s) => s.number === phone);
    expect(botCallsFor('e o frete?')).toBe(1);
  });

  it('a split reply whose second part times out after it was applied: each part reaches the customer once', async () => {
    const phone = newPhone();
    const long = `${'palavra '.repeat(700)}fim`; // 5,603 characters: two parts
    h.toolzz.script = () => ({ content: long, transferToAgent: false, targetBotId: null });
    h.evolution.inject('sendText', {}, { applyThenDelayMs: 1_500 });
    await evo('evo', phone, 'me conta tudo');
    await deliveryOf(phone, 'sent');
    const texts = sentTo(phone).map((s) => s.text);
    expect(texts).toHaveLength(2);
    expect(texts.join(' ')).toBe(long);
    expect((await h.conversation('evo', phone))?.state).toBe('bot');
  });

  it('the echo of a timed-out try that comes after the retry was sent is still ours', async () => {
    const phone = newPhone();
    // Applied at once, echoed 1.2 s later, answered after the timeout; the retry is sent (the
    // customer gets it twice: its echo came too late to know) — and neither echo is a person.
    h.evolution.echo = 'late';
    h.evolution.echoDelayMs = 1_200;
    h.evolution.inject('sendText', { applyThenDelayMs: 1_500 });
    await evo('evo', phone, 'oi');
    await h.evolution.waitForEchoes(2, (e) => e.status === 200);
    expect(sentTo(phone)).toHaveLength(2);
    expect((await h.conversation('evo', phone))?.state).toBe('bot');
    await evo('evo', phone, 'ainda aí?');
    await h.evolution.waitForSent(3, (s) => s.number === phone);
  });
});

describe('a person on the phone wins (SPEC §8.4)', () => {
  it('answering while the bot call is in flight: the bot reply is cancelled, never sent', async () => {
    const phone = newPhone();
    h.toolzz.inject('send-message', { delayMs: 800 });
    const asked = once(h.toolzz, 'arrival');
    await evo('evo', phone, 'quero saber do meu pedido');
    await asked;
    await h.evolution.phoneSend(phone, 'Oi! Aqui é a Júlia, já vejo seu pedido.');
    // Decided at acceptance, not behind the message the bot is answering.
    expect(await h.conversation('evo', phone)).toMatchObject({ state: 'human', takenBy: 'phone' });
    const cancelled = await deliveryOf(phone, 'cancelled');
    expect(cancelled.lastError).toContain('a person answered from the phone');
    await inboxEmpty('evo', phone);
    expect(sentTo(phone)).toEqual([]);
    expect(await h.conversation('evo', phone)).toMatchObject({ state: 'human', takenBy: 'phone' });
  });

  it('held messages (debounce) are not sent to the bot once a person answered', async () => {
    const phone = newPhone();
    h.evolution.webhookUrl = `${h.url}/webhooks/evo-burst`;
    await evo('evo-burst', phone, 'oi');
    await evo('evo-burst', phone, 'tudo bem?');
    await h.evolution.phoneSend(phone, 'Oi, é a Júlia!');
    await inboxEmpty('evo-burst', phone);
    expect(botCallsFor('tudo bem?')).toBe(0);
    expect(sentTo(phone)).toEqual([]);
  });

  it('a reply waiting for its retry is cancelled when a person answers meanwhile', async () => {
    const phone = newPhone();
    h.evolution.inject('sendText', { status: 429, headers: { 'retry-after': '2' } });
    await evo('evo', phone, 'oi');
    await h.evolution.waitFor((r) => r.route === 'sendText' && r.status === 429);
    await h.evolution.phoneSend(phone, 'deixa comigo');
    const cancelled = await deliveryOf(phone, 'cancelled');
    expect(cancelled.attempts).toBe(1);
    expect(sentTo(phone)).toEqual([]);
    expect(sample(await scrape(h.url), 'handoff_deliveries_total', { channel: 'evo', outcome: 'cancelled' })).toBeGreaterThanOrEqual(1);
  });
});

describe('back to the bot is stored first (SPEC §8.4)', () => {
  it('synchronous: the platform says the human is done, Toolzz fails (502); the redelivery goes to the bot', async () => {
    const phone = newPhone();
    h.mehub.addChat({ phone });
    const handoffId = await h.handOff('vendas', phone);
    expect(await h.settled(handoffId)).toMatchObject({ state: 'done' });
    await h.mehub.closeChat(h.mehub.openChat(phone, MEHUB_DESTINATION)?.token as string);
    h.toolzz.inject('send-message', { status: 500 });
    const body = message(phone, 'voltei');
    expect((await h.send('vendas', body)).status).toBe(502);
    expect((await h.conversation('vendas', phone))?.state).toBe('bot');
    const again = await h.send('vendas', body);
    expect(again.body).toMatchObject({ status: 'replied' });
  });

  it('asynchronous: the platform says the human is done, Toolzz fails (botFailure reply); the next message goes to the bot', async () => {
    const phone = newPhone();
    const url = `${h.url}/webhooks/zapi-reply?token=${ZAPI_TOKEN}`;
    const conversation = h.superagentes.addConversation({ channelExternalId: phone });
    await deliverZapiWebhook(url, zapiReceived({ instanceId: ZAPI_INSTANCE_ID, phone, text: 'quero falar com um atendente' }));
    await waitUntil(() => h.conversation('zapi-reply', phone), { what: 'the handoff to be done', done: (c) => c?.state === 'human' });
    h.superagentes.resolveConversation(conversation.id);
    h.toolzz.inject('send-message', { status: 500 });
    await deliverZapiWebhook(url, zapiReceived({ instanceId: ZAPI_INSTANCE_ID, phone, text: 'resolvido, obrigado' }));
    await h.zapi.waitForSent(2, (s) => s.phone === phone); // the handoff's reply, then botFailure's message
    expect((await h.conversation('zapi-reply', phone))?.state).toBe('bot');
    await deliverZapiWebhook(url, zapiReceived({ instanceId: ZAPI_INSTANCE_ID, phone, text: 'mais uma coisa' }));
    await h.zapi.waitForSent(3, (s) => s.phone === phone);
    expect(botCallsFor('mais uma coisa')).toBe(1);
  });
});

describe('every accepted message is processed (SPEC §8.4)', () => {
  it('scheduling fails after the message was stored: the webhook still answers 200 and the reconciler processes it', async () => {
    const phone = newPhone();
    const kick = h.core.lanes.scheduleInboxDrain.bind(h.core.lanes);
    h.core.lanes.scheduleInboxDrain = () => Promise.reject(new Error('BullMQ add failed'));
    try {
      expect(await evo('evo', phone, 'oi')).toEqual({ status: 200, body: { status: 'accepted', accepted: 1 } });
    } finally {
      h.core.lanes.scheduleInboxDrain = kick;
    }
    await h.logs.waitFor('could not schedule an accepted message');
    await h.evolution.waitForSent(1, (s) => s.number === phone);
    await h.logs.waitFor('accepted messages had no live drain job');
  });

  it('the drain job is lost (a failover, an eviction): the reconciler finds the message', async () => {
    const s = await startHarness({ channels: (replyUrl) => asyncChannels(replyUrl), file: { worker: { reconcileIntervalMs: 250 } } });
    try {
      const phone = newPhone();
      s.evolution.webhookUrl = undefined;
      const res = await deliverEvolutionWebhook(`${s.url}/webhooks/evo`, evolutionUpsert({ instance: 'loja', phone, text: 'oi' }), { authorization: `Bearer ${EVO_TOKEN}` });
      expect(res.body).toEqual({ status: 'accepted', accepted: 1 });
      await s.core.queues.inbox.obliterate({ force: true });
      const worker = createWorkerService(s.core);
      try {
        await worker.ready();
        await s.evolution.waitForSent(1);
        expect(s.toolzz.calls('send-message')).toHaveLength(1);
      } finally {
        await worker.close();
      }
    } finally {
      await s.close();
    }
  });
});

describe('the human period starts when the human gets the customer (SPEC §8.4)', () => {
  it('a handoff that needed longer than humanTtlMinutes is still with the human once done', async () => {
    const phone = newPhone();
    // Three tries time out (1 s each) before BRPEX answers: ~3 s, the channel's whole period.
    h.brpex.inject('dispatch', { delayMs: 1_200 }, { delayMs: 1_200 }, { delayMs: 1_200 });
    const handoffId = await h.handOff('slow-brpex', phone);
    const record = await h.settled(handoffId);
    expect(record).toMatchObject({ state: 'done', attempts: 4 });
    const conversation = await h.conversation('slow-brpex', phone);
    expect((conversation?.humanUntil ?? 0) - Date.parse(record.finishedAt ?? '')).toBe(3_000);
    expect((await h.send('slow-brpex', message(phone, 'oi?'))).body.status).toBe('human_active');
  });
});

describe('failures reported later count (SPEC §8.4)', () => {
  it('a failed status for a reply already sent marks its delivery failed, with Meta’s code and title; other statuses are shown', async () => {
    const phone = newPhone();
    const before = sample(await scrape(h.url), 'handoff_deliveries_total', { channel: 'wa', outcome: 'failed' });
    await h.sendMeta('wa', metaEnvelope({ phoneNumberId: WA_PHONE_NUMBER_ID, messages: [metaText(phone, 'oi')] }));
    const [sent] = await h.whatsapp.waitForSent(1, (s) => s.to === phone);
    const delivery = await deliveryOf(phone, 'sent');
    await h.sendMeta('wa', metaEnvelope({ phoneNumberId: WA_PHONE_NUMBER_ID, statuses: [metaStatus(sent?.id as string, phone, 'delivered')] }));
    await waitUntil(() => admin(`/admin/deliveries/${delivery.id}`), { what: 'the delivered status', done: (r) => r.body.status === 'delivered' });
    const res = await h.sendMeta('wa', metaEnvelope({ phoneNumberId: WA_PHONE_NUMBER_ID, statuses: [metaStatus(sent?.id as string, phone, 'failed')] }));
    expect(res.status).toBe(200);
    const failed = await deliveryOf(phone, 'failed');
    expect(failed).toMatchObject({ id: delivery.id, state: 'failed', status: 'failed', lastError: expect.stringMatching(/131026.*Message undeliverable/) });
    expect(sample(await scrape(h.url), 'handoff_deliveries_total', { channel: 'wa', outcome: 'failed' })).toBe(before + 1);
    await h.logs.waitFor('the channel reports a reply it had accepted as failed');
    // A late `read` does not undo the failure.
    await h.sendMeta('wa', metaEnvelope({ phoneNumberId: WA_PHONE_NUMBER_ID, statuses: [metaStatus(sent?.id as string, phone, 'read')] }));
    expect((await admin(`/admin/deliveries/${delivery.id}`)).body).toMatchObject({ state: 'failed', status: 'failed' });
  });
});

describe('a stale "done" never ends a newer episode (SPEC §8.4)', () => {
  const chatEnded = (phone: string, timestamp: string, token = 'abcdef123456') =>
    fetch(`${h.url}/platform-webhooks/mehub`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-webhook-secret': MEHUB_SECRET },
      body: JSON.stringify({
        event: 'CHAT_ENDED',
        data: { chat: { token, status: 'finished', channel: { token: MEHUB_DESTINATION, name: 'Vendas', type: 'whatsapp' }, is_open: false }, contact: { phone, name: 'João' } },
        timestamp,
        attempt: 1,
        webhook_id: `edges-${Math.random().toString(36).slice(2)}`,
      }),
    });

  it('a CHAT_ENDED sent before the current handoff was done is ignored; a newer one releases', async () => {
    const phone = newPhone();
    h.mehub.addChat({ phone });
    const handoffId = await h.handOff('vendas', phone);
    const record = await h.settled(handoffId);
    const doneAt = Date.parse(record.finishedAt ?? '');
    expect((await chatEnded(phone, new Date(doneAt - 60_000).toISOString())).status).toBe(200);
    expect((await h.conversation('vendas', phone))?.state).toBe('human');
    await h.logs.waitFor('is about an earlier episode');
    expect((await chatEnded(phone, new Date().toISOString())).status).toBe(200);
    expect((await h.conversation('vendas', phone))?.state).toBe('bot');
  });

  it('a CHAT_ENDED about another chat than the one the handoff went to is ignored', async () => {
    const phone = newPhone();
    const source = h.mehub.addChat({ phone });
    // The transfer is applied but answered late: the next try finds the chat on the destination channel and learns its token.
    h.mehub.inject('transfer', { applyThenDelayMs: 1_500 });
    const handoffId = await h.handOff('vendas', phone);
    expect(await h.settled(handoffId)).toMatchObject({ state: 'done' });
    const destination = h.mehub.openChat(phone, MEHUB_DESTINATION)?.token as string;
    expect(destination).not.toBe(source.token);
    expect((await chatEnded(phone, new Date().toISOString(), source.token)).status).toBe(200);
    expect((await h.conversation('vendas', phone))?.state).toBe('human');
    expect((await chatEnded(phone, new Date().toISOString(), destination)).status).toBe(200);
    expect((await h.conversation('vendas', phone))?.state).toBe('bot');
  });
});

describe('smaller edges (SPEC §8.4)', () => {
  it('an unauthenticated body that is not UTF-8 gets 401, not 400', async () => {
    const res = await h.send('evo', undefined, { raw: Buffer.from([0x7b, 0xff, 0xfe, 0x7d]), auth: false });
    expect(res).toMatchObject({ status: 401, body: { error: 'unauthorized' } });
  });

  it('a message accepted while the channel had `reply`, redelivered after `reply` was removed: its first answer, not a 500', async () => {
    const phone = newPhone();
    const body = message(phone, 'oi');
    const before = await startHarness({ channels: (replyUrl) => asyncChannels(replyUrl) });
    try {
      expect((await before.send('site-async', body)).body).toEqual({ status: 'accepted', messageId: body.messageId });
      const after = await startHarness({
        channels: (replyUrl) => {
          const channels = asyncChannels(replyUrl);
          const { reply: _reply, ...synchronous } = channels['site-async'] as Record<string, unknown>;
          return { ...channels, 'site-async': synchronous };
        },
        file: { redis: { keyPrefix: before.prefix } },
      });
      try {
        expect(await after.send('site-async', body)).toMatchObject({ status: 202, body: { status: 'accepted', messageId: body.messageId, duplicate: true } });
      } finally {
        await after.close();
      }
    } finally {
      await before.close();
    }
  });

  it('index entries of sent deliveries go with their records (a day), not a week later', async () => {
    const stale = `edges-${Date.now()}`;
    await h.redis.zadd(h.keys.index('delivery', 'sent'), Date.now() - 25 * 3_600_000, stale);
    await h.worker?.maintenance.reconcile();
    expect(await h.redis.zscore(h.keys.index('delivery', 'sent'), stale)).toBeNull();
  });
});

describe('one tenant cannot speak for another (SPEC §8.4)', () => {
  it("a delivery signed with channel A's secret naming channel B's number is ignored unless B has the same app secret", async () => {
    const phone = newPhone();
    const before = sample(await scrape(h.url), 'webhook_messages_ignored_total', { channel: 'wa', reason: 'foreign_number' });
    const foreign = await h.sendMeta('wa', metaEnvelope({ phoneNumberId: OTHER_NUMBER, messages: [metaText(phone, 'responda pelo outro número')] }));
    expect(foreign.body).toEqual({ status: 'accepted', accepted: 0 });
    expect(sample(await scrape(h.url), 'webhook_messages_ignored_total', { channel: 'wa', reason: 'foreign_number' })).toBe(before + 1);
    await h.logs.waitFor('could not be read or routed');
    expect(botCallsFor('responda pelo outro número')).toBe(0);
    // The same app's second number: routed there, and answered from it.
    const twin = await h.sendMeta('wa', metaEnvelope({ phoneNumberId: TWIN_NUMBER, messages: [metaText(phone, 'oi pelo segundo número')] }));
    expect(twin.body).toEqual({ status: 'accepted', accepted: 1 });
    const [sent] = await h.whatsapp.waitForSent(1, (s) => s.to === phone);
    expect(sent?.phoneNumberId).toBe(TWIN_NUMBER);
  });
});

describe('real bodies read as they are (SPEC §8.1, §9.3)', () => {
  it('a WhatsApp edit or deletion is no message: no reply, no "unsupported" answer; counted by reason', async () => {
    const phone = newPhone();
    const before = sample(await scrape(h.url), 'webhook_messages_ignored_total', { channel: 'wa', reason: 'edit' });
    const original = metaText(phone, 'oi');
    await h.sendMeta('wa', metaEnvelope({ phoneNumberId: WA_PHONE_NUMBER_ID, messages: [original] }));
    await h.whatsapp.waitForSent(1, (s) => s.to === phone);
    const edit = await h.sendMeta('wa', metaEnvelope({ phoneNumberId: WA_PHONE_NUMBER_ID, messages: [metaEdit(phone, original.id, 'olá'), metaRevoke(phone, original.id)] }));
    expect(edit.body).toEqual({ status: 'accepted', accepted: 0 });
    expect(sample(await scrape(h.url), 'webhook_messages_ignored_total', { channel: 'wa', reason: 'edit' })).toBe(before + 1);
    await h.sendMeta('wa', metaEnvelope({ phoneNumberId: WA_PHONE_NUMBER_ID, messages: [metaText(phone, 'e agora?')] }));
    await h.whatsapp.waitForSent(2, (s) => s.to === phone);
    expect(h.whatsapp.sent().filter((s) => s.to === phone).map((s) => s.text)).toEqual([expect.stringContaining('oi'), expect.stringContaining('e agora?')]);
  });

  it('a person answering from the WhatsApp Business app (smb_message_echoes) takes the conversation', async () => {
    const phone = newPhone();
    await h.sendMeta('wa', metaEnvelope({ phoneNumberId: WA_PHONE_NUMBER_ID, messages: [metaText(phone, 'oi')] }));
    await h.whatsapp.waitForSent(1, (s) => s.to === phone);
    await h.whatsapp.appSend(phone, 'Oi! Aqui é a Carla, da loja.', WA_PHONE_NUMBER_ID);
    expect(await h.conversation('wa', phone)).toMatchObject({ state: 'human', takenBy: 'phone' });
    await h.sendMeta('wa', metaEnvelope({ phoneNumberId: WA_PHONE_NUMBER_ID, messages: [metaText(phone, 'obrigado, Carla')] }));
    await inboxEmpty('wa', phone);
    expect(botCallsFor('obrigado, Carla')).toBe(0);
    expect(h.whatsapp.sent().filter((s) => s.to === phone)).toHaveLength(1);
  });

  it('a Z-API pin from the phone is no person answering; its own echoes carry fromApi', async () => {
    const phone = newPhone();
    const url = `${h.url}/webhooks/zapi-reply?token=${ZAPI_TOKEN}`;
    await deliverZapiWebhook(url, zapiReceived({ instanceId: ZAPI_INSTANCE_ID, phone, text: 'oi' }));
    const [sent] = await h.zapi.waitForSent(1, (s) => s.phone === phone);
    await h.zapi.waitForEchoes(1, (e) => e.id === sent?.id && e.status === 200);
    await h.zapi.phonePin(phone, sent?.id as string);
    expect((await h.conversation('zapi-reply', phone))?.state).toBe('bot');
    await deliverZapiWebhook(url, zapiReceived({ instanceId: ZAPI_INSTANCE_ID, phone, text: 'ainda aí?' }));
    await h.zapi.waitForSent(2, (s) => s.phone === phone);
  });

  it('an Evolution document caption and a Z-API button reply are texts for the bot', async () => {
    const phone = newPhone();
    await deliverEvolutionWebhook(`${h.url}/webhooks/evo`, evolutionUpsert({ instance: 'loja', phone, documentCaption: 'segue o comprovante' }), { authorization: `Bearer ${EVO_TOKEN}` });
    await h.evolution.waitForSent(1, (s) => s.number === phone);
    expect(botCallsFor('segue o comprovante')).toBe(1);
    const other = newPhone();
    await deliverZapiWebhook(`${h.url}/webhooks/zapi-reply?token=${ZAPI_TOKEN}`, zapiReceived({ instanceId: ZAPI_INSTANCE_ID, phone: other, buttonReply: { buttonId: '2', message: 'Quero o plano anual' } }));
    await h.zapi.waitForSent(1, (s) => s.phone === other);
    expect(botCallsFor('Quero o plano anual')).toBe(1);
  });

  it('an Evolution message from an address that is neither a phone nor a LID is not dropped in silence: logged at warn and counted', async () => {
    const before = sample(await scrape(h.url), 'webhook_messages_ignored_total', { channel: 'evo', reason: 'unknown_address' });
    const res = await deliverEvolutionWebhook(`${h.url}/webhooks/evo`, evolutionUpsert({ instance: 'loja', remoteJid: '123456789012345@hosted', text: 'oi' }), { authorization: `Bearer ${EVO_TOKEN}` });
    expect(res.body).toEqual({ status: 'accepted', accepted: 0 });
    expect(sample(await scrape(h.url), 'webhook_messages_ignored_total', { channel: 'evo', reason: 'unknown_address' })).toBe(before + 1);
    await h.logs.waitFor('could not be read or routed');
  });
});
