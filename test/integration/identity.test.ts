import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { deliverEvolutionWebhook, evolutionUpsert } from '../../src/sandbox/evolution.js';
import { metaEnvelope, metaText } from '../../src/sandbox/whatsapp.js';
import { deliverZapiWebhook, zapiReceived } from '../../src/sandbox/zapi.js';
import { asyncChannels, BOT_ID, EVO_TOKEN, MEHUB_DESTINATION, message, startHarness, WA_PHONE_NUMBER_ID, ZAPI_INSTANCE_ID, ZAPI_TOKEN, type Harness } from '../helpers/harness.js';
import { waitUntil } from '../helpers/wait.js';

/**
 * SPEC §11: one customer, many addresses. Every journey checks what the customer lives
 * through — one Toolzz conversation, one order, one handoff, the takeover — whichever
 * address (both ninth-digit forms, a WhatsApp LID, a business-scoped user ID) each message
 * comes from, and where the replies go.
 */
const ADMIN = 'identity-admin-token';
let h: Harness;
let seq = 0;
/** A Brazilian mobile: 55 + area + 9 + 8 digits starting with 9 (`eight` is the same number without the 9). */
const newMobile = () => {
  const eight = `9${String(Date.now() % 10_000_000).padStart(7, '0')}`.slice(0, 8);
  const area = String(61 + (++seq % 30));
  return { nine: `55${area}9${eight}`, eight: `55${area}${eight}` };
};
const newLid = () => `${Date.now()}${String(++seq).padStart(4, '0')}`;

beforeAll(async () => {
  h = await startHarness({
    worker: true,
    adminToken: ADMIN,
    channels: (replyUrl) => {
      const base = asyncChannels(replyUrl);
      return asyncChannels(replyUrl, {
        zapi: { ...(base.zapi as Record<string, unknown>), handoff: { provider: 'mehub', channel: MEHUB_DESTINATION }, humanTtlMinutes: 60 },
        'evo-plain': { ...(base.evo as Record<string, unknown>), identity: { brazilNinthDigit: false } },
        'evo-failing': { ...(base.evo as Record<string, unknown>), handoff: { provider: 'superagentes', assigneeIds: ['member-1'], failedMessage: 'Não consegui chamar um atendente.' } },
        vendas: { auth: { token: 'identity-vendas-token' }, bot: { id: BOT_ID }, handoff: { provider: 'mehub', channel: MEHUB_DESTINATION } },
      });
    },
  });
});
afterAll(async () => {
  await h.close();
});
beforeEach(() => {
  for (const emulator of h.emulators()) emulator.reset();
  h.evolution.webhookUrl = `${h.url}/webhooks/evo`;
  h.zapi.webhookUrl = `${h.url}/webhooks/zapi?token=${ZAPI_TOKEN}`;
  h.whatsapp.webhookUrl = `${h.url}/webhooks/wa`;
});

const evo = (channel: string, options: Record<string, unknown>, text: string) =>
  deliverEvolutionWebhook(`${h.url}/webhooks/${channel}`, evolutionUpsert({ instance: 'loja', pushName: 'Bia', text, ...options }), { authorization: `Bearer ${EVO_TOKEN}` });
const zapi = (options: Record<string, unknown>, text: string) => deliverZapiWebhook(`${h.url}/webhooks/zapi?token=${ZAPI_TOKEN}`, zapiReceived({ instanceId: ZAPI_INSTANCE_ID, text, ...options }));
const toolzzCalls = (text: string) => h.toolzz.calls('send-message', (r) => (r.body as { message?: string }).message === text);
const conversationIdOf = (text: string) => (toolzzCalls(text)[0]?.body as { conversationId?: string | null } | undefined)?.conversationId ?? null;
const admin = async (method: string, path: string) => {
  const res = await fetch(`${h.url}${path}`, { method, headers: { authorization: `Bearer ${ADMIN}` } });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
};

