import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { Job } from 'bullmq';
import { handoffJobSchema } from '../../src/handoff/job.js';
import { APP_TOKEN, BOT_ID, message, SITE_SECRET, startHarness, TOOLZZ_TOKEN, VENDAS_TOKEN, type Harness } from '../helpers/harness.js';
import { signedHeaders } from '../helpers/sign.js';
import { waitUntil } from '../helpers/wait.js';

let h: Harness;
let phoneSeq = 0;
/** A phone no other test of this file uses (customers are isolated per test). */
const newPhone = () => `55119${String(Date.now() % 100000).padStart(5, '0')}${String(++phoneSeq).padStart(3, '0')}`;

beforeAll(async () => {
  h = await startHarness();
});
afterAll(async () => {
  await h.close();
});
beforeEach(() => {
  h.toolzz.reset();
});

describe('bot replies', () => {
  it('forwards the message to Toolzz and answers 200 replied', async () => {
    const phone = newPhone();
    const res = await h.send('vendas', message(`+${phone.slice(0, 2)} (${phone.slice(2, 4)}) ${phone.slice(4, 9)}-${phone.slice(9)}`, 'Oi, tudo bem?'));
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ status: 'replied', reply: expect.stringContaining('Oi, tudo bem?') });
    expect(typeof res.body.conversationId).toBe('string');
    const [call] = h.toolzz.calls('send-message');
    expect(call?.body).toEqual({ message: 'Oi, tudo bem?', botId: BOT_ID });
    expect(call?.authorized).toBe(true);
  });

  it('keeps one Toolzz conversationId per customer', async () => {
    const phone = newPhone();
    const first = await h.send('vendas', message(phone, 'primeira'));
    const second = await h.send('vendas', message(phone, 'segunda'));
    expect(second.status).toBe(200);
    expect(second.body.conversationId).toBe(first.body.conversationId);
    const calls = h.toolzz.calls('send-message');
    expect((calls[0]?.body as Record<string, unknown>).conversationId).toBeUndefined();
    expect((calls[1]?.body as Record<string, unknown>).conversationId).toBe(first.body.conversationId);
  });

  it('normalises the phone: the same customer written two ways is one conversation', async () => {
    const phone = newPhone();
    const first = await h.send('vendas', message(phone, 'a'));
    const second = await h.send('vendas', message(`+${phone.slice(0, 2)} ${phone.slice(2, 4)} ${phone.slice(4)}`, 'b'));
    expect(second.body.conversationId).toBe(first.body.conversationId);
  });

  it('sends the Toolzz token as a Bearer header', async () => {
    await h.send('vendas', message(newPhone(), 'oi'));
    expect(h.toolzz.calls('send-message')[0]?.authorized).toBe(true);
  });
});

describe('bot-to-bot transfer', () => {
  const botB = '11111111-1111-4111-8111-111111111111';
  const botC = '22222222-2222-4222-8222-222222222222';

  it('forwards the same message to targetBotId at once and returns its reply', async () => {
    h.toolzz.script = ({ botId, message: text }) =>
      botId === BOT_ID
        ? { content: 'passando', transferToAgent: true, targetBotId: botB }
        : { content: `sou o bot B: ${text}`, transferToAgent: false };
    const phone = newPhone();
    const res = await h.send('vendas', message(phone, 'financeiro'));
    expect(res.status).toBe(200);
    expect(res.body.reply).toBe('sou o bot B: financeiro');
    const calls = h.toolzz.calls('send-message').map((c) => c.body as Record<string, unknown>);
    expect(calls.map((c) => c.botId)).toEqual([BOT_ID, botB]);
    expect(calls[1]?.message).toBe('financeiro');
    expect(calls[1]?.conversationId).toBe(res.body.conversationId);

    // The conversation now belongs to bot B.
    await h.send('vendas', message(phone, 'e agora?'));
    expect((h.toolzz.calls('send-message')[2]?.body as Record<string, unknown>).botId).toBe(botB);
  });

  it('stops after the third hop: the fourth bot reply is returned and the loop logged', async () => {
    const ring = [BOT_ID, botB, botC, '33333333-3333-4333-8333-333333333333', '44444444-4444-4444-8444-444444444444'];
    h.toolzz.script = ({ botId }) => ({ content: `eu sou ${botId}`, transferToAgent: true, targetBotId: ring[ring.indexOf(botId) + 1] ?? BOT_ID });
    const res = await h.send('vendas', message(newPhone(), 'loop'));
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ status: 'replied', reply: `eu sou ${ring[3]}` });
    expect(h.toolzz.calls('send-message')).toHaveLength(4);
    await h.logs.waitFor('bot-to-bot transfer loop');
  });
});

