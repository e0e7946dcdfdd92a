import { describe, it, expect, beforeAll, afterAll, beforeEach } from 'vitest';
import { BrpexEmulator } from '../../src/sandbox/brpex.js';
import { MEHUB_DEFAULT_CHANNEL, MehubEmulator, type MehubChat } from '../../src/sandbox/mehub.js';
import { SuperagentesEmulator, type SuperagentesConversation } from '../../src/sandbox/superagentes.js';

interface Answer {
  status: number;
  /** Parsed JSON; `any` so assertions can read it freely. */
  body: any;
}

async function call(url: string, init: { method?: string; headers?: Record<string, string>; body?: unknown; signal?: AbortSignal } = {}): Promise<Answer> {
  const res = await fetch(url, {
    method: init.method ?? 'GET',
    headers: { 'content-type': 'application/json', ...init.headers },
    body: init.body === undefined ? undefined : JSON.stringify(init.body),
    signal: init.signal,
  });
  const text = await res.text();
  return { status: res.status, body: text === '' ? undefined : JSON.parse(text) };
}

const bearer = (token: string) => ({ authorization: `Bearer ${token}` });

describe('BrpexEmulator', () => {
  const brpex = new BrpexEmulator({ tokens: { minhaempresa: 'brpex-channel-token', outra: 'other-token' } });
  let url = '';
  const dispatch = (body: unknown, headers: Record<string, string> = { token: 'brpex-channel-token' }) =>
    call(`${url}/api/v1/dispatch-to-chat`, { method: 'POST', headers, body });

  beforeAll(async () => {
    url = await brpex.start();
  });
  afterAll(() => brpex.close());
  beforeEach(() => brpex.reset());

  it('moves the phone ticket to human attendance and answers success', async () => {
    const res = await dispatch({ phone: '5511900000001' }, { token: 'brpex-channel-token', host: 'minhaempresa.brpex.com' });
    expect(res).toEqual({ status: 200, body: { message: 'success' } });
    expect(brpex.ticket('5511900000001')?.state).toBe('human');
    expect(brpex.dispatches('5511900000001')).toEqual([
      expect.objectContaining({ phone: '5511900000001', subdomain: 'minhaempresa', previousState: 'bot' }),
    ]);
    expect(brpex.calls('dispatch')[0]).toMatchObject({ authorized: true, applied: true, status: 200 });
  });

  it('records which subdomain token was used and every repeated dispatch', async () => {
    await dispatch({ phone: '5511900000002' }, { token: 'other-token' });
    await dispatch({ phone: '5511900000002' }, { token: 'other-token' });
    expect(brpex.dispatches('5511900000002').map((d) => [d.subdomain, d.previousState])).toEqual([
      ['outra', 'bot'],
      ['outra', 'human'],
    ]);
    expect(brpex.dispatches()).toHaveLength(2);
  });

  it('answers 401 for a missing or wrong token, and a Bearer header is not the token header', async () => {
    const attempts: Record<string, string>[] = [{}, { token: 'wrong' }, bearer('brpex-channel-token')];
    for (const headers of attempts) {
      expect(await dispatch({ phone: '5511900000003' }, headers)).toEqual({ status: 401, body: { message: 'unauthorized' } });
    }
    expect(brpex.dispatches()).toEqual([]);
    expect(brpex.ticket('5511900000003')).toBeUndefined();
  });

  it('answers 422 for a missing or malformed phone', async () => {
    for (const body of [{}, { phone: '' }, { phone: '+55 11 90000-0004' }, { phone: 5511900000004 }, { phone: '123' }]) {
      const res = await dispatch(body);
      expect(res.status).toBe(422);
      expect(typeof res.body.message).toBe('string');
    }
    expect(brpex.dispatches()).toEqual([]);
  });

  it('answers 404 without an open ticket when tickets are not created on the fly', async () => {
    brpex.autoCreateTickets = false;
    expect(await dispatch({ phone: '5511900000005' })).toEqual({ status: 404, body: { message: 'ticket not found' } });
    brpex.openTicket('5511900000005');
    expect(brpex.ticket('5511900000005')?.state).toBe('bot');
    expect((await dispatch({ phone: '5511900000005' })).status).toBe(200);
    expect(brpex.ticket('5511900000005')?.state).toBe('human');
    brpex.closeTicket('5511900000005');
    expect((await dispatch({ phone: '5511900000005' })).status).toBe(404);
    expect(brpex.dispatches('5511900000005')).toHaveLength(1);
  });

  it('exposes its data on the control API', async () => {
    await dispatch({ phone: '5511900000006' });
    const state = await call(`${url}/__sandbox/state`);
    expect(state.body.tickets['5511900000006']).toMatchObject({ state: 'human' });
    expect(state.body.dispatches).toHaveLength(1);
  });
});

