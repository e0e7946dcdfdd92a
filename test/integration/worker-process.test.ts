import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { message, startHarness, type Harness } from '../helpers/harness.js';
import { spawnService, writeConfigFile, type ServiceProcess } from '../helpers/process.js';
import { waitUntil } from '../helpers/wait.js';

/**
 * Real worker processes (`npm run start:worker`) against the suite's Redis; the API and the
 * platform emulators run in this process. Short locks so a dead worker's job is taken over fast.
 */
let h: Harness;
let configPath: string;
const workers: ServiceProcess[] = [];
let seq = 0;
const newPhone = () => `55319${String(Date.now() % 100000).padStart(5, '0')}${String(++seq).padStart(3, '0')}`;

function startWorker(): ServiceProcess {
  const worker = spawnService({
    args: ['--role=worker'],
    env: { HANDOFF_CONFIG: configPath, ...h.redisEnv, LOG_LEVEL: 'info' },
  });
  workers.push(worker);
  return worker;
}

beforeAll(async () => {
  h = await startHarness({
    file: { worker: { concurrency: 5, lockDurationMs: 1000, stalledIntervalMs: 500, shutdownGraceMs: 2000 }, retry: { attempts: 8, baseDelayMs: 10, maxDelayMs: 100 } },
  });
  configPath = writeConfigFile(h.config);
});
afterEach(async () => {
  await Promise.all(workers.splice(0).map((w) => w.kill('SIGKILL')));
});
afterAll(async () => {
  await h.close();
});

describe('worker processes', () => {
  it('a worker killed (SIGKILL) in the middle of a MeHub transfer: the job is taken over and the transfer happens once', async () => {
    const first = startWorker();
    await first.waitForLine(/workers running/);
    const phone = newPhone();
    h.mehub.addChat({ phone });
    // The transfer is applied, and the answer never comes back before the kill.
    h.mehub.inject('transfer', { applyThenDelayMs: 30_000 });
    const res = await h.send('vendas', message(phone, 'quero um atendente'));
    expect(res.status).toBe(202);
    await h.mehub.waitFor((r) => r.route === 'transfer' && r.applied);
    expect(await first.kill('SIGKILL')).toBe('SIGKILL');

    const second = startWorker();
    await second.waitForLine(/workers running/);
    const record = await h.settled(res.body.handoffId as string, 20_000);
    expect(record).toMatchObject({ state: 'done', attempts: 2 });
    expect(h.mehub.transfers()).toHaveLength(1);
    expect(second.lines.join('\n')).toContain('already transferred');
  });

  it('two worker processes on one queue never hand off twice', async () => {
    const [a, b] = [startWorker(), startWorker()];
    await Promise.all([a.waitForLine(/workers running/), b.waitForLine(/workers running/)]);
    h.brpex.inject('dispatch', ...Array.from({ length: 40 }, (_, i) => (i % 3 === 0 ? { status: 503 } : {})));
    // Slow enough that one process (5 at a time) cannot take all 40 before the other starts.
    h.brpex.latencyMs = 50;
    const phones = Array.from({ length: 40 }, () => newPhone());
    const ids = await Promise.all(phones.map((phone) => h.handOff('site', phone)));
    const records = await Promise.all(ids.map((id) => h.settled(id, 30_000)));
    expect(records.every((r) => r.state === 'done')).toBe(true);
    expect(phones.filter((p) => h.brpex.dispatches(p).length !== 1)).toEqual([]);
    // Both processes did part of the work.
    const done = (w: ServiceProcess) => w.lines.filter((l) => l.includes('"outcome":"done"')).length;
    // The per-attempt lines are written asynchronously, after the outcome is recorded.
    await waitUntil(() => done(a) + done(b), { what: 'both workers’ done lines', done: (n) => n >= 40 });
    expect(done(a) + done(b)).toBe(40);
    expect(done(a)).toBeGreaterThan(0);
    expect(done(b)).toBeGreaterThan(0);
    h.brpex.latencyMs = 0;
  });
});
