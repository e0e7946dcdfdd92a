import { Job } from 'bullmq';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { Fault } from '../../src/sandbox/emulator.js';
import { MEHUB_DESTINATION, message, startHarness, type Harness } from '../helpers/harness.js';
import { sample, scrape } from '../helpers/metrics.js';
import { waitUntil } from '../helpers/wait.js';

let h: Harness;
let seq = 0;
const newPhone = () => `55219${String(Date.now() % 100000).padStart(5, '0')}${String(++seq).padStart(3, '0')}`;

beforeAll(async () => {
  h = await startHarness({ worker: true });
});
afterAll(async () => {
  await h.close();
});
beforeEach(() => {
  for (const emulator of [h.toolzz, h.brpex, h.mehub, h.superagentes]) emulator.reset();
});

const conversationOf = (channel: string, phone: string) => h.conversation(channel, phone);

const handOff = (channel: string, phone: string, extra?: Record<string, unknown>) => h.handOff(channel, phone, extra);

/** A seeded pseudo-random sequence, so a failing run can be replayed. */
function prng(seed: number): () => number {
  let state = seed;
  return () => {
    state = (state * 1103515245 + 12345) % 2 ** 31;
    return state / 2 ** 31;
  };
}

describe('each platform, end to end', () => {
  it('MeHub: the open chat is transferred to the destination channel and attendant, with the context note', async () => {
    const phone = newPhone();
    const chat = h.mehub.addChat({ phone, name: 'João' });
    const handoffId = await handOff('vendas', phone);
    const record = await h.settled(handoffId);
    expect(record).toMatchObject({ state: 'done', attempts: 1, provider: 'mehub', channel: 'vendas', phone });
    expect(record.finishedAt).toBeTruthy();
    expect(h.mehub.transfers()).toEqual([
      expect.objectContaining({ chatToken: chat.token, channel: MEHUB_DESTINATION, attendant: 8, message: expect.stringContaining(`Cliente: João (${phone})`) }),
    ]);
    expect((await conversationOf('vendas', phone))?.state).toBe('human');
    const next = await h.send('vendas', message(phone, 'oi?'));
    expect(next.body).toEqual({ status: 'human_active', handoffId });
  });

  it('BRPEX: the phone’s ticket is dispatched with the channel token', async () => {
    const phone = newPhone();
    const handoffId = await handOff('site', phone);
    expect(await h.settled(handoffId)).toMatchObject({ state: 'done', attempts: 1 });
    expect(h.brpex.dispatches(phone)).toHaveLength(1);
    expect((await conversationOf('site', phone))?.state).toBe('human');
  });

  it('SuperAgentes: the customer’s open conversation gets priority and assignees', async () => {
    const phone = newPhone();
    const conversation = h.superagentes.addConversation({ channelExternalId: phone });
    const handoffId = await handOff('app', phone);
    expect(await h.settled(handoffId)).toMatchObject({ state: 'done', attempts: 1 });
    expect(h.superagentes.conversation(conversation.id)).toMatchObject({ priority: 'HIGH', assignees: [expect.objectContaining({ id: 'member-1' })] });
    expect(h.superagentes.calls('bulk-status')).toHaveLength(0);
  });
});

