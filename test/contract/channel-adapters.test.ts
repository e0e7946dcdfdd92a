import { once } from 'node:events';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Agent } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createChannels } from '../../src/channels/index.js';
import { WARN_REASONS, type ChannelAdapter, type ChannelMessage, type IgnoreReason, type InboundParse, type InboundRequest } from '../../src/channels/types.js';
import { parseConfig } from '../../src/config/index.js';
import { postRaw, type PostAnswer } from '../../src/sandbox/channel-support.js';
import { deliverEvolutionWebhook, evolutionEvent, evolutionUpsert } from '../../src/sandbox/evolution.js';
import {
  deliverMetaWebhook,
  META_DEFAULT_DISPLAY_PHONE,
  metaAudio,
  metaButton,
  metaButtonReply,
  metaDocument,
  metaEcho,
  metaEchoEnvelope,
  metaEchoOf,
  metaEdit,
  metaEnvelope,
  metaImage,
  metaJson,
  metaListReply,
  metaLocation,
  metaReaction,
  metaRevoke,
  metaSignature,
  metaStatus,
  metaSticker,
  metaText,
  metaVideo,
  type MetaInboundMessage,
} from '../../src/sandbox/whatsapp.js';
import { deliverZapiWebhook, zapiReceived } from '../../src/sandbox/zapi.js';
import { signedHeaders } from '../helpers/sign.js';
import { BOT_ID, WA_APP_SECRET, WA_VERIFY_TOKEN, EVO_TOKEN, ZAPI_TOKEN, ZAPI_INSTANCE_ID } from '../helpers/harness.js';

/*
 * One contract for every channel kind's inbound adapter: the same credential and message
 * cases run against each, on the bytes the channel (its emulator's builders) actually puts on
 * the wire, received by a real HTTP listener. Kind-specific message types follow.
 */

const HANDOFF = { provider: 'superagentes', assigneeIds: ['member-1'] };
const JSON_TOKEN = 'site-webhook-token-0123456789';
const JSON_SECRET = 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw';
const OTHER_SECRET = 'whsec_b3RoZXItc2lnbmluZy1zZWNyZXQtMDEyMzQ1Njc4OQ==';
const WA_NUMBER = '106540352242922';
const WA_OTHER_NUMBER = '200000000000002';
/** A number of another tenant: its channel has another app secret. */
const WA_FOREIGN_NUMBER = '300000000000003';
const EVO_INSTANCE = 'loja';

const whatsappChannel = (phoneNumberId: string, appSecret = WA_APP_SECRET) => ({
  kind: 'whatsapp-cloud',
  whatsapp: { phoneNumberId, accessToken: 'wa-access-token', appSecret, verifyToken: WA_VERIFY_TOKEN },
  bot: { id: BOT_ID },
  handoff: HANDOFF,
});

const config = parseConfig(
  {
    toolzz: { token: 'toolzz-test-token-1234567890' },
    providers: { superagentes: { token: 'superagentes-token' } },
    channels: {
      'site-token': { auth: { token: JSON_TOKEN }, bot: { id: BOT_ID }, handoff: HANDOFF },
      'site-signed': { auth: { signingSecret: JSON_SECRET }, bot: { id: BOT_ID }, handoff: HANDOFF },
      wa: whatsappChannel(WA_NUMBER),
      'wa-other': whatsappChannel(WA_OTHER_NUMBER),
      'wa-foreign': whatsappChannel(WA_FOREIGN_NUMBER, 'another-tenant-app-secret'),
      evo: {
        kind: 'evolution',
        auth: { token: EVO_TOKEN },
        evolution: { baseUrl: 'http://evolution.invalid', instance: EVO_INSTANCE, apiKey: 'evo-api-key' },
        bot: { id: BOT_ID },
        handoff: HANDOFF,
      },
      zapi: {
        kind: 'zapi',
        auth: { token: ZAPI_TOKEN },
        zapi: { instanceId: ZAPI_INSTANCE_ID, instanceToken: 'zapi-instance-token', clientToken: 'zapi-client-token' },
        bot: { id: BOT_ID },
        handoff: HANDOFF,
      },
    },
  },
  {},
);
const http = new Agent();
const kits = createChannels(config, http);
const adapterOf = (channel: string): ChannelAdapter => {
  const kit = kits.get(channel);
  if (!kit) throw new Error(`no channel ${channel}`);
  return kit.adapter;
};

/** A real listener that hands each request over as the webhook route does: raw bytes, headers, query. */
class Capture {
  url = '';
  private readonly server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const inbound: InboundRequest = { raw: Buffer.concat(chunks), headers: req.headers, query: new URL(req.url ?? '/', 'http://capture').searchParams };
      this.waiters.shift()?.(inbound);
      res.writeHead(200, { 'content-type': 'application/json' }).end('{"status":"accepted"}');
    });
  });
  private readonly waiters: ((req: InboundRequest) => void)[] = [];

  async start(): Promise<void> {
    this.server.listen(0, '127.0.0.1');
    await once(this.server, 'listening');
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  close(): Promise<void> {
    this.server.closeAllConnections();
    return new Promise((resolve) => this.server.close(() => resolve()));
  }

  /** Runs `post` against this listener and resolves with the request it made. */
  async capture(post: () => Promise<PostAnswer>): Promise<InboundRequest> {
    const arrived = new Promise<InboundRequest>((resolve) => this.waiters.push(resolve));
    const answer = await post();
    expect(answer.status).toBe(200);
    return arrived;
  }
}

const capture = new Capture();
beforeAll(() => capture.start());
afterAll(async () => {
  await capture.close();
  await http.close();
});

/** One way of sending a payload to the channel's webhook URL (`base` = `…/webhooks/{channel}`). */
interface Credential {
  label: string;
  send(base: string, payload: unknown): Promise<PostAnswer>;
}

interface MessageFields {
  id: string;
  phone: string;
  name: string;
  text: string;
}

/** What the suite needs to know about one kind to run the same cases against it. */
interface AdapterCase {
  label: string;
  kind: ChannelAdapter['kind'];
  channel: string;
  good: Credential[];
  bad: Credential[];
  missing: Credential;
  /** A customer's text message as the channel delivers it. */
  text(fields: MessageFields): unknown;
  /** A voice note, where the kind has messages without text. */
  audio?: (fields: Omit<MessageFields, 'text'>) => unknown;
  /** Bodies that are not the kind's envelope, and the paths the 400 must name. */
  malformed: { label: string; body: unknown; paths: string[] }[];
  verifies: boolean;
}

const jsonBody = ({ id, phone, name, text }: MessageFields) => ({ messageId: id, contact: { phone, name }, text });
const bearer = (token: string): Credential => ({ label: `Bearer ${token}`, send: (base, payload) => postRaw(base, JSON.stringify(payload), { authorization: `Bearer ${token}` }) });
const standardWebhooks = (label: string, secret: string, bytes: (raw: string) => string = (raw) => raw): Credential => ({
  label,
  send: (base, payload) => {
    const raw = JSON.stringify(payload);
    return postRaw(base, bytes(raw), signedHeaders(secret, raw));
  },
});
const meta = (label: string, sign: (raw: string) => Record<string, string>, bytes: (raw: string) => string = (raw) => raw): Credential => ({
  label,
  send: (base, payload) => {
    const raw = metaJson(payload);
    return postRaw(base, bytes(raw), sign(raw));
  },
});
const evolution = (label: string, headers: Record<string, string>): Credential => ({ label, send: (base, payload) => deliverEvolutionWebhook(base, payload, headers) });
const zapiQuery = (label: string, query: string, headers: Record<string, string> = {}): Credential => ({
  label,
  send: (base, payload) => (Object.keys(headers).length ? postRaw(`${base}${query}`, JSON.stringify(payload), headers) : deliverZapiWebhook(`${base}${query}`, payload)),
});

const waText = ({ id, phone, name, text }: MessageFields) => metaEnvelope({ phoneNumberId: WA_NUMBER, messages: [metaText(phone, text, id)], contacts: [{ wa_id: phone, name }] });

const cases: AdapterCase[] = [
  {
    label: 'json (token)',
    kind: 'json',
    channel: 'site-token',
    good: [bearer(JSON_TOKEN)],
    bad: [bearer('wrong-token'), { label: 'the token in the query', send: (base, payload) => postRaw(`${base}?token=${JSON_TOKEN}`, JSON.stringify(payload)) }],
    missing: { label: 'no credentials', send: (base, payload) => postRaw(base, JSON.stringify(payload)) },
    text: jsonBody,
    malformed: [{ label: 'an empty object', body: {}, paths: ['messageId', 'contact', 'text'] }],
    verifies: false,
  },
  {
    label: 'json (Standard Webhooks)',
    kind: 'json',
    channel: 'site-signed',
    good: [standardWebhooks('signed with the channel secret', JSON_SECRET)],
    bad: [
      standardWebhooks('signed with another secret', OTHER_SECRET),
      standardWebhooks('the same JSON in other bytes', JSON_SECRET, (raw) => JSON.stringify(JSON.parse(raw), null, 1)),
      bearer(JSON_TOKEN),
    ],
    missing: { label: 'no signature', send: (base, payload) => postRaw(base, JSON.stringify(payload)) },
    text: jsonBody,
    malformed: [{ label: 'a bad phone and no text', body: { messageId: 'm-1', contact: { phone: '12' } }, paths: ['contact.phone', 'text'] }],
    verifies: false,
  },
  {
    label: 'whatsapp-cloud',
    kind: 'whatsapp-cloud',
    channel: 'wa',
    good: [{ label: 'X-Hub-Signature-256 over the raw bytes', send: (base, payload) => deliverMetaWebhook(base, payload, WA_APP_SECRET) }],
    bad: [
      { label: 'signed with another app secret', send: (base, payload) => deliverMetaWebhook(base, payload, 'another-secret') },
      // Meta signs its escaped-unicode bytes: a receiver that re-serialises the parsed body gets another HMAC.
      meta('the re-serialised JSON', (raw) => ({ 'x-hub-signature-256': metaSignature(WA_APP_SECRET, raw) }), (raw) => {
        const reserialised = JSON.stringify(JSON.parse(raw));
        expect(reserialised).not.toBe(raw);
        return reserialised;
      }),
      meta('the hex without sha256=', (raw) => ({ 'x-hub-signature-256': metaSignature(WA_APP_SECRET, raw).slice('sha256='.length) })),
    ],
    missing: meta('no signature', () => ({})),
    text: waText,
    audio: ({ id, phone, name }) => metaEnvelope({ phoneNumberId: WA_NUMBER, messages: [metaAudio(phone, id)], contacts: [{ wa_id: phone, name }] }),
    malformed: [
      { label: 'no entry', body: { object: 'whatsapp_business_account' }, paths: ['entry'] },
      { label: 'changes not a list', body: { object: 'whatsapp_business_account', entry: [{ changes: 'x' }] }, paths: ['entry.0.changes'] },
    ],
    verifies: true,
  },
  {
    label: 'evolution',
    kind: 'evolution',
    channel: 'evo',
    good: [evolution('Authorization: Bearer <auth.token>', { authorization: `Bearer ${EVO_TOKEN}` })],
    bad: [evolution('another token', { authorization: 'Bearer wrong-token' }), evolution('the token without Bearer', { authorization: EVO_TOKEN })],
    missing: evolution('no header', {}),
    text: ({ id, phone, name, text }) => evolutionUpsert({ instance: EVO_INSTANCE, phone, id, pushName: name, text }),
    audio: ({ id, phone, name }) => evolutionUpsert({ instance: EVO_INSTANCE, phone, id, pushName: name, audio: true }),
    malformed: [
      { label: 'no event', body: { instance: EVO_INSTANCE, data: {} }, paths: ['event'] },
      { label: 'an upsert whose data is a string', body: { event: 'messages.upsert', instance: EVO_INSTANCE, data: 'x' }, paths: ['data'] },
    ],
    verifies: false,
  },
  {
    label: 'zapi',
    kind: 'zapi',
    channel: 'zapi',
    good: [zapiQuery('?token=<auth.token>', `?token=${ZAPI_TOKEN}`), zapiQuery('Authorization: Bearer', '', { authorization: `Bearer ${ZAPI_TOKEN}` })],
    bad: [zapiQuery('another token in the query', '?token=wrong-token'), zapiQuery('the token under another name', `?secret=${ZAPI_TOKEN}`)],
    missing: zapiQuery('no token', ''),
    text: ({ id, phone, name, text }) => zapiReceived({ instanceId: ZAPI_INSTANCE_ID, messageId: id, phone, senderName: name, text }),
    audio: ({ id, phone, name }) => zapiReceived({ instanceId: ZAPI_INSTANCE_ID, messageId: id, phone, senderName: name, audio: true }),
    malformed: [{ label: 'no type', body: { phone: '5511999990000', messageId: 'X' }, paths: ['type'] }],
    verifies: false,
  },
];
const caseOf = (kind: string) => {
  const found = cases.find((c) => c.kind === kind);
  if (!found) throw new Error(kind);
  return found;
};

