import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { Job } from 'bullmq';
import { createWorkerService } from '../../workers/index.js';
import { randomUUID } from 'node:crypto';
import { createConversationStore } from '../../src/conversations/store.js';
import { handoffJobSchema, type HandoffJob } from '../../src/handoff/job.js';
import { createHandoffTries } from '../../src/handoff/tries.js';
import { isRedisError } from '../../src/redis/errors.js';
import type { Fault } from '../../src/sandbox/emulator.js';
import { MEHUB_DESTINATION, message, startHarness, type Harness } from '../helpers/harness.js';
import { waitUntil } from '../helpers/wait.js';

const ADMIN = 'admin-token-hardening';
let h: Harness;
let seq = 0;
const newPhone = () => `55419${String(Date.now() % 100000).padStart(5, '0')}${String(++seq).padStart(3, '0')}`;

beforeAll(async () => {
  h = await startHarness({ worker: true, adminToken: ADMIN });
});
afterAll(async () => {
  await h.close();
});
beforeEach(() => {
  for (const emulator of h.emulators()) emulator.reset();
});

/** A valid job for `phone` (not queued). */
function pendingJob(channel: string, provider: 'brpex' | 'mehub' | 'superagentes', phone: string): HandoffJob {
  return handoffJobSchema.parse({
    handoffId: randomUUID(),
    channel,
    provider,
    phone,
    name: null,
    botId: '0f8e2a8c-3b4d-4c5e-9f60-718293a4b5c6',
    conversationId: 'c-1',
    messageId: 'm-1',
    lastMessage: 'atendente',
    botReply: null,
    reason: 'transfer_to_agent',
    externalIds: {},
    createdAt: new Date().toISOString(),
  });
}

/** What the API's commit writes for a handoff: the record and the pending conversation. */
async function commitHandoff(job: HandoffJob): Promise<void> {
  const turn = await h.core.conversations.acquire({ channel: job.channel, phone: job.phone }, Date.now() + 1000);
  if (!turn) throw new Error('could not take the turn');
  const result = await h.core.conversations.commit(turn.lock, {
    handoff: { create: job },
    conversation: { fields: { state: 'handoff_pending', handoffId: job.handoffId, humanUntil: Date.now() + 60_000, takenBy: 'handoff' }, ttlMs: 120_000 },
  });
  expect(result).toBe('ok');
}

const admin = async (method: string, path: string) => {
  const res = await fetch(`${h.url}${path}`, { method, headers: { authorization: `Bearer ${ADMIN}` } });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
};

describe('fenced lock', () => {
  it('a holder whose lease ran out mid-message cannot commit: nothing is recorded, the retry is processed', async () => {
    const phone = newPhone();
    h.toolzz.latencyMs = 300;
    const arrived = h.toolzz.nextArrival(/send-message/);
    const body = message(phone, 'primeira');
    const pending = h.send('vendas', body);
    await arrived;
    // The stall: the holder's lease runs out while its bot call is under way.
    const queue = h.keys.lockQueue('vendas', phone);
    const holder = (await h.redis.lindex(queue, 0)) as string;
    await h.redis.hset(h.keys.lockLeases('vendas', phone), holder, '0');
    const res = await pending;
    expect(res.status).toBe(503);
    expect(res.body).toEqual({ error: 'conversation_busy' });
    // No answer recorded, no conversation written: the channel's retry is a fresh message.
    expect(await h.redis.exists(h.keys.message('vendas', phone, body.messageId as string))).toBe(0);
    expect(await h.conversation('vendas', phone)).toBeNull();
    await h.logs.waitFor('lost the conversation lock');
    h.toolzz.latencyMs = 0;
    const retry = await h.send('vendas', body);
    expect(retry.status).toBe(200);
    expect(retry.body.status).toBe('replied');
  });

  it('a lost lease is never regained by a heartbeat', async () => {
    const store = createConversationStore({ redis: h.redis, keys: h.keys, inProgressTtlMs: 10_000 });
    const ref = { channel: 'vendas', phone: newPhone() };
    const begun = await store.begin(ref, 'm1');
    expect(begun.kind).toBe('acquired');
    if (begun.kind !== 'acquired') return;
    expect(await store.heartbeat(begun.lock)).toBe(true);
    await h.redis.hset(h.keys.lockLeases(ref.channel, ref.phone), begun.lock.token, '0');
    expect(await store.heartbeat(begun.lock)).toBe(false);
    expect(await store.commit(begun.lock, { conversation: { fields: { state: 'human' }, ttlMs: 1000 } })).toBe('lost');
    expect(await store.get(ref)).toBeNull();
  });
});

