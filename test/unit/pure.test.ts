import { describe, expect, it } from 'vitest';
import { classifyStatus } from '../../src/errors.js';
import { DEFAULT_NOTE_TEMPLATE, renderNote } from '../../src/handoff/note.js';
import { parseRetryAfter } from '../../src/http/request.js';
import { joinUrl } from '../../src/http/url.js';
import { codePointLength, truncateCodePoints } from '../../src/text.js';
import { normalizePhone } from '../../src/webhook/schema.js';
import { effectiveState, EMPTY_CONVERSATION } from '../../src/conversations/state.js';

describe('classifyStatus (SPEC §5 retry table)', () => {
  it.each([
    [408, true],
    [425, true],
    [429, true],
    [500, true],
    [502, true],
    [503, true],
    [504, true],
    [400, false],
    [401, false],
    [403, false],
    [404, false],
    [409, false],
    [422, false],
  ])('%i → retryable %s', (status, retryable) => {
    expect(classifyStatus(status).retryable).toBe(retryable);
  });

  it('a 5xx may have been applied; a 429 was not', () => {
    expect(classifyStatus(503).ambiguous).toBe(true);
    expect(classifyStatus(429).ambiguous).toBe(false);
  });
});

describe('parseRetryAfter', () => {
  it('reads seconds and HTTP dates', () => {
    expect(parseRetryAfter('7')).toBe(7000);
    const now = Date.parse('2026-11-21T10:00:00Z');
    expect(parseRetryAfter('Sat, 21 Nov 2026 10:00:30 GMT', now)).toBe(30_000);
    expect(parseRetryAfter('Sat, 21 Nov 2026 09:00:00 GMT', now)).toBe(0);
    expect(parseRetryAfter(undefined)).toBeUndefined();
    expect(parseRetryAfter('soon')).toBeUndefined();
  });
});

describe('normalizePhone', () => {
  it.each([
    ['+55 (11) 99999-0000', '5511999990000'],
    ['5511999990000', '5511999990000'],
    ['55.11.9999.0000', '551199990000'],
    ['1199990000', '1199990000'],
    ['123456789012345', '123456789012345'],
  ])('%s → %s', (raw, digits) => expect(normalizePhone(raw)).toBe(digits));

  it.each(['119999000', '1234567890123456', '55 11 9999O-0000', '', '+', '55+11999990000', '５５１１９９９９９００００'])('rejects %j', (raw) => {
    expect(normalizePhone(raw)).toBeNull();
  });
});

describe('code points', () => {
  it('counts an emoji as one character', () => {
    expect(codePointLength('😀a')).toBe(2);
    expect(codePointLength('\ud83d')).toBe(1); // a lone surrogate is still one
  });
  it('truncates without splitting a surrogate pair', () => {
    expect(truncateCodePoints('ab😀c', 3)).toBe('ab😀');
    expect(truncateCodePoints('😀'.repeat(5), 2)).toBe('😀😀');
    expect(truncateCodePoints('abc', 10)).toBe('abc');
  });
});

describe('renderNote', () => {
  const input = { name: 'João', phone: '5511999990000', lastMessage: 'Quero {phone}', botReply: 'Ok', channel: 'vendas' };
  it('renders the SPEC default template', () => {
    expect(renderNote(DEFAULT_NOTE_TEMPLATE, input)).toBe(
      'Transferido pelo assistente virtual. Cliente: João (5511999990000). Última mensagem: "Quero {phone}". Resposta do assistente: "Ok"',
    );
  });
  it('says "sem nome" without a name and truncates to the limit by characters', () => {
    expect(renderNote('{name}|{channel}', { ...input, name: null })).toBe('sem nome|vendas');
    const note = renderNote('{lastMessage}', { ...input, lastMessage: '😀'.repeat(1200) }, 1000);
    expect(codePointLength(note)).toBe(1000);
    expect(note.endsWith('😀')).toBe(true);
  });
});

describe('joinUrl', () => {
  it('keeps a base path prefix', () => {
    expect(joinUrl('http://proxy/toolzz/', '/api/v1/x').toString()).toBe('http://proxy/toolzz/api/v1/x');
    expect(joinUrl('https://chat.mehub.app', 'api/v1/chats').toString()).toBe('https://chat.mehub.app/api/v1/chats');
  });
});

describe('effectiveState', () => {
  it('a human period that ran out is back with the bot', () => {
    const human = { ...EMPTY_CONVERSATION, state: 'human' as const, humanUntil: 1000 };
    expect(effectiveState(human, 999)).toBe('human');
    expect(effectiveState(human, 1000)).toBe('bot');
    expect(effectiveState({ ...human, state: 'handoff_failed' }, 5000)).toBe('handoff_failed');
  });
});
