import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { deliverEvolutionWebhook, evolutionUpsert } from '../../src/sandbox/evolution.js';
import { metaEnvelope, metaError, metaText } from '../../src/sandbox/whatsapp.js';
import { defaultScript } from '../../src/sandbox/toolzz.js';
import { asyncChannels, BOT_ID, EVO_TOKEN, MEHUB_DESTINATION, message, startHarness, VENDAS_TOKEN, WA_PHONE_NUMBER_ID, type Harness } from '../helpers/harness.js';
import { waitUntil } from '../helpers/wait.js';

/**
 * SPEC §13: WhatsApp's 24-hour window, enforced by the Graph emulator as Meta does (free text
 * to a customer whose last message is over 24 h old is refused with 131047), and the
 * conversation so far in the attendant's note.
 *
 * A message "from 25 hours ago" is what Meta delivers when its webhook retries reach us late
 * (Meta retries for up to 7 days): its `timestamp` is when the customer wrote, and the window
 * counts from it. The emulator is told the same instant, so both sides agree, as in production.
 */
const ADMIN = 'late-context-admin-token';
const HOUR = 3_600_000;
/** The number of the channel without a template (`wa`, with one, has the harness's). */
const PLAIN_NUMBER = '106540352200099';
const TEMPLATE = { name: 'retomar_atendimento', language: 'pt_BR' };

let h: Harness;
let seq = 0;
const newPhone = () => `55119${String(Date.now() % 100000).padStart(5, '0')}${String(++seq).padStart(3, '0')}`;
const mehubLeg = { provider: 'mehub', channel: MEHUB_DESTINATION };

beforeAll(async () => {
  h = await startHarness({
    worker: true,
    adminToken: ADMIN,
    file: { delivery: { timeoutMs: 1_000, baseDelayMs: 20, maxDelayMs: 100 } },
    channels: (replyUrl) => {
      const base = asyncChannels(replyUrl);
      const wa = base.wa as { whatsapp: Record<string, unknown> };
      const sync = (handoff: Record<string, unknown>) => ({ auth: { token: VENDAS_TOKEN }, bot: { id: BOT_ID }, handoff });
      return asyncChannels(replyUrl, {
        wa: { ...wa, whatsapp: { ...wa.whatsapp, windowTemplate: TEMPLATE }, handoff: { ...mehubLeg, failedMessage: 'Não conseguimos transferir agora.' } },
        'wa-plain': { ...wa, whatsapp: { ...wa.whatsapp, phoneNumberId: PLAIN_NUMBER }, handoff: mehubLeg },
        notes: sync(mehubLeg),
        'notes-two': sync({ ...mehubLeg, transcript: 2 }),
        'notes-off': sync({ ...mehubLeg, transcript: 0 }),
        'notes-custom': sync({ ...mehubLeg, note: 'Conversa até aqui:\n{transcript}\n— {name}' }),
        'evo-debounce': { ...(base.evo as Record<string, unknown>), debounceMs: 150 },
      });
    },
  });
});
afterAll(async () => {
  await h.close();
});
beforeEach(() => {
  for (const emulator of h.emulators()) emulator.reset();
  h.evolution.webhookUrl = `${h.url}/webhooks/evo-debounce`;
});

const admin = async (path: string) => {
  const res = await fetch(`${h.url}${path}`, { headers: { authorization: `Bearer ${ADMIN}` } });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
};
/** A customer's WhatsApp message, written `agoMs` ago (Meta's `timestamp`, in seconds); the emulator learns it too. */
const waSays = async (channel: string, phone: string, text: string, agoMs = 0) => {
  const wroteAt = Date.now() - agoMs;
  const msg = { ...metaText(phone, text), timestamp: String(Math.floor(wroteAt / 1000)) };
  h.whatsapp.customerWrote(phone, Math.floor(wroteAt / 1000) * 1000);
  const phoneNumberId = channel === 'wa' ? WA_PHONE_NUMBER_ID : PLAIN_NUMBER;
  const answer = await h.sendMeta(channel, metaEnvelope({ phoneNumberId, messages: [msg], contacts: [{ wa_id: phone, name: 'Ana' }] }));
  expect(answer.status).toBe(200);
};
const sendsTo = (phone: string) => h.whatsapp.calls('messages', (r) => (r.body as { to?: string }).to === phone);
const deliveriesOf = async (phone: string, state: string) => {
  const { body } = await admin(`/admin/deliveries?state=${state}`);
  return (body.deliveries as { phone: string; lastError: string | null; state: string }[]).filter((d) => d.phone === phone);
};

