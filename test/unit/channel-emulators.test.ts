import { createHmac } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { createServer, type IncomingHttpHeaders } from 'node:http';
import type { AddressInfo } from 'node:net';
import { describe, it, expect, beforeAll, afterAll, beforeEach } from 'vitest';
import { deliverEvolutionWebhook, EvolutionEmulator, evolutionEvent, evolutionUpsert, type EchoMode } from '../../src/sandbox/evolution.js';
import {
  deliverMetaWebhook,
  metaAudio,
  metaButton,
  metaButtonReply,
  metaDocument,
  metaEcho,
  metaEchoEnvelope,
  metaEchoOf,
  metaEdit,
  metaEnvelope,
  metaError,
  metaImage,
  metaListReply,
  metaLocation,
  metaReaction,
  metaRevoke,
  metaSignature,
  metaStatus,
  metaSticker,
  metaText,
  metaVideo,
  verifyChallengeUrl,
  WhatsappEmulator,
} from '../../src/sandbox/whatsapp.js';
import { deliverZapiWebhook, ZapiEmulator, zapiReceived } from '../../src/sandbox/zapi.js';
import type { Fault } from '../../src/sandbox/emulator.js';

interface Answer {
  status: number;
  /** Parsed JSON; `any` so assertions can read it freely. */
  body: any;
}

async function call(url: string, init: { method?: string; headers?: Record<string, string>; body?: unknown } = {}): Promise<Answer> {
  const res = await fetch(url, {
    method: init.method ?? 'POST',
    headers: { 'content-type': 'application/json', ...init.headers },
    body: init.body === undefined ? undefined : JSON.stringify(init.body),
  });
  const text = await res.text();
  return { status: res.status, body: text === '' ? undefined : JSON.parse(text) };
}

interface Delivery {
  url: string;
  headers: IncomingHttpHeaders;
  raw: Buffer;
  body: any;
}

/** A stand-in for the product's webhook endpoint: records every POST; `hold()` keeps answers back until released. */
interface Receiver {
  url: string;
  deliveries: Delivery[];
  /** Resolves once `count` deliveries arrived (before they are answered). */
  arrived(count: number, timeoutMs?: number): Promise<Delivery[]>;
  hold(): () => void;
  close(): Promise<void>;
}