describe('failures', () => {
  it('a permanent failure leaves the conversation handoff_failed, and the next message reaches the bot', async () => {
    const phone = newPhone(); // no SuperAgentes conversation for this customer → no_conversation
    const handoffId = await handOff('app', phone);
    const record = await h.settled(handoffId);
    expect(record).toMatchObject({ state: 'failed', attempts: 1, lastError: expect.stringContaining('no open conversation') });
    expect((await conversationOf('app', phone))?.state).toBe('handoff_failed');
    await h.logs.waitFor('handoff failed for good');

    const calls = h.toolzz.calls('send-message').length;
    const next = await h.send('app', message(phone, 'alguém aí?'));
    expect(next.body.status).toBe('replied');
    expect(h.toolzz.calls('send-message')).toHaveLength(calls + 1);
    expect((await conversationOf('app', phone))?.state).toBe('bot');
  });

  it('a 4xx from the platform fails at once with the platform’s message', async () => {
    const phone = newPhone();
    h.mehub.addChat({ phone });
    h.mehub.inject('transfer', { status: 403, body: { success: false, message: 'Você não tem permissão para transferir conversas deste canal.' } });
    const record = await h.settled(await handOff('vendas', phone));
    expect(record).toMatchObject({ state: 'failed', attempts: 1, lastError: 'mehub answered 403: Você não tem permissão para transferir conversas deste canal.' });
  });

  it('503 then success: retried, done on the second try, the error kept on the record', async () => {
    const phone = newPhone();
    h.brpex.inject('dispatch', { status: 503 });
    const record = await h.settled(await handOff('site', phone));
    expect(record).toMatchObject({ state: 'done', attempts: 2, lastError: expect.stringContaining('503') });
    expect(h.brpex.dispatches(phone)).toHaveLength(1);
  });

  it('gives up after retry.attempts tries in all', async () => {
    const phone = newPhone();
    h.brpex.inject('dispatch', ...Array.from({ length: 5 }, (): Fault => ({ status: 502 })));
    const record = await h.settled(await handOff('site', phone));
    expect(record).toMatchObject({ state: 'failed', attempts: h.config.retry.attempts, lastError: expect.stringContaining('502') });
    expect(h.brpex.calls('dispatch')).toHaveLength(5);
    expect((await conversationOf('site', phone))?.state).toBe('handoff_failed');
  });

  it('MeHub has no open chat yet: retried until the chat appears', async () => {
    const phone = newPhone();
    const handoffId = await handOff('vendas', phone);
    await h.mehub.waitFor((r) => r.route === 'list' && r.query.contact === phone);
    h.mehub.addChat({ phone });
    const record = await h.settled(handoffId);
    expect(record).toMatchObject({ state: 'done', lastError: expect.stringContaining('no_open_chat') });
    expect(record.attempts).toBeGreaterThanOrEqual(2);
    expect(h.mehub.calls('list', (r) => r.query.contact === phone && r.query.channel === undefined).length).toBeGreaterThanOrEqual(2);
    expect(h.mehub.transfers()).toHaveLength(1);
  });

  it('honours Retry-After: the next try is scheduled that far away', async () => {
    const phone = newPhone();
    h.brpex.inject('dispatch', { status: 429, headers: { 'retry-after': '1' } });
    const handoffId = await handOff('site', phone);
    // Retry-After: 1 s, but retry.maxDelayMs in this harness is 100 ms: capped. Without it
    // the full-jitter delay would be 0–9 ms (baseDelayMs 10).
    const [first, second] = await h.brpex.waitFor((r) => r.route === 'dispatch', 2);
    const gap = (second?.at ?? 0) - (first?.at ?? 0);
    expect(gap).toBeGreaterThanOrEqual(h.config.retry.maxDelayMs - 5);
    expect(gap).toBeLessThan(1000);
    expect(await h.settled(handoffId)).toMatchObject({ state: 'done', attempts: 2 });
  });
});