describe('operator retry', () => {
  it('a handoff that failed because its tries ran out gets a fresh round of retry.attempts tries', async () => {
    const phone = newPhone();
    const attempts = h.config.retry.attempts;
    h.brpex.inject('dispatch', ...Array.from({ length: attempts }, (): Fault => ({ status: 502 })));
    const id = await h.handOff('site', phone);
    expect(await h.settled(id)).toMatchObject({ state: 'failed', attempts });
    // The platform is still failing for all but the last try of the next round.
    h.brpex.inject('dispatch', ...Array.from({ length: attempts - 1 }, (): Fault => ({ status: 502 })));
    expect((await admin('POST', `/admin/handoffs/${id}/retry`)).status).toBe(202);
    expect(await h.settled(id)).toMatchObject({ state: 'done', attempts: 2 * attempts });
    expect(h.brpex.dispatches(phone)).toHaveLength(1);
    expect((await h.conversation('site', phone))?.state).toBe('human');
  });

  it('after a MeHub transfer that may have applied, an operator retry checks first and never transfers twice', async () => {
    const phone = newPhone();
    h.mehub.addChat({ phone });
    const attempts = h.config.retry.attempts;
    // Try 1: applied, but answered 503 (ambiguous). Every later try cannot even list chats.
    h.mehub.inject('transfer', { status: 503, apply: true });
    h.mehub.inject('list', ...Array.from({ length: attempts - 1 }, (): Fault => ({ status: 503 })));
    const id = await h.handOff('vendas', phone);
    expect(await h.settled(id)).toMatchObject({ state: 'failed', attempts });
    expect(h.mehub.transfers()).toHaveLength(1);

    expect((await admin('POST', `/admin/handoffs/${id}/retry`)).status).toBe(202);
    expect(await h.settled(id)).toMatchObject({ state: 'done' });
    expect(h.mehub.transfers()).toHaveLength(1);
    expect(h.mehub.calls('list', (r) => r.query.channel === MEHUB_DESTINATION && r.status === 200).length).toBeGreaterThan(0);
  });
});

describe('side-effect claim', () => {
  it('only one try holds it; another may take it over only after the holder settled and only having checked', async () => {
    const phone = newPhone();
    const job = pendingJob('vendas', 'mehub', phone);
    // Committed, not queued: the claims below stand for two workers running one job.
    await commitHandoff(job);
    const outcomes = createHandoffTries(h.redis, h.keys);
    const [a, b] = await Promise.all([outcomes.claimSideEffect(job, 'A', 10_000, false), outcomes.claimSideEffect(job, 'B', 10_000, false)]);
    expect([a, b].sort()).toEqual(['claimed', 'taken']);
    const holder = a === 'claimed' ? 'A' : 'B';
    // Held and live: even a try that checked the platform must wait.
    expect(await outcomes.claimSideEffect(job, 'C', 10_000, true)).toBe('taken');
    await outcomes.settleSideEffect(job, holder);
    // Settled = "may have applied": only a try that checked may go on.
    expect(await outcomes.claimSideEffect(job, 'D', 10_000, false)).toBe('taken');
    expect(await outcomes.claimSideEffect(job, 'E', 10_000, true)).toBe('claimed');
    await outcomes.settleSideEffect(job, 'E');
    // Re-checked right before the side effect: a released conversation is not handed off.
    await h.redis.hset(h.keys.conversation('vendas', phone), { state: 'bot', handoffId: '' });
    expect(await outcomes.claimSideEffect(job, 'F', 10_000, true)).toBe('cancelled');
  });

  it('a holder that died frees the claim when its lease runs out (to a try that checked)', async () => {
    const phone = newPhone();
    const job = pendingJob('vendas', 'mehub', phone);
    await commitHandoff(job);
    const outcomes = createHandoffTries(h.redis, h.keys);
    expect(await outcomes.claimSideEffect(job, 'dead', 1, false)).toBe('claimed');
    await waitUntil(() => outcomes.claimSideEffect(job, 'next', 10_000, true), { what: 'the dead holder’s lease to run out', done: (c) => c === 'claimed' });
  });
});

describe('reconciler', () => {
  it('a pending handoff whose job is gone is queued again and done, by the scheduled reconciler', async () => {
    const s = await startHarness({ file: { worker: { reconcileIntervalMs: 200 } } });
    try {
      const phone = newPhone();
      const id = await s.handOff('site', phone);
      // Lost between the commit and the worker (a failover that dropped the job).
      await (await Job.fromId(s.core.queues.handoff.queue, id))?.remove();
      expect(await s.core.queues.handoff.queue.getJobState(id)).toBe('unknown');
      const workers = createWorkerService(s.core);
      try {
        await workers.ready();
        expect(await s.settled(id, 10_000)).toMatchObject({ state: 'done' });
        expect(s.brpex.dispatches(phone)).toHaveLength(1);
        expect(s.logs.text).toContain('pending handoff had no live job; queued it again');
      } finally {
        await workers.close();
      }
    } finally {
      await s.close();
    }
  });
});