async function startReceiver(): Promise<Receiver> {
  const deliveries: Delivery[] = [];
  const events = new EventEmitter();
  let gate: Promise<void> | undefined;
  const server = createServer(async (req, res) => {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const raw = Buffer.concat(chunks);
    deliveries.push({ url: req.url ?? '', headers: req.headers, raw, body: raw.length ? JSON.parse(raw.toString('utf8')) : undefined });
    events.emit('delivery');
    if (gate) await gate;
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end('{"status":"accepted"}');
  });
  server.listen(0, '127.0.0.1');
  await new Promise((resolve) => server.once('listening', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    deliveries,
    arrived: (count, timeoutMs = 5_000) =>
      new Promise((resolve, reject) => {
        const timer = setTimeout(() => {
          events.off('delivery', check);
          reject(new Error(`receiver: waited ${timeoutMs} ms for ${count} deliveries, saw ${deliveries.length}`));
        }, timeoutMs);
        const check = () => {
          if (deliveries.length < count) return;
          clearTimeout(timer);
          events.off('delivery', check);
          resolve([...deliveries]);
        };
        events.on('delivery', check);
        check();
      }),
    hold: () => {
      let release = () => {};
      gate = new Promise<void>((resolve) => {
        release = resolve;
      });
      return () => {
        gate = undefined;
        release();
      };
    },
    close: async () => {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}

/** A URL where nothing listens (a server started and closed). */
async function deadUrl(): Promise<string> {
  const receiver = await startReceiver();
  await receiver.close();
  return `${receiver.url}/webhooks/gone`;
}

const hmac = (secret: string, raw: string | Buffer) => `sha256=${createHmac('sha256', secret).update(raw).digest('hex')}`;

/** Tracks whether a promise has settled yet, without waiting for it. */
function track<T>(promise: Promise<T>): { promise: Promise<T>; settled: () => boolean } {
  let settled = false;
  void promise.then(
    () => (settled = true),
    () => (settled = true),
  );
  return { promise, settled: () => settled };
}

describe('WhatsappEmulator', () => {
  const TOKEN = 'wa-access-token';
  const SECRET = 'wa-app-secret';
  const wa = new WhatsappEmulator({ accessToken: TOKEN });
  let url = '';
  const send = (body: unknown, token = TOKEN, path = '/v21.0/106540352242922/messages') =>
    call(`${url}${path}`, { headers: { authorization: `Bearer ${token}` }, body });
  const textBody = (to: string, body: string, extra: Record<string, unknown> = {}) => ({
    messaging_product: 'whatsapp',
    recipient_type: 'individual',
    to,
    type: 'text',
    text: { preview_url: false, body },
    ...extra,
  });

  beforeAll(async () => {
    url = await wa.start(0);
  });
  afterAll(() => wa.close());
  beforeEach(() => wa.reset());

  it('accepts a text message and answers Meta’s success shape', async () => {
    const res = await send(textBody('5511900000001', 'Olá! 👋'));
    expect(res).toEqual({
      status: 200,
      body: {
        messaging_product: 'whatsapp',
        contacts: [{ input: '5511900000001', wa_id: '5511900000001' }],
        messages: [{ id: expect.stringMatching(/^wamid\.[A-Za-z0-9]{20,}$/) }],
      },
    });
    expect(wa.sent()).toEqual([
      { id: res.body.messages[0].id, phoneNumberId: '106540352242922', version: 'v21.0', to: '5511900000001', text: 'Olá! 👋', at: expect.any(Number) },
    ]);
    // Copies: changing what sent() returned changes nothing.
    wa.sent()[0]!.text = 'changed';
    expect(wa.sent()[0]!.text).toBe('Olá! 👋');
    const second = await send(textBody('5511900000001', 'de novo'));
    expect(second.body.messages[0].id).not.toBe(res.body.messages[0].id);
  });

  it('answers 401 with Meta’s OAuth error for a wrong or missing token', async () => {
    const expected = {
      status: 401,
      body: { error: { message: 'Invalid OAuth access token - Cannot parse access token', type: 'OAuthException', code: 190, fbtrace_id: expect.any(String) } },
    };
    expect(await send(textBody('5511900000002', 'x'), 'wrong')).toEqual(expected);
    expect(await call(`${url}/v21.0/1/messages`, { body: textBody('5511900000002', 'x') })).toEqual(expected);
    expect(wa.sent()).toEqual([]);
  });

  it('accepts any token when none is configured', async () => {
    const open = new WhatsappEmulator();
    const openUrl = await open.start(0);
    try {
      expect((await call(`${openUrl}/v21.0/1/messages`, { body: textBody('5511900000003', 'x') })).status).toBe(200);
    } finally {
      await open.close();
    }
  });

  it('validates the body as Meta does (code 100), counting code points', async () => {
    const bad: unknown[] = [
      {},
      [],
      textBody('5511900000004', 'x', { messaging_product: 'sms' }),
      textBody('5511900000004', 'x', { recipient_type: 'group' }),
      textBody('', 'x'),
      textBody('5511900000004', 'x', { to: 5511900000004 }),
      textBody('5511900000004', 'x', { type: 'image' }),
      textBody('5511900000004', ''),
      textBody('5511900000004', 'x', { text: { body: 42 } }),
      textBody('5511900000004', 'x', { text: { body: 'x', preview_url: 'yes' } }),
      textBody('5511900000004', 'x', { text: undefined }),
      textBody('5511900000004', '😀'.repeat(4097)),
    ];
    for (const body of bad) {
      const res = await send(body);
      expect(res.status, JSON.stringify(body).slice(0, 80)).toBe(400);
      expect(res.body).toEqual({
        error: {
          message: '(#100) Invalid parameter',
          type: 'OAuthException',
          code: 100,
          error_data: { messaging_product: 'whatsapp', details: expect.any(String) },
          fbtrace_id: expect.any(String),
        },
      });
    }
    expect(wa.sent()).toEqual([]);
    // 4096 emoji are 8192 UTF-16 units but 4096 characters: accepted. No `type` defaults to text.
    expect((await send(textBody('5511900000004', '😀'.repeat(4096)))).status).toBe(200);
    expect((await send({ messaging_product: 'whatsapp', to: '5511900000004', text: { body: 'sem type' } })).status).toBe(200);
    expect(wa.sent()).toHaveLength(2);
  });

  it('answers injected Meta errors, then succeeds', async () => {
    wa.inject('messages', metaError(131056), metaError(4, undefined, 429));
    const limited = await send(textBody('5511900000005', 'a'));
    expect(limited).toEqual({
      status: 400,
      body: {
        error: {
          message: '(#131056) (Business Account, Consumer Account) pair rate limit hit',
          type: 'OAuthException',
          code: 131056,
          error_data: { messaging_product: 'whatsapp', details: expect.stringContaining('too many messages') },
          fbtrace_id: expect.any(String),
        },
      },
    });
    const app = await send(textBody('5511900000005', 'a'));
    expect(app.status).toBe(429);
    expect(app.body.error).toMatchObject({ code: 4, message: '(#4) Application request limit reached' });
    expect(wa.sent()).toEqual([]);
    expect((await send(textBody('5511900000005', 'a'))).status).toBe(200);
    expect(wa.sent()).toHaveLength(1);
    expect(wa.calls('messages').map((r) => r.status)).toEqual([400, 429, 200]);
  });

  it('has Meta-like default messages per code, and takes a custom one', () => {
    expect(metaError(131047).body).toMatchObject({ error: { code: 131047, message: '(#131047) Re-engagement message', error_data: { details: expect.stringContaining('24 hours') } } });
    expect(metaError(130429).body).toMatchObject({ error: { code: 130429, message: '(#130429) Rate limit hit' } });
    expect(metaError(80007).body).toMatchObject({ error: { code: 80007, message: '(#80007) Rate limit issues' } });
    expect(metaError(131056).status).toBe(400);
    expect(metaError(123, 'custom', 500)).toMatchObject({ status: 500, body: { error: { code: 123, message: 'custom', type: 'OAuthException' } } });
  });

  it('waitForSent resolves on matching sends, and rejects on timeout with what it saw', async () => {
    const waiting = wa.waitForSent(2, (s) => s.to === '5511900000006');
    await send(textBody('5511900000006', 'um'));
    await send(textBody('5511900000099', 'outro'));
    await send(textBody('5511900000006', 'dois'));
    expect((await waiting).map((s) => s.text)).toEqual(['um', 'dois']);
    // Already recorded sends count.
    expect(await wa.waitForSent(3)).toHaveLength(3);
    await expect(wa.waitForSent(1, (s) => s.to === 'nobody', 50)).rejects.toThrow(/waited 50 ms for 1 matching record\(s\), saw 0/);
  });

  it('exposes sends on the control API and forgets them on reset', async () => {
    await send(textBody('5511900000007', 'estado'));
    const state = await call(`${url}/__sandbox/state`, { method: 'GET' });
    expect(state.body.sent).toEqual([expect.objectContaining({ to: '5511900000007', text: 'estado' })]);
    wa.reset();
    expect(wa.sent()).toEqual([]);
  });

  it('posts a signed `sent` status webhook after each send when asked', async () => {
    const receiver = await startReceiver();
    const withStatus = new WhatsappEmulator({ webhookUrl: `${receiver.url}/webhooks/vendas-wa`, appSecret: SECRET, statusWebhooks: true });
    const emulatorUrl = await withStatus.start(0);
    try {
      const res = await call(`${emulatorUrl}/v21.0/106540352242922/messages`, { body: textBody('5511900000008', 'oi') });
      const [delivery] = await receiver.arrived(1);
      expect(delivery!.url).toBe('/webhooks/vendas-wa');
      expect(delivery!.headers['x-hub-signature-256']).toBe(hmac(SECRET, delivery!.raw));
      expect(delivery!.body.entry[0].changes[0].value).toEqual({
        messaging_product: 'whatsapp',
        metadata: { display_phone_number: expect.any(String), phone_number_id: '106540352242922' },
        statuses: [{ id: res.body.messages[0].id, status: 'sent', timestamp: expect.stringMatching(/^\d+$/), recipient_id: '5511900000008' }],
      });
      expect(await withStatus.waitForStatusDeliveries(1)).toEqual([expect.objectContaining({ kind: 'status', status: 200, id: res.body.messages[0].id })]);
    } finally {
      await withStatus.close();
      await receiver.close();
    }
  });

  /** A WhatsappEmulator posting signed webhooks to a fresh receiver, for one test. */
  async function withWebhooks(run: (emulator: WhatsappEmulator, emulatorUrl: string, receiver: Receiver) => Promise<void>, options = {}): Promise<void> {
    const receiver = await startReceiver();
    const emulator = new WhatsappEmulator({ appSecret: SECRET, ...options });
    const emulatorUrl = await emulator.start(0);
    try {
      await run(emulator, emulatorUrl, receiver);
    } finally {
      await emulator.close();
      await receiver.close();
    }
  }
  const failedStatusOf = (delivery: Delivery) => delivery.body.entry[0].changes[0].value.statuses[0];

  it('appSend posts a signed smb_message_echoes delivery: the business answering from the WhatsApp Business app', () =>
    withWebhooks(async (emulator, _emulatorUrl, receiver) => {
      // webhookUrl is settable after construction, like statusWebhooks.
      emulator.webhookUrl = `${receiver.url}/webhooks/vendas-wa`;
      const id = await emulator.appSend('5511900000040', 'Oi, aqui é a Júlia 😀');
      const [delivery] = await receiver.arrived(1);
      expect(delivery!.url).toBe('/webhooks/vendas-wa');
      expect(delivery!.headers['x-hub-signature-256']).toBe(hmac(SECRET, delivery!.raw));
      expect(delivery!.raw.toString('utf8')).toContain('\\u00e9');
      expect(delivery!.body).toEqual({
        object: 'whatsapp_business_account',
        entry: [
          {
            id: expect.any(String),
            changes: [
              {
                field: 'smb_message_echoes',
                value: {
                  messaging_product: 'whatsapp',
                  metadata: { display_phone_number: expect.stringMatching(/^\d+$/), phone_number_id: '106540352242922' },
                  message_echoes: [
                    {
                      from: expect.stringMatching(/^\d+$/),
                      to: '5511900000040',
                      id,
                      timestamp: expect.stringMatching(/^\d{10}$/),
                      type: 'text',
                      text: { body: 'Oi, aqui é a Júlia 😀' },
                    },
                  ],
                },
              },
            ],
          },
        ],
      });
      expect(id).toMatch(/^wamid\./);
      // Recorded as a person's message, and already answered when appSend resolved.
      expect(emulator.statusDeliveries()).toEqual([expect.objectContaining({ kind: 'phone', id, status: 200 })]);
    }, { phoneNumberId: '106540352242922' }));

  it("appSend answers from the number of the last send when none is configured, and needs a webhookUrl", () =>
    withWebhooks(async (emulator, emulatorUrl, receiver) => {
      await expect(emulator.appSend('5511900000041', 'x')).rejects.toThrow(/webhookUrl/);
      emulator.webhookUrl = `${receiver.url}/webhooks/wa`;
      await expect(emulator.appSend('5511900000041', 'x')).rejects.toThrow(/phoneNumberId/);
      await call(`${emulatorUrl}/v21.0/777000000000777/messages`, { body: textBody('5511900000041', 'oi') });
      await emulator.appSend('5511900000041', 'do app');
      const [delivery] = await receiver.arrived(1);
      expect(delivery!.body.entry[0].changes[0].value.metadata.phone_number_id).toBe('777000000000777');
    }));

  it("reportStatus posts a signed status of an accepted send; failed carries Meta's errors[] (default 131026, or the code given)", () =>
    withWebhooks(async (emulator, emulatorUrl, receiver) => {
      emulator.webhookUrl = `${receiver.url}/webhooks/wa`;
      const res = await call(`${emulatorUrl}/v21.0/106540352242922/messages`, { body: textBody('5511900000042', 'oi') });
      const sentId: string = res.body.messages[0].id;
      await emulator.reportStatus(sentId, 'failed', 131047);
      await emulator.reportStatus(sentId, 'failed');
      await emulator.reportStatus(sentId, 'read');
      const deliveries = await receiver.arrived(3);
      for (const delivery of deliveries) {
        expect(delivery.headers['x-hub-signature-256']).toBe(hmac(SECRET, delivery.raw));
        expect(delivery.body.entry[0].changes[0].value.metadata.phone_number_id).toBe('106540352242922');
      }
      expect(deliveries.map(failedStatusOf)).toEqual([
        {
          id: sentId,
          status: 'failed',
          timestamp: expect.stringMatching(/^\d+$/),
          recipient_id: '5511900000042',
          errors: [
            { code: 131047, title: 'Re-engagement message', message: 'Re-engagement message', error_data: { details: expect.stringContaining('24 hours') } },
          ],
        },
        expect.objectContaining({
          errors: [{ code: 131026, title: 'Message undeliverable', message: 'Message undeliverable', error_data: { details: expect.any(String) } }],
        }),
        { id: sentId, status: 'read', timestamp: expect.any(String), recipient_id: '5511900000042' },
      ]);
      await expect(emulator.reportStatus('wamid.UNKNOWN', 'failed')).rejects.toThrow(/no accepted send/);
    }));

  it('failLater: the next accepted send answers 200, then a failed status webhook follows (an asynchronous failure)', () =>
    withWebhooks(async (emulator, emulatorUrl, receiver) => {
      emulator.webhookUrl = `${receiver.url}/webhooks/wa`;
      emulator.failLater(131047);
      const failing = await call(`${emulatorUrl}/v21.0/106540352242922/messages`, { body: textBody('5511900000043', 'fora da janela') });
      expect(failing.status).toBe(200);
      const [failed] = await receiver.arrived(1);
      expect(failed!.headers['x-hub-signature-256']).toBe(hmac(SECRET, failed!.raw));
      expect(failedStatusOf(failed!)).toMatchObject({ id: failing.body.messages[0].id, status: 'failed', recipient_id: '5511900000043' });
      expect(failedStatusOf(failed!).errors).toEqual([expect.objectContaining({ code: 131047 })]);
      expect(emulator.sent().map((s) => s.id)).toEqual([failing.body.messages[0].id]);
      // Only the next send: the one after it is not failed (with statusWebhooks, it is reported `sent`).
      emulator.statusWebhooks = true;
      const ok = await call(`${emulatorUrl}/v21.0/106540352242922/messages`, { body: textBody('5511900000043', 'ok') });
      const [, sent] = await receiver.arrived(2);
      expect(failedStatusOf(sent!)).toEqual({ id: ok.body.messages[0].id, status: 'sent', timestamp: expect.any(String), recipient_id: '5511900000043' });
      expect(await emulator.waitForStatusDeliveries(2)).toEqual([
        expect.objectContaining({ kind: 'status', id: failing.body.messages[0].id, status: 200 }),
        expect.objectContaining({ kind: 'status', id: ok.body.messages[0].id, status: 200 }),
      ]);
    }));

  describe('business-scoped user IDs (SPEC §11)', () => {
    const BSUID = 'BR.1502576394655843';
    const bsuidBody = (recipient: unknown, body: string, extra: Record<string, unknown> = {}) => {
      const { to: _to, ...rest } = textBody('x', body, extra);
      return { ...rest, recipient };
    };

    it('sends to `recipient` instead of `to`: answers contacts [{input, user_id}] and records the BSUID as `to` and `recipient`', async () => {
      const res = await send(bsuidBody(BSUID, 'Olá, sem telefone'));
      expect(res).toEqual({
        status: 200,
        body: { messaging_product: 'whatsapp', contacts: [{ input: BSUID, user_id: BSUID }], messages: [{ id: expect.stringMatching(/^wamid\./) }] },
      });
      expect(wa.sent()).toEqual([
        { id: res.body.messages[0].id, phoneNumberId: '106540352242922', version: 'v21.0', to: BSUID, recipient: BSUID, text: 'Olá, sem telefone', at: expect.any(Number) },
      ]);
      expect(await wa.waitForSent(1, (s) => s.recipient === BSUID)).toHaveLength(1);
    });

    it('with both `to` and `recipient`, the phone wins (as at Meta): answers wa_id, records the phone as `to` and the recipient', async () => {
      const res = await send(textBody('5511900000050', 'os dois', { recipient: BSUID }));
      expect(res.body.contacts).toEqual([{ input: '5511900000050', wa_id: '5511900000050' }]);
      expect(wa.sent()).toEqual([expect.objectContaining({ to: '5511900000050', recipient: BSUID })]);
    });

    it('needs `to` or a business-scoped user ID in `recipient` (code 100)', async () => {
      for (const body of [bsuidBody(undefined, 'x'), bsuidBody('', 'x'), bsuidBody('5511900000051', 'x'), bsuidBody(42, 'x'), bsuidBody('br.123', 'x'), textBody('5511900000051', 'x', { recipient: 'nope' })]) {
        const res = await send(body);
        expect(res.status, JSON.stringify(body)).toBe(400);
        expect(res.body.error).toMatchObject({ code: 100, error_data: { details: expect.stringMatching(/to|recipient/) } });
      }
      expect(wa.sent()).toEqual([]);
      // A parent BSUID has one more part.
      expect((await send(bsuidBody('US.ENT.11815799212886844830', 'x'))).status).toBe(200);
    });

    it('status webhooks of a send to a BSUID carry recipient_user_id and no recipient_id; reportStatus too', () =>
      withWebhooks(async (emulator, emulatorUrl, receiver) => {
        emulator.webhookUrl = `${receiver.url}/webhooks/wa`;
        emulator.statusWebhooks = true;
        const res = await call(`${emulatorUrl}/v21.0/106540352242922/messages`, { body: bsuidBody(BSUID, 'oi') });
        const sentId: string = res.body.messages[0].id;
        const [sent] = await receiver.arrived(1);
        expect(failedStatusOf(sent!)).toEqual({ id: sentId, status: 'sent', timestamp: expect.stringMatching(/^\d+$/), recipient_user_id: BSUID });
        await emulator.reportStatus(sentId, 'failed', 131047);
        const [, failed] = await receiver.arrived(2);
        expect(failedStatusOf(failed!)).toMatchObject({ id: sentId, status: 'failed', recipient_user_id: BSUID, errors: [expect.objectContaining({ code: 131047 })] });
        expect(failedStatusOf(failed!)).not.toHaveProperty('recipient_id');
      }));

    it('appSend to a BSUID posts an echo with to_user_id (and `to` only when the phone is given)', () =>
      withWebhooks(async (emulator, _emulatorUrl, receiver) => {
        emulator.webhookUrl = `${receiver.url}/webhooks/wa`;
        const onlyId = await emulator.appSend({ userId: BSUID }, 'do app');
        const bothId = await emulator.appSend({ phone: '5511900000052', userId: BSUID }, 'do app de novo');
        const [only, both] = await receiver.arrived(2);
        const echoOf = (delivery: Delivery) => delivery.body.entry[0].changes[0].value.message_echoes[0];
        expect(echoOf(only!)).toEqual({ from: expect.stringMatching(/^\d+$/), to_user_id: BSUID, id: onlyId, timestamp: expect.any(String), type: 'text', text: { body: 'do app' } });
        expect(echoOf(both!)).toMatchObject({ to: '5511900000052', to_user_id: BSUID, id: bothId });
      }, { phoneNumberId: '106540352242922' }));
  });

  it('records a status webhook that could not be delivered, and still answers the send', async () => {
    const broken = new WhatsappEmulator({ webhookUrl: await deadUrl(), statusWebhooks: true });
    const emulatorUrl = await broken.start(0);
    try {
      expect((await call(`${emulatorUrl}/v21.0/1/messages`, { body: textBody('5511900000009', 'oi') })).status).toBe(200);
      const [result] = await broken.waitForStatusDeliveries(1);
      expect(result!.status).toBeUndefined();
      expect(result!.error).toEqual(expect.any(String));
    } finally {
      await broken.close();
    }
  });
});

describe('Meta webhook helpers', () => {
  it('metaSignature is the hex HMAC-SHA256 of the raw bytes', () => {
    // RFC-style known vector (key "key", the quick brown fox).
    expect(metaSignature('key', 'The quick brown fox jumps over the lazy dog')).toBe('sha256=f7bc83f430538424b13298e6aa6fb143ef4d59a14946175997479dbc2d1a3cd8');
    const raw = '{"object":"whatsapp_business_account","texto":"ação \\u00e9"}';
    expect(metaSignature('s3cret', raw)).toBe(hmac('s3cret', raw));
    expect(metaSignature('s3cret', Buffer.from(raw))).toBe(hmac('s3cret', raw));
    expect(metaSignature('other', raw)).not.toBe(hmac('s3cret', raw));
  });

  it('builds the envelope as Meta sends it, contacts named after each sender', () => {
    const message = metaText('5511900000001', 'Olá');
    expect(message).toEqual({ from: '5511900000001', id: expect.stringMatching(/^wamid\./), timestamp: expect.stringMatching(/^\d{10}$/), type: 'text', text: { body: 'Olá' } });
    expect(metaEnvelope({ phoneNumberId: '106540352242922', displayPhoneNumber: '15550783881', wabaId: 'WABA', messages: [message] })).toEqual({
      object: 'whatsapp_business_account',
      entry: [
        {
          id: 'WABA',
          changes: [
            {
              field: 'messages',
              value: {
                messaging_product: 'whatsapp',
                metadata: { display_phone_number: '15550783881', phone_number_id: '106540352242922' },
                contacts: [{ profile: { name: 'Cliente 0001' }, wa_id: '5511900000001' }],
                messages: [message],
              },
            },
          ],
        },
      ],
    });
    const named = metaEnvelope({ phoneNumberId: '1', messages: [message], contacts: [{ wa_id: '5511900000001', name: 'Maria' }] }) as any;
    expect(named.entry[0].changes[0].value.contacts).toEqual([{ profile: { name: 'Maria' }, wa_id: '5511900000001' }]);
  });

  it('leaves messages and contacts out of a status-only delivery', () => {
    const status = metaStatus('wamid.X', '5511900000001', 'delivered');
    expect(status).toEqual({ id: 'wamid.X', status: 'delivered', timestamp: expect.stringMatching(/^\d+$/), recipient_id: '5511900000001' });
    const value = (metaEnvelope({ phoneNumberId: '1', messages: [], statuses: [status] }) as any).entry[0].changes[0].value;
    expect(Object.keys(value)).toEqual(['messaging_product', 'metadata', 'statuses']);
    expect(metaStatus('wamid.Y', '5511900000001', 'failed').errors).toEqual([expect.objectContaining({ code: expect.any(Number) })]);
  });

  it('builds each inbound message type with its own object and a unique wamid', () => {
    const from = '5511900000002';
    expect(metaButtonReply(from, 'Sim')).toMatchObject({ type: 'interactive', interactive: { type: 'button_reply', button_reply: { id: expect.any(String), title: 'Sim' } }, context: { from: expect.any(String), id: expect.stringMatching(/^wamid\./) } });
    expect(metaListReply(from, 'Plano B')).toMatchObject({ type: 'interactive', interactive: { type: 'list_reply', list_reply: { id: expect.any(String), title: 'Plano B' } } });
    expect(metaButton(from, 'Quero')).toMatchObject({ type: 'button', button: { text: 'Quero', payload: 'Quero' } });
    expect(metaImage(from, 'foto')).toMatchObject({ type: 'image', image: { caption: 'foto', mime_type: 'image/jpeg', sha256: expect.any(String), id: expect.any(String) } });
    expect(metaImage(from).image).not.toHaveProperty('caption');
    expect(metaVideo(from, 'vídeo')).toMatchObject({ type: 'video', video: { caption: 'vídeo', mime_type: 'video/mp4' } });
    expect(metaDocument(from, 'nota', 'nota.pdf')).toMatchObject({ type: 'document', document: { caption: 'nota', filename: 'nota.pdf', mime_type: 'application/pdf' } });
    expect(metaAudio(from)).toMatchObject({ type: 'audio', audio: { mime_type: expect.stringContaining('audio/ogg'), voice: true, id: expect.any(String), url: expect.any(String) } });
    expect(metaSticker(from)).toMatchObject({ type: 'sticker', sticker: { mime_type: 'image/webp' } });
    expect(metaLocation(from)).toMatchObject({ type: 'location', location: { latitude: expect.any(Number), longitude: expect.any(Number) } });
    expect(metaReaction(from, '👍', 'wamid.ORIG')).toMatchObject({ type: 'reaction', reaction: { message_id: 'wamid.ORIG', emoji: '👍' } });
    expect(metaText(from, 'x', 'wamid.FIXED').id).toBe('wamid.FIXED');
    const ids = new Set(Array.from({ length: 50 }, () => metaText(from, 'x').id));
    expect(ids.size).toBe(50);
  });

  it('builds edits, deletions, failed statuses with a given code, and WhatsApp Business app echoes as Meta does', () => {
    const from = '5511900000004';
    expect(metaEdit(from, 'wamid.ORIG', 'corrigido')).toEqual({
      from,
      id: expect.stringMatching(/^wamid\./),
      timestamp: expect.stringMatching(/^\d{10}$/),
      type: 'edit',
      edit: { original_message_id: 'wamid.ORIG', message: { type: 'text', text: { body: 'corrigido' } } },
    });
    expect(metaRevoke(from, 'wamid.ORIG', 'wamid.R')).toEqual({
      from,
      id: 'wamid.R',
      timestamp: expect.any(String),
      type: 'revoke',
      revoke: { original_message_id: 'wamid.ORIG' },
    });
    expect(metaStatus('wamid.F', from, 'failed', 131047).errors).toEqual([
      { code: 131047, title: 'Re-engagement message', message: 'Re-engagement message', error_data: { details: expect.stringContaining('24 hours') } },
    ]);
    expect(metaStatus('wamid.F', from, 'failed').errors).toEqual([expect.objectContaining({ code: 131026, title: 'Message undeliverable' })]);
    expect(metaStatus('wamid.S', from, 'sent', 131047)).not.toHaveProperty('errors');
    const echo = metaEcho(from, 'do app', 'wamid.E');
    expect(echo).toEqual({
      from: expect.stringMatching(/^\d+$/),
      to: from,
      id: 'wamid.E',
      timestamp: expect.stringMatching(/^\d{10}$/),
      type: 'text',
      text: { body: 'do app' },
    });
    const revokedFromApp = metaEchoOf(from, metaRevoke('15550001234', 'wamid.E'));
    expect(revokedFromApp).toMatchObject({ from: '15550001234', to: from, type: 'revoke', revoke: { original_message_id: 'wamid.E' } });
    expect(metaEchoEnvelope({ phoneNumberId: '106540352242922', wabaId: 'WABA', echoes: [echo] })).toEqual({
      object: 'whatsapp_business_account',
      entry: [
        {
          id: 'WABA',
          changes: [
            {
              field: 'smb_message_echoes',
              value: {
                messaging_product: 'whatsapp',
                metadata: { display_phone_number: expect.any(String), phone_number_id: '106540352242922' },
                message_echoes: [echo],
              },
            },
          ],
        },
      ],
    });
  });

  it('deliverMetaWebhook signs exactly the bytes it sends, unicode-escaped as Meta does', async () => {
    const receiver = await startReceiver();
    try {
      const payload = metaEnvelope({ phoneNumberId: '1', messages: [metaText('5511900000003', 'Ação às 10h 😀 https://x.y/z')] });
      const answer = await deliverMetaWebhook(`${receiver.url}/webhooks/wa`, payload, 'secret', { 'x-extra': 'yes' });
      expect(answer).toEqual({ status: 200, body: { status: 'accepted' } });
      const [delivery] = await receiver.arrived(1);
      const raw = delivery!.raw.toString('utf8');
      expect(delivery!.headers['content-type']).toBe('application/json');
      expect(delivery!.headers['x-extra']).toBe('yes');
      expect(delivery!.headers['x-hub-signature-256']).toBe(hmac('secret', delivery!.raw));
      expect(raw).toContain('A\\u00e7\\u00e3o \\u00e0s 10h \\ud83d\\ude00 https:\\/\\/x.y\\/z');
      expect(/[^\x00-\x7f]/.test(raw)).toBe(false);
      expect(delivery!.body).toEqual(payload);
      // Re-serializing the parsed body gives other bytes, hence another signature.
      expect(hmac('secret', JSON.stringify(delivery!.body))).not.toBe(delivery!.headers['x-hub-signature-256']);
    } finally {
      await receiver.close();
    }
  });

  it('builds BSUID customers: from_user_id next to from, or alone; contacts with user_id; statuses and echoes to a BSUID', () => {
    const bsuid = 'BR.1502576394655843';
    expect(metaText({ phone: '5511900000060', userId: bsuid }, 'oi')).toEqual({
      from: '5511900000060',
      from_user_id: bsuid,
      id: expect.stringMatching(/^wamid\./),
      timestamp: expect.stringMatching(/^\d{10}$/),
      type: 'text',
      text: { body: 'oi' },
    });
    const hidden = metaImage({ userId: bsuid }, 'foto');
    expect(hidden).toMatchObject({ from_user_id: bsuid, type: 'image', image: { caption: 'foto' } });
    expect(hidden).not.toHaveProperty('from');
    const value = (metaEnvelope({ phoneNumberId: '1', messages: [hidden, metaText({ phone: '5511900000060', userId: 'BR.42' }, 'x')] }) as any).entry[0].changes[0].value;
    expect(value.contacts).toEqual([
      { profile: { name: 'Cliente 5843' }, user_id: bsuid },
      { profile: { name: 'Cliente 0060' }, wa_id: '5511900000060', user_id: 'BR.42' },
    ]);
    expect(metaStatus('wamid.S', { userId: bsuid }, 'read')).toEqual({ id: 'wamid.S', status: 'read', timestamp: expect.any(String), recipient_user_id: bsuid });
    expect(metaStatus('wamid.S', { phone: '5511900000060', userId: bsuid }, 'read')).toMatchObject({ recipient_id: '5511900000060', recipient_user_id: bsuid });
    const echo = metaEcho({ userId: bsuid }, 'do app', 'wamid.E');
    expect(echo).toEqual({ from: expect.stringMatching(/^\d+$/), to_user_id: bsuid, id: 'wamid.E', timestamp: expect.any(String), type: 'text', text: { body: 'do app' } });
    expect(metaEchoOf({ phone: '5511900000060', userId: bsuid }, metaText({ phone: '15550001234', userId: 'BR.1' }, 'x'))).toMatchObject({ to: '5511900000060', to_user_id: bsuid });
    expect(metaEchoOf('5511900000060', metaText({ phone: '15550001234', userId: 'BR.1' }, 'x'))).not.toHaveProperty('from_user_id');
    // Contacts given with statuses only: the contacts Meta lists next to sent, delivered and read statuses.
    const statusValue = (metaEnvelope({ phoneNumberId: '1', statuses: [metaStatus('wamid.S', '5511900000060', 'read')], contacts: [{ wa_id: '5511900000060', user_id: bsuid, name: 'Rita' }] }) as any)
      .entry[0].changes[0].value;
    expect(statusValue.contacts).toEqual([{ profile: { name: 'Rita' }, wa_id: '5511900000060', user_id: bsuid }]);
    expect(() => metaText({}, 'x')).toThrow(/phone or a userId/);
  });

  it('verifyChallengeUrl builds the subscription check', () => {
    const url = new URL(verifyChallengeUrl('http://127.0.0.1:3000/webhooks/vendas-wa', 'my token', 1158201444));
    expect(url.pathname).toBe('/webhooks/vendas-wa');
    expect(Object.fromEntries(url.searchParams)).toEqual({ 'hub.mode': 'subscribe', 'hub.verify_token': 'my token', 'hub.challenge': '1158201444' });
  });
});

/** The echo cases are the same for Evolution and Z-API: only the wire format differs. */
interface EchoTarget {
  name: string;
  create(webhookUrl: string, echo: EchoMode): {
    start(): Promise<string>;
    close(): Promise<void>;
    echoes(): { kind: string; id: string; status?: number; error?: string }[];
    waitForEchoes(count: number): Promise<unknown[]>;
    phoneSend(phone: string, text: string): Promise<string>;
    echoDelayMs: number;
    inject(route: string, ...faults: Fault[]): unknown;
  };
  /** The send route's name, for fault injection. */
  route: string;
  /** Sends `text` to `phone`; resolves with the HTTP status and the returned message id. */
  send(baseUrl: string, phone: string, text: string): Promise<{ status: number; id: string }>;
  /** The message id, phone, text and fromMe of an echo delivery. */
  read(body: any): { id: string; phone: string; text: string; fromMe: boolean };
}

const echoTargets: EchoTarget[] = [
  {
    name: 'Evolution',
    route: 'sendText',
    create: (webhookUrl, echo) => new EvolutionEmulator({ apiKey: 'k', webhookUrl, echo, webhookHeaders: { authorization: 'Bearer evo-hook' } }),
    send: async (baseUrl, phone, text) => {
      const res = await call(`${baseUrl}/message/sendText/loja`, { headers: { apikey: 'k' }, body: { number: phone, text } });
      return { status: res.status, id: res.body.key.id };
    },
    read: (body) => ({ id: body.data.key.id, phone: body.data.key.remoteJid.split('@')[0], text: body.data.message.conversation, fromMe: body.data.key.fromMe }),
  },
  {
    name: 'Z-API',
    route: 'send-text',
    create: (webhookUrl, echo) => new ZapiEmulator({ clientToken: 'c', webhookUrl, echo }),
    send: async (baseUrl, phone, text) => {
      const res = await call(`${baseUrl}/instances/INST/token/TOK/send-text`, { headers: { 'client-token': 'c' }, body: { phone, message: text } });
      return { status: res.status, id: res.body.messageId };
    },
    read: (body) => ({ id: body.messageId, phone: body.phone, text: body.text.message, fromMe: body.fromMe }),
  },
];

describe.each(echoTargets)('$name echo of sent messages', (target) => {
  let receiver: Receiver;
  beforeEach(async () => {
    receiver = await startReceiver();
    return () => receiver.close();
  });

  async function withEmulator(echo: EchoMode, run: (emulator: ReturnType<EchoTarget['create']>, baseUrl: string) => Promise<void>): Promise<void> {
    const emulator = target.create(`${receiver.url}/webhooks/loja?token=hook-token`, echo);
    const baseUrl = await emulator.start();
    try {
      await run(emulator, baseUrl);
    } finally {
      await emulator.close();
    }
  }

  it("'after': answers the send without waiting for the echo, which follows with the same id and fromMe", () =>
    withEmulator('after', async (emulator, baseUrl) => {
      const release = receiver.hold();
      // Resolves although the receiver holds its answer: the echo is not awaited.
      const sent = await target.send(baseUrl, '5511900000010', 'Resposta do bot');
      expect(sent.status).toBeLessThan(300);
      const [delivery] = await receiver.arrived(1);
      expect(delivery!.url).toBe('/webhooks/loja?token=hook-token');
      expect(target.read(delivery!.body)).toEqual({ id: sent.id, phone: '5511900000010', text: 'Resposta do bot', fromMe: true });
      expect(emulator.echoes()).toEqual([]);
      release();
      await emulator.waitForEchoes(1);
      expect(emulator.echoes()).toEqual([expect.objectContaining({ kind: 'echo', id: sent.id, status: 200 })]);
    }));

  it("'before': the echo reaches the product and is answered before the send call returns", () =>
    withEmulator('before', async (emulator, baseUrl) => {
      const release = receiver.hold();
      const sending = track(target.send(baseUrl, '5511900000011', 'Primeiro'));
      const [delivery] = await receiver.arrived(1);
      expect(sending.settled()).toBe(false);
      const echoed = target.read(delivery!.body);
      release();
      const sent = await sending.promise;
      expect(sent.status).toBeLessThan(300);
      expect(echoed).toEqual({ id: sent.id, phone: '5511900000011', text: 'Primeiro', fromMe: true });
      // Recorded before the answer, so already there.
      expect(emulator.echoes()).toEqual([expect.objectContaining({ kind: 'echo', id: sent.id, status: 200 })]);
    }));

  it("'off': posts no echo (the next webhook is the phone's)", () =>
    withEmulator('off', async (emulator, baseUrl) => {
      const sent = await target.send(baseUrl, '5511900000012', 'Sem eco');
      const phoneId = await emulator.phoneSend('5511900000012', 'Do celular');
      expect(receiver.deliveries).toHaveLength(1);
      expect(target.read(receiver.deliveries[0]!.body)).toEqual({ id: phoneId, phone: '5511900000012', text: 'Do celular', fromMe: true });
      expect(phoneId).not.toBe(sent.id);
      expect(emulator.echoes().map((e) => e.kind)).toEqual(['phone']);
    }));

  it('phoneSend posts a fromMe message with an id no send returned', () =>
    withEmulator('after', async (emulator, baseUrl) => {
      const sent = await target.send(baseUrl, '5511900000013', 'Bot');
      await receiver.arrived(1);
      const phoneId = await emulator.phoneSend('5511900000013', 'Atendente aqui');
      const deliveries = await receiver.arrived(2);
      const fromPhone = deliveries.map((d) => target.read(d.body)).find((d) => d.id === phoneId);
      expect(fromPhone).toEqual({ id: phoneId, phone: '5511900000013', text: 'Atendente aqui', fromMe: true });
      expect(phoneId).not.toBe(sent.id);
      expect(phoneId).toMatch(/^[0-9A-F]{32}$/);
    }));

  it("'late': the echo is posted echoDelayMs after the send was applied, so an answer delayed less comes first", () =>
    withEmulator('late', async (emulator, baseUrl) => {
      emulator.echoDelayMs = 500;
      emulator.inject(target.route, { applyThenDelayMs: 50 });
      const sending = track(target.send(baseUrl, '5511900000015', 'Eco atrasado'));
      const [delivery] = await receiver.arrived(1);
      // Order, not durations: the answer was already in when the echo arrived.
      expect(sending.settled()).toBe(true);
      const sent = await sending.promise;
      expect(target.read(delivery!.body)).toEqual({ id: sent.id, phone: '5511900000015', text: 'Eco atrasado', fromMe: true });
      expect(await emulator.waitForEchoes(1)).toEqual([expect.objectContaining({ kind: 'echo', id: sent.id, status: 200 })]);
    }));

  it("'late': independent of the answer — an answer delayed longer than echoDelayMs comes after the echo (the client timed out, the echo is in)", () =>
    withEmulator('late', async (emulator, baseUrl) => {
      emulator.echoDelayMs = 0;
      emulator.inject(target.route, { applyThenDelayMs: 500 });
      const sending = track(target.send(baseUrl, '5511900000016', 'Eco antes da resposta'));
      const [delivery] = await receiver.arrived(1);
      expect(sending.settled()).toBe(false);
      const sent = await sending.promise;
      expect(sent.status).toBeLessThan(300);
      expect(target.read(delivery!.body).id).toBe(sent.id);
    }));

  it('an echo that cannot be delivered is recorded, and the send still succeeds', async () => {
    const emulator = target.create(await deadUrl(), 'before');
    const baseUrl = await emulator.start();
    try {
      const sent = await target.send(baseUrl, '5511900000014', 'x');
      expect(sent.status).toBeLessThan(300);
      expect(emulator.echoes()).toEqual([expect.objectContaining({ kind: 'echo', id: sent.id, error: expect.any(String) })]);
    } finally {
      await emulator.close();
    }
  });
});

describe('EvolutionEmulator', () => {
  const evo = new EvolutionEmulator({ apiKey: 'evo-key', instances: ['loja', 'filial'] });
  let url = '';
  const sendText = (instance: string, body: unknown, apikey = 'evo-key') => call(`${url}/message/sendText/${instance}`, { headers: { apikey }, body });

  beforeAll(async () => {
    url = await evo.start(0);
  });
  afterAll(() => evo.close());
  beforeEach(() => evo.reset());

  it('answers 201 with the sent message, as Evolution does', async () => {
    const res = await sendText('loja', { number: '5511900000020', text: 'Olá' });
    expect(res).toEqual({
      status: 201,
      body: {
        key: { remoteJid: '5511900000020@s.whatsapp.net', fromMe: true, id: expect.stringMatching(/^3EB0[0-9A-F]{20}$/) },
        pushName: '',
        status: 'PENDING',
        message: { conversation: 'Olá' },
        messageType: 'conversation',
        messageTimestamp: expect.any(Number),
        instanceId: expect.stringMatching(/^[0-9a-f-]{36}$/),
        source: 'unknown',
      },
    });
    expect(Math.abs(res.body.messageTimestamp - Date.now() / 1000)).toBeLessThan(60);
    expect(evo.sent()).toEqual([{ id: res.body.key.id, instance: 'loja', number: '5511900000020', remoteJid: '5511900000020@s.whatsapp.net', text: 'Olá', at: expect.any(Number) }]);
    const jid = await sendText('filial', { number: '5511900000020@s.whatsapp.net', text: 'JID' });
    expect(jid.body.key.remoteJid).toBe('5511900000020@s.whatsapp.net');
    expect(jid.body.instanceId).not.toBe(res.body.instanceId);
  });

  it('answers 401 for a wrong or missing apikey', async () => {
    const expected = { status: 401, body: { status: 401, error: 'Unauthorized', response: { message: 'Unauthorized' } } };
    expect(await sendText('loja', { number: '5511900000021', text: 'x' }, 'wrong')).toEqual(expected);
    expect(await call(`${url}/message/sendText/loja`, { body: { number: '5511900000021', text: 'x' } })).toEqual(expected);
    expect(evo.sent()).toEqual([]);
  });

  it('answers 404 for an unknown instance', async () => {
    expect(await sendText('outra', { number: '5511900000022', text: 'x' })).toEqual({
      status: 404,
      body: { status: 404, error: 'Not Found', response: { message: ['The "outra" instance does not exist'] } },
    });
  });

  it('answers 400 for a missing or malformed number or text', async () => {
    for (const body of [{}, { number: '5511900000023' }, { text: 'x' }, { number: '+55 11 90000-0023', text: 'x' }, { number: 5511900000023, text: 'x' }, { number: '5511900000023', text: '' }]) {
      const res = await sendText('loja', body);
      expect(res.status, JSON.stringify(body)).toBe(400);
      expect(res.body).toEqual({ status: 400, error: 'Bad Request', response: { message: [expect.arrayContaining([expect.any(String)])] } });
    }
    expect((await sendText('loja', { number: '5511900000023' })).body.response.message).toEqual([['instance requires property "text"']]);
    expect(evo.sent()).toEqual([]);
  });

  it('answers an injected fault, then succeeds; waitForSent sees only accepted sends', async () => {
    evo.inject('sendText', { status: 500, body: { status: 500, error: 'Internal Server Error', response: { message: 'Connection Closed' } } });
    const waiting = evo.waitForSent(1, (s) => s.number === '5511900000024');
    expect((await sendText('loja', { number: '5511900000024', text: 'x' })).status).toBe(500);
    expect(evo.sent()).toEqual([]);
    const ok = await sendText('loja', { number: '5511900000024', text: 'x' });
    expect(ok.status).toBe(201);
    expect((await waiting).map((s) => s.id)).toEqual([ok.body.key.id]);
  });

  it('sends the echo with the instance’s custom headers', async () => {
    const receiver = await startReceiver();
    const echoing = new EvolutionEmulator({ webhookUrl: `${receiver.url}/webhooks/loja-evo`, webhookHeaders: { authorization: 'Bearer evo-hook' } });
    const echoUrl = await echoing.start(0);
    try {
      const res = await call(`${echoUrl}/message/sendText/loja`, { body: { number: '5511900000025', text: 'eco' } });
      const [delivery] = await receiver.arrived(1);
      expect(delivery!.headers.authorization).toBe('Bearer evo-hook');
      expect(delivery!.body).toEqual({
        event: 'messages.upsert',
        instance: 'loja',
        data: {
          key: { remoteJid: '5511900000025@s.whatsapp.net', fromMe: true, id: res.body.key.id },
          pushName: expect.any(String),
          status: expect.any(String),
          message: { conversation: 'eco' },
          messageType: 'conversation',
          messageTimestamp: expect.any(Number),
          instanceId: res.body.instanceId,
          source: expect.any(String),
        },
        destination: `${receiver.url}/webhooks/loja-evo`,
        date_time: expect.any(String),
        sender: expect.stringMatching(/@s\.whatsapp\.net$/),
        server_url: echoUrl,
        apikey: expect.any(String),
      });
    } finally {
      await echoing.close();
      await receiver.close();
    }
  });

  it('sends to a LID (number <digits>@lid): answers and echoes with remoteJid <digits>@lid; phoneSend to a LID carries only the LID', async () => {
    const receiver = await startReceiver();
    const echoing = new EvolutionEmulator({ webhookUrl: `${receiver.url}/webhooks/loja-evo` });
    const echoUrl = await echoing.start(0);
    try {
      const res = await call(`${echoUrl}/message/sendText/loja`, { body: { number: '214955124957347@lid', text: 'para o LID' } });
      expect(res.status).toBe(201);
      expect(res.body.key).toEqual({ remoteJid: '214955124957347@lid', fromMe: true, id: expect.any(String) });
      expect(echoing.sent()).toEqual([expect.objectContaining({ number: '214955124957347@lid', remoteJid: '214955124957347@lid', text: 'para o LID' })]);
      const [echo] = await receiver.arrived(1);
      expect(echo!.body.data.key).toEqual({ remoteJid: '214955124957347@lid', fromMe: true, id: res.body.key.id, addressingMode: 'lid' });
      const phoneId = await echoing.phoneSend('214955124957347@lid', 'do celular');
      const [, typed] = await receiver.arrived(2);
      expect(typed!.body.data.key).toEqual({ remoteJid: '214955124957347@lid', fromMe: true, id: phoneId, addressingMode: 'lid' });
      expect(typed!.body.data.message).toEqual({ conversation: 'do celular' });
    } finally {
      await echoing.close();
      await receiver.close();
    }
  });

  it('answers 400 for a LID number that is not <digits>@lid', async () => {
    for (const number of ['abc@lid', '214955124957347@lid.x', '@lid']) {
      expect((await sendText('loja', { number, text: 'x' })).status, number).toBe(400);
    }
    expect(evo.sent()).toEqual([]);
  });

  it('builds messages.upsert envelopes for each content type', () => {
    const text = evolutionUpsert({ instance: 'loja', phone: '5511900000026', text: 'oi', pushName: 'Maria' }) as any;
    expect(text).toEqual({
      event: 'messages.upsert',
      instance: 'loja',
      data: {
        key: { remoteJid: '5511900000026@s.whatsapp.net', fromMe: false, id: expect.stringMatching(/^[0-9A-F]{32}$/) },
        pushName: 'Maria',
        status: 'DELIVERY_ACK',
        message: { conversation: 'oi' },
        messageType: 'conversation',
        messageTimestamp: expect.any(Number),
        instanceId: expect.any(String),
        source: 'android',
      },
      destination: expect.any(String),
      date_time: expect.stringMatching(/^\d{4}-\d\d-\d\dT/),
      sender: expect.any(String),
      server_url: expect.any(String),
      apikey: expect.any(String),
    });
    const data = (options: Omit<Parameters<typeof evolutionUpsert>[0], 'instance'>) => (evolutionUpsert({ instance: 'loja', ...options }) as any).data;
    expect(data({ phone: '1', extendedText: 'longo' })).toMatchObject({ message: { extendedTextMessage: { text: 'longo' } }, messageType: 'extendedTextMessage' });
    expect(data({ phone: '1', imageCaption: 'foto' })).toMatchObject({ message: { imageMessage: { caption: 'foto', mimetype: 'image/jpeg', url: expect.any(String) } }, messageType: 'imageMessage' });
    expect(data({ phone: '1', image: true }).message.imageMessage).not.toHaveProperty('caption');
    expect(data({ phone: '1', videoCaption: 'vid' })).toMatchObject({ message: { videoMessage: { caption: 'vid' } }, messageType: 'videoMessage' });
    expect(data({ phone: '1', audio: true })).toMatchObject({ message: { audioMessage: { mimetype: expect.stringContaining('audio/') } }, messageType: 'audioMessage' });
    expect(data({ phone: '1', sticker: true })).toMatchObject({ message: { stickerMessage: { mimetype: 'image/webp' } }, messageType: 'stickerMessage' });
    expect(data({ remoteJid: '120363000000000000@g.us', participant: '5511900000027@s.whatsapp.net', id: 'ABC', fromMe: true }).key).toEqual({
      remoteJid: '120363000000000000@g.us',
      fromMe: true,
      id: 'ABC',
      participant: '5511900000027@s.whatsapp.net',
    });
    expect(() => evolutionUpsert({ instance: 'loja' })).toThrow(/remoteJid or phone/);
    expect(evolutionEvent('connection.update', 'loja', { state: 'open' })).toMatchObject({ event: 'connection.update', instance: 'loja', data: { state: 'open' }, date_time: expect.any(String) });
  });

  it('builds document captions, button and list replies, LIDs, reactions, edits and deletes as Baileys shapes them', () => {
    const data = (options: Omit<Parameters<typeof evolutionUpsert>[0], 'instance'>) =>
      (evolutionUpsert({ instance: 'loja', phone: '5511900000029', ...options }) as any).data;
    expect(data({ documentCaption: 'boleto' })).toMatchObject({
      message: { documentMessage: { caption: 'boleto', mimetype: 'application/pdf', fileName: expect.any(String) } },
      messageType: 'documentMessage',
    });
    expect(data({ document: true }).message.documentMessage).not.toHaveProperty('caption');
    expect(data({ documentWithCaption: 'nota' })).toMatchObject({
      message: { documentWithCaptionMessage: { message: { documentMessage: { caption: 'nota', mimetype: 'application/pdf' } } } },
      messageType: 'documentWithCaptionMessage',
    });
    expect(data({ buttonReply: 'Sim' })).toMatchObject({
      message: { buttonsResponseMessage: { selectedDisplayText: 'Sim', selectedButtonId: expect.any(String) } },
      messageType: 'buttonsResponseMessage',
    });
    expect(data({ listReply: 'Plano Ouro' })).toMatchObject({
      message: { listResponseMessage: { title: 'Plano Ouro', singleSelectReply: { selectedRowId: expect.any(String) } } },
      messageType: 'listResponseMessage',
    });
    expect(data({ reaction: { emoji: '👍', messageId: '3EB0X' } })).toMatchObject({
      message: { reactionMessage: { key: { id: '3EB0X' }, text: '👍' } },
      messageType: 'reactionMessage',
    });
    expect(data({ edited: { messageId: '3EB0X', text: 'novo' } })).toMatchObject({
      message: { editedMessage: { message: { protocolMessage: { key: { id: '3EB0X' }, type: 'MESSAGE_EDIT', editedMessage: { conversation: 'novo' } } } } },
      messageType: 'editedMessage',
    });
    expect(data({ revoked: '3EB0X' })).toMatchObject({
      message: { protocolMessage: { key: { id: '3EB0X' }, type: 'REVOKE' } },
      messageType: 'protocolMessage',
    });
    const lid = (options: Omit<Parameters<typeof evolutionUpsert>[0], 'instance'>) => (evolutionUpsert({ instance: 'loja', ...options }) as any).data;
    expect(lid({ lid: '214955124957347' }).key).toEqual({ remoteJid: '214955124957347@lid', fromMe: false, id: expect.any(String), addressingMode: 'lid' });
    expect(lid({ lid: '214955124957347', phone: '5511900000029' }).key).toMatchObject({
      remoteJid: '214955124957347@lid',
      remoteJidAlt: '5511900000029@s.whatsapp.net',
    });
    expect(lid({ lid: '214955124957347', phone: '5511900000029', lidPhoneField: 'senderPn' }).key).toMatchObject({ senderPn: '5511900000029@s.whatsapp.net' });
    expect(lid({ lid: '214955124957347', phone: '5511900000029' }).pushName).toBe('Cliente 0029');
    // Baileys 7 marks which address is the chat; a phone-addressed message carries the LID next to it.
    expect(lid({ lid: '214955124957347', phone: '5511900000029', addressingMode: 'pn' }).key).toEqual({
      remoteJid: '5511900000029@s.whatsapp.net',
      fromMe: false,
      id: expect.any(String),
      remoteJidAlt: '214955124957347@lid',
      addressingMode: 'pn',
    });
    expect(lid({ lid: '214955124957347', phone: '5511900000029', addressingMode: 'pn', lidPhoneField: 'senderLid' }).key).toMatchObject({ senderLid: '214955124957347@lid' });
    expect(() => lid({ lid: '214955124957347', phone: '5511900000029', addressingMode: 'pn', lidPhoneField: 'senderPn' })).toThrow(/senderPn/);
    expect(() => lid({ lid: '214955124957347', phone: '5511900000029', lidPhoneField: 'senderLid' })).toThrow(/senderLid/);
    expect(() => lid({ lid: '214955124957347', addressingMode: 'pn' })).toThrow(/needs phone and lid/);
  });

  it('deliverEvolutionWebhook posts the JSON with the given headers', async () => {
    const receiver = await startReceiver();
    try {
      const payload = evolutionUpsert({ instance: 'loja', phone: '5511900000028', text: 'oi' });
      expect(await deliverEvolutionWebhook(`${receiver.url}/webhooks/loja-evo`, payload, { authorization: 'Bearer t' })).toEqual({ status: 200, body: { status: 'accepted' } });
      const [delivery] = await receiver.arrived(1);
      expect(delivery!.headers).toMatchObject({ authorization: 'Bearer t', 'content-type': 'application/json' });
      expect(delivery!.body).toEqual(payload);
    } finally {
      await receiver.close();
    }
  });
});

describe('ZapiEmulator', () => {
  const zapi = new ZapiEmulator({ clientToken: 'client-token', instanceId: 'INST123', instanceToken: 'TOK456' });
  let url = '';
  const sendText = (body: unknown, clientToken = 'client-token', path = '/instances/INST123/token/TOK456/send-text') =>
    call(`${url}${path}`, { headers: { 'client-token': clientToken }, body });

  beforeAll(async () => {
    url = await zapi.start(0);
  });
  afterAll(() => zapi.close());
  beforeEach(() => zapi.reset());

  it('answers {zaapId, messageId, id}', async () => {
    const res = await sendText({ phone: '5511900000030', message: 'Olá' });
    expect(res).toEqual({
      status: 200,
      body: { zaapId: expect.stringMatching(/^[0-9A-F]{32}$/), messageId: expect.stringMatching(/^[0-9A-F]{32}$/), id: res.body.messageId },
    });
    expect(res.body.zaapId).not.toBe(res.body.messageId);
    expect(zapi.sent()).toEqual([{ id: res.body.messageId, zaapId: res.body.zaapId, instanceId: 'INST123', phone: '5511900000030', text: 'Olá', at: expect.any(Number) }]);
  });

  it('answers 401 without the right Client-Token and 404 for another instance', async () => {
    expect(await sendText({ phone: '5511900000031', message: 'x' }, 'wrong')).toEqual({ status: 401, body: { error: 'Client-Token not allowed' } });
    expect(await call(`${url}/instances/INST123/token/TOK456/send-text`, { body: { phone: '5511900000031', message: 'x' } })).toEqual({ status: 401, body: { error: 'Client-Token not allowed' } });
    for (const path of ['/instances/OTHER/token/TOK456/send-text', '/instances/INST123/token/OTHER/send-text']) {
      expect(await sendText({ phone: '5511900000031', message: 'x' }, 'client-token', path)).toEqual({ status: 404, body: { error: 'Instance not found' } });
    }
    expect(zapi.sent()).toEqual([]);
  });

  it('answers 400 without a digits phone and a message', async () => {
    for (const body of [{}, { phone: '5511900000032' }, { message: 'x' }, { phone: '+55 11 90000-0032', message: 'x' }, { phone: '5511900000032', message: '' }, { phone: 5511900000032, message: 'x' }]) {
      expect(await sendText(body), JSON.stringify(body)).toEqual({ status: 400, body: { error: 'phone and message are required' } });
    }
    expect(zapi.sent()).toEqual([]);
  });

  it('answers an injected fault, then succeeds; waitForSent resolves when the send is accepted', async () => {
    zapi.inject('send-text', { status: 503, body: { error: 'unavailable' } });
    const waiting = zapi.waitForSent(1);
    expect((await sendText({ phone: '5511900000033', message: 'x' })).status).toBe(503);
    const ok = await sendText({ phone: '5511900000033', message: 'x' });
    expect((await waiting).map((s) => s.id)).toEqual([ok.body.messageId]);
    await expect(zapi.waitForSent(2, undefined, 30)).rejects.toThrow(/zapi sends: waited 30 ms/);
  });

  it('builds the on-message-received payload', () => {
    expect(zapiReceived({ instanceId: 'INST123', phone: '5511900000034', text: 'oi', senderName: 'Maria' })).toEqual({
      isStatusReply: false,
      connectedPhone: expect.stringMatching(/^\d+$/),
      waitingMessage: false,
      isEdit: false,
      isGroup: false,
      isNewsletter: false,
      instanceId: 'INST123',
      messageId: expect.stringMatching(/^[0-9A-F]{32}$/),
      phone: '5511900000034',
      fromMe: false,
      momment: expect.any(Number),
      status: 'RECEIVED',
      chatName: 'Cliente 0034',
      senderPhoto: null,
      senderName: 'Maria',
      participantPhone: null,
      photo: expect.any(String),
      broadcast: false,
      type: 'ReceivedCallback',
      text: { message: 'oi' },
    });
    const build = (options: Partial<Parameters<typeof zapiReceived>[0]>) => zapiReceived({ instanceId: 'I', phone: '5511900000035', ...options }) as any;
    expect(build({ imageCaption: 'foto' }).image).toEqual({ caption: 'foto', imageUrl: expect.any(String), thumbnailUrl: expect.any(String), mimeType: 'image/jpeg' });
    expect(build({ image: true }).image).not.toHaveProperty('caption');
    expect(build({ videoCaption: 'vid' }).video).toMatchObject({ caption: 'vid', videoUrl: expect.any(String), mimeType: 'video/mp4' });
    expect(build({ audio: true })).toMatchObject({ audio: { audioUrl: expect.any(String), mimeType: expect.stringContaining('audio/') } });
    expect(build({ audio: true })).not.toHaveProperty('text');
    expect(build({ isGroup: true, phone: '120363000000000000-group', participantPhone: '5511900000036' })).toMatchObject({ isGroup: true, participantPhone: '5511900000036' });
    expect(build({ isNewsletter: true, isEdit: true, fromMe: true, messageId: 'M1', type: 'ReceivedCallBack' })).toMatchObject({ isNewsletter: true, isEdit: true, fromMe: true, messageId: 'M1', type: 'ReceivedCallBack' });
  });

  it('builds document captions, button and list replies, pins, notices and fromApi as Z-API documents them', () => {
    const build = (options: Partial<Parameters<typeof zapiReceived>[0]>) => zapiReceived({ instanceId: 'I', phone: '5511900000038', ...options }) as any;
    expect(build({ documentCaption: 'boleto' }).document).toEqual({
      documentUrl: expect.any(String),
      mimeType: 'application/pdf',
      title: expect.any(String),
      pageCount: 1,
      fileName: expect.any(String),
      caption: 'boleto',
    });
    expect(build({ document: true }).document).not.toHaveProperty('caption');
    expect(build({ buttonReply: { buttonId: '1', message: 'Ótimo' } })).toMatchObject({ buttonsResponseMessage: { buttonId: '1', message: 'Ótimo' } });
    const listReply = { message: 'Z-API', title: 'Z', selectedRowId: '1' };
    expect(build({ listReply })).toMatchObject({ listResponseMessage: listReply });
    const pin = build({ fromMe: true, pin: { messageId: '3EB0796DC6B777C0C7CD' } });
    expect(pin.pinMessage).toEqual({
      action: 'pin',
      pinDurationInSecs: 604800,
      referencedMessage: { messageId: '3EB0796DC6B777C0C7CD', fromMe: true, phone: '5511900000038', participant: null },
    });
    expect(pin).not.toHaveProperty('text');
    expect(build({ notification: 'CALL_VOICE' })).toMatchObject({ notification: 'CALL_VOICE', notificationParameters: [] });
    expect(build({ reaction: { emoji: '❤️', messageId: 'X' } }).reaction).toMatchObject({ value: '❤️', referencedMessage: { messageId: 'X' } });
    expect(build({ fromApi: true }).fromApi).toBe(true);
    expect(build({})).not.toHaveProperty('fromApi');
  });

  it("the echo of a send carries fromApi: true, as Z-API marks API-sent messages; phoneSend and phonePin do not", async () => {
    const receiver = await startReceiver();
    const echoing = new ZapiEmulator({ webhookUrl: `${receiver.url}/webhooks/loja-zapi?token=t` });
    const echoUrl = await echoing.start(0);
    try {
      const res = await call(`${echoUrl}/instances/I/token/T/send-text`, { body: { phone: '5511900000039', message: 'do bot' } });
      const [echo] = await receiver.arrived(1);
      expect(echo!.body).toMatchObject({ messageId: res.body.messageId, fromMe: true, fromApi: true, text: { message: 'do bot' } });
      const phoneId = await echoing.phoneSend('5511900000039', 'do celular');
      const pinId = await echoing.phonePin('5511900000039', res.body.messageId);
      const [, typed, pinned] = await receiver.arrived(3);
      expect(typed!.body).toMatchObject({ messageId: phoneId, fromMe: true, fromApi: false, text: { message: 'do celular' } });
      expect(pinned!.body).toMatchObject({ messageId: pinId, fromMe: true, fromApi: false });
      expect(pinned!.body.pinMessage).toMatchObject({ action: 'pin', referencedMessage: { messageId: res.body.messageId } });
      expect(pinned!.body).not.toHaveProperty('text');
      expect((await echoing.waitForEchoes(3)).map((e) => e.kind).sort()).toEqual(['echo', 'phone', 'phone']);
    } finally {
      await echoing.close();
      await receiver.close();
    }
  });

  it('builds LID callbacks: phone <digits>@lid (lid), or a number with chatLid / senderLid', () => {
    expect(zapiReceived({ instanceId: 'I', lid: '81896604192873', text: 'oi' })).toMatchObject({ phone: '81896604192873@lid', chatLid: '81896604192873@lid', chatName: 'Cliente 2873' });
    const numbered = zapiReceived({ instanceId: 'I', phone: '5511900000070', chatLid: '81896604192873', senderLid: '81896604192873', text: 'oi' }) as any;
    expect(numbered).toMatchObject({ phone: '5511900000070', chatLid: '81896604192873@lid', senderLid: '81896604192873@lid' });
    expect(zapiReceived({ instanceId: 'I', phone: '5511900000070' })).not.toHaveProperty('chatLid');
    expect(() => zapiReceived({ instanceId: 'I' })).toThrow(/phone or lid/);
    expect(() => zapiReceived({ instanceId: 'I', phone: '5511900000070', lid: '1' })).toThrow(/phone or lid/);
  });

  it('sends to a LID (phone <digits>@lid) and echoes it as given; phoneSend to a LID too; 400 for a LID without digits', async () => {
    const receiver = await startReceiver();
    const echoing = new ZapiEmulator({ webhookUrl: `${receiver.url}/webhooks/loja-zapi?token=t` });
    const echoUrl = await echoing.start(0);
    try {
      const res = await call(`${echoUrl}/instances/I/token/T/send-text`, { body: { phone: '81896604192873@lid', message: 'para o LID' } });
      expect(res.status).toBe(200);
      expect(echoing.sent()).toEqual([expect.objectContaining({ id: res.body.messageId, phone: '81896604192873@lid' })]);
      const [echo] = await receiver.arrived(1);
      expect(echo!.body).toMatchObject({ messageId: res.body.messageId, phone: '81896604192873@lid', chatLid: '81896604192873@lid', fromMe: true, fromApi: true });
      const phoneId = await echoing.phoneSend('81896604192873@lid', 'do celular');
      const [, typed] = await receiver.arrived(2);
      expect(typed!.body).toMatchObject({ messageId: phoneId, phone: '81896604192873@lid', chatLid: '81896604192873@lid', fromMe: true, fromApi: false, text: { message: 'do celular' } });
      expect((await call(`${echoUrl}/instances/I/token/T/send-text`, { body: { phone: 'abc@lid', message: 'x' } })).status).toBe(400);
    } finally {
      await echoing.close();
      await receiver.close();
    }
  });

  it('deliverZapiWebhook posts the JSON to the URL with its token', async () => {
    const receiver = await startReceiver();
    try {
      const payload = zapiReceived({ instanceId: 'INST123', phone: '5511900000037', text: 'oi' });
      expect(await deliverZapiWebhook(`${receiver.url}/webhooks/loja-zapi?token=t`, payload)).toEqual({ status: 200, body: { status: 'accepted' } });
      const [delivery] = await receiver.arrived(1);
      expect(delivery!.url).toBe('/webhooks/loja-zapi?token=t');
      expect(delivery!.headers['content-type']).toBe('application/json');
      expect(delivery!.body).toEqual(payload);
    } finally {
      await receiver.close();
    }
  });
});