describe('exactly once', () => {
  it('50 customers against a MeHub failing 30% with 503: each handed off exactly once, none lost', async () => {
    // Every try makes a list and a transfer call, so ~half the tries fail: give it room to
    // retry (0.51^20 per customer), as a production config with 8 tries and minutes of
    // back-off would ride out an outage.
    const s = await startHarness({ worker: true, file: { retry: { attempts: 20, baseDelayMs: 5, maxDelayMs: 50 } } });
    try {
      await fiftyCustomers(s);
    } finally {
      await s.close();
    }
  }, 90_000);

  async function fiftyCustomers(h: Harness): Promise<void> {
    const random = prng(42);
    // 20% plain 503s (nothing applied) and 10% "applied, then 503" (the nasty ambiguous case).
    const faults = (count: number): Fault[] =>
      Array.from({ length: count }, () => {
        const roll = random();
        return roll < 0.2 ? { status: 503 } : roll < 0.3 ? { status: 503, apply: true } : {};
      });
    h.mehub.inject('transfer', ...faults(400));
    h.mehub.inject('list', ...faults(400));
    const phones = Array.from({ length: 50 }, () => newPhone());
    for (const phone of phones) h.mehub.addChat({ phone });

    const ids = await Promise.all(phones.map((phone) => h.handOff('vendas', phone)));
    const records = await Promise.all(ids.map((id) => h.settled(id, 60_000)));

    expect(records.filter((r) => r.state !== 'done')).toEqual([]);
    const perPhone = new Map<string, number>();
    for (const transfer of h.mehub.transfers()) {
      const phone = h.mehub.chat(transfer.chatToken)?.contact.phone as string;
      perPhone.set(phone, (perPhone.get(phone) ?? 0) + 1);
    }
    expect(phones.filter((p) => perPhone.get(p) !== 1)).toEqual([]);
    expect(h.mehub.calls('transfer', (r) => r.status === 503).length).toBeGreaterThan(0);
  }

  it('MeHub transfer applied but answered after the timeout: exactly one transfer takes effect', async () => {
    const phone = newPhone();
    h.mehub.addChat({ phone });
    h.mehub.inject('transfer', { applyThenDelayMs: h.config.providers.mehub.timeoutMs + 500 });
    const record = await h.settled(await handOff('vendas', phone));
    expect(record).toMatchObject({ state: 'done', attempts: 2, lastError: expect.stringContaining('did not answer') });
    expect(h.mehub.transfers()).toHaveLength(1);
    // The second try looked at the destination channel instead of transferring again.
    expect(h.mehub.calls('list', (r) => r.query.channel === MEHUB_DESTINATION)).toHaveLength(1);
  });

  it('the connection dropped after the transfer was applied: still exactly one', async () => {
    const phone = newPhone();
    h.mehub.addChat({ phone });
    h.mehub.inject('transfer', { destroy: true, apply: true });
    expect(await h.settled(await handOff('vendas', phone))).toMatchObject({ state: 'done', attempts: 2 });
    expect(h.mehub.transfers()).toHaveLength(1);
  });
});

describe('job validation and cancellation', () => {
  it('a job whose payload is invalid fails at once, without touching any platform', async () => {
    const failed = new Promise<Job>((resolve) => h.worker?.handoff.worker.on('failed', (job) => job?.id === 'bad-payload' && resolve(job)));
    await h.core.queues.handoff.queue.add('handoff', { handoffId: 'x', phone: 12 }, { jobId: 'bad-payload', attempts: 5 });
    const job = await failed;
    expect(job.failedReason).toMatch(/^invalid handoff job payload/);
    expect(job.attemptsMade).toBe(1);
    for (const emulator of [h.brpex, h.mehub, h.superagentes]) expect(emulator.calls()).toEqual([]);
  });

  it('a handoff whose conversation was released meanwhile is not performed', async () => {
    // A long back-off parks the job between tries (no race with a 0–9 ms retry). The delay is
    // BRPEX's Retry-After, not the jittered back-off: a jitter can draw a few ms.
    const slow = await startHarness({ worker: true, file: { retry: { attempts: 5, baseDelayMs: 60_000, maxDelayMs: 60_000 } } });
    try {
      const phone = newPhone();
      slow.brpex.inject('dispatch', { status: 503, headers: { 'retry-after': '60' } });
      const handoffId = await slow.handOff('site', phone);
      await waitUntil(() => slow.core.queues.handoff.queue.getJobState(handoffId), { what: 'the job to wait for its retry', done: (state) => state === 'delayed' });
      // What the admin release does to the conversation: back to the bot.
      await slow.redis.hset(slow.keys.conversation('site', phone), { state: 'bot', handoffId: '' });
      await (await Job.fromId(slow.core.queues.handoff.queue, handoffId))?.promote();
      const record = await slow.settled(handoffId);
      expect(record).toMatchObject({ state: 'failed', attempts: 2, lastError: expect.stringContaining('cancelled') });
      expect(slow.brpex.dispatches(phone)).toHaveLength(0);
      // A cancellation is not a failure: no error line, its own metric outcome.
      const lines = slow.logs.lines.map((l) => JSON.parse(l) as Record<string, unknown>).filter((l) => l.handoffId === handoffId);
      expect(lines.filter((l) => l.msg === 'handoff failed for good')).toEqual([]);
      expect(lines.some((l) => l.msg === 'handoff attempt' && l.outcome === 'cancelled')).toBe(true);
      expect(sample(await scrape(slow.url), 'handoff_handoffs_total', { provider: 'brpex', outcome: 'cancelled' })).toBe(1);
      expect((await slow.conversation('site', phone))?.state).toBe('bot');
    } finally {
      await slow.close();
    }
  });
});
