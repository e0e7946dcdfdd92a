import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { metaAudio, metaEnvelope, metaError, metaImage, metaSticker, metaStatus, metaText, verifyChallengeUrl } from '../../src/sandbox/whatsapp.js';
import { asyncChannels, message, startHarness, WA_PHONE_NUMBER_ID, WA_VERIFY_TOKEN, type Harness } from '../helpers/harness.js';
import { sample, scrape } from '../helpers/metrics.js';
import { waitUntil } from '../helpers/wait.js';

let h: Harness;
let seq = 0;
const newPhone = () => `55319${String(Date.now() % 100000).padStart(5, '0')}${String(++seq).padStart(3, '0')}`;
const ADMIN = 'admin-token-async';

beforeAll(async () => {
  h = await startHarness({
    worker: true,
    adminToken: ADMIN,
    channels: (replyUrl) => {
      // Evolution and Z-API have a suite of their own (phone-takeover.test.ts).
      const { evo: _evo, zapi: _zapi, ...channels } = asyncChannels(replyUrl, {
        wa: { handoff: { provider: 'mehub', channel: 'xyz789abc123def4', failedMessage: 'Não consegui chamar um atendente agora.' } },
      });
      return channels;
    },
    file: { delivery: { attempts: 3, baseDelayMs: 10, maxDelayMs: 50 }, toolzz: { unreachableRetryMs: [300, 300, 300] } },
  });
});
afterAll(async () => {
  await h.close();
});
beforeEach(() => {
  for (const emulator of h.emulators()) emulator.reset();
});

const admin = async (path: string) => {
  const res = await fetch(`${h.url}${path}`, { headers: { authorization: `Bearer ${ADMIN}` } });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
};
const text = (phone: string, body: string, id?: string) => metaEnvelope({ phoneNumberId: WA_PHONE_NUMBER_ID, messages: [metaText(phone, body, id)], contacts: [{ wa_id: phone, name: 'Maria' }] });

