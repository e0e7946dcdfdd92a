import { writeFileSync } from 'node:fs';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startRedisSentinel, type RedisSentinelSet } from '../../scripts/lib/redis-topology.js';
import type { Fault } from '../../src/sandbox/emulator.js';
import { message, SITE_SECRET, startHarness, type Harness } from '../helpers/harness.js';
import { spawnService, writeConfigFile, type ServiceProcess } from '../helpers/process.js';
import { freePort } from '../helpers/redis-server.js';
import { signedHeaders } from '../helpers/sign.js';
import { waitUntil } from '../helpers/wait.js';

/**
 * SPEC §10: the service on a master found through Sentinel (master + replica + 3 sentinels,
 * from the redis-server on the PATH). The master is SIGKILLed while handoffs are pending: the
 * service follows the failover by itself (no restart), /readyz is back within 30 s, and every
 * pending handoff is completed exactly once. Replication is asynchronous, so the test waits
 * for the replica to have the writes (WAIT) before the kill — what a failover can drop is
 * what the README says.
 */
const ADMIN = 'sentinel-admin-token';
let h: Harness;
let topology: RedisSentinelSet;
let service: ServiceProcess;
let base = '';

beforeAll(async () => {
  topology = await startRedisSentinel();
  h = await startHarness();
  const configPath = writeConfigFile(h.config, {
    worker: { concurrency: 5, lockDurationMs: 2000, stalledIntervalMs: 1000, shutdownGraceMs: 2000, reconcileIntervalMs: 2000, channelConcurrency: 10 },
    retry: { attempts: 30, baseDelayMs: 200, maxDelayMs: 500 },
  });
  const port = await freePort();
  base = `http://127.0.0.1:${port}`;
  service = spawnService({
    env: { HANDOFF_CONFIG: configPath, REDIS_SENTINELS: topology.sentinelsEnv, REDIS_SENTINEL_NAME: topology.name, PORT: String(port), LOG_LEVEL: 'info', ADMIN_TOKEN: ADMIN },
  });
  await service.waitForLine(/workers running/, 20_000);
}, 60_000);
afterAll(async () => {
  // DEBUG_SENTINEL=<file>: the service's log is written there, to see what a failure went through.
  if (process.env.DEBUG_SENTINEL) writeFileSync(process.env.DEBUG_SENTINEL, `${service?.lines.join('\n')}\n`);
  await service?.kill('SIGKILL');
  await h?.close();
  await topology?.destroy();
});

const readyz = () =>
  fetch(`${base}/readyz`, { signal: AbortSignal.timeout(2000) }).then(
    (r) => r.status,
    () => 0,
  );
const handoff = (id: string) =>
  fetch(`${base}/admin/handoffs/${id}`, { headers: { authorization: `Bearer ${ADMIN}` }, signal: AbortSignal.timeout(3000) }).then(async (r) => (r.status === 200 ? ((await r.json()) as { state: string }) : null));

/** Hands `phones` off through the site webhook; resolves with their handoff ids. */
async function handOff(phones: string[]): Promise<string[]> {
  const ids: string[] = [];
  for (const phone of phones) {
    const raw = JSON.stringify(message(phone, 'quero falar com uma pessoa'));
    const res = await fetch(`${base}/webhooks/site`, { method: 'POST', headers: { 'content-type': 'application/json', ...signedHeaders(SITE_SECRET, raw) }, body: raw });
    expect(res.status).toBe(202);
    ids.push(((await res.json()) as { handoffId: string }).handoffId);
  }
  return ids;
}

/** Waits until every handoff is done, and checks each customer was dispatched exactly once. */
async function expectDoneOnce(ids: string[], phones: string[]): Promise<void> {
  for (const id of ids) {
    const record = await waitUntil(() => handoff(id).catch(() => null), { what: `handoff ${id} after the failover`, timeoutMs: 30_000, intervalMs: 200, done: (r) => r?.state === 'done' });
    expect(record?.state).toBe('done');
  }
  expect(phones.map((phone) => h.brpex.dispatches(phone).length)).toEqual(phones.map(() => 1));
}

const phonesOf = (tag: string) => Array.from({ length: 6 }, (_, i) => `55219${tag}${String(Date.now() % 10000).padStart(4, '0')}${i}`.slice(0, 13));

/**
 * Replication is asynchronous: makes sure the replica has every write before the master goes
 * (after a planned failover, the demoted master first has to sync with the new one).
 */
async function replicated(): Promise<void> {
  const { host, port } = topology.currentMaster();
  const master = new Redis({ host, port, lazyConnect: true });
  await master.connect();
  try {
    await waitUntil(() => master.call('WAIT', '1', '1000'), { what: 'the replica to acknowledge every write', timeoutMs: 30_000, done: (acked) => acked === 1 });
  } finally {
    master.disconnect();
  }
}

describe('Sentinel failover', () => {
  it('a planned failover (SENTINEL FAILOVER): the service follows the new master by itself, writes included, pending handoffs complete once', async () => {
    expect(await readyz()).toBe(200);
    h.brpex.inject('dispatch', ...Array.from({ length: 200 }, (): Fault => ({ status: 503 })));
    const phones = phonesOf('66');
    const ids = await handOff(phones);
    await replicated();

    await topology.failover();
    await topology.waitForFailover(30_000);
    // The demoted master is still alive and writable until Sentinel reconfigures it: the
    // service moves on +switch-master. A write proves it is on the new master.
    await waitUntil(readyz, { what: '/readyz after the planned failover', timeoutMs: 30_000, intervalMs: 200, done: (status) => status === 200 });
    const more = phonesOf('65');
    ids.push(...(await waitUntil(() => handOff(more.slice(0, 1)).catch(() => null), { what: 'a webhook written on the new master', timeoutMs: 30_000, intervalMs: 200 }))!);
    phones.push(more[0]!);

    h.brpex.reset();
    await expectDoneOnce(ids, phones);
    // Nothing went to the demoted master (Sentinel discards its writes when it makes it a
    // replica of the new one): once it has synced, every record still reads done.
    await replicated();
    for (const id of ids) expect((await handoff(id))?.state).toBe('done');
    expect(service.lines.join('\n')).not.toMatch(/"level":60/);
  }, 90_000);

  it('SIGKILL of the master: the service follows the new master, /readyz is back within 30 s, pending handoffs complete once', async () => {
    expect(await readyz()).toBe(200);
    // The demoted master of the planned failover is a replica once it has synced: wait for
    // that first, so the handoffs' tries are not spent before the kill.
    await replicated();
    // BRPEX fails for now: the handoffs stay pending, retried, across the failover.
    h.brpex.inject('dispatch', ...Array.from({ length: 200 }, (): Fault => ({ status: 503 })));
    const phones = phonesOf('77');
    const ids = await handOff(phones);
    await replicated();

    const killedAt = Date.now();
    await topology.killMaster();
    await topology.waitForFailover(30_000);
    await waitUntil(readyz, { what: '/readyz after the failover', timeoutMs: 30_000, intervalMs: 200, done: (status) => status === 200 });
    const backAfterMs = Date.now() - killedAt;
    expect(backAfterMs).toBeLessThan(30_000);

    // The platform recovers: every pending handoff is done, each dispatched exactly once.
    h.brpex.reset();
    await expectDoneOnce(ids, phones);
    expect(service.lines.join('\n')).not.toMatch(/"level":60/);
  }, 90_000);
});
