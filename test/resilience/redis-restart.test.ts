import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { message, startHarness, type Harness } from '../helpers/harness.js';
import { startRedisServer, type RedisServer } from '../helpers/redis-server.js';

/**
 * Redis dies (SIGKILL) and comes back on the same data directory (AOF, appendfsync always)
 * while handoffs are pending: the webhook answers 503 meanwhile (fast, not a 500, not a
 * hang), and once Redis is back every pending handoff completes, exactly once on the
 * platform, and new webhooks work again, without restarting the service. The API and the
 * worker run in this process (the harness), on a Redis owned by this test.
 */
let redis: RedisServer;
let h: Harness;
const CUSTOMERS = 10;
let seq = 0;
const newPhone = () => `55219${String(Date.now() % 100000).padStart(5, '0')}${String(++seq).padStart(3, '0')}`;

/** Polls `check` every 25 ms until it returns true, or throws `what` after `timeoutMs`. */
async function until(what: string, check: () => boolean | Promise<boolean>, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await Promise.resolve().then(check).catch(() => false)) return;
    if (Date.now() > deadline) throw new Error(`${what}: not within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

const status = async (path: string) => (await fetch(`${h.url}${path}`, { signal: AbortSignal.timeout(15_000) })).status;
const dispatchAttempts = (phone: string) => h.brpex.calls('dispatch', (r) => (r.body as { phone?: string } | undefined)?.phone === phone).length;

beforeAll(async () => {
  redis = await startRedisServer({ appendonly: true });
  h = await startHarness({
    worker: true,
    redisUrl: redis.url,
    file: {
      retry: { attempts: 20, baseDelayMs: 100, maxDelayMs: 1000 },
      // Short locks: a job that was active when Redis died is taken over within about a second.
      worker: { concurrency: 10, lockDurationMs: 1000, stalledIntervalMs: 500, shutdownGraceMs: 2000 },
    },
  });
});
afterAll(async () => {
  await h?.close();
  await redis?.destroy();
});

describe('Redis killed and restarted while handoffs are pending', () => {
  it('503 while it is down; afterwards every pending handoff completes exactly once and new webhooks work', async () => {
    // The platform fails (503, retryable) until Redis is back, so no handoff can land before
    // the outage: any dispatch that lands is the product's doing after the restart.
    h.brpex.inject('dispatch', ...Array.from({ length: 2_000 }, () => ({ status: 503 })));
    const phones = Array.from({ length: CUSTOMERS }, () => newPhone());
    const queued = await Promise.all(phones.map((phone) => h.send('site', message(phone, 'quero falar com um atendente'))));
    expect(queued.map((r) => r.status)).toEqual(phones.map(() => 202));
    const ids = queued.map((r) => r.body.handoffId as string);
    // Every handoff has been tried (and failed) at least once: they are pending, in retry.
    await until('every handoff tried once', () => phones.every((p) => dispatchAttempts(p) >= 1), 10_000);

    await redis.stop('SIGKILL');

    // Down: the webhook answers 503 unavailable quickly (no 500, no hang), liveness stays up.
    await until('readyz answers 503', async () => (await status('/readyz')) === 503, 15_000);
    const started = Date.now();
    const fresh = await h.send('site', message(newPhone(), 'oi'));
    const pendingCustomer = await h.send('site', message(phones[0] as string, 'alô?'));
    const bearer = await h.send('vendas', message(newPhone(), 'oi'));
    expect(Date.now() - started).toBeLessThan(15_000);
    for (const down of [fresh, pendingCustomer, bearer]) {
      expect(down.status).toBe(503);
      expect(down.body).toEqual({ error: 'unavailable' });
      expect(down.headers.get('retry-after')).toBe('5');
    }
    expect(await status('/healthz')).toBe(200);
    // Keep it down for 3 s (several reconnect rounds of every client), still answering 503.
    // Plain loop: every answer (or failure) is recorded, none swallowed.
    const outage: string[] = [];
    while (Date.now() - started <= 3_000) {
      const answer = await h.send('site', message(phones[outage.length % CUSTOMERS] as string, 'alguém?')).then(
        (r) => String(r.status),
        (error: unknown) => `error: ${(error as Error).message}`,
      );
      outage.push(answer);
    }
    expect(new Set(outage)).toEqual(new Set(['503']));
    expect(h.brpex.dispatches()).toEqual([]);

    // Back on the same data directory: the AOF is replayed.
    await redis.restart();
    await until('readyz answers 200 again', async () => (await status('/readyz')) === 200, 20_000);
    // Nothing has landed yet (the platform still failed); now let it succeed.
    expect(h.brpex.dispatches()).toEqual([]);
    h.brpex.reset();

    const records = await Promise.all(ids.map((id) => h.settled(id, 30_000)));
    expect(records.map((r) => r.state)).toEqual(ids.map(() => 'done'));
    // The records survived the restart: each counts the failed tries before it and the good one.
    for (const record of records) expect(record.attempts).toBeGreaterThanOrEqual(2);
    expect(phones.map((p) => h.brpex.dispatches(p).length)).toEqual(phones.map(() => 1));

    // New webhooks work again, the conversations' state survived, and a new handoff lands.
    const humanActive = await h.send('site', message(phones[0] as string, 'alô? tem alguém?'));
    expect(humanActive.status).toBe(200);
    expect(humanActive.body).toEqual({ status: 'human_active', handoffId: ids[0] });
    const replied = await h.send('vendas', message(newPhone(), 'voltou?'));
    expect(replied.status).toBe(200);
    expect(replied.body.status).toBe('replied');
    const latePhone = newPhone();
    const late = await h.send('site', message(latePhone, 'quero um atendente humano'));
    expect(late.status).toBe(202);
    expect(await h.settled(late.body.handoffId as string, 15_000)).toMatchObject({ state: 'done', attempts: 1 });
    expect(h.brpex.dispatches(latePhone)).toHaveLength(1);
    // Still exactly once for the ten after everything settled, and no handoff gave up.
    expect(phones.map((p) => h.brpex.dispatches(p).length)).toEqual(phones.map(() => 1));
    expect(h.logs.lines.filter((l) => l.includes('failed for good') || l.includes('unexpected error'))).toEqual([]);
  }, 90_000);
});