let seq = 0;
const fields = (overrides: Partial<MessageFields> = {}): MessageFields => {
  seq += 1;
  return { id: `MSG${String(seq).padStart(8, '0')}`, phone: `55119${String(seq).padStart(8, '0')}`, name: 'José Olá', text: 'Olá, José — quero ver https://loja.example/p?id=1 😀', ...overrides };
};

/** The request as the channel sends it with good credentials, authenticated, then parsed. */
async function receive(c: AdapterCase, payload: unknown, credential = c.good[0]!): Promise<InboundParse> {
  const req = await capture.capture(() => credential.send(`${capture.url}/webhooks/${c.channel}`, payload));
  const adapter = adapterOf(c.channel);
  expect(adapter.authenticate(req)).toBe(true);
  return adapter.parse(JSON.parse(req.raw.toString('utf8')));
}

function accepted(result: InboundParse): { messages: ChannelMessage[]; ignored: number; skipped: { path: string; reason: string }[] } {
  if (!result.ok) throw new Error(`expected the delivery to be readable, got ${JSON.stringify(result.issues)}`);
  return { messages: result.messages, ignored: result.ignored, skipped: result.skipped ?? [] };
}

/** The whole answer of a readable delivery (ignore reasons and statuses included). */
function readable(result: InboundParse): Extract<InboundParse, { ok: true }> {
  if (!result.ok) throw new Error(`expected the delivery to be readable, got ${JSON.stringify(result.issues)}`);
  return result;
}

/**
 * The accounting rule of every adapter: each message item not turned into a message is counted
 * under exactly one reason, and exactly the warn-level ones are listed in `skipped`.
 */
function expectIgnored(result: InboundParse, ignoredBy: Partial<Record<IgnoreReason, number>>): Extract<InboundParse, { ok: true }> {
  const ok = readable(result);
  expect(ok.ignoredBy).toEqual(ignoredBy);
  const warn = Object.entries(ignoredBy).reduce((sum, [reason, count]) => sum + (WARN_REASONS.has(reason as IgnoreReason) ? count : 0), 0);
  expect(ok.skipped ?? []).toHaveLength(warn);
  for (const item of ok.skipped ?? []) expect(item).toEqual({ path: expect.any(String), reason: expect.any(String) });
  return ok;
}

describe.each(cases)('$label adapter contract', (c) => {
  const adapter = adapterOf(c.channel);

  it('is the configured kind', () => {
    expect(adapter.kind).toBe(c.kind);
  });

  it.each(c.good)('accepts $label', async (credential) => {
    const f = fields();
    expect(accepted(await receive(c, c.text(f), credential)).messages).toHaveLength(1);
  });

  it.each(c.bad)('refuses $label', async (credential) => {
    const req = await capture.capture(() => credential.send(`${capture.url}/webhooks/${c.channel}`, c.text(fields())));
    expect(adapter.authenticate(req)).toBe(false);
  });

  it('refuses a request without credentials', async () => {
    const req = await capture.capture(() => c.missing.send(`${capture.url}/webhooks/${c.channel}`, c.text(fields())));
    expect(adapter.authenticate(req)).toBe(false);
  });

  it('a text message is one text message: id, digits, reply address, name, text (unicode intact)', async () => {
    const f = fields();
    const { messages, ignored } = accepted(await receive(c, c.text(f)));
    expect(ignored).toBe(0);
    expect(messages).toEqual([expect.objectContaining({ channel: c.channel, messageId: f.id, phone: f.phone, to: f.phone, name: f.name, kind: 'text', text: f.text })]);
  });

  const audio = c.audio;
  // `json` has no messages without text (§3 requires one).
  if (audio) it('a message without text (a voice note) is unsupported', async () => {
    const f = fields();
    const { messages } = accepted(await receive(c, audio(f)));
    expect(messages).toEqual([expect.objectContaining({ channel: c.channel, messageId: f.id, phone: f.phone, to: f.phone, kind: 'unsupported', what: expect.stringMatching(/^audio/) })]);
    expect(messages[0]).not.toHaveProperty('text');
  });

  it('a body that is not a JSON object is a 400 naming the body', () => {
    for (const body of [[], 'text', 42, null]) {
      const result = adapter.parse(body);
      expect(result.ok).toBe(false);
      if (!result.ok) expect(result.issues.map((i) => i.path)).toContain('');
    }
  });

  it.each(c.malformed)('a malformed envelope ($label) is a 400 with paths', ({ body, paths }) => {
    const result = adapter.parse(body);
    expect(result).toEqual({ ok: false, issues: expect.any(Array) });
    if (!result.ok) {
      expect(result.issues.map((i) => i.path).sort()).toEqual([...paths].sort());
      for (const issue of result.issues) expect(issue.message).toEqual(expect.any(String));
    }
  });

  it(c.verifies ? 'has a subscription check' : 'has no subscription check (GET answers 404)', () => {
    expect(adapter.verify !== undefined).toBe(c.verifies);
  });
});

