import { randomUUID } from 'node:crypto';
import { once } from 'node:events';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Webhook } from 'standardwebhooks';
import { Agent } from 'undici';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createChannels } from '../../src/channels/index.js';
import { MAX_TEXT_CHARS } from '../../src/channels/text.js';
import type { ConfiguredChannel, ChannelSender, OutgoingPart } from '../../src/channels/types.js';
import { parseConfig } from '../../src/config/index.js';
import type { Outgoing, StoredDelivery } from '../../src/delivery/records.js';
import { UpstreamError } from '../../src/errors.js';
import type { Fault } from '../../src/sandbox/emulator.js';
import { EvolutionEmulator } from '../../src/sandbox/evolution.js';
import { metaError, WhatsappEmulator } from '../../src/sandbox/whatsapp.js';
import { ZapiEmulator } from '../../src/sandbox/zapi.js';
import { codePointLength } from '../../src/text.js';
import { BOT_ID, ZAPI_INSTANCE_ID, REPLY_SECRET, EVO_API_KEY, ZAPI_INSTANCE_TOKEN, ZAPI_CLIENT_TOKEN } from '../helpers/harness.js';

/*
 * One contract for every channel's sender: the same cases (success, 5xx then success, 429
 * with Retry-After, timeout, malformed answer) against the WhatsApp Graph API, a `json`
 * channel's signed reply callback, Evolution and Z-API, each a real HTTP server on port 0.
 */

/** The delivery timeout of the timeout cases; every other case has a generous one, so a loaded machine cannot fail them. */
const SHORT_TIMEOUT_MS = 200;
const TIMEOUT_MS = 10_000;
const HANDOFF = { provider: 'superagentes', assigneeIds: ['member-1'] };
const WA_NUMBER = '106540352242922';
const WA_TOKEN = 'wa-access-token-0123456789';

/** A `json` channel's `reply.url`: records every request's raw bytes and headers, answers what it is told. */
class CallbackReceiver {
  url = '';
  readonly received: { path: string; headers: IncomingHttpHeaders; raw: string }[] = [];
  private readonly script: Fault[] = [];
  private readonly server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      this.received.push({ path: req.url ?? '', headers: req.headers, raw: Buffer.concat(chunks).toString('utf8') });
      const fault = this.script.shift();
      const answer = () => {
        if (res.destroyed) return;
        if (fault?.rawBody !== undefined) return void res.writeHead(200, { 'content-type': 'text/plain' }).end(fault.rawBody);
        const status = fault?.status ?? 200;
        res.writeHead(status, { 'content-type': 'application/json', ...fault?.headers }).end(JSON.stringify(fault?.body ?? { ok: status < 300 }));
      };
      if (fault?.delayMs) setTimeout(answer, fault.delayMs).unref();
      else answer();
    });
  });

  /** Answers for the next requests, one each, in order. */
  inject(...faults: Fault[]): void {
    this.script.push(...faults);
  }

  reset(): void {
    this.script.length = 0;
    this.received.length = 0;
  }

  async start(): Promise<void> {
    this.server.listen(0, '127.0.0.1');
    await once(this.server, 'listening');
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  close(): Promise<void> {
    this.server.closeAllConnections();
    return new Promise((resolve) => this.server.close(() => resolve()));
  }
}

const header = (headers: IncomingHttpHeaders, name: string) => {
  const value = headers[name];
  return Array.isArray(value) ? value[0] : value;
};

/** True when the Standard Webhooks signature of a received callback checks out (independently of the service's signer). */
function signatureVerifies(entry: { headers: IncomingHttpHeaders; raw: string }): boolean {
  try {
    new Webhook(REPLY_SECRET).verify(entry.raw, {
      'webhook-id': header(entry.headers, 'webhook-id') ?? '',
      'webhook-timestamp': header(entry.headers, 'webhook-timestamp') ?? '',
      'webhook-signature': header(entry.headers, 'webhook-signature') ?? '',
    });
    return true;
  } catch {
    return false;
  }
}

