import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { deliverEvolutionWebhook, evolutionUpsert } from '../../src/sandbox/evolution.js';
import type { Fault } from '../../src/sandbox/emulator.js';
import { firstResponseJobId } from '../../src/handoff/first-response.js';
import { createWorkerService, type WorkerService } from '../../workers/index.js';
import { asyncChannels, BOT_ID, BRPEX_TOKEN, EVO_TOKEN, MEHUB_DESTINATION, message, startHarness, type Harness } from '../helpers/harness.js';
import { sample, scrape } from '../helpers/metrics.js';
import { waitUntil } from '../helpers/wait.js';

/**
 * SPEC §12, when no human can answer: business hours (each `outside` policy, on a synchronous
 * and an asynchronous channel; a queued handoff surviving a restart or a lost job, performed
 * once at the opening), failover between helpdesks (after a permanent error, after the tries
 * ran out, never after a MeHub transfer that may have applied), and the first-response
 * watchdog (remind / fallback / bot; nothing when MESSAGE_SENT or a phone answer came first).
 *
 * Business hours are judged by an injected clock (the harness's `hoursClock`), put a few
 * seconds before an opening: the handoff is queued for real and performed by a real delayed
 * job when that opening comes. The first-response watchdog runs on real short timers.
 */
const ADMIN = 'no-human-admin-token';
const MEHUB_SECRET = 'no-human-mehub-secret';
/** Monday 2026-12-07, 09:00 UTC: the channels below open then. */
const OPENING = Date.parse('2026-12-07T09:00:00Z');
let shift = 0;
/** The hours' clock reads `secondsBefore` seconds before OPENING from now on. */
const closedFor = (secondsBefore: number) => {
  shift = OPENING - secondsBefore * 1000 - Date.now();
};
const openNow = () => {
  shift = OPENING + 3_600_000 - Date.now();
};

let h: Harness;
let seq = 0;
const newPhone = () => `55649${String(Date.now() % 100000).padStart(5, '0')}${String(++seq).padStart(3, '0')}`;
const hours = (outside: string, text: string) => ({ timezone: 'UTC', weekly: { 'mon-sun': ['09:00-18:00'] }, outside, message: text });
const brpexLeg = { provider: 'brpex', subdomain: 'minhaempresa', token: BRPEX_TOKEN };
const mehubLeg = { provider: 'mehub', channel: MEHUB_DESTINATION };

beforeAll(async () => {
  h = await startHarness({
    worker: true,
    adminToken: ADMIN,
    hoursClock: () => Date.now() + shift,
    file: { providers: { mehub: { webhookSecret: MEHUB_SECRET } }, worker: { reconcileIntervalMs: 250 }, delivery: { timeoutMs: 1_000, baseDelayMs: 50, maxDelayMs: 200 } },
    channels: (replyUrl) => {
      const base = asyncChannels(replyUrl);
      const evo = base.evo as Record<string, unknown>;
      const sync = (extra: Record<string, unknown>) => ({ auth: { token: 'no-human-token' }, bot: { id: BOT_ID }, handoff: brpexLeg, ...extra });
      return asyncChannels(replyUrl, {
        'sync-queue': sync({ hours: hours('queue', 'Fora do horário: fila.') }),
        'sync-handoff': sync({ hours: hours('handoff', 'Fora do horário: encaminhado.') }),
        'sync-bot': sync({ hours: hours('bot', 'Fora do horário: fale com o bot.') }),
        'evo-queue': { ...evo, handoff: brpexLeg, hours: hours('queue', 'Fora do horário: fila.') },
        'evo-handoff': { ...evo, handoff: brpexLeg, hours: hours('handoff', 'Fora do horário: encaminhado.') },
        'evo-bot': { ...evo, handoff: brpexLeg, hours: hours('bot', 'Fora do horário: fale com o bot.') },
        chain: sync({ handoff: { ...brpexLeg, fallback: [mehubLeg] } }),
        'mehub-first': sync({ handoff: { ...mehubLeg, fallback: [brpexLeg] } }),
        'fr-remind': { ...evo, handoff: { ...brpexLeg, firstResponse: { minutes: 0.02, action: 'remind', message: 'Já já um atendente fala com você.' } } },
        'fr-mehub': { ...evo, handoff: { ...mehubLeg, firstResponse: { minutes: 0.03, action: 'remind', message: 'Ainda estamos aqui.' } } },
        'fr-bot': { ...evo, handoff: { ...brpexLeg, firstResponse: { minutes: 0.02, action: 'bot', message: 'Voltei: sou o assistente.' } } },
        'fr-fallback': { ...evo, handoff: { ...mehubLeg, fallback: [brpexLeg], firstResponse: { minutes: 0.02, action: 'fallback', message: 'Passando para outra equipe.' } } },
      });
    },
  });
});
/** The worker started again by the restart test (the harness closes the one it started). */
let restarted: WorkerService | undefined;
afterAll(async () => {
  await restarted?.close();
  await h.close();
});
beforeEach(() => {
  for (const emulator of h.emulators()) emulator.reset();
  h.evolution.webhookUrl = `${h.url}/webhooks/evo`;
  h.mehub.setWebhook(`${h.url}/platform-webhooks/mehub`, MEHUB_SECRET);
  openNow();
});