describe('whatsapp-cloud messages', () => {
  const c = caseOf('whatsapp-cloud');
  const one = async (message: MetaInboundMessage) => accepted(await receive(c, metaEnvelope({ phoneNumberId: WA_NUMBER, messages: [message] })));
  const phone = '5511988880001';

  it.each([
    ['text', metaText(phone, 'oi'), 'oi'],
    ['interactive button reply', metaButtonReply(phone, 'Sim, quero'), 'Sim, quero'],
    ['interactive list reply', metaListReply(phone, 'Plano Ouro'), 'Plano Ouro'],
    ['template quick-reply button', metaButton(phone, 'Falar com atendente'), 'Falar com atendente'],
    ['image caption', metaImage(phone, 'esta peça'), 'esta peça'],
    ['video caption', metaVideo(phone, 'veja o defeito'), 'veja o defeito'],
    ['document caption', metaDocument(phone, 'meu boleto'), 'meu boleto'],
  ])('%s → text', async (_label, message, text) => {
    const { messages } = await one(message);
    expect(messages).toEqual([expect.objectContaining({ messageId: message.id, kind: 'text', text, name: `Cliente ${phone.slice(-4)}` })]);
  });

  it.each([
    ['audio', metaAudio(phone)],
    ['sticker', metaSticker(phone)],
    ['location', metaLocation(phone)],
    ['image', metaImage(phone)],
    ['document', metaDocument(phone)],
  ])('%s without text → unsupported', async (what, message) => {
    const { messages } = await one(message);
    expect(messages).toEqual([expect.objectContaining({ messageId: message.id, kind: 'unsupported', what })]);
  });

  it('a reaction is ignored', async () => {
    expect(await one(metaReaction(phone, '👍', 'wamid.x'))).toMatchObject({ messages: [], ignored: 1 });
  });

  it('a delivery with several messages for several customers: every one, in order, named by wa_id', async () => {
    const [a, b] = ['5511977770001', '5511977770002'];
    const first = metaEnvelope({ phoneNumberId: WA_NUMBER, messages: [metaText(a, 'um'), metaText(b, 'dois'), metaAudio(a)], contacts: [{ wa_id: b, name: 'Bruna' }, { wa_id: a, name: 'Ana' }] }) as { entry: unknown[] };
    const second = metaEnvelope({ phoneNumberId: WA_NUMBER, messages: [metaText(b, 'três')], contacts: [{ wa_id: b, name: 'Bruna' }] }) as { entry: unknown[] };
    const { messages, ignored } = accepted(await receive(c, { ...first, entry: [...first.entry, ...second.entry] }));
    expect(ignored).toBe(0);
    expect(messages.map((m) => [m.phone, m.name, m.kind, m.text])).toEqual([
      [a, 'Ana', 'text', 'um'],
      [b, 'Bruna', 'text', 'dois'],
      [a, 'Ana', 'unsupported', undefined],
      [b, 'Bruna', 'text', 'três'],
    ]);
    expect(new Set(messages.map((m) => m.messageId)).size).toBe(4);
  });

  it('a message whose sender has no contact entry has no name', async () => {
    const message = metaText(phone, 'oi');
    const { messages } = accepted(await receive(c, metaEnvelope({ phoneNumberId: WA_NUMBER, messages: [message], contacts: [{ wa_id: '5511900000000', name: 'Outra' }] })));
    expect(messages).toEqual([expect.objectContaining({ messageId: message.id, name: null })]);
  });

  it('statuses are not messages: counted as ignored', async () => {
    const statuses = [metaStatus('wamid.a', phone, 'delivered'), metaStatus('wamid.b', phone, 'read'), metaStatus('wamid.c', phone, 'failed')];
    expect(accepted(await receive(c, metaEnvelope({ phoneNumberId: WA_NUMBER, statuses })))).toMatchObject({ messages: [], ignored: 3 });
    const mixed = accepted(await receive(c, metaEnvelope({ phoneNumberId: WA_NUMBER, messages: [metaText(phone, 'oi')], statuses: statuses.slice(0, 1) })));
    expect(mixed).toMatchObject({ messages: [expect.objectContaining({ kind: 'text', text: 'oi' })], ignored: 1 });
  });

  it("a message for another configured number goes to that number's channel", async () => {
    const message = metaText(phone, 'para o outro número');
    const { messages } = accepted(await receive(c, metaEnvelope({ phoneNumberId: WA_OTHER_NUMBER, messages: [message] })));
    expect(messages).toEqual([expect.objectContaining({ channel: 'wa-other', messageId: message.id, text: 'para o outro número' })]);
  });

  it('a message for a number no channel has is ignored, with a reason', async () => {
    const result = accepted(await receive(c, metaEnvelope({ phoneNumberId: '999999999999999', messages: [metaText(phone, 'oi')] })));
    expect(result).toMatchObject({ messages: [], ignored: 1, skipped: [{ path: 'entry.0.changes.0.value.messages.0', reason: expect.stringContaining('999999999999999') }] });
  });

  it('an item without id or from is skipped, the rest of the delivery goes on', async () => {
    const good = metaText(phone, 'oi');
    const { from: _from, ...noFrom } = metaText(phone, 'sem remetente');
    const { messages, skipped } = accepted(await receive(c, metaEnvelope({ phoneNumberId: WA_NUMBER, messages: [noFrom, good], contacts: [{ wa_id: phone, name: 'Maria' }] })));
    expect(messages.map((m) => m.messageId)).toEqual([good.id]);
    expect(skipped).toEqual([{ path: 'entry.0.changes.0.value.messages.0', reason: expect.any(String) }]);
  });

  describe('subscription check', () => {
    const verify = (query: Record<string, string>) => {
      const adapter = adapterOf('wa');
      if (!adapter.verify) throw new Error('no verify');
      return adapter.verify(new URLSearchParams(query));
    };

    it('hub.mode=subscribe with the verify token → 200 and the challenge', () => {
      expect(verify({ 'hub.mode': 'subscribe', 'hub.verify_token': WA_VERIFY_TOKEN, 'hub.challenge': '1158201444' })).toEqual({ status: 200, body: '1158201444' });
    });

    it.each([
      ['a wrong token', { 'hub.mode': 'subscribe', 'hub.verify_token': 'wrong', 'hub.challenge': '1' }],
      ['no token', { 'hub.mode': 'subscribe', 'hub.challenge': '1' }],
      ['another mode', { 'hub.mode': 'unsubscribe', 'hub.verify_token': WA_VERIFY_TOKEN, 'hub.challenge': '1' }],
    ])('%s → 403', (_label, query) => {
      expect(verify(query).status).toBe(403);
    });
  });
});

describe('evolution messages', () => {
  const c = caseOf('evolution');
  const phone = '5511966660001';
  const upsert = (options: Omit<Parameters<typeof evolutionUpsert>[0], 'instance'>) => evolutionUpsert({ instance: EVO_INSTANCE, phone, pushName: 'Maria', ...options }) as { data: Record<string, unknown> };
  /** An upsert whose content is `message` (types the builder does not make). */
  const withContent = (message: Record<string, unknown>, messageType: string) => {
    const payload = upsert({});
    payload.data.message = message;
    payload.data.messageType = messageType;
    return payload;
  };
  const idOf = (payload: { data: Record<string, unknown> }) => (payload.data.key as { id: string }).id;

  it.each([
    ['conversation', upsert({ text: 'oi' }), 'oi'],
    ['extendedTextMessage (older versions)', upsert({ extendedText: 'oi com link https://x.example' }), 'oi com link https://x.example'],
    ['image caption', upsert({ imageCaption: 'esta peça' }), 'esta peça'],
    ['video caption', upsert({ videoCaption: 'veja' }), 'veja'],
  ])('%s → text', async (_label, payload, text) => {
    const { messages } = accepted(await receive(c, payload));
    expect(messages).toEqual([{ channel: 'evo', messageId: idOf(payload), phone, to: phone, name: 'Maria', kind: 'text', text, sentAt: expect.any(Number) }]);
  });

  it.each([
    ['audioMessage', upsert({ audio: true })],
    ['stickerMessage', upsert({ sticker: true })],
    ['imageMessage', upsert({ image: true })],
    ['videoMessage', upsert({ video: true })],
    ['locationMessage', withContent({ locationMessage: { degreesLatitude: -23.56, degreesLongitude: -46.65 } }, 'locationMessage')],
    ['contactMessage', withContent({ contactMessage: { displayName: 'Ana', vcard: 'BEGIN:VCARD' } }, 'contactMessage')],
    ['documentMessage', withContent({ documentMessage: { fileName: 'boleto.pdf', mimetype: 'application/pdf' } }, 'documentMessage')],
  ])('%s without text → unsupported', async (what, payload) => {
    const { messages } = accepted(await receive(c, payload));
    expect(messages).toEqual([expect.objectContaining({ messageId: idOf(payload), kind: 'unsupported', what })]);
  });

  it.each([
    ['a group', '120363025246125888@g.us'],
    ['status updates', 'status@broadcast'],
    ['a broadcast list', '1618404540@broadcast'],
    ['a newsletter', '120363198765432100@newsletter'],
  ])('%s is ignored', async (_label, remoteJid) => {
    const result = accepted(await receive(c, evolutionUpsert({ instance: EVO_INSTANCE, remoteJid, participant: `${phone}@s.whatsapp.net`, text: 'oi' })));
    expect(result).toEqual({ messages: [], ignored: 1, skipped: [] });
  });

  it.each([
    ['a reaction', withContent({ reactionMessage: { key: { id: 'X' }, text: '👍' } }, 'reactionMessage')],
    ['a delete', withContent({ protocolMessage: { key: { id: 'X' }, type: 'REVOKE' } }, 'protocolMessage')],
    ['an edit', withContent({ editedMessage: { message: { protocolMessage: { editedMessage: { conversation: 'novo' } } } } }, 'editedMessage')],
  ])('%s is ignored', async (_label, payload) => {
    expect(accepted(await receive(c, payload))).toMatchObject({ messages: [], ignored: 1 });
  });

  it.each([
    ['connection.update', evolutionEvent('connection.update', EVO_INSTANCE, { state: 'open' })],
    ['messages.update', evolutionEvent('messages.update', EVO_INSTANCE, { keyId: 'X', status: 'READ' })],
    ['send.message', evolutionEvent('send.message', EVO_INSTANCE, upsert({}).data)],
    ['qrcode.updated', evolutionEvent('qrcode.updated', EVO_INSTANCE, { qrcode: {} })],
  ])('another event (%s) is ignored', async (_label, payload) => {
    expect(accepted(await receive(c, payload))).toMatchObject({ messages: [], ignored: 1 });
  });

  it('the MESSAGES_UPSERT spelling is an upsert too', async () => {
    const payload = { ...upsert({ text: 'oi' }), event: 'MESSAGES_UPSERT' };
    expect(accepted(await receive(c, payload)).messages).toEqual([expect.objectContaining({ messageId: idOf(payload), text: 'oi' })]);
  });

  it("another instance's upsert is ignored", async () => {
    expect(accepted(await receive(c, evolutionUpsert({ instance: 'outra-loja', phone, text: 'oi' })))).toMatchObject({ messages: [], ignored: 1 });
  });

  it('fromMe is an owner message (with its text when it has one, without the business name)', async () => {
    const typed = upsert({ fromMe: true, text: 'Oi, aqui é a Ana da loja' });
    const voice = upsert({ fromMe: true, audio: true });
    expect(accepted(await receive(c, typed)).messages).toEqual([
      { channel: 'evo', messageId: idOf(typed), phone, to: phone, name: null, kind: 'owner', text: 'Oi, aqui é a Ana da loja', sentAt: expect.any(Number) },
    ]);
    const [owner] = accepted(await receive(c, voice)).messages;
    expect(owner).toMatchObject({ messageId: idOf(voice), kind: 'owner' });
    expect(owner).not.toHaveProperty('text');
  });

  it('data may be a list; an item without key.id or key.remoteJid is skipped, not a 400', async () => {
    const a = upsert({ text: 'um' });
    const b = upsert({ text: 'dois' });
    const noId = upsert({ text: 'sem id' });
    delete (noId.data.key as Record<string, unknown>).id;
    const noJid = upsert({ text: 'sem jid' });
    delete (noJid.data.key as Record<string, unknown>).remoteJid;
    const group = evolutionUpsert({ instance: EVO_INSTANCE, remoteJid: '120363025246125888@g.us', text: 'grupo' }) as { data: unknown };
    const payload = { ...a, data: [a.data, noId.data, group.data, 'not a message', noJid.data, b.data] };
    const result = accepted(await receive(c, payload));
    expect(result.messages.map((m) => m.text)).toEqual(['um', 'dois']);
    expect(result.ignored).toBe(4);
    expect(result.skipped.map((s) => s.path)).toEqual(['data.1', 'data.3', 'data.4']);
  });

  it('a JID whose digits are not a phone number is skipped', async () => {
    const result = accepted(await receive(c, evolutionUpsert({ instance: EVO_INSTANCE, remoteJid: '123@s.whatsapp.net', text: 'oi' })));
    expect(result).toMatchObject({ messages: [], ignored: 1, skipped: [{ path: 'data', reason: expect.any(String) }] });
  });
});