describe('the 24-hour window (SPEC §13)', () => {
  it('inside the window: the reply is free text', async () => {
    const phone = newPhone();
    await waSays('wa', phone, 'oi', 23 * HOUR);
    const [sent] = await h.whatsapp.waitForSent(1);
    expect(sent).toMatchObject({ to: phone, text: expect.stringContaining('oi') });
    expect(sent?.template).toBeUndefined();
  });

  it('outside it with a template: one template send, recorded sent; Meta refused no free text', async () => {
    const phone = newPhone();
    await waSays('wa', phone, 'oi, ainda estão aí?', 25 * HOUR);
    const [sent] = await h.whatsapp.waitForSent(1);
    expect(sent).toMatchObject({ to: phone, text: '', template: TEMPLATE });
    await waitUntil(() => deliveriesOf(phone, 'sent'), { what: 'the delivery recorded sent', done: (d) => d.length === 1 });
    expect(sendsTo(phone).map((r) => r.status)).toEqual([200]);
  });

  it('outside it without a template: nothing is sent, the delivery is failed with outside_window', async () => {
    const phone = newPhone();
    await waSays('wa-plain', phone, 'oi', 25 * HOUR);
    const [failed] = await waitUntil(() => deliveriesOf(phone, 'failed'), { what: 'a failed delivery', done: (d) => d.length === 1 });
    expect(failed?.lastError).toMatch(/^outside_window: more than 24 h since the customer last wrote/);
    expect(sendsTo(phone)).toHaveLength(0);
    await h.logs.waitFor('reply could not be delivered; recorded as failed, the next reply goes on');
  });

  it('131047 on a free-text send: retried once as the template', async () => {
    const phone = newPhone();
    h.whatsapp.inject('messages', metaError(131047));
    await waSays('wa', phone, 'oi');
    await waitUntil(() => deliveriesOf(phone, 'sent'), { what: 'the delivery recorded sent', done: (d) => d.length === 1 });
    const calls = sendsTo(phone);
    expect(calls.map((r) => [(r.body as { type: string }).type, r.status])).toEqual([
      ['text', 400],
      ['template', 200],
    ]);
  });

  it('131047 without a template: failed with outside_window, the free text tried once', async () => {
    const phone = newPhone();
    h.whatsapp.inject('messages', metaError(131047));
    await waSays('wa-plain', phone, 'oi');
    const [failed] = await waitUntil(() => deliveriesOf(phone, 'failed'), { what: 'a failed delivery', done: (d) => d.length === 1 });
    expect(failed?.lastError).toContain('131047');
    expect(sendsTo(phone)).toHaveLength(1);
  });

  it('a message sent late (a failed handoff’s failedMessage) after the window closed goes as the template', async () => {
    const phone = newPhone();
    h.mehub.inject('transfer', { status: 403, body: { success: false, message: 'sem permissão' } });
    h.mehub.addChat({ phone, name: 'Ana', lastMessage: 'oi' });
    await waSays('wa', phone, 'quero falar com um atendente', 25 * HOUR);
    const sent = await h.whatsapp.waitForSent(2);
    expect(sent.map((s) => s.template?.name)).toEqual([TEMPLATE.name, TEMPLATE.name]);
    expect(sendsTo(phone).every((r) => r.status === 200)).toBe(true);
  });

  it('a new message from the customer opens the window again: free text', async () => {
    const phone = newPhone();
    await waSays('wa-plain', phone, 'oi', 25 * HOUR);
    await waitUntil(() => deliveriesOf(phone, 'failed'), { what: 'a failed delivery', done: (d) => d.length === 1 });
    await waSays('wa-plain', phone, 'voltei');
    const [sent] = await h.whatsapp.waitForSent(1);
    expect(sent).toMatchObject({ to: phone, text: expect.stringContaining('voltei') });
  });
});