describe('human handoff', () => {
  it('answers 202 with a handoffId, stores a complete valid job, and keeps the bot out afterwards', async () => {
    const phone = newPhone();
    const first = await h.send('vendas', message(phone, 'oi'));
    const res = await h.send('vendas', message(phone, 'Quero falar com um atendente', { externalIds: { mehubChatToken: 'abc123def456' } }));
    expect(res.status).toBe(202);
    expect(res.body).toMatchObject({ status: 'handoff_queued', conversationId: first.body.conversationId, reply: expect.any(String) });
    const handoffId = res.body.handoffId as string;

    const job = await Job.fromId(h.core.queues.handoff.queue, handoffId);
    expect(job).toBeDefined();
    const data = handoffJobSchema.parse(job?.data);
    expect(data).toMatchObject({
      handoffId,
      channel: 'vendas',
      provider: 'mehub',
      phone,
      name: 'João',
      conversationId: first.body.conversationId,
      botId: BOT_ID,
      lastMessage: 'Quero falar com um atendente',
      botReply: res.body.reply,
      externalIds: { mehubChatToken: 'abc123def456' },
    });
    expect(job?.opts.attempts).toBe(h.config.retry.attempts);
    expect(await h.redis.hget(h.keys.handoff('vendas', phone, handoffId), 'state')).toBe('pending');

    const calls = h.toolzz.calls('send-message').length;
    const next = await h.send('vendas', message(phone, 'alô?'));
    expect(next.status).toBe(200);
    expect(next.body).toEqual({ status: 'human_active', handoffId });
    expect(h.toolzz.calls('send-message')).toHaveLength(calls);
  });

  it('returns to the bot when the human period (humanTtlMinutes) runs out, counted from the handoff being done', async () => {
    // channel "app" has humanTtlMinutes: 0.05 (3 s). SPEC §8.4: the period starts when the
    // human gets the customer, so this needs a worker to perform the handoff.
    const w = await startHarness({ worker: true });
    try {
      const phone = newPhone();
      w.superagentes.addConversation({ channelExternalId: phone });
      const res = await w.send('app', message(phone, 'preciso de um atendente'));
      expect(res.status).toBe(202);
      const record = await w.settled(res.body.handoffId as string);
      expect(record.state).toBe('done');
      const humanUntil = (await w.conversation('app', phone))?.humanUntil ?? 0;
      expect(humanUntil - Date.parse(record.finishedAt ?? '')).toBe(3000);
      const during = await w.send('app', message(phone, 'oi?'));
      expect(during.body.status).toBe('human_active');
      const after = await waitUntil(() => w.send('app', message(phone, 'voltou?')), { what: 'the human period to end', timeoutMs: 10_000, intervalMs: 200, done: (r) => r.body.status !== 'human_active' });
      expect(Date.now()).toBeGreaterThanOrEqual(humanUntil);
      expect(after.body).toMatchObject({ status: 'replied', conversationId: res.body.conversationId });
    } finally {
      await w.close();
    }
  });

  it('a retried first message cannot queue a second handoff', async () => {
    const phone = newPhone();
    const body = message(phone, 'atendente por favor');
    const [a, b] = await Promise.all([h.send('vendas', body), h.send('vendas', { ...body, messageId: `${body.messageId as string}-retry` })]);
    const statuses = [a.body.status, b.body.status].sort();
    expect(statuses).toEqual(['handoff_queued', 'human_active']);
    const jobs = await h.core.queues.handoff.queue.getJobs(['waiting', 'delayed', 'active', 'completed', 'failed']);
    expect(jobs.filter((j) => j.data.phone === phone)).toHaveLength(1);
  });
});

