import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { ConversationRef } from '../../src/conversations/types.js';
import { DELIVERY_STATES, newDelivery } from '../../src/delivery/records.js';
import type { HandoffJob } from '../../src/handoff/job.js';
import { createRecordIndex } from '../../src/records/index-store.js';
import { metaEnvelope, metaText } from '../../src/sandbox/whatsapp.js';
import { asyncChannels, startHarness, WA_PHONE_NUMBER_ID, type Harness } from '../helpers/harness.js';
import { waitUntil } from '../helpers/wait.js';

/**
 * The asynchronous path's cost (SPEC §8.1, §8.2): one job per message in the common case —
 * the drain that wrote a reply sends it itself — without giving up any guarantee: one try of
 * a customer's replies at a time (the send lease), retries through the outbox lane, an
 * inline sender that dies is taken over, a message that finds others waiting schedules
 * nothing yet is processed, and a handoff's job is queued only once its record exists.
 */
const ADMIN = 'one-job-admin-token';
let h: Harness;
let seq = 0;
const newPhone = () => `55639${String(Date.now() % 100000).padStart(5, '0')}${String(++seq).padStart(3, '0')}`;

beforeAll(async () => {
  h = await startHarness({
    worker: true,
    adminToken: ADMIN,
    file: {
      delivery: { timeoutMs: 1_000, attempts: 4, baseDelayMs: 100, maxDelayMs: 500 },
      worker: { reconcileIntervalMs: 250 },
    },
    channels: (replyUrl) => asyncChannels(replyUrl),
  });
});
afterAll(async () => {
  await h.close();
});

/** Every call of the lanes' schedulers since the test began. */
let scheduled: { lane: 'inbox' | 'outbox'; ref: ConversationRef; delayMs: number }[] = [];
beforeEach(() => {
  for (const emulator of h.emulators()) emulator.reset();
  h.whatsapp.webhookUrl = `${h.url}/webhooks/wa`;
  scheduled = [];
});
beforeAll(() => {
  const lanes = h.core.lanes;
  const inbox = lanes.scheduleInboxDrain.bind(lanes);
  const outbox = lanes.scheduleOutboxDrain.bind(lanes);
  lanes.scheduleInboxDrain = (ref, delayMs = 0, debounce) => {
    scheduled.push({ lane: 'inbox', ref, delayMs });
    return inbox(ref, delayMs, debounce);
  };
  lanes.scheduleOutboxDrain = (ref, delayMs = 0) => {
    scheduled.push({ lane: 'outbox', ref, delayMs });
    return outbox(ref, delayMs);
  };
});

const wa = (phone: string, text: string) => h.sendMeta('wa', metaEnvelope({ phoneNumberId: WA_PHONE_NUMBER_ID, messages: [metaText(phone, text)] }));
const sentTo = (phone: string) => h.whatsapp.sent().filter((s) => s.to === phone);
const of = (lane: 'inbox' | 'outbox', phone: string) => scheduled.filter((s) => s.lane === lane && s.ref.phone === phone);
type Delivery = { id: string; phone: string; state: string; attempts: number; lastError: string | null };
const admin = async (path: string) => (await (await fetch(`${h.url}${path}`, { headers: { authorization: `Bearer ${ADMIN}` } })).json()) as Record<string, unknown>;
const deliveryOf = (phone: string, state: string) =>
  waitUntil(async () => ((await admin(`/admin/deliveries?state=${state}`)).deliveries as Delivery[]).filter((d) => d.phone === phone), {
    what: `a ${state} delivery for ${phone}`,
    done: (list) => list.length > 0,
  }).then((list) => list[0] as Delivery);