const admin = async (path: string, method = 'GET') => {
  const res = await fetch(`${h.url}${path}`, { method, headers: { authorization: `Bearer ${ADMIN}` } });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
};
const evo = (channel: string, phone: string, text: string) =>
  deliverEvolutionWebhook(`${h.url}/webhooks/${channel}`, evolutionUpsert({ instance: 'loja', phone, pushName: 'Bia', text }), { authorization: `Bearer ${EVO_TOKEN}` });
const sentTo = (phone: string) => h.evolution.sent().filter((s) => s.number === phone);
const conversationOf = (channel: string, phone: string) => admin(`/admin/conversations/${channel}/${phone}`).then((r) => r.body);
const handoffOf = async (channel: string, phone: string): Promise<Record<string, unknown>> => {
  const id = await waitUntil(async () => ((await conversationOf(channel, phone)).handoff as { id?: string } | null)?.id, { what: `a handoff for ${phone}`, done: (v) => typeof v === 'string' });
  return (await admin(`/admin/handoffs/${id as string}`)).body;
};
const dispatchesTo = (phone: string) => h.brpex.dispatches(phone).length;

describe('business hours (SPEC §12)', () => {
  it('queue, synchronous: 202 with the message after the reply; pending with scheduledFor; performed once at the opening; the bot stays quiet; told once', async () => {
    const phone = newPhone();
    closedFor(3);
    const before = Date.now();
    const res = await h.send('sync-queue', message(phone, 'quero falar com um atendente'));
    expect(res.status).toBe(202);
    expect(res.body.reply).toMatch(/atendentes\.\n\nFora do horário: fila\.$/);
    const id = res.body.handoffId as string;
    const record = (await admin(`/admin/handoffs/${id}`)).body;
    expect(record).toMatchObject({ state: 'pending', attempts: 0 });
    const scheduledFor = Date.parse(record.scheduledFor as string);
    expect(scheduledFor - before).toBeGreaterThan(2_000);
    expect(scheduledFor - before).toBeLessThan(4_500);
    // Meanwhile: nothing reaches BRPEX, the bot is quiet, and the customer is not told again.
    const again = await h.send('sync-queue', message(phone, 'alguém aí?'));
    expect(again.body).toMatchObject({ status: 'human_active', handoffId: id });
    expect(dispatchesTo(phone)).toBe(0);
    expect(await h.settled(id)).toMatchObject({ state: 'done', attempts: 1 });
    expect(Date.now()).toBeGreaterThanOrEqual(scheduledFor);
    expect(dispatchesTo(phone)).toBe(1);
  });

  it('queue, asynchronous: the bot’s reply, then the message as its own message; performed at the opening', async () => {
    const phone = newPhone();
    closedFor(2);
    await evo('evo-queue', phone, 'quero falar com um atendente');
    await h.evolution.waitForSent(2, (s) => s.number === phone);
    expect(sentTo(phone).map((s) => s.text)).toEqual([expect.stringContaining('atendentes'), 'Fora do horário: fila.']);
    const record = await handoffOf('evo-queue', phone);
    expect(record.scheduledFor).toEqual(expect.any(String));
    expect(await h.settled(record.id as string)).toMatchObject({ state: 'done' });
  });

  it('handoff: performed now, and the message is added (synchronous and asynchronous)', async () => {
    const phone = newPhone();
    closedFor(600);
    const res = await h.send('sync-handoff', message(phone, 'quero falar com um atendente'));
    expect(res.status).toBe(202);
    expect(res.body.reply).toMatch(/\n\nFora do horário: encaminhado\.$/);
    expect(await h.settled(res.body.handoffId as string)).toMatchObject({ state: 'done' });
    expect((await admin(`/admin/handoffs/${res.body.handoffId as string}`)).body.scheduledFor).toBeUndefined();

    const other = newPhone();
    await evo('evo-handoff', other, 'quero falar com um atendente');
    await h.evolution.waitForSent(2, (s) => s.number === other);
    expect(sentTo(other).at(-1)?.text).toBe('Fora do horário: encaminhado.');
  });

  it('bot: no handoff, 200 replied with the message; told once per closed period, again in the next one', async () => {
    const phone = newPhone();
    closedFor(600);
    const first = await h.send('sync-bot', message(phone, 'quero falar com um atendente'));
    expect(first.status).toBe(200);
    expect(first.body).toMatchObject({ status: 'replied' });
    expect(first.body.reply).toMatch(/\n\nFora do horário: fale com o bot\.$/);
    const second = await h.send('sync-bot', message(phone, 'quero um atendente humano'));
    expect(second.body.status).toBe('replied');
    expect(second.body.reply).not.toContain('Fora do horário');
    expect((await conversationOf('sync-bot', phone)).state).toBe('bot');
    expect(dispatchesTo(phone)).toBe(0);
    // The next closed period (the day after): told again.
    shift += 24 * 3_600_000;
    const nextDay = await h.send('sync-bot', message(phone, 'quero falar com um atendente'));
    expect(nextDay.body.reply).toContain('Fora do horário: fale com o bot.');

    const other = newPhone();
    await evo('evo-bot', other, 'quero falar com um atendente');
    await h.evolution.waitForSent(2, (s) => s.number === other);
    expect(sentTo(other).map((s) => s.text)).toEqual([expect.stringContaining('atendentes'), 'Fora do horário: fale com o bot.']);
    expect((await conversationOf('evo-bot', other)).state).toBe('bot');
  });

  it('while open, hours change nothing', async () => {
    const phone = newPhone();
    const res = await h.send('sync-queue', message(phone, 'quero falar com um atendente'));
    expect(res.body.reply).not.toContain('Fora do horário');
    expect(await h.settled(res.body.handoffId as string)).toMatchObject({ state: 'done' });
  });

  it('a queued handoff survives the workers stopping and a lost job: performed once, at the opening', async () => {
    const phone = newPhone();
    closedFor(3);
    const res = await h.send('sync-queue', message(phone, 'quero falar com um atendente'));
    const id = res.body.handoffId as string;
    const scheduledFor = Date.parse((await admin(`/admin/handoffs/${id}`)).body.scheduledFor as string);
    // The delayed job is lost (a failover, an eviction) and every worker stops.
    await h.worker?.close();
    await h.core.queues.handoff.queue.remove(id);
    expect(await h.core.queues.handoff.queue.getJobState(id)).toBe('unknown');
    // A worker starts again: its reconciler queues the pending handoff for its opening.
    restarted = createWorkerService(h.core);
    await restarted.ready();
    await waitUntil(() => h.core.queues.handoff.queue.getJobState(id), { what: 'the handoff queued again', done: (s) => s === 'delayed' || s === 'completed' || s === 'active' });
    expect(await h.settled(id)).toMatchObject({ state: 'done', attempts: 1 });
    expect(Date.now()).toBeGreaterThanOrEqual(scheduledFor);
    expect(dispatchesTo(phone)).toBe(1);
  });
});

