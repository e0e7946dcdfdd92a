import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { RecordedRequest } from '../../src/sandbox/emulator.js';
import { message, SITE_SECRET, startHarness, VENDAS_TOKEN, type Harness } from '../helpers/harness.js';
import { spawnService, writeConfigFile, type ServiceProcess } from '../helpers/process.js';
import { freePort } from '../helpers/redis-server.js';
import { signedHeaders } from '../helpers/sign.js';

/**
 * Two API processes and two worker processes (`--role=api`, `--role=worker`) on one Redis
 * and key prefix, under concurrent traffic for the same customers, sent alternately to both
 * APIs: one Toolzz conversation per customer, never two bot calls of a customer at once,
 * one handoff per customer episode, performed once on the platform. The emulators run in
 * this process.
 */
let h: Harness;
let configPath: string;
const services: ServiceProcess[] = [];
let seq = 0;
const newPhone = () => `55419${String(Date.now() % 100000).padStart(5, '0')}${String(++seq).padStart(3, '0')}`;

beforeAll(async () => {
  h = await startHarness();
  configPath = writeConfigFile(h.config);
});
afterEach(async () => {
  await Promise.all(services.splice(0).map((s) => s.kill('SIGKILL')));
});
afterAll(async () => {
  await h.close();
});

async function start(role: 'api' | 'worker'): Promise<string> {
  const port = await freePort();
  const service = spawnService({
    args: [`--role=${role}`],
    env: { HANDOFF_CONFIG: configPath, ...h.redisEnv, PORT: String(port), LOG_LEVEL: 'info' },
  });
  services.push(service);
  await service.waitForLine(role === 'api' ? /API listening/ : /workers running/);
  return `http://127.0.0.1:${port}`;
}

interface Answer {
  status: number;
  body: Record<string, unknown>;
}

