import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createHandoffRecords } from '../../src/handoff/records.js';
import { createKeys } from '../../src/keys.js';
import { message, startHarness, VENDAS_TOKEN, type Harness } from '../helpers/harness.js';
import { spawnService, writeConfigFile, type ServiceProcess } from '../helpers/process.js';
import { freePort } from '../helpers/redis-server.js';

/**
 * The real service (`node dist/src/server.js`, API + worker in one process) killed with
 * SIGKILL at the worst moments, then started again: no handoff is lost or performed twice,
 * and a message whose process died mid-way does not block its customer or its channel's
 * retry for ever. The emulators and the Redis checks run in this process.
 */
let h: Harness;
let configPath: string;
const services: ServiceProcess[] = [];
let seq = 0;
const newPhone = () => `55319${String(Date.now() % 100000).padStart(5, '0')}${String(++seq).padStart(3, '0')}`;

// The shortest in-progress mark the configuration allows, so its expiry fits in the test:
// lockWaitMs + 4 × toolzz.timeoutMs + 30 s = 1 + 4 + 30 = 35 s (README, "Duplicates").
const LOCK_WAIT_MS = 1_000;
const TOOLZZ_TIMEOUT_MS = 1_000;
const IN_PROGRESS_TTL_MS = LOCK_WAIT_MS + 4 * TOOLZZ_TIMEOUT_MS + 30_000;

beforeAll(async () => {
  h = await startHarness();
  configPath = writeConfigFile(h.config, {
    // writeConfigFile replaces whole top-level sections: each is given in full.
    worker: { concurrency: 5, lockDurationMs: 1000, stalledIntervalMs: 500, shutdownGraceMs: 2000 },
    toolzz: { ...h.config.toolzz, timeoutMs: TOOLZZ_TIMEOUT_MS },
    conversations: { ...h.config.conversations, lockWaitMs: LOCK_WAIT_MS },
  });
});
afterEach(async () => {
  await Promise.all(services.splice(0).map((s) => s.kill('SIGKILL')));
  h.toolzz.latencyMs = 0;
  h.mehub.latencyMs = 0;
});
afterAll(async () => {
  await h.close();
});

/** Starts API + worker in one process and waits until both are up. */
async function startService(): Promise<string> {
  const port = await freePort();
  const service = spawnService({ env: { HANDOFF_CONFIG: configPath, ...h.redisEnv, PORT: String(port), LOG_LEVEL: 'info' } });
  services.push(service);
  await service.waitForLine(/workers running/);
  return `http://127.0.0.1:${port}`;
}