describe('failover between helpdesks (SPEC §12)', () => {
  const failovers = async (channel: string, from: string, to: string) => sample(await scrape(h.url), 'handoff_failovers_total', { channel, from, to });

  it('after a permanent error: the next leg with a fresh round of tries; legs on the record; provider the one that took it', async () => {
    const phone = newPhone();
    h.mehub.addChat({ phone });
    const before = await failovers('chain', 'brpex', 'mehub');
    h.brpex.inject('dispatch', { status: 422, body: { message: 'invalid department' } });
    const res = await h.send('chain', message(phone, 'quero falar com um atendente'));
    const id = res.body.handoffId as string;
    const record = await h.settled(id);
    expect(record).toMatchObject({ state: 'done', provider: 'mehub' });
    const shown = (await admin(`/admin/handoffs/${id}`)).body;
    expect(shown.legs).toEqual([
      { provider: 'brpex', state: 'failed', attempts: 1, lastError: expect.stringContaining('422') },
      { provider: 'mehub', state: 'done', attempts: 1, lastError: null },
    ]);
    expect(h.mehub.transfers()).toHaveLength(1);
    expect(await failovers('chain', 'brpex', 'mehub')).toBe(before + 1);
  });

  it('after the tries ran out; an operator retry of the failed chain starts from the first leg', async () => {
    const phone = newPhone();
    const attempts = h.config.retry.attempts;
    h.brpex.inject('dispatch', ...Array.from({ length: attempts }, (): Fault => ({ status: 503 })));
    // No open MeHub chat for this phone: the second leg's tries run out too (no_open_chat).
    const res = await h.send('chain', message(phone, 'quero falar com um atendente'));
    const id = res.body.handoffId as string;
    expect(await h.settled(id)).toMatchObject({ state: 'failed', provider: 'mehub' });
    const failed = (await admin(`/admin/handoffs/${id}`)).body;
    expect((failed.legs as { provider: string; state: string; attempts: number }[]).map((l) => [l.provider, l.state, l.attempts])).toEqual([
      ['brpex', 'failed', attempts],
      ['mehub', 'failed', attempts],
    ]);
    expect((await conversationOf('chain', phone)).state).toBe('handoff_failed');
    // Retried by an operator: the first leg again (BRPEX answers now).
    const retried = await admin(`/admin/handoffs/${id}/retry`, 'POST');
    expect(retried.status).toBe(202);
    expect(await h.settled(id)).toMatchObject({ state: 'done', provider: 'brpex' });
    expect(((await admin(`/admin/handoffs/${id}`)).body.legs as { provider: string; state: string }[]).map((l) => [l.provider, l.state])).toEqual([
      ['brpex', 'failed'],
      ['mehub', 'failed'],
      ['brpex', 'done'],
    ]);
    expect(dispatchesTo(phone)).toBe(1);
  });

  it('never after a MeHub transfer that may have applied and was never confirmed: the handoff fails, the next helpdesk is not asked', async () => {
    const phone = newPhone();
    h.mehub.addChat({ phone });
    const attempts = h.config.retry.attempts;
    // The first try finds the chat and transfers it: applied, but answered after the time
    // limit. Every later try must check first, and every check fails.
    h.mehub.inject('transfer', { applyThenDelayMs: 1_500 });
    h.mehub.inject('list', {}, ...Array.from({ length: attempts }, (): Fault => ({ status: 503 })));
    const res = await h.send('mehub-first', message(phone, 'quero falar com um atendente'));
    const id = res.body.handoffId as string;
    expect(await h.settled(id)).toMatchObject({ state: 'failed', provider: 'mehub' });
    expect(dispatchesTo(phone)).toBe(0);
    expect(((await admin(`/admin/handoffs/${id}`)).body.legs as unknown[]).length).toBe(1);
    await h.logs.waitFor('not failing over: this leg’s MeHub transfer may have applied');
  });

  it('an ambiguous MeHub transfer that applied is found by the check: done on MeHub, no failover', async () => {
    const phone = newPhone();
    h.mehub.addChat({ phone });
    h.mehub.inject('transfer', { applyThenDelayMs: 1_500 });
    const res = await h.send('mehub-first', message(phone, 'quero falar com um atendente'));
    expect(await h.settled(res.body.handoffId as string)).toMatchObject({ state: 'done', provider: 'mehub' });
    expect(h.mehub.transfers()).toHaveLength(1);
    expect(dispatchesTo(phone)).toBe(0);
  });
});