describe('WhatsApp Cloud API: accept, then process', () => {
  it('answers 200 once the message is stored, before the bot has answered; the reply arrives at the Graph API', async () => {
    const phone = newPhone();
    h.toolzz.latencyMs = 300;
    const botAnswered = h.toolzz.waitFor((r) => r.route === 'send-message');
    let answered = false;
    void botAnswered.then(() => expect(answered).toBe(true));
    const res = await h.sendMeta('wa', text(phone, 'Oi, vocês abrem sábado?'));
    answered = true;
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ status: 'accepted', accepted: 1 });
    expect(h.toolzz.calls('send-message')).toHaveLength(0);
    const [sent] = await h.whatsapp.waitForSent(1);
    expect(sent).toMatchObject({ to: phone, phoneNumberId: WA_PHONE_NUMBER_ID, text: expect.stringContaining('Oi, vocês abrem sábado?') });
    const call = h.toolzz.calls('send-message')[0];
    expect(call?.body).toMatchObject({ message: 'Oi, vocês abrem sábado?' });
  });

  it('a redelivered message is processed once', async () => {
    const phone = newPhone();
    const envelope = text(phone, 'mensagem repetida');
    expect((await h.sendMeta('wa', envelope)).body).toEqual({ status: 'accepted', accepted: 1 });
    await h.whatsapp.waitForSent(1);
    expect((await h.sendMeta('wa', envelope)).body).toEqual({ status: 'accepted', accepted: 0 });
    // A third message behind it proves the lane drained past the duplicate.
    await h.sendMeta('wa', text(phone, 'depois'));
    await h.whatsapp.waitForSent(2);
    expect(h.toolzz.calls('send-message').map((c) => (c.body as { message: string }).message)).toEqual(['mensagem repetida', 'depois']);
    expect(h.whatsapp.sent().map((s) => s.to)).toEqual([phone, phone]);
  });

  it('five quick messages of one customer are answered in order, one bot call at a time', async () => {
    const phone = newPhone();
    h.toolzz.latencyMs = 30;
    for (let i = 0; i < 5; i++) expect((await h.sendMeta('wa', text(phone, `mensagem ${i}`))).status).toBe(200);
    const sent = await h.whatsapp.waitForSent(5);
    expect(sent.map((s) => /mensagem (\d)/.exec(s.text)?.[1])).toEqual(['0', '1', '2', '3', '4']);
    expect(h.toolzz.maxInFlight).toBe(1);
  });

  it('a batch for several customers is split by customer; statuses are not messages', async () => {
    const [a, b] = [newPhone(), newPhone()];
    const envelope = metaEnvelope({
      phoneNumberId: WA_PHONE_NUMBER_ID,
      messages: [metaText(a, 'sou a A'), metaText(b, 'sou o B')],
      contacts: [
        { wa_id: a, name: 'Ana' },
        { wa_id: b, name: 'Bruno' },
      ],
      statuses: [metaStatus('wamid.x', a, 'delivered')],
    });
    expect((await h.sendMeta('wa', envelope)).body).toEqual({ status: 'accepted', accepted: 2 });
    const sent = await h.whatsapp.waitForSent(2);
    expect(new Set(sent.map((s) => s.to))).toEqual(new Set([a, b]));
    const statusOnly = metaEnvelope({ phoneNumberId: WA_PHONE_NUMBER_ID, statuses: [metaStatus('wamid.y', a, 'read')] });
    expect((await h.sendMeta('wa', statusOnly)).body).toEqual({ status: 'accepted', accepted: 0 });
  });

  it('a reply over 4096 characters arrives as three messages, in order', async () => {
    const phone = newPhone();
    const long = Array.from({ length: 1500 }, (_, i) => `p${String(i).padStart(4, '0')}`).join(' '); // 8999 characters
    h.toolzz.script = () => ({ content: long, transferToAgent: false });
    await h.sendMeta('wa', text(phone, 'me conta tudo'));
    const sent = await h.whatsapp.waitForSent(3);
    expect(sent.map((s) => [...s.text].length <= 4096)).toEqual([true, true, true]);
    expect(sent.map((s) => s.text).join(' ')).toBe(long);
  });

  it('401 for a missing or wrong signature, and nothing is stored', async () => {
    const phone = newPhone();
    expect((await h.sendMeta('wa', text(phone, 'sem assinatura'), { secret: null })).status).toBe(401);
    expect((await h.sendMeta('wa', text(phone, 'assinatura errada'), { secret: 'not-the-secret' })).status).toBe(401);
    expect(await h.redis.llen(h.keys.inbox('wa', phone))).toBe(0);
  });

  it('400 for an envelope that is not Meta’s', async () => {
    const res = await h.sendMeta('wa', { object: 'whatsapp_business_account', entry: 'nope' });
    expect(res.status).toBe(400);
    expect(res.body).toMatchObject({ error: 'invalid_request', issues: [{ path: 'entry' }] });
  });

  it('the verification GET answers the challenge for the right token only', async () => {
    const ok = await fetch(verifyChallengeUrl(`${h.url}/webhooks/wa`, WA_VERIFY_TOKEN, 1158201444));
    expect(ok.status).toBe(200);
    expect(ok.headers.get('content-type')).toMatch(/^text\/plain/);
    expect(await ok.text()).toBe('1158201444');
    expect((await fetch(verifyChallengeUrl(`${h.url}/webhooks/wa`, 'wrong', 1))).status).toBe(403);
  });
});