async function post(api: string, channel: 'vendas' | 'site', body: unknown): Promise<Answer> {
  const raw = JSON.stringify(body);
  const auth = channel === 'vendas' ? { authorization: `Bearer ${VENDAS_TOKEN}` } : signedHeaders(SITE_SECRET, raw);
  const res = await fetch(`${api}/webhooks/${channel}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...auth },
    body: raw,
    signal: AbortSignal.timeout(30_000),
  });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

describe('two API and two worker processes, same customers', () => {
  it('concurrent messages of the same customers through both APIs: one conversation, serialised bot calls, one handoff each, done once', async () => {
    const apis = await Promise.all([start('api'), start('api')]);
    await Promise.all([start('worker'), start('worker')]);

    // 10 WhatsApp customers (MeHub) and 6 website customers (BRPEX), 6 messages each, two
    // of which ask for a human: all 96 sent at once, alternating between the two APIs.
    const customers = [
      ...Array.from({ length: 10 }, () => ({ channel: 'vendas' as const, phone: newPhone() })),
      ...Array.from({ length: 6 }, () => ({ channel: 'site' as const, phone: newPhone() })),
    ].map((c) => ({ ...c, chat: c.channel === 'vendas' ? h.mehub.addChat({ phone: c.phone }).token : undefined }));
    const texts = ['oi', 'tudo bem?', 'quero falar com um atendente', 'alô?', 'preciso de uma pessoa', 'obrigado'];

    // When each Toolzz call was answered, to tell which ones overlapped in time.
    const answeredAt = new Map<RecordedRequest, number>();
    const onRequest = (r: RecordedRequest) => answeredAt.set(r, Date.now());
    h.toolzz.on('request', onRequest);
    h.toolzz.latencyMs = 30; // widens the window in which two calls of one customer could overlap

    let turn = 0;
    const sends = customers.flatMap((c) =>
      texts.map((text) => {
        const api = apis[turn++ % 2] as string;
        return post(api, c.channel, message(`+${c.phone}`, `${c.phone}: ${text}`)).then((answer) => ({ c, text, answer }));
      }),
    );
    const results = await Promise.all(sends);
    h.toolzz.off('request', onRequest);
    h.toolzz.latencyMs = 0;
    // Different customers did run in parallel (so the per-customer serialisation below is not an accident).
    expect(h.toolzz.maxInFlight).toBeGreaterThan(1);

    expect(results.filter((r) => r.answer.status !== 200 && r.answer.status !== 202).map((r) => `${r.c.phone}: ${r.answer.status} ${JSON.stringify(r.answer.body)}`)).toEqual([]);

    const handoffIds: string[] = [];
    for (const c of customers) {
      const mine = results.filter((r) => r.c === c).map((r) => r.answer);
      // Exactly one handoff for the episode; every later message sees it.
      const queued = mine.filter((a) => a.body.status === 'handoff_queued');
      expect(queued, `${c.channel} ${c.phone}`).toHaveLength(1);
      const handoffId = queued[0]?.body.handoffId as string;
      handoffIds.push(handoffId);
      for (const a of mine.filter((x) => x.body.status === 'human_active')) expect(a.body.handoffId).toBe(handoffId);
      const botAnswered = mine.filter((a) => a.body.status === 'replied' || a.body.status === 'handoff_queued');
      // One Toolzz conversation per customer, in every answer.
      expect(new Set(botAnswered.map((a) => a.body.conversationId)).size, `${c.phone}`).toBe(1);

      const calls = h.toolzz.calls('send-message', (r) => String((r.body as { message?: unknown }).message).startsWith(`${c.phone}:`));
      // The bot was called once for each message it answered, and never for human_active ones.
      expect(calls).toHaveLength(botAnswered.length);
      const starts = calls.filter((r) => (r.body as { conversationId?: unknown }).conversationId === undefined);
      expect(starts, `${c.phone}: calls without conversationId`).toHaveLength(1);
      const conversationId = botAnswered[0]?.body.conversationId;
      for (const call of calls.filter((r) => !starts.includes(r))) expect((call.body as { conversationId?: unknown }).conversationId).toBe(conversationId);
      // Never two bot calls of this customer in flight at once.
      const spans = calls.map((r) => [r.at, answeredAt.get(r) ?? Number.NaN] as const).sort((a, b) => a[0] - b[0]);
      for (let i = 1; i < spans.length; i++) {
        expect(spans[i]?.[0], `${c.phone}: call ${i} started before call ${i - 1} was answered`).toBeGreaterThanOrEqual(spans[i - 1]?.[1] as number);
      }
    }
    // The span check above compared something: some customer had several bot calls.
    expect(customers.some((c) => h.toolzz.calls('send-message', (r) => String((r.body as { message?: unknown }).message).startsWith(`${c.phone}:`)).length >= 2)).toBe(true);
    expect(new Set(handoffIds).size).toBe(customers.length);

    // Every handoff is done, by one of the worker processes, exactly once on its platform.
    const records = await Promise.all(handoffIds.map((id) => h.settled(id, 30_000)));
    expect(records.map((r) => `${r.phone}: ${r.state}`)).toEqual(customers.map((c) => `${c.phone}: done`));
    const transfers = h.mehub.transfers();
    for (const c of customers) {
      const applied = c.channel === 'vendas' ? transfers.filter((t) => t.chatToken === c.chat).length : h.brpex.dispatches(c.phone).length;
      expect(applied, `${c.channel} ${c.phone}: platform calls applied`).toBe(1);
    }
    expect(transfers).toHaveLength(10);
    expect(h.brpex.dispatches()).toHaveLength(6);

    // Both API processes answered webhooks, and the state is shared: any of them now says human_active.
    const apiLines = services.slice(0, 2).map((s) => s.lines.filter((l) => l.includes('"path":"/webhooks/')).length);
    expect(apiLines.every((n) => n >= 40)).toBe(true);
    for (const api of apis) {
      const c = customers[0] as (typeof customers)[number];
      expect((await post(api, c.channel, message(c.phone, 'alô?'))).body).toEqual({ status: 'human_active', handoffId: handoffIds[0] });
    }
  }, 60_000);
});
