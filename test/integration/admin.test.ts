import { Job } from 'bullmq';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { message, startHarness, type Harness } from '../helpers/harness.js';
import { sample, scrape } from '../helpers/metrics.js';

const ADMIN = 'admin-token-0123456789';
let h: Harness;
let seq = 0;
const newPhone = () => `55419${String(Date.now() % 100000).padStart(5, '0')}${String(++seq).padStart(3, '0')}`;

async function admin(method: string, path: string, body?: unknown, token: string | null = ADMIN): Promise<{ status: number; body: any; headers: Headers }> {
  const headers: Record<string, string> = {};
  if (token !== null) headers.authorization = `Bearer ${token}`;
  if (body !== undefined) headers['content-type'] = 'application/json';
  const res = await fetch(`${h.url}${path}`, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  const text = await res.text();
  return { status: res.status, body: text.startsWith('{') ? JSON.parse(text) : text, headers: res.headers };
}

beforeAll(async () => {
  h = await startHarness({ worker: true, adminToken: ADMIN });
});
afterAll(async () => {
  await h.close();
});
beforeEach(() => {
  for (const emulator of [h.toolzz, h.brpex, h.mehub, h.superagentes]) emulator.reset();
});

describe('admin authentication', () => {
  it('401 without the token or with a wrong one, on every admin path', async () => {
    for (const path of ['/admin/handoffs', '/admin/conversations/vendas/5511999990000', '/admin/queues', '/admin/anything']) {
      expect((await admin('GET', path, undefined, null)).status, path).toBe(401);
      expect((await admin('GET', path, undefined, 'wrong')).status, path).toBe(401);
    }
    expect((await admin('GET', '/admin/handoffs', undefined, null)).body).toEqual({ error: 'unauthorized' });
  });

  it('answers 404 for all of it when ADMIN_TOKEN is unset', async () => {
    const bare = await startHarness();
    try {
      for (const path of ['/admin/handoffs', '/admin/queues', '/admin/conversations/vendas/5511999990000']) {
        const res = await fetch(`${bare.url}${path}`, { headers: { authorization: `Bearer ${ADMIN}` } });
        expect(res.status, path).toBe(404);
      }
    } finally {
      await bare.close();
    }
  });

  it('the queue dashboard opens with the token (Bearer, or Basic for a browser)', async () => {
    const bearer = await admin('GET', '/admin/queues');
    expect(bearer.status).toBe(200);
    expect(String(bearer.body)).toContain('<html');
    const basic = await fetch(`${h.url}/admin/queues`, { headers: { authorization: `Basic ${Buffer.from(`ops:${ADMIN}`).toString('base64')}` } });
    expect(basic.status).toBe(200);
    const prompt = await fetch(`${h.url}/admin/queues`);
    expect(prompt.headers.get('www-authenticate')).toMatch(/^Basic/);
    const api = await admin('GET', '/admin/queues/api/queues');
    expect(api.status).toBe(200);
    expect(JSON.stringify(api.body)).toContain('handoffs');
  });
});

describe('conversations', () => {
  it('shows a conversation with the bot, then with a human', async () => {
    const phone = newPhone();
    const first = await h.send('site', message(phone, 'oi'));
    const view = await admin('GET', `/admin/conversations/site/${phone}`);
    expect(view.status).toBe(200);
    expect(view.body).toEqual({
      channel: 'site',
      phone,
      state: 'bot',
      takenBy: null,
      botId: h.config.channels.site?.bot.id,
      conversationId: first.body.conversationId,
      // SPEC §11: every address of the customer.
      aliases: expect.arrayContaining([phone]),
      handoff: null,
    });

    const handoff = await h.send('site', message(phone, 'quero um atendente'));
    await h.settled(handoff.body.handoffId as string);
    const human = await admin('GET', `/admin/conversations/site/${encodeURIComponent(`+${phone}`)}`);
    expect(human.body).toMatchObject({ state: 'human', takenBy: 'handoff', handoff: { id: handoff.body.handoffId, provider: 'brpex', state: 'done', attempts: 1, lastError: null } });
  });

  it('404 for an unknown channel or customer, 400 for a bad phone', async () => {
    expect((await admin('GET', `/admin/conversations/nope/${newPhone()}`)).body).toEqual({ error: 'unknown_channel' });
    expect((await admin('GET', `/admin/conversations/vendas/${newPhone()}`)).status).toBe(404);
    const bad = await admin('GET', '/admin/conversations/vendas/123');
    expect(bad.status).toBe(400);
    expect(bad.body.issues).toEqual([{ path: 'phone', message: expect.any(String) }]);
  });

  it('release: a conversation with a human goes back to the bot, and the next message reaches it', async () => {
    const phone = newPhone();
    const handoff = await h.send('site', message(phone, 'quero um atendente'));
    await h.settled(handoff.body.handoffId as string);
    const released = await admin('POST', `/admin/conversations/site/${phone}/release`);
    expect(released.status).toBe(200);
    expect(released.body).toMatchObject({ state: 'bot', handoff: null });
    const next = await h.send('site', message(phone, 'voltei'));
    expect(next.body.status).toBe('replied');
  });

  it('release while the handoff is still pending cancels it: the platform is never called', async () => {
    const phone = newPhone();
    // A long back-off keeps the job waiting between tries.
    const slow = await startHarness({ worker: true, adminToken: ADMIN, file: { retry: { attempts: 5, baseDelayMs: 60_000, maxDelayMs: 60_000 } } });
    try {
      slow.brpex.inject('dispatch', { status: 503 });
      const res = await slow.send('site', message(phone, 'quero um atendente'));
      const id = res.body.handoffId as string;
      await slow.brpex.waitFor((r) => r.route === 'dispatch' && r.status === 503);
      await waitFor(async () => (await Job.fromId(slow.core.queues.handoff.queue, id).then((j) => j?.getState())) === 'delayed');
      const released = await fetch(`${slow.url}/admin/conversations/site/${phone}/release`, { method: 'POST', headers: { authorization: `Bearer ${ADMIN}` } });
      expect(released.status).toBe(200);
      const record = await (await fetch(`${slow.url}/admin/handoffs/${id}`, { headers: { authorization: `Bearer ${ADMIN}` } })).json();
      expect(record).toMatchObject({ state: 'failed', lastError: 'cancelled: released by an operator' });
      expect(await Job.fromId(slow.core.queues.handoff.queue, id)).toBeUndefined();
      expect(slow.brpex.dispatches(phone)).toHaveLength(0);
    } finally {
      await slow.close();
    }
  });
});

describe('handoffs', () => {
  it('lists by state and shows one, with attempts and the last error', async () => {
    const ok = newPhone();
    h.brpex.inject('dispatch', { status: 503 });
    const done = await h.send('site', message(ok, 'atendente'));
    await h.settled(done.body.handoffId as string);
    const bad = newPhone(); // no SuperAgentes conversation → permanent failure
    const failed = await h.send('app', message(bad, 'atendente'));
    await h.settled(failed.body.handoffId as string);

    const detail = await admin('GET', `/admin/handoffs/${String(done.body.handoffId)}`);
    expect(detail.body).toEqual({
      id: done.body.handoffId,
      channel: 'site',
      phone: ok,
      provider: 'brpex',
      state: 'done',
      attempts: 2,
      lastError: expect.stringContaining('503'),
      createdAt: expect.any(String),
      finishedAt: expect.any(String),
      legs: [{ provider: 'brpex', state: 'done', attempts: 2, lastError: expect.stringContaining('503') }],
    });
    const failedList = await admin('GET', '/admin/handoffs?state=failed');
    expect(failedList.body.handoffs.map((x: { id: string }) => x.id)).toContain(failed.body.handoffId);
    expect(failedList.body.handoffs.every((x: { state: string }) => x.state === 'failed')).toBe(true);
    const doneList = await admin('GET', '/admin/handoffs?state=done');
    expect(doneList.body.handoffs.map((x: { id: string }) => x.id)).toContain(done.body.handoffId);
    expect((await admin('GET', '/admin/handoffs?state=weird')).status).toBe(400);
    expect((await admin('GET', '/admin/handoffs/does-not-exist')).status).toBe(404);
  });

  it('retry re-runs a failed handoff: pending, then done once the platform can take it', async () => {
    const phone = newPhone();
    const res = await h.send('app', message(phone, 'atendente'));
    const id = res.body.handoffId as string;
    expect(await h.settled(id)).toMatchObject({ state: 'failed', attempts: 1 });
    expect((await admin('GET', `/admin/conversations/app/${phone}`)).body.state).toBe('handoff_failed');

    h.superagentes.addConversation({ channelExternalId: phone }); // the operator fixed the cause
    const retried = await admin('POST', `/admin/handoffs/${id}/retry`);
    expect(retried.status).toBe(202);
    expect(retried.body).toEqual({ id, state: 'pending' });
    expect(await h.settled(id)).toMatchObject({ state: 'done', attempts: 2 });
    expect(h.superagentes.updates()).toHaveLength(1);
    const conversation = await admin('GET', `/admin/conversations/app/${phone}`);
    expect(conversation.body.handoff).toMatchObject({ id, state: 'done' });
  });

  it('retry refuses a handoff that is not failed (409) and an unknown one (404)', async () => {
    const phone = newPhone();
    const res = await h.send('site', message(phone, 'atendente'));
    await h.settled(res.body.handoffId as string);
    const again = await admin('POST', `/admin/handoffs/${String(res.body.handoffId)}/retry`);
    expect(again.status).toBe(409);
    expect(again.body.error).toBe('not_failed');
    expect((await admin('POST', '/admin/handoffs/nope/retry')).status).toBe(404);
  });
});

describe('SuperAgentes bulk status', () => {
  it('is refused without a filter or "all": true, and nothing reaches SuperAgentes', async () => {
    h.superagentes.addConversation({ channelExternalId: newPhone() });
    for (const body of [{ status: 'RESOLVED' }, { status: 'RESOLVED', all: false }, {}, { status: 'DONE', channel: 'whatsapp' }]) {
      const res = await admin('POST', '/admin/superagentes/bulk-status', body);
      expect(res.status, JSON.stringify(body)).toBe(400);
      expect(res.body.error).toBe('invalid_request');
    }
    expect(h.superagentes.calls('bulk-status')).toHaveLength(0);
  });

  it('passes the filters on and returns the count SuperAgentes answered', async () => {
    h.superagentes.addConversation({ channelExternalId: newPhone(), channel: 'whatsapp' });
    h.superagentes.addConversation({ channelExternalId: newPhone(), channel: 'whatsapp' });
    h.superagentes.addConversation({ channelExternalId: newPhone(), channel: 'website' });
    const res = await admin('POST', '/admin/superagentes/bulk-status', { status: 'HUMAN_REQUESTED', channel: 'whatsapp' });
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ count: 2 });
    expect(h.superagentes.calls('bulk-status')[0]?.query).toEqual({ channel: 'whatsapp' });
    const all = await admin('POST', '/admin/superagentes/bulk-status', { status: 'RESOLVED', all: true });
    expect(all.body).toEqual({ count: 3 });
  });

  it('a SuperAgentes error is a 502 with its message', async () => {
    h.superagentes.inject('bulk-status', { status: 403, body: { message: 'Sem permissão para esta operação' } });
    const res = await admin('POST', '/admin/superagentes/bulk-status', { status: 'RESOLVED', agentId: 'agent-1' });
    expect(res.status).toBe(502);
    expect(res.body).toEqual({ error: 'upstream_error', status: 403, message: 'Sem permissão para esta operação' });
  });

  it('malformed JSON is a 400', async () => {
    const res = await fetch(`${h.url}/admin/superagentes/bulk-status`, {
      method: 'POST',
      headers: { authorization: `Bearer ${ADMIN}`, 'content-type': 'application/json' },
      body: '{"status":',
    });
    expect(res.status).toBe(400);
    expect(((await res.json()) as { error: string }).error).toBe('invalid_request');
  });
});

