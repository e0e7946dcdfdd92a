import { codePointLength, truncateCodePoints } from '../text.js';

/** Placeholders a `handoff.note` / `handoff.title` template may use (SPEC §5, §13). */
export const NOTE_PLACEHOLDERS = ['name', 'phone', 'lastMessage', 'botReply', 'channel', 'transcript'] as const;
export type NoteValues = Record<(typeof NOTE_PLACEHOLDERS)[number], string>;

/**
 * The SPEC §5 default context note, in pt-BR for the attendants. Used as the default, it is
 * followed by a line break and the transcript when there is one (SPEC §13), so a handoff on a
 * customer's first message keeps this note exactly.
 */
export const DEFAULT_NOTE_TEMPLATE =
  'Transferido pelo assistente virtual. Cliente: {name} ({phone}). Última mensagem: "{lastMessage}". Resposta do assistente: "{botReply}"';

export interface NoteInput {
  name: string | null;
  phone: string;
  lastMessage: string;
  botReply: string | null;
  channel: string;
  /**
   * The conversation's lines before the message that caused the handoff, oldest first
   * (`Cliente: …` / `Assistente: …`, SPEC §13); absent or empty: none.
   */
  transcript?: readonly string[];
}

function fill(template: string, values: NoteValues): string {
  // One pass: a customer's text containing "{phone}" stays as typed.
  return template.replace(/\{(name|phone|lastMessage|botReply|channel|transcript)\}/g, (_, key: keyof NoteValues) => values[key]);
}

/**
 * Fills a template (`undefined`: the default note, with the transcript after a line break)
 * and fits it in `maxChars` code points: the transcript's oldest lines are dropped first, and
 * only if the note is still too long without any is it cut — never inside a character.
 */
export function renderNote(template: string | undefined, input: NoteInput, maxChars?: number): string {
  const values: NoteValues = {
    name: input.name && input.name.trim() !== '' ? input.name : 'sem nome',
    phone: input.phone,
    lastMessage: input.lastMessage,
    botReply: input.botReply ?? '',
    channel: input.channel,
    transcript: '',
  };
  const lines = input.transcript ?? [];
  const render = (from: number): string => {
    const transcript = lines.slice(from).join('\n');
    if (template !== undefined) return fill(template, { ...values, transcript });
    const note = fill(DEFAULT_NOTE_TEMPLATE, values);
    return transcript === '' ? note : `${note}\n${transcript}`;
  };
  let from = 0;
  let text = render(from);
  if (maxChars === undefined) return text;
  while (from < lines.length && codePointLength(text) > maxChars) text = render(++from);
  return truncateCodePoints(text, maxChars);
}
