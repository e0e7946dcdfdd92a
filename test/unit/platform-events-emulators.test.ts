import { EventEmitter, once } from 'node:events';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { describe, it, expect, beforeAll, afterAll, beforeEach } from 'vitest';
import { MehubEmulator } from '../../src/sandbox/mehub.js';
import { SuperagentesEmulator } from '../../src/sandbox/superagentes.js';

interface Answer {
  status: number;
  /** Parsed JSON; `any` so assertions can read it freely. */
  body: any;
}

async function call(url: string, init: { method?: string; headers?: Record<string, string>; body?: unknown } = {}): Promise<Answer> {
  const res = await fetch(url, {
    method: init.method ?? 'GET',
    headers: { 'content-type': 'application/json', ...init.headers },
    body: init.body === undefined ? undefined : JSON.stringify(init.body),
  });
  const text = await res.text();
  return { status: res.status, body: text === '' ? undefined : JSON.parse(text) };
}

const bearer = (token: string) => ({ authorization: `Bearer ${token}` });

interface Received {
  method: string;
  path: string;
  headers: IncomingHttpHeaders;
  /** Parsed JSON body. */
  body: any;
  /** The status it was answered with. */
  answered: number;
}

/** A webhook consumer on port 0 that records every request; answers 500 to the first `failFirst`. */
class Receiver extends EventEmitter {
  readonly received: Received[] = [];
  failFirst = 0;
  url = '';
  private server: Server | undefined;