describe('MehubEmulator', () => {
  const TOKEN = 'mehub-token';
  const DEST = 'xyz789abc123def4';
  const mehub = new MehubEmulator({ token: TOKEN });
  let url = '';
  const list = (query: string, token = TOKEN) => call(`${url}/api/v1/chats${query}`, { headers: bearer(token) });
  const transfer = (chatToken: string, body: unknown, signal?: AbortSignal) =>
    call(`${url}/api/v1/chats/${chatToken}/transfer`, { method: 'POST', headers: bearer(TOKEN), body, ...(signal ? { signal } : {}) });

  beforeAll(async () => {
    url = await mehub.start();
  });
  afterAll(() => mehub.close());
  beforeEach(() => mehub.reset());

  it('answers 401 without the right Bearer token', async () => {
    const expected = { status: 401, body: { success: false, message: 'Não autenticado.' } };
    expect(await list('', 'wrong')).toEqual(expected);
    expect(await call(`${url}/api/v1/chats`)).toEqual(expected);
    const chat = mehub.addChat({ phone: '5511900000001' });
    expect(await call(`${url}/api/v1/chats/${chat.token}/transfer`, { method: 'POST', body: { channel: DEST } })).toEqual(expected);
    expect(mehub.transfers()).toEqual([]);
  });

  it('lists chats in the documented shape', async () => {
    const chat = mehub.addChat({ phone: '5511900000000', name: 'Cliente João', lastMessageAt: new Date('2025-10-29T10:30:00Z') });
    expect(chat.token).toMatch(/^[a-z0-9]{12}$/);
    expect(chat.channel).toHaveLength(16);
    const res = await list('');
    expect(res.status).toBe(200);
    expect(res.body).toEqual({
      success: true,
      data: [
        {
          id: 1,
          token: chat.token,
          is_open: true,
          status: 'waiting',
          unreadCount: 0,
          channel: MEHUB_DEFAULT_CHANNEL,
          attendant: null,
          contact: { id: 1, name: 'Cliente João', phone: '5511900000000' },
          lastMessage: { id: 1, content: expect.any(String), created_at: '2025-10-29T10:30:00.000000Z' },
        },
      ],
      pagination: { total: 1, per_page: 20, current_page: 1, last_page: 1 },
    });
  });

  it('filters by contact (phone or id), is_open, status, channel and attendant', async () => {
    const a = mehub.addChat({ phone: '5511900000001', attendant: 8 });
    const b = mehub.addChat({ phone: '5511900000001', is_open: false });
    const c = mehub.addChat({ phone: '5511900000001', channel: DEST });
    const d = mehub.addChat({ phone: '5511900000002', status: 'entrance' });
    const tokens = async (query: string) => ((await list(query)).body.data as MehubChat[]).map((chat) => chat.token);

    expect(await tokens('?contact=5511900000001')).toEqual([a.token, b.token, c.token]);
    expect(await tokens(`?contact=${d.contact.id}`)).toEqual([d.token]);
    expect(await tokens('?contact=5511900000001&is_open=true')).toEqual([a.token, c.token]);
    expect(await tokens('?contact=5511900000001&is_open=1')).toEqual([a.token, c.token]);
    expect(await tokens('?is_open=false')).toEqual([b.token]);
    expect(await tokens('?is_open=0')).toEqual([b.token]);
    expect(await tokens('?status=finished')).toEqual([b.token]);
    expect(await tokens('?status=entrance')).toEqual([d.token]);
    expect(await tokens(`?contact=5511900000001&is_open=true&channel=${DEST}`)).toEqual([c.token]);
    expect(await tokens('?attendant=8')).toEqual([a.token]);
    expect(await tokens('?tag=3')).toEqual([a.token, b.token, c.token, d.token]);
    expect(await tokens('?contact=5599999999999')).toEqual([]);
    for (const query of ['?is_open=maybe', '?status=open', '?attendant=x', '?page=0', '?per_page=abc']) {
      expect((await list(query)).status, query).toBe(422);
    }
  });

  it('paginates by id ascending, clamping per_page to 100', async () => {
    for (let i = 0; i < 150; i++) mehub.addChat({ phone: '5511900000003' });
    const first = await list('?contact=5511900000003&is_open=true&per_page=100');
    const second = await list('?contact=5511900000003&is_open=true&per_page=100&page=2');
    const third = await list('?contact=5511900000003&is_open=true&per_page=100&page=3');
    expect(first.body.pagination).toEqual({ total: 150, per_page: 100, current_page: 1, last_page: 2 });
    expect(second.body.pagination).toEqual({ total: 150, per_page: 100, current_page: 2, last_page: 2 });
    expect(first.body.data).toHaveLength(100);
    expect(second.body.data).toHaveLength(50);
    expect(third.body.data).toEqual([]);
    const ids = [...first.body.data, ...second.body.data].map((chat: MehubChat) => chat.id);
    expect(ids).toEqual(Array.from({ length: 150 }, (_, i) => i + 1));

    expect((await list('?per_page=500')).body.pagination).toMatchObject({ per_page: 100, last_page: 2 });
    expect((await list('')).body.pagination).toMatchObject({ per_page: 20, last_page: 8 });
  });

  it('a same-channel transfer only changes the attendant of the same chat', async () => {
    const chat = mehub.addChat({ phone: '5511900000004', channel: DEST, attendant: 3 });
    const res = await transfer(chat.token, { channel: DEST, attendant: 8, message: 'Cliente quer reembolso.' });
    expect(res).toEqual({
      status: 200,
      body: { success: true, message: 'Conversa transferida com sucesso.', data: { chatToken: chat.token, channel: DEST, attendant: 8 } },
    });
    expect(mehub.chats()).toEqual([{ ...chat, attendant: 8 }]);
    expect(mehub.transfers()).toEqual([{ chatToken: chat.token, channel: DEST, attendant: 8, message: 'Cliente quer reembolso.' }]);

    // No attendant: back to the waiting queue.
    const queued = await transfer(chat.token, { channel: DEST });
    expect(queued.body.data).toEqual({ chatToken: chat.token, channel: DEST, attendant: null });
    expect(mehub.chat(chat.token)?.attendant).toBeNull();
    expect(mehub.chats()).toHaveLength(1);
  });

  it('a cross-channel transfer creates a new chat each time, linked to the original', async () => {
    const original = mehub.addChat({ phone: '5511900000005', name: 'Maria', lastMessage: 'Quero cancelar', lastMessageAt: new Date('2025-01-01T00:00:00Z') });
    const first = await transfer(original.token, { channel: DEST, attendant: 8 });
    const second = await transfer(original.token, { channel: DEST, attendant: 8 });
    expect(first.status).toBe(200);
    expect(second.status).toBe(200);
    expect(first.body.data).toEqual({ chatToken: original.token, channel: DEST, attendant: 8 });

    const chats = mehub.chats();
    expect(chats).toHaveLength(3);
    expect(chats[0]).toEqual(original); // the original is left as it was
    const created = chats.slice(1);
    for (const chat of created) {
      expect(chat).toMatchObject({
        is_open: true,
        status: 'waiting',
        channel: DEST,
        attendant: 8,
        contact: original.contact,
        linkedFrom: original.token,
        lastMessage: { content: 'Quero cancelar' },
      });
      expect(chat.token).toMatch(/^[a-z0-9]{12}$/);
      expect(chat.lastMessage.created_at > original.lastMessage.created_at).toBe(true);
    }
    expect(new Set(chats.map((c) => c.token)).size).toBe(3);
    expect(mehub.transfers().map((t) => t.newChatToken)).toEqual(created.map((c) => c.token));

    // What the orchestrator's retry check sees: the contact's open chats on the destination.
    const check = await list(`?contact=5511900000005&is_open=true&channel=${DEST}&attendant=8`);
    expect(check.body.pagination.total).toBe(2);
  });

  it('answers 404 for an unknown chat or channel, 403 for a forbidden channel, 422 for an attendant without access', async () => {
    const chat = mehub.addChat({ phone: '5511900000006' });
    const notFound = { status: 404, body: { success: false, message: 'Conversa ou canal não encontrado.' } };
    expect(await transfer('unknown00000', { channel: DEST })).toEqual(notFound);

    mehub.knownChannels.add('anotherchannel16');
    expect(await transfer(chat.token, { channel: DEST })).toEqual(notFound);
    mehub.knownChannels.clear();

    mehub.forbiddenChannels.add(DEST);
    expect(await transfer(chat.token, { channel: DEST })).toEqual({
      status: 403,
      body: { success: false, message: 'Você não tem permissão para transferir conversas deste canal.' },
    });
    mehub.forbiddenChannels.clear();

    mehub.attendantChannels.set(8, new Set(['anotherchannel16']));
    expect(await transfer(chat.token, { channel: DEST, attendant: 8 })).toEqual({
      status: 422,
      body: { success: false, message: 'O atendente informado não tem acesso ao canal de destino.' },
    });
    mehub.attendantChannels.set(8, new Set([DEST]));
    expect((await transfer(chat.token, { channel: DEST, attendant: 8 })).status).toBe(200);
    expect(mehub.transfers()).toHaveLength(1);
  });

  it('answers 422 for an invalid channel, attendant or message', async () => {
    const chat = mehub.addChat({ phone: '5511900000007' });
    for (const body of [
      {},
      { channel: 'short' },
      { channel: 'seventeen-chars-x' },
      { channel: 1234567890123456 },
      { channel: DEST, attendant: 'oito' },
      { channel: DEST, attendant: 8.5 },
      { channel: DEST, message: 42 },
    ]) {
      const res = await transfer(chat.token, body);
      expect(res.status, JSON.stringify(body)).toBe(422);
      expect(res.body).toEqual({ success: false, message: expect.any(String) });
    }
    expect(mehub.transfers()).toEqual([]);
  });

  it('counts the message limit in code points (1000 emoji pass, 1001 do not)', async () => {
    const chat = mehub.addChat({ phone: '5511900000008', channel: DEST });
    const ok = await transfer(chat.token, { channel: DEST, message: '😀'.repeat(1000) });
    expect(ok.status).toBe(200);
    const tooLong = await transfer(chat.token, { channel: DEST, message: '😀'.repeat(1001) });
    expect(tooLong.status).toBe(422);
    expect(tooLong.body.success).toBe(false);
    expect(mehub.transfers()).toHaveLength(1);
  });

  it('applies a transfer whose answer comes too late for the client (applyThenDelayMs)', async () => {
    const chat = mehub.addChat({ phone: '5511900000009' });
    mehub.inject('transfer', { applyThenDelayMs: 300 });
    const attempt = transfer(chat.token, { channel: DEST, attendant: 8 }, AbortSignal.timeout(100));
    await expect(attempt).rejects.toThrow();
    await mehub.waitFor((r) => r.route === 'transfer' && r.applied);
    expect(mehub.transfers()).toEqual([expect.objectContaining({ chatToken: chat.token, channel: DEST, attendant: 8 })]);
    expect(mehub.chats()).toHaveLength(2);
  });

  it('reset clears the data and restores the permissions', () => {
    const restricted = new MehubEmulator({ forbiddenChannels: [DEST] });
    restricted.addChat({ phone: '5511900000010' });
    restricted.forbiddenChannels.clear();
    restricted.reset();
    expect(restricted.chats()).toEqual([]);
    expect([...restricted.forbiddenChannels]).toEqual([DEST]);
    expect(restricted.addChat({ phone: '5511900000010' }).id).toBe(1);
  });
});