describe('duplicates', () => {
  it('replays the first answer with duplicate:true and does not call the bot again', async () => {
    const body = message(newPhone(), 'oi');
    const first = await h.send('vendas', body);
    const again = await h.send('vendas', body);
    expect(again.status).toBe(first.status);
    expect(again.body).toEqual({ ...first.body, duplicate: true });
    expect(h.toolzz.calls('send-message')).toHaveLength(1);
  });

  it('replays a 202 handoff answer as 202', async () => {
    const body = message(newPhone(), 'quero um atendente');
    const first = await h.send('vendas', body);
    const again = await h.send('vendas', body);
    expect(first.status).toBe(202);
    expect(again.status).toBe(202);
    expect(again.body).toEqual({ ...first.body, duplicate: true });
  });

  it('answers 409 in_progress for the same messageId while the first is processing', async () => {
    h.toolzz.latencyMs = 400;
    const phone = newPhone();
    const body = message(phone, 'oi');
    const arrived = h.toolzz.nextArrival(/send-message/);
    const first = h.send('vendas', body);
    // The first request holds the messageId once its bot call is under way.
    await arrived;
    const second = await h.send('vendas', body);
    expect(second.status).toBe(409);
    expect(second.body).toEqual({ error: 'in_progress' });
    expect((await first).status).toBe(200);
  });

  it('a messageId is unique per channel, not globally', async () => {
    const phone = newPhone();
    const body = message(phone, 'oi');
    await h.send('vendas', body);
    const other = await h.send('app', body);
    expect(other.body.duplicate).toBeUndefined();
    expect(h.toolzz.calls('send-message')).toHaveLength(2);
  });
});

describe('one message at a time per customer', () => {
  it('concurrent first messages create one Toolzz conversation', async () => {
    h.toolzz.latencyMs = 30;
    const phone = newPhone();
    const bodies = Array.from({ length: 5 }, (_, i) => message(phone, `mensagem ${i}`));
    const results = await Promise.all(bodies.map((b) => h.send('vendas', b)));
    expect(results.every((r) => r.status === 200)).toBe(true);
    expect(new Set(results.map((r) => r.body.conversationId)).size).toBe(1);
    const calls = h.toolzz.calls('send-message').map((c) => c.body as Record<string, unknown>);
    expect(calls.filter((c) => c.conversationId === undefined)).toHaveLength(1);
    expect(h.toolzz.conversations.size).toBe(1);
  });

  it('messages of one customer reach the bot in arrival order', async () => {
    h.toolzz.latencyMs = 100;
    const phone = newPhone();
    const arrived = h.toolzz.nextArrival(/send-message/);
    const answers = [h.send('vendas', message(phone, 'mensagem 0'))];
    await arrived; // message 0 holds the turn
    for (let i = 1; i < 5; i++) {
      const body = message(phone, `mensagem ${i}`);
      answers.push(h.send('vendas', body));
      // Each has claimed its messageId and joined the customer's queue (one script) before
      // the next is sent: that is its arrival order.
      await waitUntil(() => h.redis.exists(h.keys.message('vendas', phone, body.messageId as string)), { what: `message ${i} to arrive`, done: (n) => n === 1 });
    }
    expect((await Promise.all(answers)).map((a) => a.status)).toEqual([200, 200, 200, 200, 200]);
    expect(h.toolzz.calls('send-message').map((c) => (c.body as { message: string }).message)).toEqual(['mensagem 0', 'mensagem 1', 'mensagem 2', 'mensagem 3', 'mensagem 4']);
  });

  it('different customers are not serialised', async () => {
    h.toolzz.latencyMs = 200;
    await Promise.all(Array.from({ length: 4 }, () => h.send('vendas', message(newPhone(), 'oi'))));
    expect(h.toolzz.maxInFlight).toBe(4);
  });

  it('one customer never has two bot calls in flight', async () => {
    h.toolzz.latencyMs = 20;
    const phone = newPhone();
    const answers = await Promise.all(Array.from({ length: 6 }, (_, i) => h.send('vendas', message(phone, `m${i}`))));
    expect(answers.map((a) => a.status)).toEqual([200, 200, 200, 200, 200, 200]);
    expect(h.toolzz.calls('send-message')).toHaveLength(6);
    expect(h.toolzz.maxInFlight).toBe(1);
  });
});

