import { pino } from 'pino';
import { Agent } from 'undici';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { HandoffSettings } from '../../src/config/index.js';
import { UpstreamError } from '../../src/errors.js';
import type { HandoffJob } from '../../src/handoff/job.js';
import { brpexBaseUrl, createBrpexProvider } from '../../src/providers/brpex/provider.js';
import { createMehubProvider, MEHUB_NOTE_MAX } from '../../src/providers/mehub/provider.js';
import { createSuperagentesProvider } from '../../src/providers/superagentes/provider.js';
import type { HandoffAttempt, HandoffProvider } from '../../src/providers/types.js';
import { BrpexEmulator } from '../../src/sandbox/brpex.js';
import type { Emulator } from '../../src/sandbox/emulator.js';
import { MehubEmulator } from '../../src/sandbox/mehub.js';
import { SuperagentesEmulator } from '../../src/sandbox/superagentes.js';
import { codePointLength } from '../../src/text.js';
import { freePort } from '../helpers/redis-server.js';

const http = new Agent({ keepAliveTimeout: 1000 });
const TIMEOUT_MS = 300;
const log = pino({ level: 'silent' });

let seq = 0;
function job(overrides: Partial<HandoffJob> = {}): HandoffJob {
  seq += 1;
  return {
    handoffId: crypto.randomUUID(),
    channel: 'vendas',
    provider: 'mehub',
    phone: `5511988${String(seq).padStart(6, '0')}`,
    name: 'Maria',
    botId: '6b3c9f0e-1c2d-4e5f-8a9b-0c1d2e3f4a5b',
    conversationId: 'conv-1',
    messageId: `m-${seq}`,
    lastMessage: 'Quero falar com alguém',
    botReply: 'Vou transferir',
    reason: 'transfer_to_agent',
    externalIds: {},
    createdAt: new Date().toISOString(),
    ...overrides,
  };
}

function attempt(j: HandoffJob, settings: HandoffSettings, extra: Partial<HandoffAttempt> = {}): HandoffAttempt & { sideEffects: number } {
  const state = {
    job: j,
    settings,
    mayHaveApplied: false,
    sideEffects: 0,
    log,
    beforeSideEffect() {
      state.sideEffects += 1;
      return Promise.resolve();
    },
    ...extra,
  };
  return state;
}

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

/** What the suite needs to know about one platform to run the same cases against it. */
interface PlatformCase {
  name: 'brpex' | 'mehub' | 'superagentes';
  emulator: Emulator;
  /** The route whose request changes the platform. */
  changeRoute: string;
  settings: HandoffSettings;
  provider(baseUrl: string, token: string): HandoffProvider;
  token: string;
  /** Makes the customer exist on the platform. */
  prepare(phone: string): void;
  /** How many changes took effect for this customer. */
  applied(phone: string): number;
}

const brpex = new BrpexEmulator({ token: 'brpex-token' });
const mehub = new MehubEmulator({ token: 'mehub-token' });
const superagentes = new SuperagentesEmulator({ token: 'sa-token' });

const cases: PlatformCase[] = [
  {
    name: 'brpex',
    emulator: brpex,
    changeRoute: 'dispatch',
    token: 'brpex-token',
    settings: { provider: 'brpex', subdomain: 'minhaempresa', token: 'brpex-token', transcript: 10 },
    provider: (baseUrl) => createBrpexProvider({ baseUrl, timeoutMs: TIMEOUT_MS, http }),
    prepare: (phone) => brpex.openTicket(phone),
    applied: (phone) => brpex.dispatches(phone).length,
  },
  {
    name: 'mehub',
    emulator: mehub,
    changeRoute: 'transfer',
    token: 'mehub-token',
    settings: { provider: 'mehub', channel: 'xyz789abc123def4', attendant: 8, token: 'mehub-token', statusCheck: true, transcript: 10 },
    provider: (baseUrl, token) => createMehubProvider({ baseUrl, token, timeoutMs: TIMEOUT_MS, http }),
    prepare: (phone) => void mehub.addChat({ phone }),
    applied: (phone) => mehub.transfers().filter((t) => mehub.chat(t.chatToken)?.contact.phone === phone).length,
  },
  {
    name: 'superagentes',
    emulator: superagentes,
    changeRoute: 'update',
    token: 'sa-token',
    settings: { provider: 'superagentes', priority: 'HIGH', assigneeIds: ['member-1'], token: 'sa-token', statusCheck: true, transcript: 10 },
    provider: (baseUrl, token) => createSuperagentesProvider({ baseUrl, token, timeoutMs: TIMEOUT_MS, http }),
    prepare: (phone) => void superagentes.addConversation({ channelExternalId: phone }),
    applied: (phone) => superagentes.updates().filter((u) => superagentes.conversation(u.id)?.channelExternalId === phone).length,
  },
];