describe('zapi messages', () => {
  const c = caseOf('zapi');
  const phone = '5511955550001';
  const received = (options: Omit<Parameters<typeof zapiReceived>[0], 'instanceId' | 'phone'> & { phone?: string }) =>
    zapiReceived({ instanceId: ZAPI_INSTANCE_ID, phone, senderName: 'Maria', ...options }) as Record<string, unknown>;
  /** A callback whose content is `content` (types the builder does not make). */
  const withContent = (content: Record<string, unknown>) => {
    const { text: _text, ...rest } = received({});
    return { ...rest, ...content };
  };

  it.each([
    ['text.message', received({ text: 'oi' }), 'oi'],
    ['image caption', received({ imageCaption: 'esta peça' }), 'esta peça'],
    ['video caption', received({ videoCaption: 'veja' }), 'veja'],
  ])('%s → text', async (_label, payload, text) => {
    const { messages } = accepted(await receive(c, payload));
    expect(messages).toEqual([
      { channel: 'zapi', messageId: payload.messageId, phone, to: phone, name: 'Maria', kind: 'text', text, sentAt: expect.any(Number) },
    ]);
  });

  it.each([
    ['audio', received({ audio: true })],
    ['image', received({ image: true })],
    ['video', received({ video: true })],
    ['sticker', withContent({ sticker: { stickerUrl: 'https://x.example/s.webp', mimeType: 'image/webp' } })],
    ['document', withContent({ document: { documentUrl: 'https://x.example/b.pdf', fileName: 'boleto.pdf', mimeType: 'application/pdf' } })],
    ['location', withContent({ location: { latitude: -23.56, longitude: -46.65 } })],
  ])('%s without text → unsupported', async (what, payload) => {
    const { messages } = accepted(await receive(c, payload));
    expect(messages).toEqual([expect.objectContaining({ messageId: payload.messageId, kind: 'unsupported', what })]);
  });

  it('the name is senderName, else chatName', async () => {
    const payload = { ...received({ chatName: 'Maria Chat' }), senderName: undefined };
    expect(accepted(await receive(c, payload)).messages[0]?.name).toBe('Maria Chat');
  });

  it.each([
    ['ReceivedCallBack (as Z-API writes it)', 'ReceivedCallBack'],
    ['receivedcallback', 'receivedcallback'],
  ])('type %s is a received message', async (_label, type) => {
    expect(accepted(await receive(c, received({ type, text: 'oi' }))).messages).toEqual([expect.objectContaining({ kind: 'text', text: 'oi' })]);
  });

  it.each(['MessageStatusCallback', 'PresenceChatCallback', 'DeliveryCallback', 'DisconnectedCallback'])('type %s is ignored', async (type) => {
    const payload = type === 'MessageStatusCallback' ? { status: 'READ', ids: ['X'], momment: Date.now(), phone, type, instanceId: ZAPI_INSTANCE_ID } : received({ type });
    expect(accepted(await receive(c, payload))).toMatchObject({ messages: [], ignored: 1 });
  });

  it.each([
    ['a group (isGroup)', received({ isGroup: true, phone: '120363019502650977-group', participantPhone: phone })],
    ['a group id without isGroup', received({ phone: '120363019502650977-group' })],
    ['a newsletter', received({ isNewsletter: true })],
    ['an edit', received({ isEdit: true, text: 'corrigido' })],
    ['a broadcast', { ...received({}), broadcast: true }],
    ['a reaction', withContent({ reaction: { value: '👍', referencedMessage: { messageId: 'X' } } })],
  ])('%s is ignored', async (_label, payload) => {
    expect(accepted(await receive(c, payload))).toMatchObject({ messages: [], ignored: 1 });
  });

  it('fromMe is an owner message (with its text, without the business name)', async () => {
    const payload = received({ fromMe: true, text: 'Oi, aqui é a Ana', status: 'SENT' });
    expect(accepted(await receive(c, payload)).messages).toEqual([
      { channel: 'zapi', messageId: payload.messageId, phone, to: phone, name: null, kind: 'owner', text: 'Oi, aqui é a Ana', sentAt: expect.any(Number) },
    ]);
  });

  it.each([
    ['a phone that is not 10–15 digits', received({ phone: '12345' })],
    ['no messageId', { ...received({}), messageId: undefined }],
  ])('%s is skipped', async (_label, payload) => {
    expect(accepted(await receive(c, JSON.parse(JSON.stringify(payload))))).toMatchObject({ messages: [], ignored: 1, skipped: [{ reason: expect.any(String) }] });
  });
});

