import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createApiService } from '../../src/service.js';
import { BOT_ID, defaultChannels, MEHUB_DESTINATION, message, startHarness, type Harness } from '../helpers/harness.js';
import { sample, scrape } from '../helpers/metrics.js';

const SECRET = 'mehub-webhook-secret-xyz';
const OTHER_DESTINATION = 'other0channel016';
let h: Harness;
let seq = 0;
const newPhone = () => `55519${String(Date.now() % 100000).padStart(5, '0')}${String(++seq).padStart(3, '0')}`;

beforeAll(async () => {
  h = await startHarness({
    worker: true,
    file: { providers: { mehub: { webhookSecret: SECRET } } },
    channels: {
      ...defaultChannels(),
      // A MeHub channel handing off to another destination: its customers are not released by CHAT_ENDEDs of `vendas`.
      outro: { auth: { token: 'outro-token-123' }, bot: { id: BOT_ID }, handoff: { provider: 'mehub', channel: OTHER_DESTINATION } },
      premium: { auth: { token: 'premium-token-123' }, bot: { id: BOT_ID }, handoff: { provider: 'superagentes', assigneeIds: ['member-1'] } },
      quiet: { auth: { token: 'quiet-token-123' }, bot: { id: BOT_ID }, handoff: { provider: 'mehub', channel: MEHUB_DESTINATION, statusCheck: false } },
    },
  });
});
afterAll(async () => {
  await h.close();
});
beforeEach(() => {
  for (const emulator of h.emulators()) emulator.reset();
  h.mehub.setWebhook(`${h.url}/platform-webhooks/mehub`, SECRET);
});

const mehubEvent = (body: unknown, secret: string | null = SECRET) =>
  fetch(`${h.url}/platform-webhooks/mehub`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...(secret === null ? {} : { 'x-webhook-secret': secret }) },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  }).then(async (r) => ({ status: r.status, body: (await r.json()) as Record<string, unknown> }));

const chatEnded = (phone: string, destination = MEHUB_DESTINATION, webhookId = randomUUID()) => ({
  event: 'CHAT_ENDED',
  data: { chat: { token: 'abcdef123456', status: 'finished', external_reference: null, channel: { token: destination, name: 'Vendas', type: 'whatsapp' }, is_open: false }, contact: { phone, name: 'João', tags: [] }, user: null, message: null },
  timestamp: new Date().toISOString(),
  attempt: 1,
  webhook_id: webhookId,
});

/** A customer of `channel` handed to a MeHub human: the transfer created their chat on the destination channel. */
async function withHuman(channel: string, phone = newPhone()): Promise<{ phone: string; handoffId: string }> {
  h.mehub.addChat({ phone });
  const handoffId = await h.handOff(channel, phone);
  expect(await h.settled(handoffId)).toMatchObject({ state: 'done' });
  expect((await h.conversation(channel, phone))?.state).toBe('human');
  return { phone, handoffId };
}

const botCalls = () => h.toolzz.calls('send-message').length;

describe('MeHub events (POST /platform-webhooks/mehub)', () => {
  it('401 for a missing or wrong X-Webhook-Secret; 400 for a body that is not the envelope', async () => {
    expect(await mehubEvent(chatEnded(newPhone()), null)).toEqual({ status: 401, body: { error: 'unauthorized' } });
    expect(await mehubEvent(chatEnded(newPhone()), 'wrong')).toEqual({ status: 401, body: { error: 'unauthorized' } });
    expect((await mehubEvent('{not json')).status).toBe(400);
    const noId = await mehubEvent({ event: 'CHAT_ENDED', data: {} });
    expect(noId.status).toBe(400);
    expect(noId.body).toMatchObject({ error: 'invalid_request', issues: [expect.objectContaining({ path: 'webhook_id' })] });
    const endedWithoutChat = await mehubEvent({ event: 'CHAT_ENDED', data: {}, webhook_id: randomUUID() });
    expect(endedWithoutChat.status).toBe(400);
  });

  it('another event is accepted and ignored', async () => {
    const { phone } = await withHuman('vendas');
    expect(await mehubEvent({ ...chatEnded(phone), event: 'MESSAGE_RECEIVED' })).toEqual({ status: 200, body: { status: 'ok' } });
    expect((await h.conversation('vendas', phone))?.state).toBe('human');
  });

  it('a CHAT_ENDED for another destination channel releases nothing', async () => {
    const { phone } = await withHuman('vendas');
    expect((await mehubEvent(chatEnded(phone, OTHER_DESTINATION))).status).toBe(200);
    expect((await h.conversation('vendas', phone))?.state).toBe('human');
    const calls = botCalls();
    expect((await h.send('vendas', message(phone, 'oi?'))).body.status).toBe('human_active');
    expect(botCalls()).toBe(calls);
  });

  it('the chat closed on MeHub: its signed CHAT_ENDED gives the conversation back, and the next message reaches the bot', async () => {
    const before = sample(await scrape(h.url), 'handoff_releases_total', { cause: 'platform_event' });
    const { phone } = await withHuman('vendas');
    const chat = h.mehub.openChat(phone, MEHUB_DESTINATION);
    expect(chat).toBeTruthy();
    const delivery = await h.mehub.closeChat(chat?.token as string);
    expect(delivery).toMatchObject({ event: 'CHAT_ENDED', status: 200, attempt: 1 });
    expect((await h.conversation('vendas', phone))?.state).toBe('bot');
    const calls = botCalls();
    const next = await h.send('vendas', message(phone, 'voltei, quero saber do meu pedido'));
    expect(next.body.status).toBe('replied');
    expect(botCalls()).toBe(calls + 1);
    expect(sample(await scrape(h.url), 'handoff_releases_total', { cause: 'platform_event' })).toBe(before + 1);
  });

  it('a repeated webhook_id is a no-op', async () => {
    const first = await withHuman('vendas');
    const event = chatEnded(first.phone);
    expect((await mehubEvent(event)).body).toEqual({ status: 'ok' });
    expect((await h.conversation('vendas', first.phone))?.state).toBe('bot');
    // The customer is handed off again; MeHub redelivers the old event: nothing happens.
    const second = await h.handOff('vendas', first.phone);
    expect(await h.settled(second)).toMatchObject({ state: 'done' });
    expect(await mehubEvent(event)).toEqual({ status: 200, body: { status: 'ok', duplicate: true } });
    expect((await h.conversation('vendas', first.phone))?.state).toBe('human');
  });

  it('404 when providers.mehub.webhookSecret is not set', async () => {
    const plain = await startHarness();
    try {
      const res = await fetch(`${plain.url}/platform-webhooks/mehub`, { method: 'POST', headers: { 'content-type': 'application/json', 'x-webhook-secret': SECRET }, body: JSON.stringify(chatEnded(newPhone())) });
      expect(res.status).toBe(404);
    } finally {
      await plain.close();
    }
  });
});