beforeAll(async () => {
  await Promise.all(cases.map((c) => c.emulator.start()));
});
afterAll(async () => {
  await Promise.all(cases.map((c) => c.emulator.close()));
  await http.close();
});
beforeEach(() => {
  for (const c of cases) c.emulator.reset();
});

describe.each(cases)('$name adapter contract', (c) => {
  const run = (settings = c.settings, j = job({ provider: c.name })) => {
    c.prepare(j.phone);
    return { j, promise: c.provider(c.emulator.url, c.token).perform(attempt(j, settings)) };
  };
  const withToken = (token: string) => ({ ...c.settings, token }) as HandoffSettings;

  it('success: the change takes effect once', async () => {
    const { j, promise } = run();
    await expect(promise).resolves.toMatchObject({ summary: expect.any(String) });
    expect(c.applied(j.phone)).toBe(1);
  });

  it('401 is permanent and keeps the platform message', async () => {
    const provider = c.provider(c.emulator.url, 'wrong-token');
    const j = job({ provider: c.name });
    c.prepare(j.phone);
    const error = await rejection(provider.perform(attempt(j, withToken('wrong-token'))));
    expect(error).toMatchObject({ status: 401, retryable: false, kind: 'http_status' });
    expect(error.upstreamMessage).toBeTruthy();
    expect(c.applied(j.phone)).toBe(0);
  });

  it.each([403, 404, 422])('%i is permanent and keeps the platform message', async (status) => {
    c.emulator.inject(c.changeRoute, { status, body: { success: false, message: `recusado ${status}` } });
    const error = await rejection(run().promise);
    expect(error).toMatchObject({ status, retryable: false, upstreamMessage: `recusado ${status}` });
  });

  it('429 is retryable and carries Retry-After', async () => {
    c.emulator.inject(c.changeRoute, { status: 429, headers: { 'retry-after': '7' } });
    const error = await rejection(run().promise);
    expect(error).toMatchObject({ status: 429, retryable: true, retryAfterMs: 7000 });
  });

  it('503 then success: the first try is retryable, the second lands once', async () => {
    c.emulator.inject(c.changeRoute, { status: 503 });
    const j = job({ provider: c.name });
    c.prepare(j.phone);
    const provider = c.provider(c.emulator.url, c.token);
    const error = await rejection(provider.perform(attempt(j, c.settings)));
    expect(error).toMatchObject({ status: 503, retryable: true });
    await provider.perform(attempt(j, c.settings, { mayHaveApplied: error.ambiguous }));
    expect(c.applied(j.phone)).toBe(1);
  });

  it('a timeout is retryable and marked as possibly applied', async () => {
    c.emulator.inject(c.changeRoute, { delayMs: TIMEOUT_MS * 3 });
    const error = await rejection(run().promise);
    expect(error).toMatchObject({ kind: 'timeout', retryable: true, ambiguous: true });
  });

  it('a malformed answer is permanent', async () => {
    c.emulator.inject(c.changeRoute, { rawBody: '<html>gateway</html>' });
    const error = await rejection(run().promise);
    expect(error).toMatchObject({ kind: 'invalid_response', retryable: false });
  });

  it('connection refused is retryable and known not to have applied', async () => {
    const closed = `http://127.0.0.1:${await freePort()}`;
    const j = job({ provider: c.name });
    const error = await rejection(c.provider(closed, c.token).perform(attempt(j, c.settings)));
    expect(error).toMatchObject({ kind: 'network', retryable: true, ambiguous: false });
  });

  it('a dropped connection after the change is retryable and possibly applied', async () => {
    c.emulator.inject(c.changeRoute, { destroy: true, apply: true });
    const error = await rejection(run().promise);
    expect(error).toMatchObject({ kind: 'network', retryable: true, ambiguous: true });
  });
});

