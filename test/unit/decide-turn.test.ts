import { describe, expect, it } from 'vitest';
import { parseConfig, type ChannelConfig } from '../../src/config/index.js';
import { EMPTY_CONVERSATION, type Conversation } from '../../src/conversations/state.js';
import { UpstreamError } from '../../src/errors.js';
import { decideTurn, needsBot } from '../../src/turn/decide.js';
import type { BotAnswer, TurnContext, TurnDecision } from '../../src/turn/types.js';

/*
 * The decision at the heart of the service (turn/decide.ts), as a table: the conversation's
 * state × the channel's policies × the bot's answer → outcome, customer events, commit, and
 * the handoff job. No Redis, no HTTP.
 */

const BOT = '6b3c9f0e-1c2d-4e5f-8a9b-0c1d2e3f4a5b';
const OTHER_BOT = '0f8e2a8c-3b4d-4c5e-9f60-718293a4b5c6';
const NOW = Date.parse('2026-12-03T12:00:00Z');
const HANDOFF_ID = '11111111-2222-4333-8444-555555555555';
const handoff = { provider: 'superagentes', assigneeIds: ['member-1'] };
const config = parseConfig(
  {
    toolzz: { token: 'toolzz-test-token-1234567890' },
    providers: { superagentes: { token: 'superagentes-token' } },
    channels: {
      sync: { auth: { token: 'sync-token-123456' }, bot: { id: BOT }, humanTtlMinutes: 60, handoff },
      evo: { kind: 'evolution', auth: { token: 'evo-token-12345' }, evolution: { baseUrl: 'http://evo.invalid', instance: 'loja', apiKey: 'k' }, bot: { id: BOT }, handoff },
      'evo-reply': {
        kind: 'evolution',
        auth: { token: 'evo-token-12345' },
        evolution: { baseUrl: 'http://evo.invalid', instance: 'loja', apiKey: 'k' },
        bot: { id: BOT },
        handoff,
        botFailure: { action: 'reply' },
        unsupported: { action: 'ignore' },
      },
      'evo-strict': {
        kind: 'evolution',
        auth: { token: 'evo-token-12345' },
        evolution: { baseUrl: 'http://evo.invalid', instance: 'loja', apiKey: 'k' },
        bot: { id: BOT },
        handoff,
        botFailure: { action: 'ignore' },
        unsupported: { action: 'handoff' },
      },
    },
  },
  {},
);
const channel = (name: string) => config.channels[name] as ChannelConfig;

function context(over: { channel?: string; conversation?: Partial<Conversation>; text?: string | null; humanDone?: boolean } = {}): TurnContext {
  const name = over.channel ?? 'evo';
  return {
    channelName: name,
    channel: channel(name),
    message: { messageId: 'm1', phone: '5511999990000', name: 'Bia', text: over.text === undefined ? 'oi' : over.text, address: '5511999990000', contactPhone: '5511999990000', externalIds: {} },
    conversation: { ...EMPTY_CONVERSATION, ...over.conversation },
    now: NOW,
    humanDone: over.humanDone ?? false,
    idleTtlMs: 24 * 3_600_000,
    handoffId: HANDOFF_ID,
  };
}

const answered = (content: string | null, extra: { transferToAgent?: boolean; targetBotId?: string | null; botId?: string } = {}): BotAnswer => ({
  kind: 'answered',
  reply: { content, conversationId: 'conv-1', transferToAgent: extra.transferToAgent ?? false, targetBotId: extra.targetBotId ?? null },
  botId: extra.botId ?? BOT,
  conversationId: 'conv-1',
});
const failed = (learnt: { botId?: string; conversationId?: string } = {}): BotAnswer => ({
  kind: 'failed',
  error: new UpstreamError('toolzz_http_500', 'http_status', 'toolzz answered 500', { status: 500, retryable: true, ambiguous: true }),
  learnt,
});
const backToBot = { state: 'bot', handoffId: null, humanUntil: null, takenBy: null };
const humanFor = (minutes: number) => ({ state: 'human' as const, handoffId: 'h-1', takenBy: 'handoff' as const, humanUntil: NOW + minutes * 60_000, conversationId: 'conv-0' });