describe('SuperagentesEmulator', () => {
  const TOKEN = 'superagentes-token';
  const sa = new SuperagentesEmulator({ token: TOKEN });
  let url = '';
  const list = (phone?: string, token = TOKEN) =>
    call(`${url}/api/conversations${phone === undefined ? '' : `?channelExternalId=${phone}`}`, { headers: bearer(token) });
  const patch = (id: string, body: unknown) => call(`${url}/api/conversations/${id}`, { method: 'PATCH', headers: bearer(TOKEN), body });
  const bulk = (query: string, body: unknown) =>
    call(`${url}/api/conversations/update-status${query}`, { method: 'POST', headers: bearer(TOKEN), body });

  beforeAll(async () => {
    url = await sa.start();
  });
  afterAll(() => sa.close());
  beforeEach(() => sa.reset());

  it('answers 401 without the right Bearer token', async () => {
    const expected = { status: 401, body: { message: 'Token de autenticação inválido' } };
    sa.addConversation({ channelExternalId: '5511900000001' });
    expect(await list('5511900000001', 'wrong')).toEqual(expected);
    expect(await call(`${url}/api/conversations/conversation-1`, { method: 'PATCH', body: { priority: 'HIGH' } })).toEqual(expected);
    expect(await call(`${url}/api/conversations/update-status`, { method: 'POST', body: { status: 'RESOLVED' } })).toEqual(expected);
    expect(sa.conversations()[0]?.status).toBe('UNRESOLVED');
    expect(sa.updates()).toEqual([]);
  });

  it('lists the conversations of a phone as {data} or as a bare array', async () => {
    const mine = sa.addConversation({ channelExternalId: '5511900000002' });
    const resolved = sa.addConversation({ channelExternalId: '5511900000002', status: 'RESOLVED' });
    sa.addConversation({ channelExternalId: '5511900000003' });

    const wrapped = await list('5511900000002');
    expect(wrapped.status).toBe(200);
    expect(wrapped.body).toEqual({ data: [mine, resolved] });
    expect(mine).toMatchObject({ id: 'conversation-1', channel: 'whatsapp', status: 'UNRESOLVED', priority: 'MEDIUM', assignees: [] });
    expect(Date.parse(resolved.updatedAt)).toBeGreaterThan(Date.parse(mine.updatedAt));

    sa.listShape = 'array';
    expect((await list('5511900000002')).body).toEqual([mine, resolved]);
    expect((await list('5599999999999')).body).toEqual([]);
    expect((await list()).body).toHaveLength(3);
  });

  it('PATCH updates title, priority and assignees and answers in the documented shape', async () => {
    const before = sa.addConversation({ channelExternalId: '5511900000004' });
    sa.addMember('member-1', 'Ana');
    sa.addMember('member-2', 'Bruno');
    const res = await patch(before.id, { title: 'Transferido', priority: 'HIGH', assigneeIds: ['member-1', 'member-2'] });
    expect(res.status).toBe(200);
    expect(res.body).toEqual({
      id: before.id,
      title: 'Transferido',
      priority: 'HIGH',
      updatedAt: expect.any(String),
      assignees: [
        { id: 'member-1', user: { id: 'user-member-1', name: 'Ana' } },
        { id: 'member-2', user: { id: 'user-member-2', name: 'Bruno' } },
      ],
    });
    expect(Date.parse(res.body.updatedAt)).toBeGreaterThan(Date.parse(before.updatedAt));
    expect(sa.conversation(before.id)).toMatchObject({ title: 'Transferido', priority: 'HIGH', status: 'UNRESOLVED' });
    expect(sa.updates()).toEqual([{ id: before.id, title: 'Transferido', priority: 'HIGH', assigneeIds: ['member-1', 'member-2'], at: res.body.updatedAt }]);
  });

  it('PATCH accepts any assignee when no member is declared', async () => {
    const conversation = sa.addConversation({ channelExternalId: '5511900000005' });
    const res = await patch(conversation.id, { assigneeIds: ['member-9'] });
    expect(res.body.assignees).toEqual([{ id: 'member-9', user: { id: 'user-member-9', name: 'member-9' } }]);
  });

  it('PATCH answers 404 for an unknown conversation and 400 for invalid fields', async () => {
    sa.addConversation({ channelExternalId: '5511900000006' });
    expect(await patch('nope', { priority: 'HIGH' })).toEqual({ status: 404, body: { message: 'Conversa não encontrada' } });
    sa.addMember('member-1', 'Ana');
    for (const body of [
      { priority: 'URGENT' },
      { priority: 3 },
      { title: 7 },
      { assigneeIds: 'member-1' },
      { assigneeIds: [1] },
      { assigneeIds: ['member-1', 'ghost'] },
      ['priority', 'HIGH'],
    ]) {
      const res = await patch('conversation-1', body);
      expect(res.status, JSON.stringify(body)).toBe(400);
      expect(typeof res.body.message).toBe('string');
    }
    expect(sa.updates()).toEqual([]);
    expect(sa.conversation('conversation-1')).toMatchObject({ priority: 'MEDIUM', title: null, assignees: [] });
  });

  it('bulk-status changes only the filtered conversations', async () => {
    const wa1 = sa.addConversation({ channelExternalId: '5511900000007', channel: 'whatsapp', agentId: 'agent-123' });
    const wa2 = sa.addConversation({ channelExternalId: '5511900000008', channel: 'whatsapp', agentId: 'agent-456' });
    const web = sa.addConversation({ channelExternalId: 'visitor-1', channel: 'website', agentId: 'agent-123' });

    const both = await bulk('?channel=whatsapp&agentId=agent-123', { status: 'HUMAN_REQUESTED' });
    expect(both).toEqual({ status: 200, body: { count: 1, message: '1 conversas foram atualizadas com sucesso' } });
    expect(sa.conversations().map((c) => c.status)).toEqual(['HUMAN_REQUESTED', 'UNRESOLVED', 'UNRESOLVED']);

    const byChannel = await bulk('?channel=whatsapp', { status: 'RESOLVED' });
    expect(byChannel.body.count).toBe(2);
    expect(sa.conversation(web.id)?.status).toBe('UNRESOLVED');

    const byAgent = await bulk('?agentId=agent-123', { status: 'UNRESOLVED' });
    expect(byAgent.body.count).toBe(2);
    expect(sa.conversations().map((c) => c.status)).toEqual(['UNRESOLVED', 'RESOLVED', 'UNRESOLVED']);
    expect(sa.bulkUpdates().map((b) => [b.channel, b.agentId, b.ids])).toEqual([
      ['whatsapp', 'agent-123', [wa1.id]],
      ['whatsapp', undefined, [wa1.id, wa2.id]],
      [undefined, 'agent-123', [wa1.id, web.id]],
    ]);
  });

  it('bulk-status without a filter changes every conversation of the workspace', async () => {
    for (let i = 0; i < 5; i++) sa.addConversation({ channelExternalId: `551190000010${i}`, channel: i % 2 ? 'website' : 'whatsapp' });
    const res = await bulk('', { status: 'RESOLVED' });
    expect(res).toEqual({ status: 200, body: { count: 5, message: '5 conversas foram atualizadas com sucesso' } });
    expect(sa.conversations().every((c: SuperagentesConversation) => c.status === 'RESOLVED')).toBe(true);
    // Empty filter values filter nothing either.
    expect((await bulk('?channel=&agentId=', { status: 'UNRESOLVED' })).body.count).toBe(5);
    expect(sa.bulkUpdates()).toHaveLength(2);
  });

  it('bulk-status answers 400 for an invalid status or channel', async () => {
    sa.addConversation({ channelExternalId: '5511900000009' });
    for (const [query, body] of [['', { status: 'CLOSED' }], ['', {}], ['?channel=sms', { status: 'RESOLVED' }]] as const) {
      const res = await bulk(query, body);
      expect(res.status).toBe(400);
      expect(typeof res.body.message).toBe('string');
    }
    expect(sa.bulkUpdates()).toEqual([]);
    expect(sa.conversations()[0]?.status).toBe('UNRESOLVED');
  });
});