const http = new Agent({ keepAliveTimeout: 1000 });
const whatsapp = new WhatsappEmulator({ accessToken: WA_TOKEN });
const callback = new CallbackReceiver();
const evolution = new EvolutionEmulator({ apiKey: EVO_API_KEY, instances: ['loja', 'loja%41'] });
const zapi = new ZapiEmulator({ clientToken: ZAPI_CLIENT_TOKEN, instanceId: ZAPI_INSTANCE_ID, instanceToken: ZAPI_INSTANCE_TOKEN });
let kits: ReadonlyMap<string, ConfiguredChannel> = new Map();
let shortKits: ReadonlyMap<string, ConfiguredChannel> = new Map();

/** The channels, parsed as the service parses them; `overrides` replaces fields of one channel (a wrong credential). */
function buildKits(overrides: { channel?: string; fields?: Record<string, unknown> } = {}, timeoutMs = TIMEOUT_MS): ReadonlyMap<string, ConfiguredChannel> {
  const channels: Record<string, Record<string, unknown>> = {
    wa: {
      kind: 'whatsapp-cloud',
      whatsapp: { phoneNumberId: WA_NUMBER, accessToken: WA_TOKEN, appSecret: 'wa-app-secret', verifyToken: 'wa-verify', baseUrl: whatsapp.url },
      bot: { id: BOT_ID },
      handoff: HANDOFF,
    },
    site: { auth: { token: 'site-token-0123456789' }, reply: { url: `${callback.url}/hooks/replies`, signingSecret: REPLY_SECRET }, bot: { id: BOT_ID }, handoff: HANDOFF },
    evo: {
      kind: 'evolution',
      auth: { token: 'evo-webhook-token' },
      evolution: { baseUrl: evolution.url, instance: 'loja', apiKey: EVO_API_KEY },
      bot: { id: BOT_ID },
      handoff: HANDOFF,
    },
    'evo-pct': {
      kind: 'evolution',
      auth: { token: 'evo-webhook-token' },
      evolution: { baseUrl: evolution.url, instance: 'loja%41', apiKey: EVO_API_KEY },
      bot: { id: BOT_ID },
      handoff: HANDOFF,
    },
    zapi: {
      kind: 'zapi',
      auth: { token: 'zapi-webhook-token' },
      zapi: { instanceId: ZAPI_INSTANCE_ID, instanceToken: ZAPI_INSTANCE_TOKEN, clientToken: ZAPI_CLIENT_TOKEN, baseUrl: zapi.url },
      bot: { id: BOT_ID },
      handoff: HANDOFF,
    },
  };
  if (overrides.channel) channels[overrides.channel] = { ...channels[overrides.channel], ...overrides.fields };
  const config = parseConfig(
    {
      toolzz: { token: 'toolzz-test-token-1234567890' },
      providers: { superagentes: { token: 'superagentes-token' } },
      delivery: { timeoutMs },
      channels,
    },
    {},
  );
  return createChannels(config, http);
}

function senderOf(channel: string, from = kits): ChannelSender {
  const sender = from.get(channel)?.sender;
  if (!sender) throw new Error(`channel ${channel} has no sender`);
  return sender;
}

beforeAll(async () => {
  await Promise.all([whatsapp.start(), callback.start(), evolution.start(), zapi.start()]);
  kits = buildKits();
  shortKits = buildKits({}, SHORT_TIMEOUT_MS);
});
afterAll(async () => {
  await Promise.all([whatsapp.close(), callback.close(), evolution.close(), zapi.close()]);
  await http.close();
});
beforeEach(() => {
  whatsapp.reset();
  callback.reset();
  evolution.reset();
  zapi.reset();
});

let seq = 0;
/** A delivery as the outbox stores it, to a customer no other test writes to. */
function delivery(channel: string, outgoing: Outgoing): StoredDelivery {
  seq += 1;
  const phone = `55119${String(seq).padStart(8, '0')}`;
  return {
    id: randomUUID(),
    channel,
    phone,
    messageId: `m-${seq}`,
    type: outgoing.kind === 'text' ? 'text' : outgoing.event.type,
    state: 'pending',
    attempts: 0,
    lastError: null,
    status: null,
    toKind: 'phone',
    createdAt: new Date().toISOString(),
    finishedAt: null,
    to: phone,
    outgoing,
    partsSent: 0,
    acceptedAt: Date.now(),
  };
}

