import { describe, expect, it } from 'vitest';
import { WINDOW_MS, windowSend } from '../../src/channels/whatsapp-cloud/window.js';
import { parseConfig, type ChannelConfig } from '../../src/config/index.js';
import { EMPTY_CONVERSATION } from '../../src/conversations/state.js';
import { UpstreamError } from '../../src/errors.js';
import { DEFAULT_NOTE_TEMPLATE, renderNote, type NoteInput } from '../../src/handoff/note.js';
import { decideTurn } from '../../src/turn/decide.js';
import { NO_TEXT_LINE, transcriptOf } from '../../src/turn/transcript.js';
import type { TurnContext } from '../../src/turn/types.js';

/** SPEC §13's pure rules: the window decision, the transcript lines a turn adds, and the note that carries them. */

const NOW = Date.parse('2026-12-03T12:00:00Z');
const TEMPLATE = { name: 'retomar_atendimento', language: 'pt_BR' };

describe('the 24-hour window', () => {
  it('free text inside the window and when the last message is unknown; the template (or nothing) from 24 h on', () => {
    expect(windowSend(NOW - WINDOW_MS + 1, NOW, TEMPLATE)).toBe('text');
    expect(windowSend(null, NOW, undefined)).toBe('text');
    expect(windowSend(NOW - WINDOW_MS, NOW, TEMPLATE)).toBe('template');
    expect(windowSend(NOW - WINDOW_MS, NOW, undefined)).toBe('outside_window');
  });
});

describe('the context note with a transcript', () => {
  const input: NoteInput = { name: 'Rui', phone: '5511999990000', lastMessage: 'atendente', botReply: 'Certo!', channel: 'vendas' };
  const spec = renderNote(DEFAULT_NOTE_TEMPLATE, input);

  it('the default is §5’s note alone without a transcript, and the transcript after a line break with one', () => {
    expect(renderNote(undefined, input)).toBe(spec);
    expect(renderNote(undefined, { ...input, transcript: [] })).toBe(spec);
    expect(renderNote(undefined, { ...input, transcript: ['Cliente: oi', 'Assistente: olá'] })).toBe(`${spec}\nCliente: oi\nAssistente: olá`);
  });

  it('{transcript} in a custom template; empty when there is none', () => {
    expect(renderNote('{name}: {transcript}|', { ...input, transcript: ['Cliente: a', 'Cliente: b'] })).toBe('Rui: Cliente: a\nCliente: b|');
    expect(renderNote('{name}: {transcript}|', input)).toBe('Rui: |');
  });

  it('fits the limit by dropping the oldest lines first, then cuts the note itself without splitting a character', () => {
    const lines = ['Cliente: 111111', 'Cliente: 222222', 'Cliente: 333333'];
    const limit = [...spec].length + 1 + 15 + 1 + 15;
    expect(renderNote(undefined, { ...input, transcript: lines }, limit)).toBe(`${spec}\nCliente: 222222\nCliente: 333333`);
    expect(renderNote(undefined, { ...input, transcript: lines }, limit - 1)).toBe(`${spec}\nCliente: 333333`);
    const tiny = renderNote('😀😀😀{transcript}', { ...input, transcript: lines }, 2);
    expect(tiny).toBe('😀😀');
  });
});

describe('the lines a turn adds', () => {
  const config = parseConfig(
    {
      toolzz: { token: 'toolzz-test-token-1234567890' },
      providers: { superagentes: { token: 'superagentes-token' } },
      channels: {
        ten: { auth: { token: 'sync-token-123456' }, bot: { id: '6b3c9f0e-1c2d-4e5f-8a9b-0c1d2e3f4a5b' }, handoff: { provider: 'superagentes' } },
        off: { auth: { token: 'sync-token-123456' }, bot: { id: '6b3c9f0e-1c2d-4e5f-8a9b-0c1d2e3f4a5b' }, handoff: { provider: 'superagentes', transcript: 0 } },
        chain: {
          auth: { token: 'sync-token-123456' },
          bot: { id: '6b3c9f0e-1c2d-4e5f-8a9b-0c1d2e3f4a5b' },
          handoff: { provider: 'superagentes', transcript: 3, fallback: [{ provider: 'superagentes', transcript: 20 }] },
        },
      },
    },
    {},
  );
  const ctx = (channel: string, text: string | null): TurnContext => ({
    channelName: channel,
    channel: config.channels[channel] as ChannelConfig,
    message: { messageId: 'm1', phone: '5511999990000', name: 'Bia', text, contactPhone: '5511999990000', externalIds: {} },
    conversation: EMPTY_CONVERSATION,
    now: NOW,
    humanDone: false,
    idleTtlMs: 3_600_000,
    handoffId: 'h-1',
  });
  const reply = (content: string) => ({ kind: 'answered' as const, reply: { content, conversationId: 'c', transferToAgent: false, targetBotId: null }, botId: 'b', conversationId: 'c' });

  it('the customer’s message on one line, then what they were told; kept as many as the largest leg wants', () => {
    const c = ctx('chain', 'oi\ntudo bem?');
    expect(transcriptOf(c, decideTurn(c, reply('Olá!\nComo posso ajudar?')))).toEqual({
      append: ['Cliente: oi / tudo bem?', 'Assistente: Olá! / Como posso ajudar?'],
      keep: 20,
      ttlMs: 3_600_000,
    });
  });

  it('a message without text has a line of its own; none is kept with transcript: 0 or for a synchronous bot failure', () => {
    const media = ctx('ten', null);
    expect(transcriptOf(media, decideTurn(media))?.append[0]).toBe(`Cliente: ${NO_TEXT_LINE}`);
    const off = ctx('off', 'oi');
    expect(transcriptOf(off, decideTurn(off, reply('olá')))).toBeUndefined();
    const failing = ctx('ten', 'oi');
    const failed = decideTurn(failing, { kind: 'failed', error: new UpstreamError('toolzz_http_500', 'http_status', 'x', { retryable: true }), learnt: {} });
    expect(failed.outcome.kind).toBe('bot_failed');
    expect(transcriptOf(failing, failed)).toBeUndefined();
  });
});
