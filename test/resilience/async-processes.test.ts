import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { deliverMetaWebhook, metaEnvelope, metaText } from '../../src/sandbox/whatsapp.js';
import { asyncChannels, startHarness, WA_APP_SECRET, WA_PHONE_NUMBER_ID, type Harness } from '../helpers/harness.js';
import { spawnService, writeConfigFile, type ServiceProcess } from '../helpers/process.js';
import { freePort } from '../helpers/redis-server.js';
import { waitUntil } from '../helpers/wait.js';

/**
 * WhatsApp Cloud API traffic against the real service processes (`node dist/src/server.js`):
 * a process SIGKILLed right after accepting loses nothing and sends each reply once after a
 * restart; two API and two worker processes on one Redis never reply twice and keep each
 * customer's replies in order. The emulators run in this process.
 */
let h: Harness;
let configPath: string;
const services: ServiceProcess[] = [];
let seq = 0;
const newPhone = () => `55719${String(Date.now() % 100000).padStart(5, '0')}${String(++seq).padStart(3, '0')}`;

beforeAll(async () => {
  h = await startHarness({ channels: (replyUrl) => ({ wa: asyncChannels(replyUrl).wa }) });
  configPath = writeConfigFile(h.config, {
    // Short job locks, so a dead process's drain job is taken over quickly.
    worker: { ...h.config.worker, lockDurationMs: 1000, stalledIntervalMs: 500, shutdownGraceMs: 2000 },
  });
});
afterEach(async () => {
  await Promise.all(services.splice(0).map((s) => s.kill('SIGKILL')));
  h.toolzz.latencyMs = 0;
});
afterAll(async () => {
  await h.close();
});

async function start(role: 'all' | 'api' | 'worker'): Promise<string> {
  const port = await freePort();
  const service = spawnService({
    args: [`--role=${role}`],
    env: { HANDOFF_CONFIG: configPath, ...h.redisEnv, WHATSAPP_BASE_URL: h.whatsapp.url, PORT: String(port), LOG_LEVEL: 'info' },
  });
  services.push(service);
  await service.waitForLine(role === 'api' ? /API listening/ : /workers running/);
  return `http://127.0.0.1:${port}`;
}

const deliver = (api: string, phone: string, text: string) =>
  deliverMetaWebhook(`${api}/webhooks/wa`, metaEnvelope({ phoneNumberId: WA_PHONE_NUMBER_ID, messages: [metaText(phone, text)] }), WA_APP_SECRET);

describe('asynchronous channels across processes', () => {
  it('killed (SIGKILL) right after accepting, with the bot call in flight: after a restart the reply is sent once', async () => {
    const first = await start('all');
    const phone = newPhone();
    h.toolzz.latencyMs = 5_000; // the bot call is cut by the kill
    const arrived = h.toolzz.nextArrival(/send-message/);
    expect((await deliver(first, phone, 'mensagem aceita')).body).toEqual({ status: 'accepted', accepted: 1 });
    await arrived;
    expect(await (services[0] as ServiceProcess).kill('SIGKILL')).toBe('SIGKILL');
    expect(h.whatsapp.sent()).toHaveLength(0);

    h.toolzz.latencyMs = 0;
    await start('all');
    const [sent] = await h.whatsapp.waitForSent(1, (s) => s.to === phone, 20_000);
    expect(sent?.text).toContain('mensagem aceita');
    // The cut call is asked again once (SPEC §8.1: one outcome), and nothing is sent twice.
    await waitUntil(() => h.redis.llen(h.keys.inbox('wa', phone)), { what: 'the inbox to drain', done: (n) => n === 0 });
    expect(h.whatsapp.sent().filter((s) => s.to === phone)).toHaveLength(1);
    expect(h.toolzz.calls('send-message', (r) => (r.body as { message: string }).message === 'mensagem aceita')).toHaveLength(2);
  }, 60_000);

  it('killed between the 200 and any processing (API only): a worker started later processes it', async () => {
    const api = await start('api');
    const phone = newPhone();
    expect((await deliver(api, phone, 'ninguém me processou ainda')).status).toBe(200);
    expect(await (services[0] as ServiceProcess).kill('SIGKILL')).toBe('SIGKILL');
    await start('worker');
    const [sent] = await h.whatsapp.waitForSent(1, (s) => s.to === phone, 20_000);
    expect(sent?.text).toContain('ninguém me processou ainda');
  }, 60_000);

  it('two API and two worker processes, the same customers: every message answered once, each customer in order', async () => {
    const apis = [await start('api'), await start('api')];
    await start('worker');
    await start('worker');
    h.toolzz.latencyMs = 20;
    const phones = Array.from({ length: 10 }, () => newPhone());
    const rounds = 3;
    for (let round = 0; round < rounds; round++) {
      await Promise.all(phones.map((phone, i) => deliver(apis[(i + round) % 2] as string, phone, `${phone} #${round}`)));
    }
    await h.whatsapp.waitForSent(phones.length * rounds, (s) => phones.includes(s.to), 30_000);
    for (const phone of phones) {
      const texts = h.whatsapp.sent().filter((s) => s.to === phone).map((s) => /#(\d)/.exec(s.text)?.[1]);
      expect(texts, phone).toEqual(['0', '1', '2']);
    }
    expect(h.whatsapp.sent().filter((s) => phones.includes(s.to))).toHaveLength(phones.length * rounds);
  }, 60_000);
});