describe('first response (SPEC §12)', () => {
  const breaches = async (channel: string, action: string) => sample(await scrape(h.url), 'handoff_first_response_breaches_total', { channel, action });
  /** Waits for the handoff's watchdog to have run, and returns what it did. */
  const watchdogOutcome = async (id: string) => {
    const jobId = firstResponseJobId(id, 0);
    await waitUntil(() => h.core.queues.handoff.queue.getJobState(jobId), { what: 'the first-response watchdog to run', done: (s) => s === 'completed' });
    return ((await h.core.queues.handoff.queue.getJob(jobId))?.returnvalue as { summary?: string } | undefined)?.summary;
  };
  const handedOff = async (channel: string, phone: string) => {
    await evo(channel, phone, 'quero falar com um atendente');
    const record = await handoffOf(channel, phone);
    expect(await h.settled(record.id as string)).toMatchObject({ state: 'done' });
    return record.id as string;
  };

  it('remind: nobody answered in time → the customer is reminded once', async () => {
    const phone = newPhone();
    const before = await breaches('fr-remind', 'remind');
    await handedOff('fr-remind', phone);
    await h.evolution.waitForSent(2, (s) => s.number === phone);
    expect(sentTo(phone).at(-1)?.text).toBe('Já já um atendente fala com você.');
    expect(await breaches('fr-remind', 'remind')).toBe(before + 1);
    expect(await watchdogOutcome(await handoffOf('fr-remind', phone).then((r) => r.id as string))).toBe('reminded the customer');
    expect((await conversationOf('fr-remind', phone)).state).toBe('human');
  });

  it('no action when the attendant answered on MeHub first (MESSAGE_SENT): the answer is recorded and timed', async () => {
    const phone = newPhone();
    h.mehub.addChat({ phone });
    const id = await handedOff('fr-mehub', phone);
    const chat = h.mehub.openChat(phone, MEHUB_DESTINATION);
    await h.mehub.attendantReplies(chat?.token as string, 'Oi, sou a Ana!');
    await waitUntil(async () => (await admin(`/admin/handoffs/${id}`)).body.firstResponseAt, { what: 'the first response recorded', done: (v) => typeof v === 'string' });
    expect(sample(await scrape(h.url), 'handoff_first_response_seconds_count', { channel: 'fr-mehub' })).toBeGreaterThanOrEqual(1);
    expect(await watchdogOutcome(id)).toBe('a human answered in time');
    expect(sentTo(phone).map((s) => s.text)).not.toContain('Ainda estamos aqui.');
  });

  it('no action when a person answered from the phone first', async () => {
    const phone = newPhone();
    const id = await handedOff('fr-remind', phone);
    h.evolution.webhookUrl = `${h.url}/webhooks/fr-remind`;
    await h.evolution.phoneSend(phone, 'Oi, aqui é o atendente pelo celular');
    await waitUntil(async () => (await admin(`/admin/handoffs/${id}`)).body.firstResponseAt, { what: 'the first response recorded', done: (v) => typeof v === 'string' });
    expect(await watchdogOutcome(id)).toBe('a human answered in time');
    expect(sentTo(phone).map((s) => s.text)).not.toContain('Já já um atendente fala com você.');
  });

  it('bot: the conversation goes back to the bot, and the customer is told', async () => {
    const phone = newPhone();
    await handedOff('fr-bot', phone);
    await h.evolution.waitForSent(1, (s) => s.number === phone && s.text === 'Voltei: sou o assistente.');
    expect((await conversationOf('fr-bot', phone)).state).toBe('bot');
  });

  it('fallback: handed to the next leg (the record pending again, then done there), the customer told', async () => {
    const phone = newPhone();
    h.mehub.addChat({ phone });
    const id = await handedOff('fr-fallback', phone);
    await waitUntil(() => Promise.resolve(dispatchesTo(phone)), { what: 'the BRPEX leg', done: (n) => n === 1 });
    const record = await h.settled(id);
    expect(record).toMatchObject({ state: 'done', provider: 'brpex' });
    expect(((await admin(`/admin/handoffs/${id}`)).body.legs as { provider: string; state: string }[]).map((l) => [l.provider, l.state])).toEqual([
      ['mehub', 'done'],
      ['brpex', 'done'],
    ]);
    await h.evolution.waitForSent(1, (s) => s.number === phone && s.text === 'Passando para outra equipe.');
    expect((await conversationOf('fr-fallback', phone)).state).toBe('human');
    expect(await breaches('fr-fallback', 'fallback')).toBeGreaterThanOrEqual(1);
  });
});