describe('one job per message (SPEC §8.1)', () => {
  it('the drain that processed a message sends its single reply itself: no outbox job, one try', async () => {
    const phone = newPhone();
    await wa(phone, 'oi');
    await h.whatsapp.waitForSent(1, (s) => s.to === phone);
    expect((await deliveryOf(phone, 'sent')).attempts).toBe(1);
    expect(of('inbox', phone)).toHaveLength(1);
    expect(of('outbox', phone)).toHaveLength(0);
    // The send lease is given back with the try.
    expect(await h.redis.exists(h.keys.sendLease('wa', phone))).toBe(0);
  });

  it('a reply whose first try fails goes to the outbox lane with its back-off, and is sent once', async () => {
    const phone = newPhone();
    h.whatsapp.inject('messages', { status: 503, body: { error: { message: 'Service temporarily unavailable', code: 2 } } });
    await wa(phone, 'oi');
    await h.whatsapp.waitForSent(1, (s) => s.to === phone);
    const delivery = await deliveryOf(phone, 'sent');
    expect(delivery.attempts).toBe(2);
    expect(sentTo(phone)).toHaveLength(1);
    // The retry went to the outbox lane (its delay is the jittered back-off: possibly ~0).
    expect(of('outbox', phone)).toHaveLength(1);
    expect(h.logs.lines.some((line) => line.includes(delivery.id) && line.includes('"outcome":"retry"'))).toBe(true);
  });

  it('an outbox drain while the drain’s own try is in flight sends nothing: one try at a time, one send', async () => {
    const phone = newPhone();
    // The Graph API takes 600 ms to answer the drain's send.
    h.whatsapp.inject('messages', { delayMs: 600 });
    await wa(phone, 'oi');
    await waitUntil(() => h.redis.get(h.keys.sendLease('wa', phone)), { what: 'the drain’s try to hold the send lease', done: (lease) => lease !== null });
    await h.core.lanes.scheduleOutboxDrain({ channel: 'wa', phone });
    await h.whatsapp.waitForSent(1, (s) => s.to === phone);
    await deliveryOf(phone, 'sent');
    await h.logs.waitFor('replies is in flight; its sender hands the outbox over');
    expect(sentTo(phone)).toHaveLength(1);
    expect((await deliveryOf(phone, 'sent')).attempts).toBe(1);
  });

  it('a drain that died holding the send lease: nothing is sent until the lease runs out, then the reconciler hands the reply to the outbox lane', async () => {
    const phone = newPhone();
    const ref = { channel: 'wa', phone };
    // A commit that began the try of its reply, from a drain that then died before sending.
    const held = await h.core.conversations.acquire(ref, Date.now() + 2_000);
    if (!held) throw new Error('no turn');
    const delivery = newDelivery(ref, { messageId: `wamid.dead${phone}`, to: phone, outgoing: { kind: 'text', text: 'resposta de um drain que morreu' } });
    const committed = await h.core.conversations.commitBatch(held.lock, { deliveries: [delivery], send: { lease: 'dead-drain', perPartMs: 1_000 } });
    expect(committed).toMatchObject({ result: 'ok', sending: true });
    // The reconciler kicks the outbox lane: the lease is still held, nothing goes.
    await h.logs.waitFor('replies is in flight; its sender hands the outbox over', 5_000);
    expect(sentTo(phone)).toHaveLength(0);
    // The lease runs out (fast-forwarded): the next reconcile sends it, once.
    await h.redis.pexpire(h.keys.sendLease('wa', phone), 1);
    await h.whatsapp.waitForSent(1, (s) => s.to === phone);
    expect(await deliveryOf(phone, 'sent')).toMatchObject({ id: delivery.id, attempts: 2 });
    expect(sentTo(phone)).toHaveLength(1);
  });

  it('messages that find others waiting schedule no drain of their own, and are all answered in order', async () => {
    const phone = newPhone();
    h.toolzz.inject('send-message', { delayMs: 500 });
    await wa(phone, 'primeira');
    // The first message is taken by the drain (in flight, waiting for the bot) before the others come.
    await waitUntil(() => h.redis.hget(h.keys.conversation('wa', phone), 'inflight'), { what: 'the first message in flight', done: (n) => n === '1' });
    for (const text of ['segunda', 'terceira', 'quarta']) await wa(phone, text);
    await h.whatsapp.waitForSent(4, (s) => s.to === phone);
    expect(sentTo(phone).map((s) => s.text)).toEqual([expect.stringContaining('primeira'), expect.stringContaining('segunda'), expect.stringContaining('terceira'), expect.stringContaining('quarta')]);
    // The first message found the inbox empty; the second found the first in flight, and so on.
    expect(of('inbox', phone)).toHaveLength(1);
  });
});

describe('a handoff’s job is queued once its record exists', () => {
  it('the worker never takes a job before its record: the record is pending when the job is queued', async () => {
    const phone = newPhone();
    const enqueue = h.core.queues.handoff.enqueue.bind(h.core.queues.handoff);
    const seen: (string | null)[] = [];
    h.core.queues.handoff.enqueue = async (job: HandoffJob, options) => {
      seen.push(await h.redis.hget(h.keys.handoff(job.channel, job.phone, job.handoffId), 'state'));
      return enqueue(job, options);
    };
    try {
      await wa(phone, 'quero falar com um atendente');
      await waitUntil(() => Promise.resolve(h.mehub.calls().length), { what: 'the MeHub transfer', done: (n) => n > 0 });
      expect(seen).toEqual(['pending']);
      expect(h.logs.text).not.toContain('handoff job whose handoff was never committed');
    } finally {
      h.core.queues.handoff.enqueue = enqueue;
    }
  });
});

describe('record pointers', () => {
  it('a record pointed at by an earlier version (the pointer outside the indexes’ slot) is still found by id', async () => {
    const id = `old-pointer-${newPhone()}`;
    await h.redis.set(h.keys.whereBefore('delivery', id), 'wa\n5511999990000', 'PX', 60_000);
    const index = createRecordIndex(h.redis, h.keys, 'delivery', DELIVERY_STATES);
    expect(await index.locate(id)).toEqual({ channel: 'wa', phone: '5511999990000' });
    await h.redis.del(h.keys.whereBefore('delivery', id));
  });
});