describe('the Brazilian ninth digit (SPEC §11)', () => {
  it('the 8-digit and 9-digit forms are one customer: one Toolzz conversation, replies to the exact address, one handoff', async () => {
    const { nine, eight } = newMobile();
    await evo('evo', { phone: eight }, 'oi, do número antigo');
    await h.evolution.waitForSent(1, (s) => s.number === eight);
    await evo('evo', { phone: nine }, 'agora do número com nove');
    await h.evolution.waitForSent(1, (s) => s.number === nine);
    // The second message continued the first's Toolzz conversation (the emulator returned one).
    expect(conversationIdOf('agora do número com nove')).not.toBeNull();
    expect(conversationIdOf('agora do número com nove')).toBe((await h.conversation('evo', nine))?.conversationId);
    expect(await h.conversation('evo', eight)).toBeNull();

    h.superagentes.addConversation({ channelExternalId: eight });
    await evo('evo', { phone: eight }, 'quero falar com um atendente');
    const withHuman = await waitUntil(() => h.conversation('evo', nine), { what: 'the handoff', done: (c) => c?.state === 'human' });
    expect(withHuman?.contactPhone).toBe(eight);
    await evo('evo', { phone: nine }, 'alô?');
    await waitUntil(() => h.redis.llen(h.keys.inbox('evo', nine)), { what: 'the inbox to drain', done: (n) => n === 0 });
    expect(toolzzCalls('alô?')).toHaveLength(0);
    expect(h.superagentes.calls('update').length).toBe(1);
  });

  it('identity.brazilNinthDigit: false keeps the two forms apart', async () => {
    const { nine, eight } = newMobile();
    h.evolution.webhookUrl = `${h.url}/webhooks/evo-plain`;
    await evo('evo-plain', { phone: eight }, 'primeiro');
    await evo('evo-plain', { phone: nine }, 'segundo');
    await h.evolution.waitForSent(2, (s) => s.number === eight || s.number === nine);
    expect((await h.conversation('evo-plain', eight))?.conversationId).not.toBe((await h.conversation('evo-plain', nine))?.conversationId);
  });

  it('MeHub: a chat filed under the other form is found (one lookup more), and the synchronous route merges both forms too', async () => {
    const { nine, eight } = newMobile();
    h.mehub.addChat({ phone: nine });
    const first = await h.send('vendas', message(eight, 'oi'));
    const second = await h.send('vendas', message(nine, 'tudo bem?'));
    expect(second.body.conversationId).toBe(first.body.conversationId);
    const handoffId = await h.handOff('vendas', eight);
    expect(await h.settled(handoffId)).toMatchObject({ state: 'done' });
    const lookups = h.mehub.calls('list', (r) => r.query.contact === eight || r.query.contact === nine).map((r) => r.query.contact);
    expect(lookups).toEqual([eight, nine]);
  });
});