describe('BRPEX specifics', () => {
  it('sends the channel token header and the phone digits', async () => {
    const j = job({ provider: 'brpex' });
    await createBrpexProvider({ baseUrl: brpex.url, timeoutMs: TIMEOUT_MS, http }).perform(attempt(j, cases[0]!.settings));
    const [request] = brpex.calls('dispatch');
    expect(request).toMatchObject({ path: '/api/v1/dispatch-to-chat', body: { phone: j.phone }, authorized: true });
  });

  it('builds the base URL from the subdomain, and never from a subdomain that is not a DNS label', () => {
    expect(brpexBaseUrl('https://{subdomain}.brpex.com', 'minhaempresa')).toBe('https://minhaempresa.brpex.com');
    expect(brpexBaseUrl('http://127.0.0.1:9000', 'ignored')).toBe('http://127.0.0.1:9000');
    for (const bad of ['evil.com/', 'a.b', 'x@evil', '-x', 'UPPER', '']) {
      expect(() => brpexBaseUrl('https://{subdomain}.brpex.com', bad)).toThrow(UpstreamError);
    }
  });
});

describe('MeHub specifics', () => {
  const settings = cases[1]!.settings;
  const provider = () => createMehubProvider({ baseUrl: mehub.url, token: 'mehub-token', timeoutMs: TIMEOUT_MS, http });

  it('uses the chat token hint without listing', async () => {
    const j = job();
    const chat = mehub.addChat({ phone: j.phone });
    await provider().perform(attempt({ ...j, externalIds: { mehubChatToken: chat.token } }, settings));
    expect(mehub.calls('list')).toHaveLength(0);
    expect(mehub.transfers()).toEqual([expect.objectContaining({ chatToken: chat.token, channel: 'xyz789abc123def4', attendant: 8 })]);
  });

  it('picks the open chat with the newest last message, across every page', async () => {
    const j = job();
    for (let i = 0; i < 130; i++) mehub.addChat({ phone: j.phone, lastMessageAt: new Date(Date.UTC(2026, 0, 1, 0, i)) });
    const newest = mehub.addChat({ phone: j.phone, lastMessageAt: new Date(Date.UTC(2026, 5, 1)) });
    mehub.addChat({ phone: j.phone, is_open: false, lastMessageAt: new Date(Date.UTC(2027, 0, 1)) });
    for (let i = 0; i < 30; i++) mehub.addChat({ phone: j.phone, lastMessageAt: new Date(Date.UTC(2026, 1, 1, 0, i)) });
    await provider().perform(attempt(j, settings));
    expect(mehub.calls('list').map((r) => r.query)).toEqual([
      expect.objectContaining({ contact: j.phone, is_open: 'true', per_page: '100', page: '1' }),
      expect.objectContaining({ page: '2' }),
    ]);
    expect(mehub.transfers()[0]?.chatToken).toBe(newest.token);
  });

  it('no open chat yet is retryable (no_open_chat)', async () => {
    const error = await rejection(provider().perform(attempt(job(), settings)));
    expect(error).toMatchObject({ code: 'no_open_chat', retryable: true });
  });

  it('sends the context note, truncated to 1000 characters without splitting an emoji', async () => {
    const j = job({ lastMessage: '😀'.repeat(1200) });
    mehub.addChat({ phone: j.phone });
    await provider().perform(attempt(j, settings));
    const note = mehub.transfers()[0]?.message ?? '';
    expect(note.startsWith('Transferido pelo assistente virtual. Cliente: Maria (')).toBe(true);
    expect(codePointLength(note)).toBe(MEHUB_NOTE_MAX);
    expect(note.endsWith('😀')).toBe(true);
  });

  it('omits the attendant when none is configured (waiting queue)', async () => {
    const j = job();
    mehub.addChat({ phone: j.phone });
    await provider().perform(attempt(j, { provider: 'mehub', channel: 'xyz789abc123def4', statusCheck: true, transcript: 10 }));
    expect((mehub.calls('transfer')[0]?.body as Record<string, unknown>).attendant).toBeUndefined();
  });

  it('after a try that may have applied, checks the destination first and does not transfer twice', async () => {
    const j = job();
    mehub.addChat({ phone: j.phone });
    mehub.inject('transfer', { applyThenDelayMs: TIMEOUT_MS * 3 });
    const first = attempt(j, settings);
    const error = await rejection(provider().perform(first));
    expect(error).toMatchObject({ kind: 'timeout', ambiguous: true });
    expect(first.sideEffects).toBe(1);
    await mehub.waitFor((r) => r.route === 'transfer' && r.applied);

    await provider().perform(attempt(j, settings, { mayHaveApplied: true }));
    expect(mehub.transfers()).toHaveLength(1);
    expect(mehub.calls('list').at(-1)?.query).toMatchObject({ contact: j.phone, is_open: 'true', channel: 'xyz789abc123def4', attendant: '8' });
  });

  it('after a try that may have applied but did not, transfers normally', async () => {
    const j = job();
    mehub.addChat({ phone: j.phone });
    await provider().perform(attempt(j, settings, { mayHaveApplied: true }));
    expect(mehub.transfers()).toHaveLength(1);
  });

  it('success:false with a 4xx is permanent', async () => {
    const j = job();
    mehub.addChat({ phone: j.phone });
    mehub.attendantChannels.set(8, new Set(['another0channel1']));
    const error = await rejection(provider().perform(attempt(j, settings)));
    expect(error).toMatchObject({ status: 422, retryable: false, upstreamMessage: 'O atendente informado não tem acesso ao canal de destino.' });
  });
});