/** What reached the platform for one delivery. */
interface WireRequest {
  path: string;
  body: unknown;
  /** The credentials on the wire were the channel's (the emulator checks the exact header; the callback's signature is verified here). */
  authorized: boolean;
}

interface SenderCase {
  label: string;
  channel: string;
  /** Texts for the text channels; one `message.replied` event for the callback. */
  delivery(text?: string): StoredDelivery;
  inject(...faults: Fault[]): void;
  wire(d: StoredDelivery): WireRequest[];
  path: string;
  /** The exact body one part puts on the wire. */
  expectedBody(d: StoredDelivery, part: OutgoingPart): unknown;
  /** The ids the platform gave the messages it accepted for this delivery. */
  platformIds(d: StoredDelivery): string[];
  /** A 2xx with an unexpected body is a permanent failure (false: any 2xx is success). */
  validatesAnswer: boolean;
}

const textDelivery = (channel: string) => (text = 'Olá! Seu pedido #123 saiu para entrega 🚚') => delivery(channel, { kind: 'text', text });
const emulated = (calls: { path: string; body: unknown; authorized: boolean }[], to: (body: Record<string, unknown>) => unknown, d: StoredDelivery) =>
  calls.filter((r) => to((r.body ?? {}) as Record<string, unknown>) === d.to).map(({ path, body, authorized }) => ({ path, body, authorized }));

const cases: SenderCase[] = [
  {
    label: 'whatsapp-cloud (Graph API)',
    channel: 'wa',
    delivery: textDelivery('wa'),
    inject: (...faults) => void whatsapp.inject('messages', ...faults),
    wire: (d) => emulated(whatsapp.calls('messages'), (b) => b.to, d),
    path: `/v21.0/${WA_NUMBER}/messages`,
    expectedBody: (d, part) => ({ messaging_product: 'whatsapp', recipient_type: 'individual', to: d.to, type: 'text', text: { preview_url: false, body: part.body.text } }),
    platformIds: (d) => whatsapp.sent().filter((s) => s.to === d.to).map((s) => s.id),
    validatesAnswer: true,
  },
  {
    label: 'json reply callback',
    channel: 'site',
    delivery: (text = 'Olá! Como posso ajudar?') => delivery('site', { kind: 'event', event: { type: 'message.replied', reply: text, conversationId: 'conv-1' } }),
    inject: (...faults) => callback.inject(...faults),
    wire: (d) =>
      callback.received
        .filter((r) => (JSON.parse(r.raw) as { messageId?: string }).messageId === d.messageId)
        .map((r) => ({ path: r.path, body: JSON.parse(r.raw) as unknown, authorized: signatureVerifies(r) })),
    path: '/hooks/replies',
    expectedBody: (d) => ({ type: 'message.replied', channel: 'site', messageId: d.messageId, phone: d.phone, conversationId: 'conv-1', reply: (d.outgoing as { event: { reply: string } }).event.reply }),
    platformIds: () => [],
    validatesAnswer: false,
  },
  {
    label: 'evolution (sendText)',
    channel: 'evo',
    delivery: textDelivery('evo'),
    inject: (...faults) => void evolution.inject('sendText', ...faults),
    wire: (d) => emulated(evolution.calls('sendText'), (b) => b.number, d),
    path: '/message/sendText/loja',
    expectedBody: (d, part) => ({ number: d.to, text: part.body.text }),
    platformIds: (d) => evolution.sent().filter((s) => s.number === d.to).map((s) => s.id),
    validatesAnswer: true,
  },
  {
    label: 'zapi (send-text)',
    channel: 'zapi',
    delivery: textDelivery('zapi'),
    inject: (...faults) => void zapi.inject('send-text', ...faults),
    wire: (d) => emulated(zapi.calls('send-text'), (b) => b.phone, d),
    path: `/instances/${ZAPI_INSTANCE_ID}/token/${ZAPI_INSTANCE_TOKEN}/send-text`,
    expectedBody: (d, part) => ({ phone: d.to, message: part.body.text }),
    platformIds: (d) => zapi.sent().filter((s) => s.phone === d.to).map((s) => s.id),
    validatesAnswer: true,
  },
];