  async start(): Promise<string> {
    const server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (chunk: Buffer) => chunks.push(chunk));
      req.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        const answered = this.received.length < this.failFirst ? 500 : 200;
        const entry: Received = { method: req.method ?? '', path: req.url ?? '', headers: req.headers, body: text === '' ? undefined : JSON.parse(text), answered };
        this.received.push(entry);
        res.writeHead(answered, { 'content-type': 'application/json' });
        res.end(JSON.stringify(answered === 200 ? { status: 'ok' } : { error: 'boom' }));
        this.emit('request', entry);
      });
    });
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    this.server = server;
    this.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/platform-webhooks/mehub`;
    return this.url;
  }

  reset(): void {
    this.received.length = 0;
    this.failFirst = 0;
  }

  /** Resolves once `count` requests arrived (already received ones count), or rejects after `timeoutMs`. */
  waitFor(count: number, timeoutMs = 5_000): Promise<Received[]> {
    if (this.received.length >= count) return Promise.resolve([...this.received]);
    return new Promise((resolve, reject) => {
      const check = () => {
        if (this.received.length < count) return;
        clearTimeout(timer);
        this.off('request', check);
        resolve([...this.received]);
      };
      const timer = setTimeout(() => {
        this.off('request', check);
        reject(new Error(`receiver: waited ${timeoutMs} ms for ${count} request(s), got ${this.received.length}`));
      }, timeoutMs);
      this.on('request', check);
    });
  }

  async close(): Promise<void> {
    const server = this.server;
    if (!server) return;
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }
}

/** A port nobody listens on (a server was there a moment ago). */
async function deadUrl(): Promise<string> {
  const server = createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const port = (server.address() as AddressInfo).port;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return `http://127.0.0.1:${port}/gone`;
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/** Rejects if `promise` does not settle within `ms` (so a hang fails fast, with a reason). */
function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} did not settle within ${ms} ms`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

describe('MehubEmulator platform events', () => {
  const TOKEN = 'mehub-token';
  const SECRET = 'mehub-webhook-secret';
  const ORIGIN = 'origin0channel01';
  const DEST = 'xyz789abc123def4';
  const receiver = new Receiver();
  const mehub = new MehubEmulator({ token: TOKEN, webhookRetryDelayMs: 10, channelNames: { [DEST]: 'Suporte' } });
  let url = '';
  const transfer = (token: string, body: unknown) => call(`${url}/api/v1/chats/${token}/transfer`, { method: 'POST', headers: bearer(TOKEN), body });

  beforeAll(async () => {
    await receiver.start();
    url = await mehub.start();
  });
  afterAll(async () => {
    await mehub.close();
    await receiver.close();
  });
  beforeEach(() => {
    mehub.reset();
    mehub.setWebhook(receiver.url, SECRET);
    mehub.webhookRetries = 3;
    mehub.webhookRetryDelayMs = 10;
    receiver.reset();
  });

  it('closeChat finishes the chat and sends CHAT_ENDED with the documented envelope and the secret header', async () => {
    const chat = mehub.addChat({ phone: '5511900000001', name: 'Maria', channel: DEST, attendant: 8 });
    const before = Date.now();
    const delivery = await mehub.closeChat(chat.token);

    expect(mehub.chat(chat.token)).toMatchObject({ is_open: false, status: 'finished' });
    const open = await call(`${url}/api/v1/chats?contact=5511900000001&is_open=true&channel=${DEST}`, { headers: bearer(TOKEN) });
    expect(open.body.pagination.total).toBe(0);

    expect(delivery).toEqual({ event: 'CHAT_ENDED', webhookId: expect.stringMatching(UUID), chatToken: chat.token, attempt: 1, status: 200, at: expect.any(Number) });
    expect(receiver.received).toHaveLength(1);
    const [request] = receiver.received;
    expect(request?.method).toBe('POST');
    expect(request?.path).toBe('/platform-webhooks/mehub');
    expect(request?.headers['x-webhook-secret']).toBe(SECRET);
    expect(request?.headers['content-type']).toBe('application/json');
    expect(request?.body).toEqual({
      event: 'CHAT_ENDED',
      data: {
        chat: {
          token: chat.token,
          status: 'finished',
          external_reference: null,
          channel: { token: DEST, name: 'Suporte', type: 'whatsapp' },
          is_open: false,
        },
        contact: { phone: '5511900000001', name: 'Maria', tags: [] },
        user: { id: 8, name: 'Atendente 8' },
        message: null,
      },
      timestamp: expect.any(String),
      attempt: 1,
      webhook_id: delivery?.webhookId,
    });
    const timestamp = Date.parse(request?.body.timestamp);
    expect(request?.body.timestamp).toBe(new Date(timestamp).toISOString());
    expect(timestamp).toBeGreaterThanOrEqual(before - 1);
    expect(mehub.webhookDeliveries()).toEqual([delivery]);

    // A chat in the waiting queue has no user; an explicit attendant wins; the default channel name.
    const queued = mehub.addChat({ phone: '5511900000002' });
    await mehub.closeChat(queued.token);
    const named = mehub.addChat({ phone: '5511900000003', attendant: 8 });
    await mehub.closeChat(named.token, { attendant: { id: 3, name: 'Ana' } });
    expect(receiver.received.map((r) => [r.body.data.chat.token, r.body.data.user, r.body.data.chat.channel.name])).toEqual([
      [chat.token, { id: 8, name: 'Atendente 8' }, 'Suporte'],
      [queued.token, null, `Canal ${ORIGIN}`],
      [named.token, { id: 3, name: 'Ana' }, `Canal ${ORIGIN}`],
    ]);
    expect(new Set(receiver.received.map((r) => r.body.webhook_id)).size).toBe(3);

    // Closing again, or an unknown chat, is refused and sends nothing.
    await expect(mehub.closeChat(chat.token)).rejects.toThrow(/already closed/);
    await expect(mehub.closeChat('unknown00000')).rejects.toThrow(/no chat/);
    expect(mehub.webhookDeliveries()).toHaveLength(3);
  });

  it('POST /__sandbox/chats/<token>/close does the same, and without a secret sends no secret header', async () => {
    mehub.setWebhook(receiver.url);
    const chat = mehub.addChat({ phone: '5511900000004', channel: DEST, attendant: 8 });
    const waiting = mehub.waitForWebhook((d) => d.event === 'CHAT_ENDED' && d.chatToken === chat.token);

    const res = await call(`${url}/__sandbox/chats/${chat.token}/close`, { method: 'POST', body: { attendant: { id: 5, name: 'Bruno' } } });
    expect(res.status).toBe(200);
    expect(res.body.chat).toMatchObject({ token: chat.token, is_open: false, status: 'finished' });
    expect(res.body.delivery).toMatchObject({ event: 'CHAT_ENDED', chatToken: chat.token, attempt: 1, status: 200 });
    expect(await waiting).toEqual(res.body.delivery);

    expect(receiver.received).toHaveLength(1);
    expect(receiver.received[0]?.headers['x-webhook-secret']).toBeUndefined();
    expect(receiver.received[0]?.body).toMatchObject({
      event: 'CHAT_ENDED',
      attempt: 1,
      webhook_id: res.body.delivery.webhookId,
      data: { chat: { token: chat.token, status: 'finished', is_open: false, channel: { token: DEST } }, user: { id: 5, name: 'Bruno' } },
    });

    // No body is fine too; errors answer 404 / 409 / 400; the base endpoints still work.
    const other = mehub.addChat({ phone: '5511900000005' });
    const bare = await fetch(`${url}/__sandbox/chats/${other.token}/close`, { method: 'POST' });
    expect(bare.status).toBe(200);
    expect(((await bare.json()) as any).delivery.status).toBe(200);
    expect((await call(`${url}/__sandbox/chats/unknown00000/close`, { method: 'POST' })).status).toBe(404);
    expect((await call(`${url}/__sandbox/chats/${chat.token}/close`, { method: 'POST' })).status).toBe(409);
    const third = mehub.addChat({ phone: '5511900000006' });
    expect((await call(`${url}/__sandbox/chats/${third.token}/close`, { method: 'POST', body: { attendant: 'Ana' } })).status).toBe(400);
    expect(mehub.chat(third.token)?.is_open).toBe(true);
    expect((await call(`${url}/__sandbox/nothing`, { method: 'POST' })).status).toBe(404);
    const state = await call(`${url}/__sandbox/state`);
    expect(state.body.webhook).toEqual({ url: receiver.url, secret: false, deliveries: mehub.webhookDeliveries() });
    expect(state.body.webhook.deliveries).toHaveLength(2);
    expect(receiver.received).toHaveLength(2);
  });

  it('retries a 500 with the same webhook_id and the next attempt number until a 2xx', async () => {
    receiver.failFirst = 2;
    const chat = mehub.addChat({ phone: '5511900000007', channel: DEST });
    const delivery = await mehub.closeChat(chat.token);

    expect(delivery).toMatchObject({ event: 'CHAT_ENDED', attempt: 3, status: 200 });
    expect(receiver.received.map((r) => [r.body.attempt, r.body.webhook_id, r.answered])).toEqual([
      [1, delivery?.webhookId, 500],
      [2, delivery?.webhookId, 500],
      [3, delivery?.webhookId, 200],
    ]);
    // The event itself does not change between attempts.
    const [first, , last] = receiver.received;
    expect({ ...last?.body, attempt: 1 }).toEqual(first?.body);
    expect(receiver.received.every((r) => r.headers['x-webhook-secret'] === SECRET)).toBe(true);
    expect(mehub.webhookDeliveries().map((d) => [d.attempt, d.status])).toEqual([
      [1, 500],
      [2, 500],
      [3, 200],
    ]);
  });

  it('gives up after webhookRetries further attempts, and records network errors', async () => {
    receiver.failFirst = Number.POSITIVE_INFINITY;
    mehub.webhookRetries = 2;
    const chat = mehub.addChat({ phone: '5511900000008' });
    const delivery = await mehub.closeChat(chat.token);
    expect(delivery).toMatchObject({ attempt: 3, status: 500 });
    expect(receiver.received.map((r) => r.body.attempt)).toEqual([1, 2, 3]);
    expect(new Set(receiver.received.map((r) => r.body.webhook_id))).toEqual(new Set([delivery?.webhookId]));

    mehub.setWebhook(await deadUrl(), SECRET);
    mehub.webhookRetries = 1;
    const other = mehub.addChat({ phone: '5511900000009' });
    const failed = await mehub.closeChat(other.token);
    expect(failed).toMatchObject({ chatToken: other.token, attempt: 2, error: expect.any(String) });
    expect(failed?.status).toBeUndefined();
    expect(mehub.webhookDeliveries().filter((d) => d.chatToken === other.token).map((d) => [d.attempt, typeof d.error])).toEqual([
      [1, 'string'],
      [2, 'string'],
    ]);
    expect(receiver.received).toHaveLength(3);
    expect(mehub.chat(other.token)?.is_open).toBe(false);
  });

  it('redeliver re-sends an event with the same webhook_id (also via the control API)', async () => {
    const chat = mehub.addChat({ phone: '5511900000010', channel: DEST, attendant: 8 });
    const first = await mehub.closeChat(chat.token);
    const again = await mehub.redeliver(first?.webhookId ?? '');
    expect(again).toMatchObject({ event: 'CHAT_ENDED', webhookId: first?.webhookId, attempt: 2, status: 200 });
    const viaControl = await call(`${url}/__sandbox/webhooks/${first?.webhookId}/redeliver`, { method: 'POST' });
    expect(viaControl.status).toBe(200);
    expect(viaControl.body.delivery).toMatchObject({ webhookId: first?.webhookId, attempt: 3, status: 200 });

    expect(receiver.received).toHaveLength(3);
    const [original, ...duplicates] = receiver.received;
    for (const duplicate of duplicates) expect({ ...duplicate.body, attempt: 1 }).toEqual(original?.body);
    expect(receiver.received.map((r) => r.body.attempt)).toEqual([1, 2, 3]);
    expect(() => mehub.redeliver('no-such-id')).toThrow(/no event/);
    expect((await call(`${url}/__sandbox/webhooks/no-such-id/redeliver`, { method: 'POST' })).status).toBe(404);
  });

  it('a cross-channel transfer sends CHAT_CREATED for the new chat, then CHAT_TRANSFERRED; a same-channel one only CHAT_TRANSFERRED', async () => {
    const original = mehub.addChat({ phone: '5511900000011', name: 'João' });
    const res = await transfer(original.token, { channel: DEST, attendant: 8, message: 'Cliente quer reembolso.' });
    expect(res.status).toBe(200);
    const [created, transferred] = await receiver.waitFor(2);
    const newChatToken = mehub.transfers()[0]?.newChatToken;
    expect(newChatToken).toMatch(/^[a-z0-9]{12}$/);
    expect(mehub.openChat('5511900000011', DEST)?.token).toBe(newChatToken);

    expect(created?.body).toEqual({
      event: 'CHAT_CREATED',
      data: {
        chat: { token: newChatToken, status: 'waiting', external_reference: null, channel: { token: DEST, name: 'Suporte', type: 'whatsapp' }, is_open: true },
        contact: { phone: '5511900000011', name: 'João', tags: [] },
        user: { id: 8, name: 'Atendente 8' },
        message: null,
      },
      timestamp: expect.any(String),
      attempt: 1,
      webhook_id: expect.stringMatching(UUID),
    });
    expect(transferred?.body).toMatchObject({
      event: 'CHAT_TRANSFERRED',
      attempt: 1,
      data: { chat: { token: original.token, channel: { token: ORIGIN } }, contact: { phone: '5511900000011' }, user: { id: 8 } },
    });
    expect(transferred?.body.webhook_id).toMatch(UUID);
    expect(transferred?.body.webhook_id).not.toBe(created?.body.webhook_id);
    expect(transferred?.headers['x-webhook-secret']).toBe(SECRET);
    await mehub.waitForWebhook((d) => d.event === 'CHAT_TRANSFERRED' && d.status === 200);
    expect(mehub.webhookDeliveries().map((d) => [d.event, d.chatToken])).toEqual([
      ['CHAT_CREATED', newChatToken],
      ['CHAT_TRANSFERRED', original.token],
    ]);

    const local = mehub.addChat({ phone: '5511900000012', channel: DEST });
    expect((await transfer(local.token, { channel: DEST })).status).toBe(200);
    const all = await receiver.waitFor(3);
    expect(all[2]?.body).toMatchObject({ event: 'CHAT_TRANSFERRED', data: { chat: { token: local.token }, user: null } });
    // The handoff's chat is the one a demo ends; its CHAT_ENDED names the destination channel.
    const ended = await mehub.closeChat(newChatToken ?? '');
    expect(ended?.status).toBe(200);
    expect(receiver.received.at(-1)?.body).toMatchObject({ event: 'CHAT_ENDED', data: { chat: { token: newChatToken, channel: { token: DEST } } } });
    expect(receiver.received).toHaveLength(4);
  });

  it('sends nothing without a webhook URL, and waitForWebhook then times out saying so', async () => {
    mehub.setWebhook(undefined);
    const chat = mehub.addChat({ phone: '5511900000013' });
    expect(await mehub.closeChat(chat.token)).toBeUndefined();
    expect(mehub.chat(chat.token)).toMatchObject({ is_open: false, status: 'finished' });
    const other = mehub.addChat({ phone: '5511900000014' });
    expect((await transfer(other.token, { channel: DEST })).status).toBe(200);
    await expect(mehub.waitForWebhook(() => true, 50)).rejects.toThrow(/saw: none/);
    expect(mehub.webhookDeliveries()).toEqual([]);
    expect(receiver.received).toEqual([]);
  });

  it('the constructor options set the webhook; reset aborts retries under way and forgets deliveries', async () => {
    const local = new MehubEmulator({ webhookUrl: receiver.url, webhookSecret: 'from-options', webhookRetries: 5, webhookRetryDelayMs: 60_000 });
    try {
      receiver.failFirst = Number.POSITIVE_INFINITY;
      const chat = local.addChat({ phone: '5511900000015' });
      const closing = local.closeChat(chat.token);
      await local.waitForWebhook((d) => d.attempt === 1 && d.status === 500);
      expect(receiver.received[0]?.headers['x-webhook-secret']).toBe('from-options');
      local.reset();
      // Without the abort, the next attempt would come only after 60 s.
      expect(await within(closing, 5_000, 'closeChat after reset')).toMatchObject({ attempt: 1, status: 500 });
      expect(local.webhookDeliveries()).toEqual([]);
      expect(receiver.received).toHaveLength(1);
      // The wiring survives reset.
      receiver.failFirst = 0;
      const next = local.addChat({ phone: '5511900000016' });
      expect(await local.closeChat(next.token)).toMatchObject({ attempt: 1, status: 200 });
      expect(receiver.received[1]?.headers['x-webhook-secret']).toBe('from-options');
    } finally {
      await local.close();
    }
  });

  it('POST /__sandbox/webhook sets the URL and secret for a process that does not share memory', async () => {
    mehub.setWebhook(undefined);
    expect((await call(`${url}/__sandbox/webhook`, { method: 'POST', body: { url: receiver.url, secret: 'over-http' } })).status).toBe(200);
    const chat = mehub.addChat({ phone: '5511900000017' });
    const res = await call(`${url}/__sandbox/chats/${chat.token}/close`, { method: 'POST' });
    expect(res.body.delivery).toMatchObject({ status: 200 });
    expect(receiver.received[0]?.headers['x-webhook-secret']).toBe('over-http');
    expect((await call(`${url}/__sandbox/webhook`, { method: 'POST', body: { url: 42 } })).status).toBe(400);
  });
});

describe('SuperagentesEmulator resolving a conversation', () => {
  const TOKEN = 'superagentes-token';
  const sa = new SuperagentesEmulator({ token: TOKEN });
  const auto = new SuperagentesEmulator({ token: TOKEN, autoCreateConversations: true });
  let url = '';
  let autoUrl = '';
  const list = (base: string, phone: string) => call(`${base}/api/conversations?channelExternalId=${phone}`, { headers: bearer(TOKEN) });

  beforeAll(async () => {
    url = await sa.start();
    autoUrl = await auto.start();
  });
  afterAll(async () => {
    await sa.close();
    await auto.close();
  });
  beforeEach(() => {
    sa.reset();
    auto.reset();
  });

  it('resolveConversation marks the handed-off conversation RESOLVED, as the list by phone then shows', async () => {
    const older = sa.addConversation({ channelExternalId: '5511900000001' });
    const other = sa.addConversation({ channelExternalId: '5511900000002' });
    const handedOff = sa.addConversation({ channelExternalId: '5511900000001' });
    // What a handoff does: PATCH the newest open conversation of the phone.
    expect((await call(`${url}/api/conversations/${handedOff.id}`, { method: 'PATCH', headers: bearer(TOKEN), body: { priority: 'HIGH' } })).status).toBe(200);
    const touched = sa.conversationFor('5511900000001');
    expect(touched?.id).toBe(handedOff.id);

    const resolved = sa.resolveConversation(handedOff.id);
    expect(resolved).toMatchObject({ id: handedOff.id, status: 'RESOLVED', priority: 'HIGH' });
    expect(Date.parse(resolved.updatedAt)).toBeGreaterThan(Date.parse(touched?.updatedAt ?? ''));

    const res = await list(url, '5511900000001');
    expect(res.status).toBe(200);
    expect(res.body.data).toEqual([older, resolved]);
    expect(res.body.data.find((c: { id: string }) => c.id === handedOff.id).status).toBe('RESOLVED');
    expect(sa.conversation(older.id)?.status).toBe('UNRESOLVED');
    expect(sa.conversation(other.id)?.status).toBe('UNRESOLVED');
    // Still the conversation the handoff touched, now resolved.
    expect(sa.conversationFor('5511900000001')).toEqual(resolved);
    expect(() => sa.resolveConversation('nope')).toThrow(/no conversation/);
  });

  it('POST /__sandbox/conversations/<id>/resolve resolves it; 404 for an unknown id', async () => {
    const conversation = sa.addConversation({ channelExternalId: '5511900000003' });
    const res = await call(`${url}/__sandbox/conversations/${conversation.id}/resolve`, { method: 'POST' });
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ id: conversation.id, status: 'RESOLVED' });
    expect(Date.parse(res.body.updatedAt)).toBeGreaterThan(Date.parse(conversation.updatedAt));
    expect((await list(url, '5511900000003')).body).toEqual({ data: [res.body] });
    expect(await call(`${url}/__sandbox/conversations/nope/resolve`, { method: 'POST' })).toEqual({
      status: 404,
      body: { message: 'Conversa não encontrada' },
    });
    // The base control endpoints are unchanged.
    expect((await call(`${url}/__sandbox/state`)).body.conversations).toEqual([res.body]);
    expect((await call(`${url}/__sandbox/conversations/${conversation.id}/resolve`)).status).toBe(404);
  });

  it('in sandbox mode the list keeps the resolved conversation (and opens a new one beside it)', async () => {
    const first = await list(autoUrl, '5511900000004');
    expect(first.body.data).toHaveLength(1);
    const handedOff = auto.conversationFor('5511900000004');
    expect(handedOff?.id).toBe(first.body.data[0].id);

    await call(`${autoUrl}/__sandbox/conversations/${handedOff?.id}/resolve`, { method: 'POST' });
    const after = await list(autoUrl, '5511900000004');
    expect(after.body.data.map((c: { id: string; status: string }) => [c.id, c.status])).toEqual([
      [handedOff?.id, 'RESOLVED'],
      [expect.any(String), 'UNRESOLVED'],
    ]);
    expect(after.body.data[1].id).not.toBe(handedOff?.id);
    // Nothing was PATCHed, so the accessor now points at the open conversation a new handoff would pick.
    expect(auto.conversationFor('5511900000004')?.id).toBe(after.body.data[1].id);
    expect(auto.conversationFor('5599999999999')).toBeUndefined();
  });
});
