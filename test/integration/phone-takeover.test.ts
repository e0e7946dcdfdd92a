import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { deliverEvolutionWebhook, evolutionUpsert } from '../../src/sandbox/evolution.js';
import { deliverZapiWebhook, zapiReceived } from '../../src/sandbox/zapi.js';
import { createWorkerService } from '../../workers/index.js';
import { asyncChannels, EVO_TOKEN, startHarness, ZAPI_INSTANCE_ID, ZAPI_TOKEN, type Harness } from '../helpers/harness.js';
import { sample, scrape } from '../helpers/metrics.js';
import { waitUntil } from '../helpers/wait.js';

/**
 * Evolution API and Z-API channels (SPEC §8, §9.1, §9.3): a person answering from the
 * business's phone takes the conversation (our own echoes change nothing, even one that
 * arrives before the send call returned its id), and a burst of messages becomes one turn.
 */
let h: Harness;
let seq = 0;
const newPhone = () => `55619${String(Date.now() % 100000).padStart(5, '0')}${String(++seq).padStart(3, '0')}`;
const DEBOUNCE_MS = 300;

beforeAll(async () => {
  h = await startHarness({
    worker: true,
    channels: (replyUrl) => {
      const evoChannel = asyncChannels(replyUrl).evo as Record<string, unknown>;
      return asyncChannels(replyUrl, {
        'evo-quiet': { ...evoChannel, takeoverOnOwnerMessage: false },
        'evo-burst': { ...evoChannel, debounceMs: DEBOUNCE_MS },
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
  h.zapi.webhookUrl = `${h.url}/webhooks/zapi?token=${ZAPI_TOKEN}`;
});

const evo = (channel: string, phone: string, text: string, extra: Record<string, unknown> = {}) =>
  deliverEvolutionWebhook(`${h.url}/webhooks/${channel}`, evolutionUpsert({ instance: 'loja', phone, pushName: 'Bia', text, ...extra }), { authorization: `Bearer ${EVO_TOKEN}` });
const inboxEmpty = (channel: string, phone: string) => waitUntil(() => h.redis.llen(h.keys.inbox(channel, phone)), { what: `the ${channel} inbox of ${phone} to drain`, done: (n) => n === 0 });
const botCalls = () => h.toolzz.calls('send-message').length;

describe('Evolution API', () => {
  it('a customer message is answered through sendText; its fromMe echo changes nothing', async () => {
    const phone = newPhone();
    const res = await evo('evo', phone, 'Oi, tem pronta entrega?');
    expect(res).toEqual({ status: 200, body: { status: 'accepted', accepted: 1 } });
    const [sent] = await h.evolution.waitForSent(1);
    expect(sent).toMatchObject({ instance: 'loja', number: phone, text: expect.stringContaining('Oi, tem pronta entrega?') });
    // The echo of that send came back as a fromMe upsert and was recognised as ours.
    await h.evolution.waitForEchoes(1);
    await inboxEmpty('evo', phone);
    expect((await h.conversation('evo', phone))?.state).toBe('bot');
    expect((await evo('evo', phone, 'e o frete?')).status).toBe(200);
    await h.evolution.waitForSent(2);
    expect(botCalls()).toBe(2);
  });

  it('an echo that arrives before the send call returned its id is still ours', async () => {
    const phone = newPhone();
    h.evolution.echo = 'before';
    await evo('evo', phone, 'oi');
    const [echo] = await h.evolution.waitForEchoes(1);
    expect(echo?.status).toBe(200);
    await h.evolution.waitForSent(1);
    await inboxEmpty('evo', phone);
    expect((await h.conversation('evo', phone))?.state).toBe('bot');
    await evo('evo', phone, 'ainda aí?');
    await h.evolution.waitForSent(2);
    expect(botCalls()).toBe(2);
  });

  it('an attendant answering from the phone takes the conversation: the next messages reach neither the bot nor a platform', async () => {
    const phone = newPhone();
    const before = sample(await scrape(h.url), 'handoff_releases_total', { cause: 'phone' });
    await evo('evo', phone, 'oi');
    await h.evolution.waitForSent(1);
    await h.evolution.phoneSend(phone, 'Oi! Aqui é a Júlia, da loja.');
    const taken = await waitUntil(() => h.conversation('evo', phone), { what: 'the takeover', done: (c) => c?.state === 'human' });
    expect(taken).toMatchObject({ takenBy: 'phone', handoffId: null });
    expect((taken?.humanUntil ?? 0) - Date.now()).toBeGreaterThan(23 * 3_600_000);
    const calls = botCalls();
    await evo('evo', phone, 'ah, obrigado!');
    await evo('evo', phone, 'e o prazo?');
    await inboxEmpty('evo', phone);
    expect(botCalls()).toBe(calls);
    expect(h.evolution.sent()).toHaveLength(1);
    expect(h.superagentes.calls()).toEqual([]);
    expect(sample(await scrape(h.url), 'handoff_releases_total', { cause: 'phone' })).toBe(before + 1);
  });

  it('takeoverOnOwnerMessage: false → a message from the phone changes nothing', async () => {
    const phone = newPhone();
    h.evolution.webhookUrl = `${h.url}/webhooks/evo-quiet`;
    await h.evolution.phoneSend(phone, 'mensagem da loja');
    await inboxEmpty('evo-quiet', phone);
    await evo('evo-quiet', phone, 'oi');
    await h.evolution.waitForSent(1);
    expect((await h.conversation('evo-quiet', phone))?.state).toBe('bot');
  });

  it('groups, broadcasts and other events are not messages', async () => {
    const phone = newPhone();
    expect((await evo('evo', phone, 'no grupo', { remoteJid: '120363025246125888@g.us', participant: `${phone}@s.whatsapp.net` })).body).toEqual({ status: 'accepted', accepted: 0 });
    const other = await deliverEvolutionWebhook(`${h.url}/webhooks/evo`, { event: 'connection.update', instance: 'loja', data: { state: 'open' } }, { authorization: `Bearer ${EVO_TOKEN}` });
    expect(other.body).toEqual({ status: 'accepted', accepted: 0 });
    const wrongInstance = await deliverEvolutionWebhook(`${h.url}/webhooks/evo`, evolutionUpsert({ instance: 'outra', phone, text: 'oi' }), { authorization: `Bearer ${EVO_TOKEN}` });
    expect(wrongInstance.body).toEqual({ status: 'accepted', accepted: 0 });
    const unauthorized = await deliverEvolutionWebhook(`${h.url}/webhooks/evo`, evolutionUpsert({ instance: 'loja', phone, text: 'oi' }), { authorization: 'Bearer wrong' });
    expect(unauthorized.status).toBe(401);
    expect(botCalls()).toBe(0);
  });
});

describe('Z-API', () => {
  it('the token rides in the URL; the reply goes through send-text; its echo changes nothing; a person on the phone takes over', async () => {
    const phone = newPhone();
    const url = `${h.url}/webhooks/zapi?token=${ZAPI_TOKEN}`;
    expect((await deliverZapiWebhook(`${h.url}/webhooks/zapi?token=wrong`, zapiReceived({ instanceId: ZAPI_INSTANCE_ID, phone, text: 'oi' }))).status).toBe(401);
    expect((await deliverZapiWebhook(url, zapiReceived({ instanceId: ZAPI_INSTANCE_ID, phone, senderName: 'Caio', text: 'Oi, bom dia' }))).body).toEqual({ status: 'accepted', accepted: 1 });
    const [sent] = await h.zapi.waitForSent(1);
    expect(sent).toMatchObject({ phone, text: expect.stringContaining('Oi, bom dia') });
    await h.zapi.waitForEchoes(1);
    await inboxEmpty('zapi', phone);
    expect((await h.conversation('zapi', phone))?.state).toBe('bot');
    await h.zapi.phoneSend(phone, 'Oi Caio, é o Marcos aqui');
    await waitUntil(() => h.conversation('zapi', phone), { what: 'the takeover', done: (c) => c?.state === 'human' && c.takenBy === 'phone' });
    const calls = botCalls();
    await deliverZapiWebhook(url, zapiReceived({ instanceId: ZAPI_INSTANCE_ID, phone, text: 'valeu' }));
    await inboxEmpty('zapi', phone);
    expect(botCalls()).toBe(calls);
  });

  it('a group message is not a message', async () => {
    const phone = newPhone();
    const res = await deliverZapiWebhook(`${h.url}/webhooks/zapi?token=${ZAPI_TOKEN}`, zapiReceived({ instanceId: ZAPI_INSTANCE_ID, phone, isGroup: true, text: 'oi grupo' }));
    expect(res.body).toEqual({ status: 'accepted', accepted: 0 });
  });
});

describe('bursts become one turn (debounceMs)', () => {
  it('three messages inside the window: one bot call with the texts joined in order, one reply', async () => {
    const phone = newPhone();
    h.evolution.webhookUrl = `${h.url}/webhooks/evo-burst`;
    for (const text of ['oi', 'tudo bem?', 'quero saber do meu pedido']) expect((await evo('evo-burst', phone, text)).status).toBe(200);
    const [sent] = await h.evolution.waitForSent(1);
    expect(h.toolzz.calls('send-message').map((c) => (c.body as { message: string }).message)).toEqual(['oi\ntudo bem?\nquero saber do meu pedido']);
    expect(sent?.text).toContain('quero saber do meu pedido');
    await inboxEmpty('evo-burst', phone);
    expect(h.evolution.sent()).toHaveLength(1);
  });

  it('under a steady trickle the batch goes at 5 × debounceMs after its first message', async () => {
    const phone = newPhone();
    h.evolution.webhookUrl = `${h.url}/webhooks/evo-burst`;
    const started = Date.now();
    const firstCall = h.toolzz.waitFor((r) => r.route === 'send-message');
    let sentCount = 0;
    // A message every DEBOUNCE_MS / 2: the customer is never quiet for DEBOUNCE_MS.
    const trickle = (async () => {
      while (Date.now() - started < 8 * DEBOUNCE_MS) {
        await evo('evo-burst', phone, `parte ${++sentCount}`);
        await new Promise((resolve) => setTimeout(resolve, DEBOUNCE_MS / 2));
      }
    })();
    const [call] = await firstCall;
    const tookMs = (call?.at ?? 0) - started;
    expect(tookMs).toBeGreaterThanOrEqual(5 * DEBOUNCE_MS - 50);
    expect(tookMs).toBeLessThan(7 * DEBOUNCE_MS);
    await trickle;
    const first = (call?.body as { message: string }).message.split('\n');
    expect(first[0]).toBe('parte 1');
    expect(first.length).toBeGreaterThanOrEqual(5);
    // Every message is answered exactly once, in some batch, in order.
    await inboxEmpty('evo-burst', phone);
    const all = h.toolzz.calls('send-message').flatMap((c) => (c.body as { message: string }).message.split('\n'));
    expect(all).toEqual(Array.from({ length: sentCount }, (_, i) => `parte ${i + 1}`));
  });

  it('a restart in the middle of a window: the batch still goes out exactly once', async () => {
    const s = await startHarness({ channels: (replyUrl) => asyncChannels(replyUrl, { evo: { debounceMs: 500 } }) });
    try {
      const phone = newPhone();
      const first = createWorkerService(s.core);
      await first.ready();
      for (const text of ['um', 'dois']) await deliverEvolutionWebhook(`${s.url}/webhooks/evo`, evolutionUpsert({ instance: 'loja', phone, text }), { authorization: `Bearer ${EVO_TOKEN}` });
      // The worker stops (a deploy) with the batch held; another starts.
      await first.close();
      expect(s.toolzz.calls('send-message')).toHaveLength(0);
      await deliverEvolutionWebhook(`${s.url}/webhooks/evo`, evolutionUpsert({ instance: 'loja', phone, text: 'três' }), { authorization: `Bearer ${EVO_TOKEN}` });
      const second = createWorkerService(s.core);
      try {
        await second.ready();
        await s.evolution.waitForSent(1);
        await waitUntil(() => s.redis.llen(s.keys.inbox('evo', phone)), { what: 'the inbox to drain', done: (n) => n === 0 });
        expect(s.toolzz.calls('send-message').map((c) => (c.body as { message: string }).message)).toEqual(['um\ndois\ntrês']);
        expect(s.evolution.sent()).toHaveLength(1);
      } finally {
        await second.close();
      }
    } finally {
      await s.close();
    }
  });

  it('two workers never release the same batch twice', async () => {
    const extra = createWorkerService(h.core);
    await extra.ready();
    try {
      h.evolution.webhookUrl = `${h.url}/webhooks/evo-burst`;
      const phones = Array.from({ length: 8 }, () => newPhone());
      await Promise.all(phones.map(async (phone) => {
        for (const text of ['a', 'b', 'c']) await evo('evo-burst', phone, text);
      }));
      await h.evolution.waitForSent(phones.length);
      for (const phone of phones) await inboxEmpty('evo-burst', phone);
      const calls = h.toolzz.calls('send-message').map((c) => (c.body as { message: string }).message);
      expect(calls).toEqual(phones.map(() => 'a\nb\nc'));
      expect(h.evolution.sent()).toHaveLength(phones.length);
    } finally {
      await extra.close();
    }
  });
});