describe('whatsapp-cloud: ignore reasons, routing by number, statuses, WhatsApp Business app echoes', () => {
  const c = caseOf('whatsapp-cloud');
  const phone = '5511988880002';
  const deliver = async (payload: unknown) => readable(await receive(c, payload));
  const messagesOf = (phoneNumberId: string, messages: MetaInboundMessage[]) =>
    metaEnvelope({ phoneNumberId, messages, contacts: [{ wa_id: phone, name: 'Rita' }] });
  /** A message item of a type the builders do not make (`system`, `ephemeral`…), with its type-named object. */
  const typed = (type: string, content: Record<string, unknown> = {}): MetaInboundMessage => {
    const { text: _text, ...item } = metaText(phone, 'x');
    return { ...item, type, [type]: content };
  };

  it.each([
    ['an edit (answered as an unsupported message before)', metaEdit(phone, 'wamid.ORIGINAL', 'texto corrigido'), 'edit'],
    ['a deletion', metaRevoke(phone, 'wamid.ORIGINAL'), 'deleted'],
    ['a reaction', metaReaction(phone, '👍', 'wamid.ORIGINAL'), 'reaction'],
    ['a system notice', typed('system', { body: 'O cliente mudou de número', type: 'user_changed_number' }), 'system'],
    ['an ephemeral notice', typed('ephemeral'), 'system'],
    ['a request_welcome', typed('request_welcome'), 'system'],
    ['an errors item', typed('errors'), 'system'],
  ])('%s is ignored with its reason, not logged at warn', async (_label, message, reason) => {
    const result = await deliver(messagesOf(WA_NUMBER, [message]));
    expect(result).toMatchObject({ messages: [], ignored: 1 });
    expectIgnored(result, { [reason]: 1 });
  });

  it('a message carries when it was sent (timestamp seconds → ms)', async () => {
    const message = { ...metaText(phone, 'oi'), timestamp: '1739321024' };
    expect((await deliver(messagesOf(WA_NUMBER, [message]))).messages).toEqual([expect.objectContaining({ messageId: message.id, sentAt: 1_739_321_024_000 })]);
  });

  describe('routing by phone_number_id (SPEC §8.4: one tenant cannot speak for another)', () => {
    it("another configured number with the same app secret: that number's channel", async () => {
      const message = metaText(phone, 'para o outro número');
      const result = await deliver(messagesOf(WA_OTHER_NUMBER, [message]));
      expect(result.messages).toEqual([expect.objectContaining({ channel: 'wa-other', messageId: message.id })]);
      expectIgnored(result, {});
    });

    it("a number of a channel with another app secret: foreign_number, at warn, nothing routed", async () => {
      const result = await deliver(messagesOf(WA_FOREIGN_NUMBER, [metaText(phone, 'oi'), metaAudio(phone)]));
      expect(result).toMatchObject({ messages: [], ignored: 2 });
      expectIgnored(result, { foreign_number: 2 });
      expect(result.skipped).toEqual([
        { path: 'entry.0.changes.0.value.messages.0', reason: expect.stringContaining(WA_FOREIGN_NUMBER) },
        { path: 'entry.0.changes.0.value.messages.1', reason: expect.stringContaining('app secret') },
      ]);
    });

    it('a number no channel has: unknown_number, at warn', async () => {
      const result = await deliver(messagesOf('999999999999999', [metaText(phone, 'oi')]));
      expectIgnored(result, { unknown_number: 1 });
      expect(result.skipped).toEqual([{ path: 'entry.0.changes.0.value.messages.0', reason: expect.stringContaining('999999999999999') }]);
    });

    it('the reasons of one delivery add up: each item under one reason', async () => {
      const good = metaText(phone, 'oi');
      const { id: _id, ...noId } = metaText(phone, 'sem id');
      const envelope = (options: Parameters<typeof metaEnvelope>[0]) => metaEnvelope(options) as { entry: unknown[] };
      const payload = {
        object: 'whatsapp_business_account',
        entry: [
          ...envelope({
            phoneNumberId: WA_NUMBER,
            messages: [good, metaEdit(phone, good.id, 'oi!'), noId as MetaInboundMessage, metaReaction(phone, '❤️', good.id)],
          }).entry,
          ...envelope({ phoneNumberId: WA_FOREIGN_NUMBER, messages: [metaText(phone, 'outro tenant')] }).entry,
          ...envelope({ phoneNumberId: '999999999999999', messages: [metaText(phone, 'ninguém')] }).entry,
        ],
      };
      const result = await deliver(payload);
      expect(result.messages.map((m) => m.messageId)).toEqual([good.id]);
      expect(result.ignored).toBe(5);
      expectIgnored(result, { edit: 1, unreadable: 1, reaction: 1, foreign_number: 1, unknown_number: 1 });
      expect(result.skipped?.map((s) => s.path)).toEqual([
        'entry.0.changes.0.value.messages.2',
        'entry.1.changes.0.value.messages.0',
        'entry.2.changes.0.value.messages.0',
      ]);
    });
  });

  it.each([
    ['no from', (() => {
      const { from: _from, ...item } = metaText(phone, 'x');
      return item;
    })()],
    ['a from that is not a phone', metaText('12', 'x')],
    ['an id over 256 characters', metaText(phone, 'x', `wamid.${'A'.repeat(251)}`)],
  ])('%s is unreadable, at warn', async (_label, message) => {
    const result = await deliver(messagesOf(WA_NUMBER, [message]));
    expectIgnored(result, { unreadable: 1 });
    expect(result.skipped).toEqual([{ path: 'entry.0.changes.0.value.messages.0', reason: expect.any(String) }]);
  });

  describe('statuses → StatusReport (SPEC §8.4: failures reported later count)', () => {
    const at = (status: ReturnType<typeof metaStatus>) => Number(status.timestamp) * 1000;

    it('sent, delivered, read and failed statuses are reported; still counted as ignored, never as a message reason', async () => {
      const statuses = [
        metaStatus('wamid.S', phone, 'sent'),
        metaStatus('wamid.D', phone, 'delivered'),
        metaStatus('wamid.R', phone, 'read'),
        metaStatus('wamid.F', phone, 'failed'),
      ];
      const result = await deliver(metaEnvelope({ phoneNumberId: WA_NUMBER, statuses }));
      expect(result).toMatchObject({ messages: [], ignored: 4 });
      expectIgnored(result, {});
      expect(result.statuses).toEqual([
        { channel: 'wa', phone, sentId: 'wamid.S', status: 'sent', at: at(statuses[0]!) },
        { channel: 'wa', phone, sentId: 'wamid.D', status: 'delivered', at: at(statuses[1]!) },
        { channel: 'wa', phone, sentId: 'wamid.R', status: 'read', at: at(statuses[2]!) },
        { channel: 'wa', phone, sentId: 'wamid.F', status: 'failed', at: at(statuses[3]!), error: { code: 131026, title: 'Message undeliverable' } },
      ]);
    });

    it("a failed status carries Meta's code and title (131047: outside the 24-hour window); without errors[] it is {null, 'failed'}", async () => {
      const outside = metaStatus('wamid.F1', phone, 'failed', 131047);
      const { errors: _errors, ...bare } = metaStatus('wamid.F2', phone, 'failed');
      const result = await deliver(metaEnvelope({ phoneNumberId: WA_NUMBER, statuses: [outside, bare] }));
      expect(result.statuses).toEqual([
        expect.objectContaining({ sentId: 'wamid.F1', status: 'failed', error: { code: 131047, title: 'Re-engagement message' } }),
        expect.objectContaining({ sentId: 'wamid.F2', status: 'failed', error: { code: null, title: 'failed' } }),
      ]);
    });

    it('statuses follow the routing: same secret → that channel; a foreign or unknown number → dropped in silence', async () => {
      const other = await deliver(metaEnvelope({ phoneNumberId: WA_OTHER_NUMBER, statuses: [metaStatus('wamid.O', phone, 'read')] }));
      expect(other.statuses).toEqual([expect.objectContaining({ channel: 'wa-other', sentId: 'wamid.O' })]);
      for (const phoneNumberId of [WA_FOREIGN_NUMBER, '999999999999999']) {
        const dropped = await deliver(metaEnvelope({ phoneNumberId, statuses: [metaStatus('wamid.X', phone, 'failed')] }));
        expect(dropped).toMatchObject({ messages: [], ignored: 1, statuses: [], skipped: [] });
        expectIgnored(dropped, {});
      }
    });

    it('a status the service cannot use (another status value, no id, no recipient) is dropped in silence', async () => {
      const { id: _id, ...noId } = metaStatus('wamid.A', phone, 'sent');
      const { recipient_id: _r, ...noRecipient } = metaStatus('wamid.B', phone, 'sent');
      const statuses = [{ ...metaStatus('wamid.C', phone, 'sent'), status: 'deleted' }, noId, noRecipient, metaStatus('wamid.D', phone, 'delivered')];
      const result = await deliver(metaEnvelope({ phoneNumberId: WA_NUMBER, statuses: statuses as ReturnType<typeof metaStatus>[] }));
      expect(result).toMatchObject({ ignored: 4, skipped: [] });
      expect(result.statuses?.map((s) => s.sentId)).toEqual(['wamid.D']);
    });
  });

  describe('smb_message_echoes: the business answering from the WhatsApp Business app (SPEC §9.3)', () => {
    const customer = '5511977770003';

    it('a text echo is an owner message to the customer: phone and reply address from `to`, no name, its text and time', async () => {
      const echo = { ...metaEcho(customer, 'Oi, aqui é a Júlia da loja'), timestamp: '1739321100' };
      const result = await deliver(metaEchoEnvelope({ phoneNumberId: WA_NUMBER, echoes: [echo] }));
      expect(result.messages).toEqual([
        {
          channel: 'wa',
          messageId: echo.id,
          phone: customer,
          to: customer,
          name: null,
          kind: 'owner',
          text: 'Oi, aqui é a Júlia da loja',
          sentAt: 1_739_321_100_000,
        },
      ]);
      expectIgnored(result, {});
    });

    it('an echo without text (an image without caption) is an owner message without text; with a caption, with it', async () => {
      const image = metaEchoOf(customer, metaImage(META_DEFAULT_DISPLAY_PHONE));
      const captioned = metaEchoOf(customer, metaDocument(META_DEFAULT_DISPLAY_PHONE, 'seu boleto'));
      const { messages } = await deliver(metaEchoEnvelope({ phoneNumberId: WA_NUMBER, echoes: [image, captioned] }));
      expect(messages).toEqual([
        expect.objectContaining({ messageId: image.id, kind: 'owner', phone: customer }),
        expect.objectContaining({ messageId: captioned.id, kind: 'owner', text: 'seu boleto' }),
      ]);
      expect(messages[0]).not.toHaveProperty('text');
    });

    it("the business editing, deleting or reacting from the app is no one answering: ignored with its reason", async () => {
      const sent = metaEcho(customer, 'primeira versão');
      const echoes = [
        metaEchoOf(customer, metaEdit(META_DEFAULT_DISPLAY_PHONE, sent.id, 'versão corrigida')),
        metaEchoOf(customer, metaRevoke(META_DEFAULT_DISPLAY_PHONE, sent.id)),
        metaEchoOf(customer, metaReaction(META_DEFAULT_DISPLAY_PHONE, '👍', 'wamid.CUSTOMER')),
      ];
      const result = await deliver(metaEchoEnvelope({ phoneNumberId: WA_NUMBER, echoes }));
      expect(result).toMatchObject({ messages: [], ignored: 3 });
      expectIgnored(result, { edit: 1, deleted: 1, reaction: 1 });
    });

    it('an echo without id or to, or to something not a phone, is unreadable, at warn', async () => {
      const { id: _id, ...noId } = metaEcho(customer, 'x');
      const { to: _to, ...noTo } = metaEcho(customer, 'x');
      const result = await deliver(metaEchoEnvelope({ phoneNumberId: WA_NUMBER, echoes: [noId, noTo, metaEcho('12', 'x')] as ReturnType<typeof metaEcho>[] }));
      expectIgnored(result, { unreadable: 3 });
      expect(result.skipped?.map((s) => s.path)).toEqual([0, 1, 2].map((i) => `entry.0.changes.0.value.message_echoes.${i}`));
    });

    it('echoes are routed by phone_number_id like messages', async () => {
      const same = await deliver(metaEchoEnvelope({ phoneNumberId: WA_OTHER_NUMBER, echoes: [metaEcho(customer, 'oi')] }));
      expect(same.messages).toEqual([expect.objectContaining({ channel: 'wa-other', kind: 'owner' })]);
      expectIgnored(await deliver(metaEchoEnvelope({ phoneNumberId: WA_FOREIGN_NUMBER, echoes: [metaEcho(customer, 'oi')] })), { foreign_number: 1 });
      expectIgnored(await deliver(metaEchoEnvelope({ phoneNumberId: '999999999999999', echoes: [metaEcho(customer, 'oi')] })), { unknown_number: 1 });
    });

    it('message_echoes must be a list; other fields (account_update…) stay ignored', async () => {
      const change = { field: 'smb_message_echoes', value: { message_echoes: 'x' } };
      const bad = adapterOf('wa').parse({ object: 'whatsapp_business_account', entry: [{ changes: [change] }] });
      expect(bad).toEqual({ ok: false, issues: [expect.objectContaining({ path: 'entry.0.changes.0.value.message_echoes' })] });
      const accountUpdate = { field: 'account_update', value: { phone_number: '15550001234', event: 'VERIFIED_ACCOUNT' } };
      const other = { object: 'whatsapp_business_account', entry: [{ id: 'WABA', changes: [accountUpdate] }] };
      expect(await deliver(other)).toMatchObject({ messages: [], ignored: 0, ignoredBy: {} });
    });
  });
});