describe('asking the platform before answering human_active', () => {
  it('MeHub: still an open chat on the destination → human_active without a bot call; closed → back to the bot', async () => {
    h.mehub.setWebhook(undefined); // the close below must not be announced
    const { phone } = await withHuman('vendas');
    const calls = botCalls();
    expect((await h.send('vendas', message(phone, 'alguém?'))).body.status).toBe('human_active');
    expect(botCalls()).toBe(calls);
    expect(h.mehub.calls('list', (r) => r.query.contact === phone && r.query.channel === MEHUB_DESTINATION && r.query.is_open === 'true')).toHaveLength(1);

    await h.mehub.closeChat(h.mehub.openChat(phone, MEHUB_DESTINATION)?.token as string);
    await h.redis.del(h.keys.statusCheck('vendas', phone)); // 30 s later
    const next = await h.send('vendas', message(phone, 'e agora?'));
    expect(next.body.status).toBe('replied');
    expect(botCalls()).toBe(calls + 1);
    expect((await h.conversation('vendas', phone))?.state).toBe('bot');
  });

  it('asked at most once per 30 s per conversation, across two API processes', async () => {
    h.mehub.setWebhook(undefined);
    const { phone } = await withHuman('vendas');
    const second = createApiService(h.core);
    await second.listen(0, '127.0.0.1');
    try {
      const viaSecond = (text: string) =>
        fetch(`${second.url}/webhooks/vendas`, { method: 'POST', headers: { 'content-type': 'application/json', authorization: 'Bearer vendas-webhook-token-abcdef' }, body: JSON.stringify(message(phone, text)) }).then((r) => r.json());
      expect((await h.send('vendas', message(phone, 'um'))).body.status).toBe('human_active');
      expect(await viaSecond('dois')).toMatchObject({ status: 'human_active' });
      expect((await h.send('vendas', message(phone, 'três'))).body.status).toBe('human_active');
      expect(h.mehub.calls('list', (r) => r.query.contact === phone && r.query.channel === MEHUB_DESTINATION)).toHaveLength(1);
    } finally {
      await second.close();
    }
  });

  it('a platform answering 500, or hanging, leaves the conversation with the human, within the 2 s limit', async () => {
    h.mehub.setWebhook(undefined);
    const { phone } = await withHuman('vendas');
    await h.mehub.closeChat(h.mehub.openChat(phone, MEHUB_DESTINATION)?.token as string);
    const calls = botCalls();
    h.mehub.inject('list', { status: 500 });
    expect((await h.send('vendas', message(phone, 'oi'))).body.status).toBe('human_active');
    await h.logs.waitFor('could not ask the platform whether the human is done');

    await h.redis.del(h.keys.statusCheck('vendas', phone));
    h.mehub.inject('list', { delayMs: 5_000 });
    const started = Date.now();
    expect((await h.send('vendas', message(phone, 'oi?'))).body.status).toBe('human_active');
    const took = Date.now() - started;
    expect(took).toBeGreaterThanOrEqual(1_900);
    expect(took).toBeLessThan(4_000);
    expect(botCalls()).toBe(calls);
  });

  it('handoff.statusCheck: false asks nothing', async () => {
    const { phone } = await withHuman('quiet');
    expect((await h.send('quiet', message(phone, 'oi'))).body.status).toBe('human_active');
    expect(h.mehub.calls('list', (r) => r.query.channel === MEHUB_DESTINATION && r.query.contact === phone && r.status === 200).length).toBe(0);
  });

  it('SuperAgentes: the handed-off conversation RESOLVED → back to the bot; unresolved → human_active', async () => {
    const phone = newPhone();
    const conversation = h.superagentes.addConversation({ channelExternalId: phone });
    const handoffId = await h.handOff('premium', phone);
    expect(await h.settled(handoffId)).toMatchObject({ state: 'done' });
    expect((await h.send('premium', message(phone, 'oi'))).body.status).toBe('human_active');
    const lookups = h.superagentes.calls('list', (r) => r.query.channelExternalId === phone);
    expect(lookups.length).toBeGreaterThanOrEqual(1);
    expect(lookups.every((r) => r.authorized)).toBe(true);

    h.superagentes.resolveConversation(conversation.id);
    await h.redis.del(h.keys.statusCheck('premium', phone));
    const next = await h.send('premium', message(phone, 'resolvido?'));
    expect(next.body.status).toBe('replied');
  });
});