describe('authentication', () => {
  it('401 without a token, with a wrong one, or with a non-Bearer scheme', async () => {
    for (const authorization of [undefined, 'Bearer wrong', `Basic ${VENDAS_TOKEN}`, `Bearer ${VENDAS_TOKEN}x`]) {
      const res = await h.send('vendas', message(newPhone(), 'oi'), { auth: false, headers: authorization ? { authorization } : {} });
      expect(res.status).toBe(401);
      expect(res.body).toEqual({ error: 'unauthorized' });
    }
    expect(h.toolzz.calls()).toHaveLength(0);
  });

  it('a channel token does not open another channel', async () => {
    const res = await h.send('app', message(newPhone(), 'oi'), { auth: false, headers: { authorization: `Bearer ${VENDAS_TOKEN}` } });
    expect(res.status).toBe(401);
    expect(h.toolzz.calls()).toHaveLength(0);
    // Its own token does.
    expect((await h.send('app', message(newPhone(), 'oi'), { auth: false, headers: { authorization: `Bearer ${APP_TOKEN}` } })).status).toBe(200);
  });

  it('accepts a valid Standard Webhooks signature (any of several entries)', async () => {
    const raw = JSON.stringify(message(newPhone(), 'oi pelo site'));
    const headers = signedHeaders(SITE_SECRET, raw);
    headers['webhook-signature'] = `v1,AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA= ${headers['webhook-signature']}`;
    const res = await h.send('site', undefined, { raw, auth: false, headers });
    expect(res.status).toBe(200);
  });

  it('401 for a missing signature, a tampered body, or a 6-minute-old timestamp', async () => {
    const raw = JSON.stringify(message(newPhone(), 'oi'));
    const cases: Record<string, string>[] = [
      {},
      { ...signedHeaders(SITE_SECRET, raw), 'webhook-signature': '' },
      signedHeaders(SITE_SECRET, raw.replace('oi', 'ei')),
      signedHeaders(SITE_SECRET, raw, { timestamp: Math.floor(Date.now() / 1000) - 6 * 60 }),
      signedHeaders(SITE_SECRET, raw, { timestamp: Math.floor(Date.now() / 1000) + 6 * 60 }),
      signedHeaders('whsec_' + Buffer.from('another secret').toString('base64'), raw),
    ];
    for (const headers of cases) {
      const res = await h.send('site', undefined, { raw, auth: false, headers });
      expect(res.status, JSON.stringify(headers)).toBe(401);
      expect(res.body).toEqual({ error: 'unauthorized' });
    }
    expect(h.toolzz.calls()).toHaveLength(0);
  });

  it('the signature is checked on the raw bytes, not on re-serialised JSON', async () => {
    const raw = `{ "messageId": "raw-${Date.now()}",  "contact": {"phone": "${newPhone()}"}, "text": "espaços  mantidos" }`;
    const res = await h.send('site', undefined, { raw, auth: false, headers: signedHeaders(SITE_SECRET, raw) });
    expect(res.status).toBe(200);
  });
});

describe('bad input', () => {
  const issuesOf = (res: { body: Record<string, unknown> }) => (res.body.issues as { path: string; message: string }[]).map((i) => i.path);

  it('400 for malformed JSON', async () => {
    const res = await h.send('vendas', undefined, { raw: '{"messageId": "x", ' });
    expect(res.status).toBe(400);
    expect(res.body.error).toBe('invalid_request');
    expect(res.body.issues).toEqual([{ path: '', message: expect.stringContaining('malformed JSON') }]);
  });

  it('400 naming every bad field', async () => {
    const res = await h.send('vendas', { messageId: '', contact: { phone: '123' }, text: 42 });
    expect(res.status).toBe(400);
    expect(issuesOf(res).sort()).toEqual(['contact.phone', 'messageId', 'text']);
  });

  it('400 for a missing body field, a non-object body and a wrong-typed contact', async () => {
    for (const body of [{ contact: { phone: newPhone() }, text: 'x' }, [1, 2], 'texto', null, { messageId: 'a', contact: 'x', text: 'y' }]) {
      const res = await h.send('vendas', body);
      expect(res.status, JSON.stringify(body)).toBe(400);
      expect(res.body.error).toBe('invalid_request');
    }
  });

  it('400 for a 4097-character text; 4096 emoji (8192 UTF-16 units) are fine', async () => {
    const tooLong = await h.send('vendas', message(newPhone(), 'a'.repeat(4097)));
    expect(tooLong.status).toBe(400);
    expect(issuesOf(tooLong)).toEqual(['text']);
    const emoji = await h.send('vendas', message(newPhone(), '😀'.repeat(4096)));
    expect(emoji.status).toBe(200);
  });

  it('400 for a 9-digit phone, a 16-digit one, and letters', async () => {
    for (const phone of ['119999000', '5511999990000123', '55 11 9999O-0000', '+55 11 abc 99990000']) {
      const res = await h.send('vendas', message(phone, 'oi'));
      expect(res.status, phone).toBe(400);
      expect(issuesOf(res)).toEqual(['contact.phone']);
    }
  });

  it('400 for a messageId over 256 characters and an unsafe externalIds hint', async () => {
    const long = await h.send('vendas', { ...message(newPhone(), 'oi'), messageId: 'm'.repeat(257) });
    expect(issuesOf(long)).toEqual(['messageId']);
    const unsafe = await h.send('vendas', message(newPhone(), 'oi', { externalIds: { mehubChatToken: '../../admin' } }));
    expect(issuesOf(unsafe)).toEqual(['externalIds.mehubChatToken']);
  });

  it('413 for a 300 KiB body, before anything else is done', async () => {
    const res = await h.send('vendas', message(newPhone(), 'x'.repeat(300 * 1024)));
    expect(res.status).toBe(413);
    expect(res.body).toEqual({ error: 'payload_too_large' });
    expect(h.toolzz.calls()).toHaveLength(0);
  });

  it('415 for a body that is not JSON', async () => {
    const res = await fetch(`${h.url}/webhooks/vendas`, {
      method: 'POST',
      headers: { 'content-type': 'text/plain', authorization: `Bearer ${VENDAS_TOKEN}` },
      body: 'oi',
    });
    expect(res.status).toBe(415);
    expect(await res.json()).toEqual({ error: 'unsupported_media_type' });
  });

  it('404 for an unknown channel', async () => {
    const res = await h.send('nao-existe', message(newPhone(), 'oi'), { auth: false, headers: { authorization: `Bearer ${VENDAS_TOKEN}` } });
    expect(res.status).toBe(404);
    expect(res.body).toEqual({ error: 'unknown_channel' });
  });

  it('a rejected message is not remembered: fixing it and resending works', async () => {
    const body = message('123', 'oi');
    expect((await h.send('vendas', body)).status).toBe(400);
    const fixed = await h.send('vendas', { ...body, contact: { phone: newPhone() } });
    expect(fixed.status).toBe(200);
  });
});