describe('policies', () => {
  it('an audio is unsupported: the default message is sent and the bot is not called', async () => {
    const phone = newPhone();
    await h.sendMeta('wa', metaEnvelope({ phoneNumberId: WA_PHONE_NUMBER_ID, messages: [metaAudio(phone)] }));
    const [sent] = await h.whatsapp.waitForSent(1);
    expect(sent?.text).toBe('Ainda não consigo entender áudios, imagens ou figurinhas. Pode escrever sua mensagem, por favor?');
    expect(h.toolzz.calls('send-message')).toHaveLength(0);
  });

  it('an image with a caption is a text; a sticker is unsupported', async () => {
    const phone = newPhone();
    await h.sendMeta('wa', metaEnvelope({ phoneNumberId: WA_PHONE_NUMBER_ID, messages: [metaImage(phone, 'olha esse produto')] }));
    await h.sendMeta('wa', metaEnvelope({ phoneNumberId: WA_PHONE_NUMBER_ID, messages: [metaSticker(phone)] }));
    const sent = await h.whatsapp.waitForSent(2);
    expect(sent[0]?.text).toContain('olha esse produto');
    expect(sent[1]?.text).toContain('Ainda não consigo entender');
    expect(h.toolzz.calls('send-message')).toHaveLength(1);
  });

  it('bot failure (Toolzz 500): the customer is told, then handed to a human', async () => {
    const phone = newPhone();
    h.mehub.addChat({ phone });
    h.toolzz.inject('send-message', { status: 500 });
    await h.sendMeta('wa', text(phone, 'oi'));
    const [sent] = await h.whatsapp.waitForSent(1);
    expect(sent?.text).toBe('Desculpe, não consegui responder agora. Vou transferir você para um atendente.');
    await h.mehub.waitFor((r) => r.route === 'transfer' && r.applied);
    const conversation = await waitUntil(() => h.conversation('wa', phone), { what: 'the conversation to be with a human', done: (c) => c?.state === 'human' });
    expect(conversation?.takenBy).toBe('handoff');
    // While with the human, nothing reaches the bot and nothing is sent.
    await h.sendMeta('wa', text(phone, 'alô?'));
    await waitUntil(() => h.redis.llen(h.keys.inbox('wa', phone)), { what: 'the inbox to drain', done: (n) => n === 0 });
    expect(h.toolzz.calls('send-message')).toHaveLength(1);
    expect(h.whatsapp.sent()).toHaveLength(1);
  });

  it('a dropped connection may have reached Toolzz: not asked again, the policy applies at once', async () => {
    const phone = newPhone();
    h.mehub.addChat({ phone });
    h.toolzz.inject('send-message', { destroy: true });
    await h.sendMeta('wa', text(phone, 'oi de novo'));
    const [sent] = await h.whatsapp.waitForSent(1);
    expect(sent?.text).toContain('Desculpe, não consegui responder agora');
    expect(h.toolzz.calls('send-message')).toHaveLength(1);
    await h.mehub.waitFor((r) => r.route === 'transfer' && r.applied);
  });

  it('a Toolzz that refuses connections (never reached) is tried again, then answers', async () => {
    const phone = newPhone();
    const port = Number(new URL(h.toolzz.url).port);
    await h.toolzz.close();
    const accepted = await h.sendMeta('wa', text(phone, 'vocês estão aí?'));
    expect(accepted.status).toBe(200);
    // The first try is refused; Toolzz comes back while the service waits to try again (300 ms here).
    await waitUntil(() => h.logs.text.includes('Toolzz unreachable'), { what: 'the refused first try' });
    await h.toolzz.start(port);
    const [sent] = await h.whatsapp.waitForSent(1);
    expect(sent?.text).toContain('vocês estão aí?');
  });

  it('a handoff that fails for good tells the customer (handoff.failedMessage)', async () => {
    const phone = newPhone();
    h.mehub.addChat({ phone });
    h.mehub.inject('transfer', { status: 403, body: { success: false, message: 'Você não tem permissão para transferir conversas deste canal.' } });
    await h.sendMeta('wa', text(phone, 'quero falar com um atendente'));
    const sent = await h.whatsapp.waitForSent(2);
    expect(sent[0]?.text).toContain('Vou transferir você');
    expect(sent[1]?.text).toBe('Não consegui chamar um atendente agora.');
    expect((await h.conversation('wa', phone))?.state).toBe('handoff_failed');
  });
});