describe('whatsapp-cloud: business-scoped user IDs (SPEC §11)', () => {
  const c = caseOf('whatsapp-cloud');
  const phone = '5511988880003';
  const bsuid = 'BR.1502576394655843';
  const deliver = async (payload: unknown) => readable(await receive(c, payload));
  const envelope = (messages: MetaInboundMessage[], contacts?: Parameters<typeof metaEnvelope>[0]['contacts']) =>
    metaEnvelope({ phoneNumberId: WA_NUMBER, messages, ...(contacts ? { contacts } : {}) });

  it('a phone with a BSUID (from_user_id, contacts[].user_id): the phone, answered at `from`, and the BSUID', async () => {
    const message = metaText({ phone, userId: bsuid }, 'oi');
    const payload = envelope([message], [{ wa_id: phone, user_id: bsuid, name: 'Rita' }]);
    expect((payload as { entry: { changes: { value: { contacts: unknown } }[] }[] }).entry[0]!.changes[0]!.value.contacts).toEqual([
      { profile: { name: 'Rita' }, wa_id: phone, user_id: bsuid },
    ]);
    const result = await deliver(payload);
    expect(result.messages).toEqual([
      { channel: 'wa', messageId: message.id, phone, bsuid, to: phone, name: 'Rita', kind: 'text', text: 'oi', sentAt: expect.any(Number) },
    ]);
    expectIgnored(result, {});
  });

  it("the BSUID is the user_id of the contact whose wa_id is `from`, else the message's from_user_id", async () => {
    const fromContact = metaText(phone, 'só no contato');
    const [a] = (await deliver(envelope([fromContact], [{ wa_id: phone, user_id: bsuid, name: 'Rita' }]))).messages;
    expect(a).toMatchObject({ phone, bsuid, to: phone });
    const fromMessage = metaText({ phone, userId: bsuid }, 'só na mensagem');
    const [b] = (await deliver(envelope([fromMessage], [{ wa_id: phone, name: 'Rita' }]))).messages;
    expect(b).toMatchObject({ phone, bsuid, to: phone, name: 'Rita' });
    // Another contact's user_id is not this customer's.
    const [other] = (await deliver(envelope([metaText(phone, 'x')], [{ wa_id: '5511900000000', user_id: 'BR.999', name: 'Outra' }]))).messages;
    expect(other).not.toHaveProperty('bsuid');
    expect(other).not.toHaveProperty('toKind');
  });

  it('a message without `from` belongs to its from_user_id: no phone, answered with `recipient` (toKind bsuid), named by that contact', async () => {
    const message = metaText({ userId: bsuid }, 'oi, sem telefone');
    expect(message).not.toHaveProperty('from');
    const payload = envelope([message], [{ user_id: bsuid, name: 'Bia' }]);
    const result = await deliver(payload);
    expect(result.messages).toEqual([
      { channel: 'wa', messageId: message.id, phone: null, bsuid, to: bsuid, toKind: 'bsuid', name: 'Bia', kind: 'text', text: 'oi, sem telefone', sentAt: expect.any(Number) },
    ]);
    expectIgnored(result, {});
  });

  it('without `from` nor from_user_id, the change’s only contact’s user_id; an audio is unsupported all the same', async () => {
    const { from_user_id: _id, ...bare } = metaAudio({ userId: bsuid });
    const [message] = (await deliver(envelope([bare], [{ user_id: bsuid, name: 'Bia' }]))).messages;
    expect(message).toMatchObject({ phone: null, bsuid, to: bsuid, toKind: 'bsuid', name: 'Bia', kind: 'unsupported', what: 'audio' });
  });

  it('the default contacts follow the senders: wa_id and user_id when the message has them', async () => {
    const payload = envelope([metaText({ userId: bsuid }, 'a'), metaText({ phone, userId: 'BR.777' }, 'b'), metaText('5511988880004', 'c')]) as any;
    expect(payload.entry[0].changes[0].value.contacts).toEqual([
      { profile: { name: 'Cliente 5843' }, user_id: bsuid },
      { profile: { name: `Cliente ${phone.slice(-4)}` }, wa_id: phone, user_id: 'BR.777' },
      { profile: { name: 'Cliente 0004' }, wa_id: '5511988880004' },
    ]);
    const { messages } = await deliver(payload);
    expect(messages.map((m) => [m.phone, m.bsuid, m.to, m.toKind, m.name])).toEqual([
      [null, bsuid, bsuid, 'bsuid', 'Cliente 5843'],
      [phone, 'BR.777', phone, undefined, `Cliente ${phone.slice(-4)}`],
      ['5511988880004', undefined, '5511988880004', undefined, 'Cliente 0004'],
    ]);
  });

  it.each([
    ['no from, no from_user_id and several contacts', envelope([metaText({ userId: bsuid }, 'x')].map(({ from_user_id: _u, ...m }) => m as MetaInboundMessage), [{ user_id: bsuid, name: 'A' }, { user_id: 'BR.2', name: 'B' }])],
    ['no from, no from_user_id and no contacts', envelope([metaText({ userId: bsuid }, 'x')].map(({ from_user_id: _u, ...m }) => m as MetaInboundMessage), [])],
    ['no from and a from_user_id that is no BSUID', envelope([{ ...metaText({ userId: bsuid }, 'x'), from_user_id: '5511988880003' }], [])],
  ])('%s: unreadable, at warn', async (_label, payload) => {
    const result = await deliver(payload);
    expectIgnored(result, { unreadable: 1 });
    expect(result.skipped).toEqual([{ path: 'entry.0.changes.0.value.messages.0', reason: expect.stringContaining('from_user_id') }]);
  });

  it('an echo with `to` and to_user_id is an owner message to the phone, with the BSUID', async () => {
    const echo = metaEcho({ phone, userId: bsuid }, 'Oi, aqui é a Júlia');
    expect(echo).toMatchObject({ to: phone, to_user_id: bsuid });
    const result = await deliver(metaEchoEnvelope({ phoneNumberId: WA_NUMBER, echoes: [echo] }));
    expect(result.messages).toEqual([
      { channel: 'wa', messageId: echo.id, phone, bsuid, to: phone, name: null, kind: 'owner', text: 'Oi, aqui é a Júlia', sentAt: expect.any(Number) },
    ]);
  });

  it('an echo with only to_user_id is an owner message to the BSUID (toKind bsuid); with neither it is unreadable', async () => {
    const echo = metaEcho({ userId: bsuid }, 'Oi, aqui é a Júlia');
    expect(echo).not.toHaveProperty('to');
    const { to_user_id: _u, ...nobody } = metaEcho({ userId: bsuid }, 'x');
    const result = await deliver(metaEchoEnvelope({ phoneNumberId: WA_NUMBER, echoes: [echo, nobody] }));
    expect(result.messages).toEqual([
      { channel: 'wa', messageId: echo.id, phone: null, bsuid, to: bsuid, toKind: 'bsuid', name: null, kind: 'owner', text: 'Oi, aqui é a Júlia', sentAt: expect.any(Number) },
    ]);
    expectIgnored(result, { unreadable: 1 });
    expect(result.skipped).toEqual([{ path: 'entry.0.changes.0.value.message_echoes.1', reason: expect.stringContaining('to_user_id') }]);
  });

  describe('statuses', () => {
    const at = (status: ReturnType<typeof metaStatus>) => Number(status.timestamp) * 1000;
    const statuses = (items: ReturnType<typeof metaStatus>[], contacts?: Parameters<typeof metaEnvelope>[0]['contacts']) =>
      metaEnvelope({ phoneNumberId: WA_NUMBER, statuses: items, ...(contacts ? { contacts } : {}) });

    it('a status of a send to a BSUID (recipient_user_id, no recipient_id): no phone, the BSUID', async () => {
      const read = metaStatus('wamid.U1', { userId: bsuid }, 'read');
      expect(read).not.toHaveProperty('recipient_id');
      const failed = metaStatus('wamid.U2', { userId: bsuid }, 'failed', 131047);
      const result = await deliver(statuses([read, failed]));
      expect(result.statuses).toEqual([
        { channel: 'wa', phone: null, bsuid, sentId: 'wamid.U1', status: 'read', at: at(read) },
        { channel: 'wa', phone: null, bsuid, sentId: 'wamid.U2', status: 'failed', at: at(failed), error: { code: 131047, title: 'Re-engagement message' } },
      ]);
      expectIgnored(result, {});
    });

    it('recipient_id and recipient_user_id: both; the contacts Meta lists next to a status fill in the other', async () => {
      const both = metaStatus('wamid.B', { phone, userId: bsuid }, 'delivered');
      const phoneOnly = metaStatus('wamid.P', phone, 'read');
      const bsuidOnly = metaStatus('wamid.Q', { userId: bsuid }, 'read');
      expect((await deliver(statuses([both]))).statuses).toEqual([{ channel: 'wa', phone, bsuid, sentId: 'wamid.B', status: 'delivered', at: at(both) }]);
      const listed = await deliver(statuses([phoneOnly, bsuidOnly], [{ wa_id: phone, user_id: bsuid, name: 'Rita' }]));
      expect(listed.statuses).toEqual([
        { channel: 'wa', phone, bsuid, sentId: 'wamid.P', status: 'read', at: at(phoneOnly) },
        { channel: 'wa', phone, bsuid, sentId: 'wamid.Q', status: 'read', at: at(bsuidOnly) },
      ]);
    });

    it('a status with neither a phone nor a BSUID is dropped in silence', async () => {
      const { recipient_id: _r, ...nobody } = metaStatus('wamid.N', phone, 'read');
      const garbage = { ...metaStatus('wamid.G', { userId: bsuid }, 'read'), recipient_user_id: 'not a bsuid' };
      const result = await deliver(statuses([nobody, garbage, metaStatus('wamid.OK', { userId: bsuid }, 'sent')]));
      expect(result).toMatchObject({ ignored: 3, skipped: [] });
      expect(result.statuses?.map((s) => s.sentId)).toEqual(['wamid.OK']);
    });
  });
});