describe('metrics', () => {
  it('exposes webhook requests, bot latency, handoffs, queue depth and process metrics', async () => {
    // The harness is shared by the file: assert what these requests added, not that a line exists.
    const before = await scrape(h.url);
    const phone = newPhone();
    await h.send('site', message(phone, 'oi'));
    await h.send('site', message(phone, 'oi'), { auth: false });
    const res = await h.send('site', message(phone, 'atendente'));
    await h.settled(res.body.handoffId as string);
    const after = await scrape(h.url);
    const delta = (name: string, labels: Record<string, string>) => sample(after, name, labels) - sample(before, name, labels);
    expect(delta('handoff_webhook_requests_total', { channel: 'site', status: '200' })).toBe(1);
    expect(delta('handoff_webhook_requests_total', { channel: 'site', status: '401' })).toBe(1);
    expect(delta('handoff_webhook_requests_total', { channel: 'site', status: '202' })).toBe(1);
    expect(delta('handoff_toolzz_request_duration_seconds_count', { outcome: 'ok' })).toBe(2);
    expect(delta('handoff_handoffs_total', { provider: 'brpex', outcome: 'queued' })).toBe(1);
    expect(delta('handoff_handoffs_total', { provider: 'brpex', outcome: 'done' })).toBe(1);
    expect(delta('handoff_attempts_total', { provider: 'brpex', outcome: 'done' })).toBe(1);
    expect(sample(after, 'handoff_queue_jobs', { queue: 'handoffs', state: 'completed' })).toBeGreaterThanOrEqual(1);
    expect(after).toMatch(/handoff_queue_jobs\{queue="inbox",state="waiting"\} \d+/);
    expect(sample(after, 'process_resident_memory_bytes')).toBeGreaterThan(0);
    expect(after).toContain('nodejs_eventloop_lag_seconds');
  });

  it('an unknown channel name is counted as "unknown", not as a new label', async () => {
    const before = sample(await scrape(h.url), 'handoff_webhook_requests_total', { channel: 'unknown', status: '404' });
    await h.send('no-such-channel-xyz', message(newPhone(), 'oi'), { auth: false });
    const text = await scrape(h.url);
    expect(text).not.toContain('no-such-channel-xyz');
    expect(sample(text, 'handoff_webhook_requests_total', { channel: 'unknown', status: '404' })).toBe(before + 1);
  });
});

async function waitFor(check: () => Promise<boolean>, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}