async function post(url: string, body: unknown): Promise<{ status: number; body: Record<string, unknown> }> {
  const res = await fetch(`${url}/webhooks/vendas`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${VENDAS_TOKEN}` },
    body: JSON.stringify(body),
    signal: AbortSignal.timeout(20_000),
  });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

/** Polls `attempt` every 50 ms until `done(result)`, or throws after `timeoutMs` with the last result. */
async function pollUntil<T>(what: string, attempt: () => Promise<T>, done: (result: T) => boolean, timeoutMs: number): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const result = await attempt();
    if (done(result)) return result;
    if (Date.now() > deadline) throw new Error(`${what}: not within ${timeoutMs} ms (last: ${JSON.stringify(result)})`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

describe('SIGKILL and restart', () => {
  it('killed while 20 handoffs are pending on a slow platform: after a restart every one is done, each exactly once', async () => {
    const first = await startService();
    const customers = Array.from({ length: 20 }, () => {
      const phone = newPhone();
      return { phone, chat: h.mehub.addChat({ phone }).token };
    });
    // Each handoff makes two MeHub calls (list, transfer) of 500 ms, under the 1 s provider
    // timeout: with 5 at a time the 20 need about 4 s, and the kill lands in the middle.
    h.mehub.latencyMs = 500;
    const answers = await Promise.all(customers.map(({ phone }) => post(first, message(phone, 'quero falar com um atendente'))));
    expect(answers.map((a) => a.status)).toEqual(customers.map(() => 202));
    const ids = answers.map((a) => a.body.handoffId as string);

    await h.mehub.waitFor((r) => r.route === 'transfer');
    const killed = services[0] as ServiceProcess;
    expect(await killed.kill('SIGKILL')).toBe('SIGKILL');
    const keys = createKeys(h.prefix);
    const records0 = createHandoffRecords(h.redis, keys);
    const atKill = await Promise.all(ids.map((id) => records0.read(id)));
    const pendingAtKill = atKill.filter((r) => r?.state === 'pending').length;
    // The kill really left work behind (otherwise this test proves nothing).
    expect(pendingAtKill).toBeGreaterThanOrEqual(10);

    const second = await startService();
    const records = await Promise.all(ids.map((id) => h.settled(id, 30_000)));
    expect(records.map((r) => r.state)).toEqual(ids.map(() => 'done'));
    // Some jobs were active when the process died and were taken over (a second try).
    expect(records.filter((r) => r.attempts >= 2).length).toBeGreaterThanOrEqual(1);
    // Exactly one transfer of each customer's chat, and no other (a second transfer would
    // have created a second chat on the destination channel).
    const transfers = h.mehub.transfers();
    expect(customers.map(({ chat }) => transfers.filter((t) => t.chatToken === chat).length)).toEqual(customers.map(() => 1));
    expect(transfers).toHaveLength(customers.length);
    // Every conversation is with a human now: the bot is not called.
    const after = await post(second, message(customers[0]?.phone as string, 'alô?'));
    expect(after).toEqual({ status: 200, body: { status: 'human_active', handoffId: ids[0] } });
  }, 60_000);

  it('killed while the API processes a message: the customer is unblocked when the dead lease ends, and the retry of that message is processed once its mark expires', async () => {
    const first = await startService();
    const phone = newPhone();
    const stuck = message(phone, 'mensagem interrompida');
    h.toolzz.latencyMs = 800; // under the 1 s Toolzz timeout: the kill comes first
    const arrived = h.toolzz.nextArrival(/send-message/);
    const inFlight = post(first, stuck).catch((error: unknown) => error);
    await arrived;
    expect(await (services[0] as ServiceProcess).kill('SIGKILL')).toBe('SIGKILL');
    expect(await inFlight).toBeInstanceOf(Error);
    const killedAt = Date.now();
    h.toolzz.latencyMs = 0;

    // The dead request left its in-progress mark, bounded by the documented TTL.
    const keys = createKeys(h.prefix);
    const markKey = keys.message('vendas', phone, stuck.messageId as string);
    expect(await h.redis.get(markKey)).toBe('~in-progress');
    const ttl = await h.redis.pttl(markKey);
    expect(ttl).toBeGreaterThan(IN_PROGRESS_TTL_MS - 5_000);
    expect(ttl).toBeLessThanOrEqual(IN_PROGRESS_TTL_MS);

    const url = await startService();
    // The channel's retry of the interrupted message: 409 while the mark lives.
    expect(await post(url, stuck)).toEqual({ status: 409, body: { error: 'in_progress' } });

    // The customer's next message: 503 conversation_busy (not processed, so the channel
    // retries the same message) until the dead holder's lease runs out (15 s), then replied.
    const next = message(phone, 'mensagem seguinte');
    const seen = new Set<number>();
    const nextAnswer = await pollUntil('the next message is processed', () => post(url, next), (r) => (seen.add(r.status), r.status === 200), 25_000);
    expect([...seen].filter((s) => s !== 200 && s !== 503)).toEqual([]);
    expect(nextAnswer.body).toMatchObject({ status: 'replied', reply: expect.stringContaining('mensagem seguinte') });
    expect(Date.now() - killedAt).toBeLessThan(20_000);

    // The interrupted message's retry: 409 until the mark expires, then processed normally
    // (not a duplicate), in the customer's one conversation.
    const retried = await pollUntil('the interrupted message is processed', () => post(url, stuck), (r) => r.status !== 409, IN_PROGRESS_TTL_MS + 5_000);
    expect(retried.status).toBe(200);
    expect(retried.body).toMatchObject({ status: 'replied', conversationId: nextAnswer.body.conversationId, reply: expect.stringContaining('mensagem interrompida') });
    expect(retried.body.duplicate).toBeUndefined();
    expect(Date.now() - killedAt).toBeGreaterThan(IN_PROGRESS_TTL_MS - 6_000);
    // And from now on it is a duplicate like any processed message.
    expect((await post(url, stuck)).body).toMatchObject({ status: 'replied', duplicate: true });
  }, 70_000);
});