describe('evolution: captions, replies, LIDs, ignore reasons', () => {
  const c = caseOf('evolution');
  const phone = '5511966660002';
  type Upsert = { data: Record<string, unknown> };
  const upsert = (options: Omit<Parameters<typeof evolutionUpsert>[0], 'instance'>) =>
    evolutionUpsert({ instance: EVO_INSTANCE, phone, pushName: 'Maria', ...options }) as Upsert;
  const withContent = (message: Record<string, unknown>, messageType: string) => {
    const payload = upsert({});
    payload.data.message = message;
    payload.data.messageType = messageType;
    return payload;
  };
  const idOf = (payload: Upsert) => (payload.data.key as { id: string }).id;
  const deliver = async (payload: unknown) => readable(await receive(c, payload));

  it.each([
    ['a document caption', upsert({ documentCaption: 'segue o comprovante' }), 'segue o comprovante'],
    ['a document caption as WhatsApp sends it (documentWithCaptionMessage)', upsert({ documentWithCaption: 'nota fiscal' }), 'nota fiscal'],
    ['a button reply (selectedDisplayText)', upsert({ buttonReply: 'Sim, quero' }), 'Sim, quero'],
    ['a list reply (title)', upsert({ listReply: 'Plano Ouro' }), 'Plano Ouro'],
    [
      'a template button reply',
      withContent(
        { templateButtonReplyMessage: { selectedId: 'id1', selectedDisplayText: 'Falar com atendente', selectedIndex: 0 } },
        'templateButtonReplyMessage',
      ),
      'Falar com atendente',
    ],
    [
      'a list reply without title (the row id)',
      withContent({ listResponseMessage: { listType: 'SINGLE_SELECT', singleSelectReply: { selectedRowId: 'plano-ouro' } } }, 'listResponseMessage'),
      'plano-ouro',
    ],
    [
      'an interactive (native flow) reply',
      withContent(
        { interactiveResponseMessage: { body: { text: 'Confirmar', format: 'DEFAULT' }, nativeFlowResponseMessage: { name: 'x' } } },
        'interactiveResponseMessage',
      ),
      'Confirmar',
    ],
  ])('%s → text', async (_label, payload, text) => {
    const result = await deliver(payload);
    expect(result.messages).toEqual([expect.objectContaining({ messageId: idOf(payload), phone, kind: 'text', text })]);
    expectIgnored(result, {});
  });

  it('a document without caption is unsupported (documentMessage)', async () => {
    const payload = upsert({ document: true });
    expect((await deliver(payload)).messages).toEqual([expect.objectContaining({ messageId: idOf(payload), kind: 'unsupported', what: 'documentMessage' })]);
  });

  describe('WhatsApp LIDs (SPEC §11: a LID is an address of a customer)', () => {
    const lid = '214955124957347';
    const keyOf = (payload: Upsert) => payload.data.key as Record<string, unknown>;

    it('a @lid JID with no phone next to it is a customer of its own: no phone, the LID, answered at <lid>@lid', async () => {
      const payload = evolutionUpsert({ instance: EVO_INSTANCE, lid, pushName: 'Maria', text: 'oi' }) as Upsert;
      const result = await deliver(payload);
      expect(result.messages).toEqual([
        { channel: 'evo', messageId: idOf(payload), phone: null, lid, to: `${lid}@lid`, toKind: 'lid', name: 'Maria', kind: 'text', text: 'oi', sentAt: expect.any(Number) },
      ]);
      expectIgnored(result, {});
    });

    it.each(['remoteJidAlt', 'senderPn'] as const)('a @lid JID with the phone in key.%s: the phone (answered at its digits) and the LID', async (field) => {
      const payload = evolutionUpsert({ instance: EVO_INSTANCE, lid, phone, lidPhoneField: field, pushName: 'Maria', text: 'oi' }) as Upsert;
      expect(keyOf(payload)[field]).toBe(`${phone}@s.whatsapp.net`);
      const result = await deliver(payload);
      expect(result.messages).toEqual([
        { channel: 'evo', messageId: idOf(payload), phone, lid, to: phone, name: 'Maria', kind: 'text', text: 'oi', sentAt: expect.any(Number) },
      ]);
      expectIgnored(result, {});
    });

    it.each(['remoteJidAlt', 'senderLid'] as const)('a phone JID with the LID in key.%s: the phone (answered at its digits) and the LID', async (field) => {
      const payload = evolutionUpsert({ instance: EVO_INSTANCE, lid, phone, addressingMode: 'pn', lidPhoneField: field, text: 'oi' }) as Upsert;
      expect(keyOf(payload)).toMatchObject({ remoteJid: `${phone}@s.whatsapp.net`, [field]: `${lid}@lid`, addressingMode: 'pn' });
      const [message] = (await deliver(payload)).messages;
      expect(message).toMatchObject({ phone, lid, to: phone });
      expect(message).not.toHaveProperty('toKind');
    });

    it.each([
      ['another LID', `99999999@lid`],
      ['a JID whose digits are no phone number', '123@s.whatsapp.net'],
      ['a group', '120363025246125888@g.us'],
    ])('a @lid JID next to %s is still the LID’s own customer', async (_label, alt) => {
      const payload = evolutionUpsert({ instance: EVO_INSTANCE, lid, text: 'oi' }) as Upsert;
      keyOf(payload).remoteJidAlt = alt;
      const result = await deliver(payload);
      expect(result.messages).toEqual([expect.objectContaining({ phone: null, lid, to: `${lid}@lid`, toKind: 'lid' })]);
      expectIgnored(result, {});
    });

    it('a phone JID next to a LID that is not a LID JID carries no LID', async () => {
      const payload = upsert({ text: 'oi' });
      keyOf(payload).remoteJidAlt = '214955124957347@s.whatsapp.net';
      const [message] = (await deliver(payload)).messages;
      expect(message).toMatchObject({ phone, to: phone });
      expect(message).not.toHaveProperty('lid');
    });

    it('fromMe to a LID-only chat (the echo of a send to <lid>@lid, or a person answering it) is an owner message of the LID', async () => {
      const payload = evolutionUpsert({ instance: EVO_INSTANCE, lid, fromMe: true, text: 'Oi, aqui é a Ana' }) as Upsert;
      expect((await deliver(payload)).messages).toEqual([
        { channel: 'evo', messageId: idOf(payload), phone: null, lid, to: `${lid}@lid`, toKind: 'lid', name: null, kind: 'owner', text: 'Oi, aqui é a Ana', sentAt: expect.any(Number) },
      ]);
      const withPhone = evolutionUpsert({ instance: EVO_INSTANCE, lid, phone, fromMe: true, text: 'De novo' }) as Upsert;
      expect((await deliver(withPhone)).messages).toEqual([expect.objectContaining({ kind: 'owner', phone, lid, to: phone })]);
    });

    it("fromMe: the older versions' senderPn / senderLid are the sender's — the business's own — so they are not read", async () => {
      const businessPhone = evolutionUpsert({ instance: EVO_INSTANCE, lid, phone: '5511900000000', lidPhoneField: 'senderPn', fromMe: true, text: 'x' }) as Upsert;
      expect((await deliver(businessPhone)).messages).toEqual([expect.objectContaining({ kind: 'owner', phone: null, lid, to: `${lid}@lid`, toKind: 'lid' })]);
      const businessLid = evolutionUpsert({ instance: EVO_INSTANCE, lid: '11111111111111', phone, addressingMode: 'pn', lidPhoneField: 'senderLid', fromMe: true, text: 'x' }) as Upsert;
      const [owner] = (await deliver(businessLid)).messages;
      expect(owner).toMatchObject({ kind: 'owner', phone, to: phone });
      expect(owner).not.toHaveProperty('lid');
    });

    it.each([
      ['a @c.us JID', '5511966660002@c.us'],
      ['a hosted JID', '5511966660002@hosted'],
      ['a LID JID without digits', 'abc@lid'],
    ])('%s (neither a phone nor a LID JID) is unknown_address, at warn', async (_label, remoteJid) => {
      const result = await deliver(evolutionUpsert({ instance: EVO_INSTANCE, remoteJid, text: 'oi' }));
      expectIgnored(result, { unknown_address: 1 });
      expect(result.skipped).toEqual([{ path: 'data', reason: expect.stringContaining('remoteJid') }]);
    });

    it('an 8-digit Brazilian number is just a phone: its digits as given (the core knows the ninth digit)', async () => {
      const payload = evolutionUpsert({ instance: EVO_INSTANCE, phone: '551188887777', text: 'oi' }) as Upsert;
      const [message] = (await deliver(payload)).messages;
      expect(message).toMatchObject({ phone: '551188887777', to: '551188887777' });
      expect(message).not.toHaveProperty('lid');
      expect(message).not.toHaveProperty('toKind');
    });
  });

  it.each([
    ['a group', evolutionUpsert({ instance: EVO_INSTANCE, remoteJid: '120363025246125888@g.us', participant: `${phone}@s.whatsapp.net`, text: 'oi' }), 'group'],
    ['status updates', evolutionUpsert({ instance: EVO_INSTANCE, remoteJid: 'status@broadcast', text: 'oi' }), 'group'],
    ['a broadcast list', evolutionUpsert({ instance: EVO_INSTANCE, remoteJid: '1618404540@broadcast', text: 'oi' }), 'group'],
    ['a newsletter', evolutionUpsert({ instance: EVO_INSTANCE, remoteJid: '120363198765432100@newsletter', text: 'oi' }), 'group'],
    ['a reaction', upsert({ reaction: { emoji: '👍', messageId: '3EB0AAAA' } }), 'reaction'],
    ['an edit (editedMessage)', upsert({ edited: { messageId: '3EB0AAAA', text: 'corrigido' } }), 'edit'],
    [
      'an edit (protocolMessage MESSAGE_EDIT)',
      withContent({ protocolMessage: { key: { id: 'X' }, type: 'MESSAGE_EDIT', editedMessage: { conversation: 'novo' } } }, 'protocolMessage'),
      'edit',
    ],
    [
      'an edit (protocolMessage type 14)',
      withContent({ protocolMessage: { key: { id: 'X' }, type: 14, editedMessage: { conversation: 'novo' } } }, 'protocolMessage'),
      'edit',
    ],
    ['a delete (REVOKE)', upsert({ revoked: '3EB0AAAA' }), 'deleted'],
    ['a delete (protocolMessage without type: WAProto default)', withContent({ protocolMessage: { key: { id: 'X' } } }, 'protocolMessage'), 'deleted'],
    [
      'another protocol message (ephemeral setting)',
      withContent({ protocolMessage: { type: 'EPHEMERAL_SETTING', ephemeralExpiration: 604800 } }, 'protocolMessage'),
      'system',
    ],
    ['a pin', withContent({ pinInChatMessage: { key: { id: 'X' }, type: 'PIN_FOR_ALL' } }, 'pinInChatMessage'), 'pin'],
    ["another instance's upsert", evolutionUpsert({ instance: 'outra-loja', phone, text: 'oi' }), 'other_instance'],
  ])('%s is ignored with its reason, not at warn', async (_label, payload, reason) => {
    const result = await deliver(payload);
    expect(result).toMatchObject({ messages: [], ignored: 1, skipped: [] });
    expectIgnored(result, { [reason]: 1 });
  });

  it('a message without content (a Baileys stub: a call, an encryption notice) is system', async () => {
    const stub = upsert({});
    delete stub.data.message;
    stub.data.messageStubType = 40;
    expectIgnored(await deliver(stub), { system: 1 });
  });

  it('the business reacting, editing or deleting from the phone is no one answering', async () => {
    const payloads = [
      upsert({ fromMe: true, reaction: { emoji: '❤️', messageId: 'ABC' } }),
      upsert({ fromMe: true, edited: { messageId: 'ABC', text: 'x' } }),
      upsert({ fromMe: true, revoked: 'ABC' }),
    ];
    const result = await deliver({ ...payloads[0], data: payloads.map((p) => p.data) });
    expect(result.messages).toEqual([]);
    expectIgnored(result, { reaction: 1, edit: 1, deleted: 1 });
  });

  it('every item of a list is counted under one reason; the warn ones are listed with their path', async () => {
    const good = upsert({ text: 'um' });
    const noId = upsert({ text: 'sem id' });
    delete (noId.data.key as Record<string, unknown>).id;
    const notAPhone = evolutionUpsert({ instance: EVO_INSTANCE, remoteJid: '123@s.whatsapp.net', text: 'oi' }) as Upsert;
    const group = evolutionUpsert({ instance: EVO_INSTANCE, remoteJid: '120363025246125888@g.us', text: 'grupo' }) as Upsert;
    const lid = evolutionUpsert({ instance: EVO_INSTANCE, lid: '214955124957347', text: 'oi' }) as Upsert;
    const notAJid = evolutionUpsert({ instance: EVO_INSTANCE, remoteJid: '5511966660002@c.us', text: 'oi' }) as Upsert;
    const payload = { ...good, data: [good.data, noId.data, 'not a message', notAPhone.data, group.data, lid.data, upsert({ revoked: 'X' }).data, notAJid.data] };
    const result = await deliver(payload);
    // A LID alone is a customer now (SPEC §11).
    expect(result.messages.map((m) => m.text)).toEqual(['um', 'oi']);
    expect(result.ignored).toBe(6);
    expectIgnored(result, { unreadable: 2, unknown_address: 2, group: 1, deleted: 1 });
    expect(result.skipped?.map((s) => s.path)).toEqual(['data.1', 'data.2', 'data.3', 'data.7']);
  });

  it('other events are not message items: ignored, with no reason', async () => {
    const result = await deliver(evolutionEvent('connection.update', EVO_INSTANCE, { state: 'open' }));
    expect(result).toMatchObject({ messages: [], ignored: 1 });
    expectIgnored(result, {});
  });

  it.each([
    ['a number', 1_739_321_024, 1_739_321_024_000],
    ['a numeric string', '1739321024', 1_739_321_024_000],
    ['a protobuf Long object', { low: 1_739_321_024, high: 0, unsigned: false }, undefined],
  ])('messageTimestamp as %s → sentAt', async (_label, messageTimestamp, sentAt) => {
    const payload = upsert({ text: 'oi' });
    payload.data.messageTimestamp = messageTimestamp;
    const [message] = (await deliver(payload)).messages;
    if (sentAt === undefined) expect(message).not.toHaveProperty('sentAt');
    else expect(message).toMatchObject({ sentAt });
  });
});