describe('SuperAgentes specifics', () => {
  const settings: HandoffSettings = { provider: 'superagentes', priority: 'HIGH', assigneeIds: ['member-1'], title: 'Humano: {name} ({phone})', token: 'sa-token', statusCheck: true, transcript: 10 };
  const provider = () => createSuperagentesProvider({ baseUrl: superagentes.url, token: 'sa-token', timeoutMs: TIMEOUT_MS, http });

  it.each(['data', 'array'] as const)('picks the newest conversation that is not RESOLVED (list answered as %s)', async (shape) => {
    superagentes.listShape = shape;
    const j = job({ provider: 'superagentes' });
    superagentes.addConversation({ channelExternalId: j.phone, status: 'UNRESOLVED' });
    const newest = superagentes.addConversation({ channelExternalId: j.phone, status: 'HUMAN_REQUESTED' });
    superagentes.addConversation({ channelExternalId: j.phone, status: 'RESOLVED' });
    await provider().perform(attempt(j, settings));
    expect(superagentes.updates()).toEqual([expect.objectContaining({ id: newest.id })]);
    const patch = superagentes.calls('update')[0]?.body;
    expect(patch).toEqual({ priority: 'HIGH', assigneeIds: ['member-1'], title: `Humano: Maria (${j.phone})` });
  });

  it('uses the conversation id hint without listing', async () => {
    const j = job({ provider: 'superagentes' });
    const conversation = superagentes.addConversation({ channelExternalId: 'someone-else' });
    await provider().perform(attempt({ ...j, externalIds: { superagentesConversationId: conversation.id } }, settings));
    expect(superagentes.calls('list')).toHaveLength(0);
    expect(superagentes.updates()[0]?.id).toBe(conversation.id);
  });

  it('no open conversation is a permanent no_conversation', async () => {
    const j = job({ provider: 'superagentes' });
    superagentes.addConversation({ channelExternalId: j.phone, status: 'RESOLVED' });
    const error = await rejection(provider().perform(attempt(j, settings)));
    expect(error).toMatchObject({ code: 'no_conversation', retryable: false });
  });

  it('never calls the bulk status endpoint', async () => {
    const j = job({ provider: 'superagentes' });
    superagentes.addConversation({ channelExternalId: j.phone });
    superagentes.addConversation({ channelExternalId: 'other-customer' });
    await provider().perform(attempt(j, settings));
    expect(superagentes.calls('bulk-status')).toHaveLength(0);
    expect(superagentes.conversations().filter((c) => c.priority === 'HIGH')).toHaveLength(1);
  });
});