describe('keys that pile up', () => {
  it('the admin list skips index entries whose record expired, and still comes back full; the reconciler trims them', async () => {
    const phones = [newPhone(), newPhone(), newPhone()];
    const ids = [];
    for (const phone of phones) ids.push(await h.handOff('site', phone));
    for (const id of ids) await h.settled(id);
    // The newest record expires (its index entry stays behind).
    await h.redis.del(h.keys.handoff('site', phones[2] as string, ids[2] as string));
    const list = await admin('GET', '/admin/handoffs?state=done&limit=2');
    expect((list.body.handoffs as { id: string }[]).map((r) => r.id)).toEqual([ids[1], ids[0]]);

    await h.redis.zadd(h.keys.index('handoff', 'done'), Date.now() - 31 * 24 * 3_600_000, 'ancient-handoff');
    const report = await h.worker?.maintenance.reconcile();
    expect(report?.trimmed).toBeGreaterThanOrEqual(1);
    expect(await h.redis.zscore(h.keys.index('handoff', 'done'), 'ancient-handoff')).toBeNull();
  });

  it('releasing a conversation that does not exist is 404 and creates nothing', async () => {
    const phone = newPhone();
    const res = await admin('POST', `/admin/conversations/vendas/${phone}/release`);
    expect(res).toEqual({ status: 404, body: { error: 'conversation_not_found' } });
    expect(await h.redis.exists(h.keys.conversation('vendas', phone))).toBe(0);
  });

  it('an operator release leaves the conversation with a TTL', async () => {
    const phone = newPhone();
    await h.send('vendas', message(phone, 'oi'));
    await h.redis.persist(h.keys.conversation('vendas', phone));
    expect((await admin('POST', `/admin/conversations/vendas/${phone}/release`)).status).toBe(200);
    const ttl = await h.redis.pttl(h.keys.conversation('vendas', phone));
    expect(ttl).toBeGreaterThan(0);
    expect(ttl).toBeLessThanOrEqual(h.config.conversations.ttlHours * 3_600_000);
  });
});

describe('errors that say what they are', () => {
  it('classifies Redis errors by name, code and reply prefix', () => {
    const reply = (message: string) => Object.assign(new Error(message), { name: 'ReplyError' });
    const cases: [unknown, boolean][] = [
      [Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:6379'), { code: 'ECONNREFUSED' }), true],
      [Object.assign(new Error('x'), { name: 'MaxRetriesPerRequestError' }), true],
      [new Error('Connection is closed.'), true],
      [new Error("Stream isn't writeable and enableOfflineQueue options is false"), true],
      [new Error('Command timed out'), true],
      [reply('LOADING Redis is loading the dataset in memory'), true],
      [reply('READONLY You can not write against a read only replica.'), true],
      [reply('CLUSTERDOWN The cluster is down'), true],
      [reply('ERR Error running script (call to f_x): @user_script:1: bad'), false],
      [reply('WRONGTYPE Operation against a key holding the wrong kind of value'), false],
      [Object.assign(new Error('[{"path":["phone"]}]'), { name: 'ZodError' }), false],
      [new TypeError("Cannot read properties of undefined (reading 'x')"), false],
      ['a string', false],
    ];
    for (const [error, expected] of cases) expect([String((error as Error).message ?? error), isRedisError(error)]).toEqual([String((error as Error).message ?? error), expected]);
  });

  it('a bug in an adapter fails the handoff at once (not retried as a platform failure), logged at error', async () => {
    const phone = newPhone();
    const original = h.core.providers.brpex;
    h.core.providers.brpex = {
      name: 'brpex',
      perform: () => Promise.reject(new TypeError("Cannot read properties of undefined (reading 'token')")),
    };
    try {
      const id = await h.handOff('site', phone);
      expect(await h.settled(id)).toMatchObject({ state: 'failed', attempts: 1, lastError: expect.stringContaining('TypeError') });
      const line = h.logs.lines.map((l) => JSON.parse(l) as Record<string, unknown>).find((l) => l.handoffId === id && l.msg === 'handoff attempt failed on an unexpected error');
      expect(line?.level).toBe(50);
    } finally {
      h.core.providers.brpex = original;
    }
  });

  it('SuperAgentes’ no_conversation carries its code in lastError', async () => {
    const id = await h.handOff('app', newPhone());
    expect(await h.settled(id)).toMatchObject({ state: 'failed', lastError: expect.stringMatching(/^no_conversation: /) });
  });
});

describe('the worker waits for a handoff it took before the commit', () => {
  it('a job whose record is not there yet is delayed, not cancelled; it runs once the record appears', async () => {
    const phone = newPhone();
    const job = pendingJob('site', 'brpex', phone);
    await h.core.queues.handoff.enqueue(job);
    // The worker takes it and finds no record: it waits (delayed), without touching BRPEX.
    await waitUntil(() => h.core.queues.handoff.queue.getJobState(job.handoffId), { what: 'the job to wait for its record', done: (s) => s === 'delayed' });
    expect(h.brpex.dispatches(phone)).toHaveLength(0);
    await commitHandoff(job);
    expect(await h.settled(job.handoffId)).toMatchObject({ state: 'done', attempts: 1 });
    expect(h.brpex.dispatches(phone)).toHaveLength(1);
  });
});