describe('zapi: captions, replies, pins, fromMe notices, fromApi, ignore reasons', () => {
  const c = caseOf('zapi');
  const phone = '5511955550002';
  const received = (options: Omit<Parameters<typeof zapiReceived>[0], 'instanceId' | 'phone'> & { phone?: string }) =>
    zapiReceived({ instanceId: ZAPI_INSTANCE_ID, phone, senderName: 'Maria', ...options }) as Record<string, unknown>;
  const withContent = (content: Record<string, unknown>, options: Parameters<typeof received>[0] = {}) => {
    const { text: _text, ...rest } = received(options);
    return { ...rest, ...content };
  };
  const deliver = async (payload: unknown) => readable(await receive(c, payload));

  it.each([
    ['a document caption', received({ documentCaption: 'segue o comprovante' }), 'segue o comprovante'],
    ['a button reply (buttonsResponseMessage.message)', received({ buttonReply: { buttonId: '1', message: 'Ótimo' } }), 'Ótimo'],
    [
      'a list reply (listResponseMessage.message)',
      received({ listReply: { message: 'Z-API Asas para sua imaginação', title: 'Z-API', selectedRowId: '1' } }),
      'Z-API Asas para sua imaginação',
    ],
    ['a list reply without message (its title)', received({ listReply: { title: 'Plano Ouro', selectedRowId: '2' } }), 'Plano Ouro'],
  ])('%s → text', async (_label, payload, text) => {
    const result = await deliver(payload);
    expect(result.messages).toEqual([expect.objectContaining({ messageId: payload.messageId, phone, kind: 'text', text })]);
    expectIgnored(result, {});
  });

  it('a document without caption is unsupported (document)', async () => {
    const payload = received({ document: true });
    expect((await deliver(payload)).messages).toEqual([expect.objectContaining({ messageId: payload.messageId, kind: 'unsupported', what: 'document' })]);
  });

  it.each([
    ['a pin from the phone (fromMe): it took the conversation over for 24 h before', received({ fromMe: true, pin: { messageId: '3EB0796DC6B7' } }), 'pin'],
    ["a customer's pin", received({ pin: { messageId: '3EB0796DC6B777C0C7CD', action: 'unpin' } }), 'pin'],
    ['a fromMe call notice', received({ fromMe: true, notification: 'CALL_VOICE' }), 'system'],
    ['a fromMe profile notice without messageId', (() => {
      const { messageId: _id, ...notice } = received({ fromMe: true, notification: 'PROFILE_NAME_UPDATED' });
      return notice;
    })(), 'system'],
    ['a fromMe reaction', received({ fromMe: true, reaction: { emoji: '❤️', messageId: 'A20DA9C0183A2D35A260F53F5D2B9244' } }), 'reaction'],
    ['a fromMe edit', received({ fromMe: true, isEdit: true, text: 'corrigido' }), 'edit'],
    ['a fromMe "waiting for message"', { ...received({ fromMe: true }), waitingMessage: true, text: undefined }, 'system'],
    [
      'a fromMe callback with no text nor content (a carousel sent by the API)',
      withContent({ carouselMessage: { text: 'Ofertas', cards: [] } }, { fromMe: true, fromApi: true }),
      'system',
    ],
    ['a group', received({ isGroup: true, phone: '120363019502650977-group', participantPhone: phone }), 'group'],
    ['a newsletter', received({ isNewsletter: true }), 'group'],
    ['a broadcast list', { ...received({ fromMe: true }), phone: '1774895799-broadcast', broadcast: true }, 'group'],
    ["a customer's edit", received({ isEdit: true, text: 'corrigido' }), 'edit'],
    ["a customer's reaction", received({ reaction: { emoji: '👍', messageId: 'X' } }), 'reaction'],
    ['a missed call', received({ notification: 'CALL_MISSED_VOICE' }), 'system'],
  ])('%s is ignored with its reason, not at warn', async (_label, payload, reason) => {
    const result = await deliver(JSON.parse(JSON.stringify(payload)));
    expect(result).toMatchObject({ messages: [], ignored: 1, skipped: [] });
    expectIgnored(result, { [reason]: 1 });
  });

  it.each([
    ['a LID in phone without digits', received({ phone: 'abc@lid' }), 'unknown_address', /LID/],
    ['a phone that is not 10–15 digits', received({ phone: '12345' }), 'unknown_address', /phone/],
    ['no messageId', { ...received({}), messageId: undefined }, 'unreadable', /messageId/],
    ['no phone', { ...received({}), phone: undefined }, 'unreadable', /phone/],
  ])('%s: %s, at warn', async (_label, payload, reason, why) => {
    const result = await deliver(JSON.parse(JSON.stringify(payload)));
    expectIgnored(result, { [reason]: 1 });
    expect(result.skipped).toEqual([{ path: '', reason: expect.stringMatching(why) }]);
  });

  describe('WhatsApp LIDs (SPEC §11: a LID is an address of a customer)', () => {
    const lid = '81896604192873';
    const lidOnly = (options: Omit<Parameters<typeof zapiReceived>[0], 'instanceId' | 'phone' | 'lid'> = {}) =>
      zapiReceived({ instanceId: ZAPI_INSTANCE_ID, lid, senderName: 'Maria', ...options }) as Record<string, unknown>;

    it('phone <digits>@lid is a customer known only by the LID: no phone, answered at phone exactly as given', async () => {
      const payload = lidOnly({ text: 'oi' });
      expect(payload).toMatchObject({ phone: `${lid}@lid`, chatLid: `${lid}@lid` });
      const result = await deliver(payload);
      expect(result.messages).toEqual([
        { channel: 'zapi', messageId: payload.messageId, phone: null, lid, to: `${lid}@lid`, toKind: 'lid', name: 'Maria', kind: 'text', text: 'oi', sentAt: expect.any(Number) },
      ]);
      expectIgnored(result, {});
    });

    it('phone <digits>@lid with chatLid null (as some callbacks give it) is the same', async () => {
      const [message] = (await deliver({ ...lidOnly({ text: 'oi' }), chatLid: null })).messages;
      expect(message).toMatchObject({ phone: null, lid, to: `${lid}@lid`, toKind: 'lid' });
    });

    it.each([
      ['chatLid', received({ chatLid: lid, text: 'oi' })],
      ['senderLid', received({ senderLid: lid, text: 'oi' })],
      ['chatLid without @lid', { ...received({ text: 'oi' }), chatLid: lid }],
    ])('a number phone with the LID in %s: the phone (answered at it as given) and the LID', async (_label, payload) => {
      const result = await deliver(payload);
      expect(result.messages).toEqual([
        { channel: 'zapi', messageId: payload.messageId, phone, lid, to: phone, name: 'Maria', kind: 'text', text: 'oi', sentAt: expect.any(Number) },
      ]);
      expectIgnored(result, {});
    });

    it('chatLid wins over senderLid; a LID field that is no LID is left out', async () => {
      const [both] = (await deliver(received({ chatLid: lid, senderLid: '11111111111111', text: 'oi' }))).messages;
      expect(both).toMatchObject({ phone, lid });
      const [bad] = (await deliver({ ...received({ text: 'oi' }), chatLid: 'not-a-lid@lid', senderLid: null })).messages;
      expect(bad).toMatchObject({ phone, to: phone });
      expect(bad).not.toHaveProperty('lid');
    });

    it('fromMe: chatLid is the customer’s LID; senderLid is the business’s own, so it is not read', async () => {
      const toCustomer = received({ fromMe: true, chatLid: lid, senderLid: '22222222222222', text: 'Oi, é a Ana' });
      expect((await deliver(toCustomer)).messages).toEqual([
        { channel: 'zapi', messageId: toCustomer.messageId, phone, lid, to: phone, name: null, kind: 'owner', text: 'Oi, é a Ana', sentAt: expect.any(Number) },
      ]);
      const [senderOnly] = (await deliver(received({ fromMe: true, senderLid: '22222222222222', text: 'x' }))).messages;
      expect(senderOnly).toMatchObject({ kind: 'owner', phone });
      expect(senderOnly).not.toHaveProperty('lid');
    });

    it('fromMe to a LID-only chat (the echo of a send to <digits>@lid, or a person answering it) is an owner message of the LID', async () => {
      const echo = lidOnly({ fromMe: true, fromApi: true, text: 'Resposta do bot', status: 'SENT' });
      expect((await deliver(echo)).messages).toEqual([
        { channel: 'zapi', messageId: echo.messageId, phone: null, lid, to: `${lid}@lid`, toKind: 'lid', name: null, kind: 'owner', text: 'Resposta do bot', sentByApi: true, sentAt: expect.any(Number) },
      ]);
      const [person] = (await deliver(lidOnly({ fromMe: true, fromApi: false, text: 'Sou a Ana' }))).messages;
      expect(person).toMatchObject({ kind: 'owner', phone: null, lid, toKind: 'lid' });
      expect(person).not.toHaveProperty('sentByApi');
    });
  });

  it('fromMe with a text or a real content is an owner message; fromApi: true marks it as sent through the API', async () => {
    const byApi = received({ fromMe: true, fromApi: true, text: 'Resposta do bot', status: 'SENT' });
    const byPhone = received({ fromMe: true, fromApi: false, text: 'Oi, é a Ana' });
    const voice = received({ fromMe: true, audio: true });
    expect((await deliver(byApi)).messages).toEqual([
      expect.objectContaining({ messageId: byApi.messageId, kind: 'owner', text: 'Resposta do bot', sentByApi: true }),
    ]);
    const [fromPhone] = (await deliver(byPhone)).messages;
    expect(fromPhone).toMatchObject({ messageId: byPhone.messageId, kind: 'owner', text: 'Oi, é a Ana' });
    expect(fromPhone).not.toHaveProperty('sentByApi');
    expect((await deliver(voice)).messages).toEqual([expect.objectContaining({ messageId: voice.messageId, kind: 'owner' })]);
  });

  it('fromApi on a customer message means nothing', async () => {
    const [message] = (await deliver(received({ fromApi: true, text: 'oi' }))).messages;
    expect(message).toMatchObject({ kind: 'text' });
    expect(message).not.toHaveProperty('sentByApi');
  });

  it('momment (ms) is sentAt', async () => {
    expect((await deliver(received({ momment: 1_632_228_638_000, text: 'oi' }))).messages).toEqual([expect.objectContaining({ sentAt: 1_632_228_638_000 })]);
  });

  it('other callback types are not message items: ignored, with no reason', async () => {
    const result = await deliver({ status: 'READ', ids: ['X'], momment: Date.now(), phone, type: 'MessageStatusCallback', instanceId: ZAPI_INSTANCE_ID });
    expect(result).toMatchObject({ messages: [], ignored: 1 });
    expectIgnored(result, {});
  });
});