describe('WhatsApp LIDs (SPEC §11)', () => {
  it('Evolution: a LID-only customer is answered at <digits>@lid; once seen with a phone, both are the phone’s customer and the Toolzz conversation continues', async () => {
    const { nine } = newMobile();
    const lid = newLid();
    await evo('evo', { lid }, 'oi, sem número');
    await h.evolution.waitForSent(1, (s) => s.number === `${lid}@lid`);
    const lidConversation = (await h.conversation('evo', `lid:${lid}`))?.conversationId;
    expect(await h.conversation('evo', `lid:${lid}`)).toMatchObject({ state: 'bot', addressKind: 'lid', conversationId: expect.any(String) });

    await evo('evo', { lid, phone: nine }, 'agora com número');
    // Replies go to the phone when the message carried both.
    await h.evolution.waitForSent(1, (s) => s.number === nine);
    expect(conversationIdOf('agora com número')).toBe(lidConversation);
    await evo('evo', { lid }, 'de novo só o lid');
    await h.evolution.waitForSent(2, (s) => s.number === `${lid}@lid`);
    expect(conversationIdOf('de novo só o lid')).toBe(lidConversation);
    const view = await admin('GET', `/admin/conversations/evo/lid:${lid}`);
    expect(view.body).toMatchObject({ phone: nine, aliases: expect.arrayContaining([nine, nine.slice(0, 4) + nine.slice(5), `lid:${lid}`]) });
  });

  it('a person who took a LID-only customer from the phone keeps them when the LID is linked to a phone', async () => {
    const { nine } = newMobile();
    const lid = newLid();
    await evo('evo', { lid }, 'oi');
    await h.evolution.waitForSent(1, (s) => s.number === `${lid}@lid`);
    await h.evolution.phoneSend(`${lid}@lid`, 'Oi! Aqui é a Júlia.');
    expect(await h.conversation('evo', `lid:${lid}`)).toMatchObject({ state: 'human', takenBy: 'phone' });
    await evo('evo', { lid, phone: nine }, 'obrigado, Júlia');
    await waitUntil(() => h.redis.llen(h.keys.inbox('evo', nine)), { what: 'the inbox to drain', done: (n) => n === 0 });
    expect(await h.conversation('evo', nine)).toMatchObject({ state: 'human', takenBy: 'phone' });
    expect(toolzzCalls('obrigado, Júlia')).toHaveLength(0);
  });

  it('a person answering from the phone whose echo carries only the LID takes the phone’s customer', async () => {
    const { nine } = newMobile();
    const lid = newLid();
    await evo('evo', { lid, phone: nine }, 'oi');
    await h.evolution.waitForSent(1, (s) => s.number === nine);
    await h.evolution.phoneSend(`${lid}@lid`, 'Oi, é a Júlia.');
    expect(await h.conversation('evo', nine)).toMatchObject({ state: 'human', takenBy: 'phone' });
    await evo('evo', { phone: nine }, 'oi Júlia');
    await waitUntil(() => h.redis.llen(h.keys.inbox('evo', nine)), { what: 'the inbox to drain', done: (n) => n === 0 });
    expect(toolzzCalls('oi Júlia')).toHaveLength(0);
  });

  it('the echo of a reply sent to a LID, arriving after the LID was linked to a phone, is still ours', async () => {
    const { nine } = newMobile();
    const lid = newLid();
    h.evolution.echo = 'off';
    await evo('evo', { lid }, 'oi');
    const [first] = await h.evolution.waitForSent(1, (s) => s.number === `${lid}@lid`);
    await evo('evo', { lid, phone: nine }, 'meu número');
    await h.evolution.waitForSent(1, (s) => s.number === nine);
    // Now the first reply's echo (it carries only the LID, which resolves to the phone's customer).
    const echo = evolutionUpsert({ instance: 'loja', lid, id: first?.id, fromMe: true, text: first?.text });
    expect((await deliverEvolutionWebhook(`${h.url}/webhooks/evo`, echo, { authorization: `Bearer ${EVO_TOKEN}` })).status).toBe(200);
    expect((await h.conversation('evo', nine))?.state).toBe('bot');
    await evo('evo', { phone: nine }, 'ainda aí?');
    await h.evolution.waitForSent(2, (s) => s.number === nine);
  });

  it('Z-API: a LID-only chat is answered at <digits>@lid; chatLid links it to the phone, in order', async () => {
    const { nine } = newMobile();
    const lid = newLid();
    await zapi({ lid }, 'um');
    await h.zapi.waitForSent(1, (s) => s.phone === `${lid}@lid`);
    await zapi({ phone: nine, chatLid: lid }, 'dois');
    await zapi({ lid }, 'três');
    await h.zapi.waitForSent(1, (s) => s.phone === nine);
    await h.zapi.waitForSent(2, (s) => s.phone === `${lid}@lid`);
    const calls = h.toolzz.calls('send-message').map((c) => (c.body as { message: string }).message).filter((m) => ['um', 'dois', 'três'].includes(m));
    expect(calls).toEqual(['um', 'dois', 'três']);
    // One Toolzz conversation all along: the one the LID-only customer started.
    expect(conversationIdOf('dois')).toBe((await h.conversation('zapi', nine))?.conversationId);
    expect(conversationIdOf('três')).toBe(conversationIdOf('dois'));
    expect(conversationIdOf('dois')).not.toBeNull();
  });

  it('a LID-only customer’s handoff fails for good with no_phone: the customer is told', async () => {
    const lid = newLid();
    h.evolution.webhookUrl = `${h.url}/webhooks/evo-failing`;
    await evo('evo-failing', { lid }, 'quero falar com um atendente');
    await h.evolution.waitForSent(2, (s) => s.number === `${lid}@lid`);
    expect(h.evolution.sent().filter((s) => s.number === `${lid}@lid`).map((s) => s.text)).toContain('Não consegui chamar um atendente.');
    const view = await admin('GET', `/admin/conversations/evo-failing/lid:${lid}`);
    expect(view.body).toMatchObject({ state: 'handoff_failed', handoff: { state: 'failed', lastError: expect.stringMatching(/^no_phone/) } });
    expect(h.superagentes.calls()).toEqual([]);
  });
});

describe('business-scoped user IDs (SPEC §11)', () => {
  it('a BSUID-only customer is answered with "recipient"; a BSUID seen with a phone is that phone’s customer', async () => {
    const bsuid = `BR.${Date.now()}${++seq}`;
    await h.sendMeta('wa', metaEnvelope({ phoneNumberId: WA_PHONE_NUMBER_ID, messages: [metaText({ userId: bsuid }, 'oi, sem número')] }));
    const [sent] = await h.whatsapp.waitForSent(1, (s) => s.recipient === bsuid);
    expect(sent?.recipient).toBe(bsuid);
    const started = (await h.conversation('wa', bsuid))?.conversationId;
    expect(started).toEqual(expect.any(String));
    const { nine } = newMobile();
    await h.sendMeta('wa', metaEnvelope({ phoneNumberId: WA_PHONE_NUMBER_ID, messages: [metaText({ phone: nine, userId: bsuid }, 'com número')] }));
    await h.whatsapp.waitForSent(1, (s) => s.to === nine && s.recipient === undefined);
    expect(conversationIdOf('com número')).toBe(started);
    const release = await admin('POST', `/admin/conversations/wa/${bsuid}/release`);
    expect(release.body).toMatchObject({ phone: nine, aliases: expect.arrayContaining([bsuid]) });
  });
});