describe('the conversation so far, for the attendant (SPEC §13)', () => {
  const sync = async (channel: string, phone: string, text: string) => {
    const res = await h.send(channel, message(phone, text, { contact: { phone, name: 'Rui' } }), { headers: { authorization: `Bearer ${VENDAS_TOKEN}` } });
    expect([200, 202]).toContain(res.status);
    return res.body;
  };
  /** The customer has an open MeHub chat; `note()` resolves with the message of its `count`-th transfer. */
  const customer = (phone: string) => {
    const chat = h.mehub.addChat({ phone, name: 'Rui', lastMessage: 'oi' });
    return async (count = 1) => {
      const transfers = await h.mehub.waitFor(
        (r) => r.route === 'transfer' && r.applied && (r.path.includes(chat.token) || ((r.body as { message?: string }).message ?? '').includes(`(${phone})`)),
        count,
        10_000,
      );
      return (transfers[count - 1]?.body as { message: string }).message;
    };
  };
  const SPEC_NOTE = (phone: string, last: string, reply: string) =>
    `Transferido pelo assistente virtual. Cliente: Rui (${phone}). Última mensagem: "${last}". Resposta do assistente: "${reply}"`;
  const HANDOFF_REPLY = 'Certo! Vou transferir você para um de nossos atendentes.';

  it('the lines before the message that caused the handoff, oldest first, after the §5 note and a line break', async () => {
    const phone = newPhone();
    const note = customer(phone);
    await sync('notes', phone, 'oi');
    await sync('notes', phone, 'meu pedido\natrasou');
    await sync('notes', phone, 'quero um atendente');
    expect(await note()).toBe(
      [
        SPEC_NOTE(phone, 'quero um atendente', HANDOFF_REPLY),
        'Cliente: oi',
        'Assistente: Olá! Sou o assistente virtual. Você disse: "oi"',
        'Cliente: meu pedido / atrasou',
        'Assistente: Entendi: "meu pedido / atrasou"',
      ].join('\n'),
    );
  });

  it('a handoff on the first message keeps §5’s note exactly', async () => {
    const phone = newPhone();
    const note = customer(phone);
    await sync('notes', phone, 'quero um atendente');
    expect(await note()).toBe(SPEC_NOTE(phone, 'quero um atendente', HANDOFF_REPLY));
  });

  it('transcript: 2 gives the last two lines; transcript: 0 keeps none at all', async () => {
    const two = newPhone();
    const off = newPhone();
    const notes = { [two]: customer(two), [off]: customer(off) };
    for (const [channel, phone] of [['notes-two', two], ['notes-off', off]] as const) {
      await sync(channel, phone, 'primeira');
      await sync(channel, phone, 'segunda');
      await sync(channel, phone, 'quero um atendente');
    }
    expect((await notes[two]!()).split('\n').slice(1)).toEqual(['Cliente: segunda', 'Assistente: Entendi: "segunda"']);
    expect(await notes[off]!()).toBe(SPEC_NOTE(off, 'quero um atendente', HANDOFF_REPLY));
    expect(await h.redis.exists(h.keys.transcript('notes-off', off))).toBe(0);
    expect(await h.redis.lrange(h.keys.transcript('notes-two', two), 0, -1)).toEqual(['Cliente: quero um atendente', `Assistente: ${HANDOFF_REPLY}`]);
  });

  it('fits MeHub’s 1000 characters by dropping the oldest lines first, never cutting a character', async () => {
    const phone = newPhone();
    const note = customer(phone);
    for (let i = 1; i <= 6; i++) await sync('notes', phone, `${i}:${'😀'.repeat(80)}`);
    await sync('notes', phone, 'quero um atendente');
    const text = await note();
    expect([...text].length).toBeLessThanOrEqual(1000);
    expect(text.startsWith(`${SPEC_NOTE(phone, 'quero um atendente', HANDOFF_REPLY)}\n`)).toBe(true);
    const lines = text.split('\n').slice(1);
    // Whole lines, the newest kept, the oldest dropped.
    expect(lines.at(-2)).toBe(`Cliente: 6:${'😀'.repeat(80)}`);
    expect(lines.some((l) => l.startsWith('Cliente: 1:'))).toBe(false);
    expect(lines.every((l) => /^(Cliente|Assistente): /.test(l))).toBe(true);
    expect(text).not.toMatch(/[\uD800-\uDBFF](?![\uDC00-\uDFFF])/);
    // Another line would not have fitted.
    expect([...text].length + [...lines[0]!].length).toBeGreaterThan(1000 - 200);
  });

  it('a custom note gets {transcript}; a bot-to-bot hop shows as the reply the customer got', async () => {
    const phone = newPhone();
    const other = '7c2b8d1e-3f4a-4b5c-9d6e-0f1a2b3c4d5e';
    h.toolzz.script = (turn) => {
      if (turn.botId === BOT_ID && turn.message.includes('financeiro')) return { content: 'Vou te passar para o financeiro.', transferToAgent: true, targetBotId: other };
      if (turn.botId === other && !turn.message.includes('atendente')) return { content: 'Aqui é o financeiro.', transferToAgent: false, targetBotId: null };
      return defaultScript(turn);
    };
    const note = customer(phone);
    await sync('notes-custom', phone, 'me passa pro financeiro');
    await sync('notes-custom', phone, 'quero um atendente');
    expect(h.toolzz.calls('send-message').some((c) => (c.body as { botId?: string }).botId === other)).toBe(true);
    expect(await note()).toBe(['Conversa até aqui:', 'Cliente: me passa pro financeiro', 'Assistente: Aqui é o financeiro.', '— Rui'].join('\n'));
  });

  it('a new human episode keeps the transcript going', async () => {
    const phone = newPhone();
    const note = customer(phone);
    await sync('notes', phone, 'oi');
    const first = (await sync('notes', phone, 'quero um atendente')) as { handoffId: string };
    await h.settled(first.handoffId);
    const released = await fetch(`${h.url}/admin/conversations/notes/${phone}/release`, { method: 'POST', headers: { authorization: `Bearer ${ADMIN}` } });
    expect(released.status).toBe(200);
    await sync('notes', phone, 'voltei');
    await sync('notes', phone, 'atendente de novo, por favor');
    expect((await note(2)).split('\n').slice(1)).toEqual([
      'Cliente: oi',
      'Assistente: Olá! Sou o assistente virtual. Você disse: "oi"',
      'Cliente: quero um atendente',
      `Assistente: ${HANDOFF_REPLY}`,
      'Cliente: voltei',
      'Assistente: Entendi: "voltei"',
    ]);
  });

  it('a debounced batch is one Cliente line; the transcript expires with the conversation', async () => {
    const phone = newPhone();
    const say = (text: string) => deliverEvolutionWebhook(`${h.url}/webhooks/evo-debounce`, evolutionUpsert({ instance: 'loja', phone, pushName: 'Bia', text }), { authorization: `Bearer ${EVO_TOKEN}` });
    await say('oi');
    await say('tudo bem?');
    await h.evolution.waitForSent(1);
    const key = h.keys.transcript('evo-debounce', phone);
    const lines = await waitUntil(() => h.redis.lrange(key, 0, -1), { what: 'two transcript lines', done: (l) => l.length === 2 });
    expect(lines).toEqual(['Cliente: oi / tudo bem?', 'Assistente: Olá! Sou o assistente virtual. Você disse: "oi / tudo bem?"']);
    const [transcriptTtl, conversationTtl] = await Promise.all([h.redis.pttl(key), h.redis.pttl(h.keys.conversation('evo-debounce', phone))]);
    expect(conversationTtl).toBeGreaterThan(0);
    expect(Math.abs(transcriptTtl - conversationTtl)).toBeLessThan(2_000);
  });
});