describe('Toolzz failures', () => {
  it('502 bot_unavailable on a Toolzz 500, and the retry is processed normally', async () => {
    h.toolzz.inject('send-message', { status: 500 });
    const body = message(newPhone(), 'oi');
    const failed = await h.send('vendas', body);
    expect(failed.status).toBe(502);
    expect(failed.body).toEqual({ error: 'bot_unavailable' });
    const retried = await h.send('vendas', body);
    expect(retried.status).toBe(200);
    expect(retried.body.duplicate).toBeUndefined();
  });

  it('502 on an invalid Toolzz answer and on a dropped connection', async () => {
    h.toolzz.inject('send-message', { rawBody: '{"message": {"content": 1}}' }, { rawBody: 'not json' }, { destroy: true });
    for (let i = 0; i < 3; i++) {
      const res = await h.send('vendas', message(newPhone(), 'oi'));
      expect(res.status).toBe(502);
      expect(res.body).toEqual({ error: 'bot_unavailable' });
    }
  });

  it('504 bot_unavailable when Toolzz does not answer in time', async () => {
    h.toolzz.inject('send-message', { delayMs: 3_000 }); // harness timeout is 2 s
    const res = await h.send('vendas', message(newPhone(), 'oi'));
    expect(res.status).toBe(504);
    expect(res.body).toEqual({ error: 'bot_unavailable' });
  });

  it('a 401 from Toolzz (bad token) is a 502, and the token is never logged', async () => {
    h.toolzz.inject('send-message', { status: 401, body: { message: 'Unauthenticated.' } });
    const res = await h.send('vendas', message(newPhone(), 'oi'));
    expect(res.status).toBe(502);
    // The failure was logged (so the search below searched something), without the token.
    await h.logs.waitFor('Toolzz call failed');
    expect(h.logs.text).not.toContain(TOOLZZ_TOKEN);
    expect(h.logs.text).not.toContain(VENDAS_TOKEN);
  });
});

describe('operations basics', () => {
  it('healthz and readyz', async () => {
    expect(await (await fetch(`${h.url}/healthz`)).json()).toEqual({ status: 'ok' });
    expect((await fetch(`${h.url}/readyz`)).status).toBe(200);
  });

  it('unknown paths answer JSON 404', async () => {
    const res = await fetch(`${h.url}/nope`);
    expect(res.status).toBe(404);
    expect(await res.json()).toEqual({ error: 'not_found' });
  });
});