interface Row {
  name: string;
  ctx: TurnContext;
  bot?: BotAnswer;
  asks: boolean;
  expect: (decision: TurnDecision) => void;
}

const rows: Row[] = [
  {
    name: 'a fresh customer, the bot answers: replied, the reply for the customer, botId and conversationId kept',
    ctx: context(),
    bot: answered('Olá!'),
    asks: true,
    expect: (d) => {
      expect(d.outcome).toEqual({ kind: 'replied', reply: 'Olá!', conversationId: 'conv-1' });
      expect(d.events).toEqual([{ type: 'message.replied', reply: 'Olá!', conversationId: 'conv-1' }]);
      expect(d.commit.conversation?.fields).toEqual({ address: '5511999990000', addressKind: 'phone', contactPhone: '5511999990000', botId: BOT, conversationId: 'conv-1' });
      expect(d.handoff).toBeNull();
    },
  },
  {
    name: 'with a human whose period runs: human_active, nothing asked, nothing written',
    ctx: context({ conversation: humanFor(30) }),
    asks: false,
    expect: (d) => expect(d).toEqual({ outcome: { kind: 'human_active', handoffId: 'h-1' }, events: [], commit: {}, handoff: null, expired: false }),
  },
  {
    name: 'a pending handoff has no human period yet: human_active whatever the time (SPEC §8.4)',
    ctx: context({ conversation: { state: 'handoff_pending', handoffId: 'h-1', takenBy: 'handoff', humanUntil: null } }),
    asks: false,
    expect: (d) => expect(d.outcome).toEqual({ kind: 'human_active', handoffId: 'h-1' }),
  },
  {
    name: 'a human period that ran out: back with the bot, counted as expired',
    ctx: context({ conversation: humanFor(-1) }),
    bot: answered('De volta!'),
    asks: true,
    expect: (d) => {
      expect(d.expired).toBe(true);
      expect(d.outcome.kind).toBe('replied');
      expect(d.commit.conversation?.fields).toMatchObject({ ...backToBot, botId: BOT, conversationId: 'conv-1' });
    },
  },
  {
    name: 'the platform says the human is done: the bot is asked, the conversation is the bot’s',
    ctx: context({ conversation: humanFor(30), humanDone: true }),
    bot: answered('Oi de novo'),
    asks: true,
    expect: (d) => {
      expect(d.outcome.kind).toBe('replied');
      expect(d.commit.conversation?.fields).toMatchObject(backToBot);
    },
  },
  {
    name: 'the bot asks for a human: a handoff, its job, the reply with it, the conversation pending with no human period yet',
    ctx: context(),
    bot: answered('Vou transferir', { transferToAgent: true }),
    asks: true,
    expect: (d) => {
      expect(d.outcome).toEqual({ kind: 'handoff_queued', reply: 'Vou transferir', conversationId: 'conv-1', handoffId: HANDOFF_ID });
      expect(d.events).toEqual([{ type: 'handoff.queued', reply: 'Vou transferir', conversationId: 'conv-1', handoffId: HANDOFF_ID }]);
      expect(d.handoff).toMatchObject({ handoffId: HANDOFF_ID, provider: 'superagentes', reason: 'transfer_to_agent', lastMessage: 'oi', botReply: 'Vou transferir', conversationId: 'conv-1' });
      expect(d.commit.handoff).toEqual({ create: d.handoff });
      expect(d.commit.conversation?.fields).toMatchObject({ state: 'handoff_pending', handoffId: HANDOFF_ID, humanUntil: null, takenBy: 'handoff' });
    },
  },
  {
    name: 'a bot-to-bot transfer that was followed: the answering bot owns the conversation',
    ctx: context(),
    bot: answered('Sou o especialista', { botId: OTHER_BOT }),
    asks: true,
    expect: (d) => expect(d.commit.conversation?.fields).toMatchObject({ botId: OTHER_BOT }),
  },
  {
    name: 'synchronous channel, the bot fails: bot_failed (the caller answers 502/504), nothing but what was learnt',
    ctx: context({ channel: 'sync', conversation: { state: 'handoff_failed', handoffId: 'h-0' } }),
    bot: failed(),
    asks: true,
    expect: (d) => {
      expect(d.outcome.kind).toBe('bot_failed');
      expect(d.events).toEqual([]);
      // Back from a failed handoff: that is stored whatever the bot did.
      expect(d.commit.conversation?.fields).toMatchObject(backToBot);
    },
  },
  {
    name: 'asynchronous channel, the bot fails (botFailure handoff, the default): the customer is told, then handed off',
    ctx: context(),
    bot: failed(),
    asks: true,
    expect: (d) => {
      expect(d.outcome).toMatchObject({ kind: 'handoff_queued', reply: 'Desculpe, não consegui responder agora. Vou transferir você para um atendente.', handoffId: HANDOFF_ID });
      expect(d.events).toEqual([{ type: 'message.replied', reply: 'Desculpe, não consegui responder agora. Vou transferir você para um atendente.', conversationId: null }]);
      expect(d.handoff).toMatchObject({ reason: 'bot_failure', conversationId: `none:${HANDOFF_ID}` });
    },
  },
  {
    name: 'botFailure reply: the customer is told, the conversation stays with the bot, what a hop learnt is kept',
    ctx: context({ channel: 'evo-reply' }),
    bot: failed({ botId: OTHER_BOT, conversationId: 'conv-9' }),
    asks: true,
    expect: (d) => {
      expect(d.outcome).toEqual({ kind: 'replied', reply: 'Desculpe, não consegui responder agora. Pode repetir, por favor?', conversationId: 'conv-9' });
      expect(d.commit.conversation?.fields).toMatchObject({ botId: OTHER_BOT, conversationId: 'conv-9' });
      expect(d.handoff).toBeNull();
    },
  },
  {
    name: 'botFailure ignore: nothing said, nothing handed off',
    ctx: context({ channel: 'evo-strict' }),
    bot: failed(),
    asks: true,
    expect: (d) => expect(d).toMatchObject({ outcome: { kind: 'ignored' }, events: [], handoff: null }),
  },
  {
    name: 'a message without text (unsupported reply, the default): the message, no bot call',
    ctx: context({ text: null }),
    asks: false,
    expect: (d) => expect(d.outcome).toEqual({ kind: 'replied', reply: 'Ainda não consigo entender áudios, imagens ou figurinhas. Pode escrever sua mensagem, por favor?', conversationId: null }),
  },
  {
    name: 'unsupported ignore: nothing',
    ctx: context({ channel: 'evo-reply', text: null }),
    asks: false,
    expect: (d) => expect(d).toMatchObject({ outcome: { kind: 'ignored' }, events: [], handoff: null }),
  },
  {
    name: 'unsupported handoff: handed off with no reply and no Toolzz conversation yet',
    ctx: context({ channel: 'evo-strict', text: null }),
    asks: false,
    expect: (d) => {
      expect(d.outcome).toEqual({ kind: 'handoff_queued', reply: null, conversationId: `none:${HANDOFF_ID}`, handoffId: HANDOFF_ID });
      expect(d.events).toEqual([]);
      expect(d.handoff).toMatchObject({ reason: 'unsupported', lastMessage: '', botReply: null });
    },
  },
  {
    name: 'a message without text while a human has the conversation: nothing (the human sees it)',
    ctx: context({ text: null, conversation: humanFor(30) }),
    asks: false,
    expect: (d) => expect(d.outcome.kind).toBe('human_active'),
  },
];

describe('decideTurn (the turn decision, pure)', () => {
  it.each(rows)('$name', (row) => {
    expect(needsBot(row.ctx)).toBe(row.asks);
    row.expect(decideTurn(row.ctx, row.bot));
  });

  it('a text with no bot answer is a programming error, not a silent outcome', () => {
    expect(() => decideTurn(context())).toThrow(/needs the bot/);
  });
});