async function rejection(promise: Promise<unknown>): Promise<UpstreamError> {
  const error = await promise.then(
    () => {
      throw new Error('expected a rejection');
    },
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(UpstreamError);
  return error as UpstreamError;
}

/** The one part of a short delivery. */
function onlyPart(sender: ChannelSender, d: StoredDelivery): OutgoingPart {
  const parts = sender.split(d);
  expect(parts).toHaveLength(1);
  return parts[0]!;
}

describe.each(cases)('$label sender contract', (c) => {
  const sender = () => senderOf(c.channel);

  it('success: the exact body with the channel credentials, and the ids the platform gave', async () => {
    const d = c.delivery();
    const part = onlyPart(sender(), d);
    const { ids } = await sender().send(d, part);
    expect(c.wire(d)).toEqual([{ path: c.path, body: c.expectedBody(d, part), authorized: true }]);
    expect(ids).toEqual(c.platformIds(d));
    if (c.validatesAnswer) expect(ids).toHaveLength(1);
  });

  it('5xx then success: the first try is retryable, the second is sent', async () => {
    const d = c.delivery();
    const part = onlyPart(sender(), d);
    c.inject({ status: 503, body: { message: 'unavailable' } });
    const error = await rejection(sender().send(d, part));
    expect(error).toMatchObject({ kind: 'http_status', status: 503, retryable: true });
    const { ids } = await sender().send(d, part);
    expect(ids).toEqual(c.platformIds(d));
    const wire = c.wire(d);
    expect(wire).toHaveLength(2);
    // The retry is the same request (a callback receiver de-duplicates on it).
    expect(wire[1]).toEqual(wire[0]);
  });

  it('429 with Retry-After is retryable and carries the delay', async () => {
    const d = c.delivery();
    c.inject({ status: 429, headers: { 'retry-after': '2' }, body: { message: 'slow down' } });
    const error = await rejection(sender().send(d, onlyPart(sender(), d)));
    expect(error).toMatchObject({ status: 429, retryable: true, retryAfterMs: 2000 });
  });

  it('a timeout is retryable', async () => {
    const d = c.delivery();
    const short = senderOf(c.channel, shortKits);
    // The platform answers long after the deadline (what it does then is filtered out by `to`).
    c.inject({ delayMs: SHORT_TIMEOUT_MS * 10 });
    const error = await rejection(short.send(d, onlyPart(short, d)));
    expect(error).toMatchObject({ kind: 'timeout', retryable: true });
  });

  if (c.validatesAnswer) {
    it('a 2xx with a malformed body is permanent', async () => {
      const d = c.delivery();
      c.inject({ rawBody: '<html>gateway</html>' });
      const error = await rejection(sender().send(d, onlyPart(sender(), d)));
      expect(error).toMatchObject({ kind: 'invalid_response', retryable: false });
    });

    it('a 2xx JSON answer without the message id is permanent', async () => {
      const d = c.delivery();
      c.inject({ status: 200, body: { ok: true } });
      const error = await rejection(sender().send(d, onlyPart(sender(), d)));
      expect(error).toMatchObject({ kind: 'invalid_response', retryable: false });
    });
  } else {
    it.each([
      ['a 200 that is not JSON', { rawBody: 'OK' }],
      ['a 204 without a body', { status: 204 }],
      ['a 202 with any JSON', { status: 202, body: { whatever: [1, 2] } }],
    ])('any 2xx is success: %s', async (_label, fault: Fault) => {
      const d = c.delivery();
      c.inject(fault);
      await expect(sender().send(d, onlyPart(sender(), d))).resolves.toEqual({ ids: [] });
    });
  }

  it.each([400, 404, 422])('%i is permanent', async (status) => {
    const d = c.delivery();
    c.inject({ status, body: { message: `refused ${status}` } });
    const error = await rejection(sender().send(d, onlyPart(sender(), d)));
    expect(error).toMatchObject({ status, retryable: false });
  });
});

const textCases = cases.filter((c) => c.validatesAnswer);

describe.each(textCases)('$label splitting', (c) => {
  const sender = () => senderOf(c.channel);

  it('a 9000-character text goes as 3 parts, in order, at spaces, none over 4096 code points', async () => {
    const words = Array.from({ length: 2000 }, (_, i) => `pal${i % 10}`).join(' ');
    const text = `${words.slice(0, 8999)}z`;
    expect(text).toHaveLength(9000);
    const d = c.delivery(text);
    const parts = sender().split(d).map((p) => p.body.text as string);
    expect(parts).toHaveLength(3);
    for (const part of parts) {
      expect(codePointLength(part)).toBeLessThanOrEqual(MAX_TEXT_CHARS);
      expect(part).not.toMatch(/^ | $/);
    }
    // Cut at spaces: the parts joined by the dropped break are the text.
    expect(parts.join(' ')).toBe(text);
    for (const part of sender().split(d)) await sender().send(d, part);
    expect(c.wire(d).map((r) => r.body)).toEqual(parts.map((t) => c.expectedBody(d, { body: { text: t } })));
  });

  it('a text with no break is cut at the limit, never inside a surrogate pair', () => {
    const text = `a${'😀'.repeat(8999)}`;
    expect(codePointLength(text)).toBe(9000);
    const parts = sender().split(c.delivery(text)).map((p) => p.body.text as string);
    expect(parts.map(codePointLength)).toEqual([4096, 4096, 808]);
    for (const part of parts) expect(part.isWellFormed()).toBe(true);
    expect(parts.join('')).toBe(text);
  });

  it('a line break is preferred to a space', () => {
    const text = `${'x'.repeat(3000)}\n${'y '.repeat(2000)}`;
    const parts = sender().split(c.delivery(text)).map((p) => p.body.text as string);
    expect(parts[0]).toBe('x'.repeat(3000));
    expect(parts.every((p) => codePointLength(p) <= MAX_TEXT_CHARS)).toBe(true);
  });

  it('wrong credentials are a permanent 401', async () => {
    const wrong =
      c.channel === 'wa'
        ? { whatsapp: { phoneNumberId: WA_NUMBER, accessToken: 'wrong', appSecret: 'wa-app-secret', verifyToken: 'wa-verify', baseUrl: whatsapp.url } }
        : c.channel === 'evo'
          ? { evolution: { baseUrl: evolution.url, instance: 'loja', apiKey: 'wrong' } }
          : { zapi: { instanceId: ZAPI_INSTANCE_ID, instanceToken: ZAPI_INSTANCE_TOKEN, clientToken: 'wrong', baseUrl: zapi.url } };
    const sender = senderOf(c.channel, buildKits({ channel: c.channel, fields: wrong }));
    const d = c.delivery();
    const error = await rejection(sender.send(d, onlyPart(sender, d)));
    expect(error).toMatchObject({ status: 401, retryable: false });
    expect(c.wire(d)).toEqual([expect.objectContaining({ authorized: false })]);
    expect(c.platformIds(d)).toEqual([]);
  });
});

describe('whatsapp-cloud error codes', () => {
  const sender = () => senderOf('wa');
  const c = cases[0]!;

  it('131056 (pair rate limit, HTTP 400) then success: retryable, then sent', async () => {
    const d = c.delivery();
    whatsapp.inject('messages', metaError(131056));
    const error = await rejection(sender().send(d, onlyPart(sender(), d)));
    expect(error).toMatchObject({ status: 400, retryable: true, code: 'whatsapp_131056' });
    const { ids } = await sender().send(d, onlyPart(sender(), d));
    expect(ids).toEqual(c.platformIds(d));
    expect(ids).toHaveLength(1);
  });

  it.each([
    [4, 400, true],
    [4, 429, true],
    [80007, 400, true],
    [130429, 400, true],
    [131056, 400, true],
    [131000, 500, true],
    [100, 400, false],
    [131026, 400, false],
    [131048, 400, false],
  ])('code %i with HTTP %i: retryable %s', async (code, status, retryable) => {
    const d = c.delivery();
    whatsapp.inject('messages', metaError(code, undefined, status));
    const error = await rejection(sender().send(d, onlyPart(sender(), d)));
    expect(error).toMatchObject({ status, retryable, code: `whatsapp_${code}` });
    expect(error.upstreamMessage).toContain(`(#${code})`);
  });

  it("Meta's own validation error (too long a body) is permanent", async () => {
    const d = c.delivery();
    const error = await rejection(sender().send(d, { body: { text: 'x'.repeat(MAX_TEXT_CHARS + 1) } }));
    expect(error).toMatchObject({ status: 400, retryable: false, code: 'whatsapp_100' });
  });
});

describe('the 24-hour window (SPEC §13)', () => {
  const c = cases[0]!;
  const HOUR = 3_600_000;
  const TEMPLATE = { name: 'retomar_atendimento', language: 'pt_BR' };
  const withTemplate = () => senderOf('wa', buildKits({ channel: 'wa', fields: { whatsapp: { phoneNumberId: WA_NUMBER, accessToken: WA_TOKEN, appSecret: 'wa-app-secret', verifyToken: 'wa-verify', baseUrl: whatsapp.url, windowTemplate: TEMPLATE } } }));
  const templateBody = (to: string) => ({
    messaging_product: 'whatsapp',
    recipient_type: 'individual',
    to,
    type: 'template',
    template: { name: 'retomar_atendimento', language: { code: 'pt_BR' } },
  });

  it('inside the window, and when the last message is unknown: free text, split as usual', () => {
    const d = c.delivery();
    for (const lastInboundAt of [Date.now() - 23 * HOUR, null]) {
      expect(withTemplate().split(d, { lastInboundAt })).toEqual(senderOf('wa').split(d));
    }
  });

  it('outside the window with a template: one template send, covering the whole delivery', async () => {
    const d = c.delivery();
    const s = withTemplate();
    const parts = s.split(d, { lastInboundAt: Date.now() - 25 * HOUR });
    expect(parts).toHaveLength(1);
    const before = whatsapp.calls('messages').length;
    const sent = await s.send(d, parts[0]!, { lastInboundAt: Date.now() - 25 * HOUR });
    expect(sent.covers).toBe(true);
    const request = whatsapp.calls('messages').slice(before);
    expect(request).toHaveLength(1);
    expect(request[0]!.body).toEqual(templateBody(d.to));
    expect(whatsapp.sent().at(-1)).toMatchObject({ to: d.to, text: '', template: { name: 'retomar_atendimento', language: 'pt_BR' } });
  });

  it('outside the window without a template: nothing is sent, a permanent outside_window', () => {
    const d = c.delivery();
    const before = whatsapp.calls('messages').length;
    let thrown: unknown;
    try {
      senderOf('wa').split(d, { lastInboundAt: Date.now() - 25 * HOUR });
    } catch (error) {
      thrown = error;
    }
    expect(thrown).toMatchObject({ code: 'outside_window', retryable: false, ambiguous: false });
    expect((thrown as Error).message).toMatch(/^outside_window: .*24 h/);
    expect(whatsapp.calls('messages').length).toBe(before);
  });

  it('131047 on free text: retried once as the template, covering the rest', async () => {
    const d = c.delivery();
    whatsapp.inject('messages', metaError(131047));
    const before = whatsapp.calls('messages').length;
    const s = withTemplate();
    const sent = await s.send(d, onlyPart(s, d), { lastInboundAt: null });
    expect(sent).toMatchObject({ covers: true, ids: [expect.stringMatching(/^wamid\./)] });
    const bodies = whatsapp.calls('messages').slice(before).map((r) => r.body as Record<string, unknown>);
    expect(bodies.map((b) => b.type)).toEqual(['text', 'template']);
    expect(bodies[1]).toEqual(templateBody(d.to));
  });

  it('131047 without a template: a permanent outside_window that says Meta refused it', async () => {
    const d = c.delivery();
    whatsapp.inject('messages', metaError(131047));
    const error = await rejection(senderOf('wa').send(d, onlyPart(senderOf('wa'), d), { lastInboundAt: null }));
    expect(error).toMatchObject({ code: 'outside_window', retryable: false });
    expect(error.message).toContain('131047');
  });

  it('the emulator refuses free text to a customer who wrote over 24 h ago, with Meta’s error; a template goes', async () => {
    const d = c.delivery();
    whatsapp.customerWrote(d.to, Date.now() - 25 * HOUR);
    const error = await rejection(senderOf('wa').send(d, onlyPart(senderOf('wa'), d)));
    expect(error).toMatchObject({ code: 'outside_window', status: 400 });
    expect(error.upstreamMessage).toContain('(#131047) Re-engagement message');
    const s = withTemplate();
    expect((await s.send(d, s.split(d, { lastInboundAt: Date.now() - 25 * HOUR })[0]!)).ids).toHaveLength(1);
    whatsapp.customerWrote(d.to);
    expect((await senderOf('wa').send(d, onlyPart(senderOf('wa'), d))).ids).toHaveLength(1);
  });

  it('refuses a template name or language Meta would not take, naming the path', () => {
    for (const windowTemplate of [{ name: 'Retomar Atendimento', language: 'pt_BR' }, { name: 'ok', language: 'português' }, { name: 'ok' }]) {
      expect(() =>
        buildKits({ channel: 'wa', fields: { whatsapp: { phoneNumberId: WA_NUMBER, accessToken: WA_TOKEN, appSecret: 'wa-app-secret', verifyToken: 'wa-verify', windowTemplate } } }),
      ).toThrow(/channels\.wa\.whatsapp\.windowTemplate\.(name|language)/);
    }
  });
});

describe('addresses other than a phone (SPEC §11)', () => {
  const bsuid = 'BR.1502576394655843';
  const lid = '214955124957347';
  const to = (channel: string, address: string, toKind: StoredDelivery['toKind'], text = 'Olá! Seu pedido saiu para entrega') =>
    ({ ...delivery(channel, { kind: 'text', text }), to: address, toKind });

  it("whatsapp-cloud: a BSUID delivery is sent with `recipient` and no `to`; every part of a split text the same way", async () => {
    const sender = senderOf('wa');
    const d = to('wa', bsuid, 'bsuid');
    const part = onlyPart(sender, d);
    const { ids } = await sender.send(d, part);
    const wire = whatsapp.calls('messages').map((r) => r.body);
    expect(wire).toEqual([{ messaging_product: 'whatsapp', recipient_type: 'individual', recipient: bsuid, type: 'text', text: { preview_url: false, body: part.body.text } }]);
    expect(wire[0]).not.toHaveProperty('to');
    expect(whatsapp.sent()).toEqual([expect.objectContaining({ id: ids[0], to: bsuid, recipient: bsuid })]);
    expect(ids).toHaveLength(1);

    const long = to('wa', bsuid, 'bsuid', `${'a '.repeat(2500)}\n${'b '.repeat(2500)}`);
    for (const p of sender.split(long)) await sender.send(long, p);
    expect(whatsapp.calls('messages').slice(1).map((r) => r.body)).toEqual(
      sender.split(long).map((p) => ({ messaging_product: 'whatsapp', recipient_type: 'individual', recipient: bsuid, type: 'text', text: { preview_url: false, body: p.body.text } })),
    );
  });

  it('whatsapp-cloud: a phone delivery is still sent with `to` and no `recipient`', async () => {
    const sender = senderOf('wa');
    const d = to('wa', '5511988880009', 'phone');
    await sender.send(d, onlyPart(sender, d));
    const [body] = whatsapp.calls('messages').map((r) => r.body);
    expect(body).toMatchObject({ to: '5511988880009' });
    expect(body).not.toHaveProperty('recipient');
  });

  it('evolution: a LID delivery goes to number <digits>@lid, as is', async () => {
    const sender = senderOf('evo');
    const d = to('evo', `${lid}@lid`, 'lid');
    const part = onlyPart(sender, d);
    const { ids } = await sender.send(d, part);
    expect(evolution.calls('sendText').map((r) => r.body)).toEqual([{ number: `${lid}@lid`, text: part.body.text }]);
    expect(evolution.sent()).toEqual([expect.objectContaining({ id: ids[0], number: `${lid}@lid`, remoteJid: `${lid}@lid` })]);
  });

  it('zapi: a LID delivery goes to phone <digits>@lid, as is', async () => {
    const sender = senderOf('zapi');
    const d = to('zapi', `${lid}@lid`, 'lid');
    const part = onlyPart(sender, d);
    const { ids } = await sender.send(d, part);
    expect(zapi.calls('send-text').map((r) => r.body)).toEqual([{ phone: `${lid}@lid`, message: part.body.text }]);
    expect(zapi.sent()).toEqual([expect.objectContaining({ id: ids[0], phone: `${lid}@lid` })]);
  });
});

describe('reply callback specifics', () => {
  const sender = () => senderOf('site');

  it('signs with Standard Webhooks; a retried event keeps its webhook-id and its bytes', async () => {
    const d = cases[1]!.delivery();
    callback.inject({ status: 500 });
    await rejection(sender().send(d, onlyPart(sender(), d)));
    await sender().send(d, onlyPart(sender(), d));
    const [first, second] = callback.received;
    expect(callback.received).toHaveLength(2);
    for (const entry of [first!, second!]) {
      expect(signatureVerifies(entry)).toBe(true);
      expect(header(entry.headers, 'content-type')).toBe('application/json');
    }
    expect(header(second!.headers, 'webhook-id')).toBe(header(first!.headers, 'webhook-id'));
    expect(second!.raw).toBe(first!.raw);
  });

  it('webhook-id is unique per event', async () => {
    const a = cases[1]!.delivery('um');
    const b = cases[1]!.delivery('dois');
    await sender().send(a, onlyPart(sender(), a));
    await sender().send(b, onlyPart(sender(), b));
    const ids = callback.received.map((r) => header(r.headers, 'webhook-id'));
    expect(ids).toHaveLength(2);
    expect(new Set(ids).size).toBe(2);
  });

  it('a handoff event carries its handoffId, and a null reply is left out', async () => {
    const handoffId = randomUUID();
    const d = delivery('site', { kind: 'event', event: { type: 'handoff.done', conversationId: 'conv-9', handoffId } });
    await sender().send(d, onlyPart(sender(), d));
    expect(JSON.parse(callback.received[0]!.raw)).toEqual({ type: 'handoff.done', channel: 'site', messageId: d.messageId, phone: d.phone, conversationId: 'conv-9', handoffId });
  });

  it('a signature made with another secret does not verify (the check is not vacuous)', async () => {
    const d = cases[1]!.delivery();
    await sender().send(d, onlyPart(sender(), d));
    const entry = callback.received[0]!;
    expect(signatureVerifies({ ...entry, raw: entry.raw.replace('"site"', '"other"') })).toBe(false);
  });
});

describe('evolution specifics', () => {
  it('the instance is encoded in the path (a % in its name reaches the right instance)', async () => {
    const sender = senderOf('evo-pct');
    const d = delivery('evo-pct', { kind: 'text', text: 'oi' });
    const { ids } = await sender.send(d, onlyPart(sender, d));
    expect(evolution.sent().filter((s) => s.number === d.to)).toEqual([expect.objectContaining({ instance: 'loja%41', id: ids[0] })]);
  });

  it('a 400 (a number Evolution refuses) is permanent and nothing is sent', async () => {
    const sender = senderOf('evo');
    const d = { ...delivery('evo', { kind: 'text', text: 'oi' }), to: 'not-a-number' };
    const error = await rejection(sender.send(d, onlyPart(sender, d)));
    expect(error).toMatchObject({ status: 400, retryable: false });
    expect(error.upstreamMessage).toBeTruthy();
    expect(evolution.sent().filter((s) => s.number === d.to)).toEqual([]);
  });
});

describe('zapi specifics', () => {
  const sender = () => senderOf('zapi');

  it.each([
    ['messageId and a different id', { zaapId: 'Z1', messageId: 'A1', id: 'B1' }, ['A1', 'B1']],
    ['messageId equal to id', { zaapId: 'Z2', messageId: 'A2', id: 'A2' }, ['A2']],
    ['messageId only', { messageId: 'A3' }, ['A3']],
  ])('returns the distinct message ids (%s), never zaapId', async (_label, body, ids) => {
    const d = cases[3]!.delivery();
    zapi.inject('send-text', { status: 200, body });
    await expect(sender().send(d, onlyPart(sender(), d))).resolves.toEqual({ ids });
  });
});