describe('reply delivery', () => {
  it('Meta 131056 (pair rate limit) is retried, then sent; metrics and the admin API show it', async () => {
    const phone = newPhone();
    const before = await scrape(h.url);
    h.whatsapp.inject('messages', metaError(131056));
    await h.sendMeta('wa', text(phone, 'oi'));
    await h.whatsapp.waitForSent(1);
    const list = await waitUntil(() => admin('/admin/deliveries?state=sent'), {
      what: 'the delivery to be listed as sent',
      done: (r) => (r.body.deliveries as { phone: string }[]).some((d) => d.phone === phone),
    });
    const delivery = (list.body.deliveries as Record<string, unknown>[]).find((d) => d.phone === phone);
    expect(delivery).toMatchObject({ channel: 'wa', state: 'sent', attempts: 2, lastError: expect.stringContaining('131056') });
    expect((await admin(`/admin/deliveries/${delivery?.id as string}`)).body).toEqual(delivery);
    const after = await scrape(h.url);
    expect(sample(after, 'handoff_deliveries_total', { channel: 'wa', outcome: 'retry' }) - sample(before, 'handoff_deliveries_total', { channel: 'wa', outcome: 'retry' })).toBe(1);
    // (The previous test's reply may be counted here too: the emulator records a send before the service hears back.)
    expect(sample(after, 'handoff_deliveries_total', { channel: 'wa', outcome: 'sent' }) - sample(before, 'handoff_deliveries_total', { channel: 'wa', outcome: 'sent' })).toBeGreaterThanOrEqual(1);
    expect(sample(after, 'handoff_reply_latency_seconds_count', { channel: 'wa' })).toBeGreaterThan(sample(before, 'handoff_reply_latency_seconds_count', { channel: 'wa' }));
  });

  it('131047 (outside the 24 h window) fails for good, is recorded, and does not hold back the next reply', async () => {
    const phone = newPhone();
    h.whatsapp.inject('messages', metaError(131047));
    await h.sendMeta('wa', text(phone, 'primeira'));
    await h.sendMeta('wa', text(phone, 'segunda'));
    const [sent] = await h.whatsapp.waitForSent(1);
    expect(sent?.text).toContain('segunda');
    const failed = await waitUntil(() => admin('/admin/deliveries?state=failed'), {
      what: 'the failed delivery',
      done: (r) => (r.body.deliveries as { phone: string }[]).some((d) => d.phone === phone),
    });
    expect((failed.body.deliveries as Record<string, unknown>[]).find((d) => d.phone === phone)).toMatchObject({ attempts: 1, lastError: expect.stringContaining('131047') });
    await h.logs.waitFor('reply could not be delivered');
  });

  it('400 for an unknown delivery state, 404 for an unknown id', async () => {
    expect((await admin('/admin/deliveries?state=lost')).status).toBe(400);
    expect((await admin('/admin/deliveries/no-such-id')).status).toBe(404);
  });
});

describe('json channel with reply.url', () => {
  it('answers 202 accepted, then POSTs message.replied signed; a duplicate is 202 duplicate', async () => {
    const phone = newPhone();
    const body = message(phone, 'Oi pelo app');
    const res = await h.send('site-async', body);
    expect(res.status).toBe(202);
    expect(res.body).toEqual({ status: 'accepted', messageId: body.messageId });
    const [reply] = await h.replies.waitForReplies(1);
    expect(reply).toMatchObject({ verified: true, webhookId: expect.stringMatching(/^msg_/) });
    expect(reply?.body).toEqual({ type: 'message.replied', channel: 'site-async', messageId: body.messageId, phone, conversationId: expect.any(String), reply: expect.stringContaining('Oi pelo app') });
    expect((await h.send('site-async', body)).body).toEqual({ status: 'accepted', messageId: body.messageId, duplicate: true });
  });

  it('a handoff POSTs handoff.queued with the bot reply, then handoff.done', async () => {
    const phone = newPhone();
    await h.send('site-async', message(phone, 'quero um atendente'));
    const replies = await h.replies.waitForReplies(2);
    expect(replies.map((r) => r.body.type)).toEqual(['handoff.queued', 'handoff.done']);
    expect(replies[0]?.body).toMatchObject({ reply: expect.stringContaining('atendentes'), handoffId: expect.any(String) });
    expect(replies[1]?.body.handoffId).toBe(replies[0]?.body.handoffId);
    expect(h.brpex.dispatches(phone)).toHaveLength(1);
  });

  it('a failed callback is retried with the same webhook-id and body', async () => {
    const phone = newPhone();
    // The receiver records the first POST, then answers 503 as if it had failed.
    h.replies.inject('reply', { status: 503, apply: true });
    await h.send('site-async', message(phone, 'oi'));
    await h.replies.waitFor((r) => r.route === 'reply', 2);
    const [first, second] = h.replies.replies();
    expect(second?.webhookId).toBe(first?.webhookId);
    expect(second?.body).toEqual(first?.body);
    expect(second?.verified).toBe(true);
  });
});
