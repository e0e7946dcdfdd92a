import { truncateCodePoints } from '../text.js';

/** Placeholders a `handoff.note` / `handoff.title` template may use (SPEC §5). */
export const NOTE_PLACEHOLDERS = ['name', 'phone', 'lastMessage', 'botReply', 'channel'] as const;
export type NoteValues = Record<(typeof NOTE_PLACEHOLDERS)[number], string>;

/** The SPEC §5 default context note, in pt-BR for the attendants. */
export const DEFAULT_NOTE_TEMPLATE =
  'Transferido pelo assistente virtual. Cliente: {name} ({phone}). Última mensagem: "{lastMessage}". Resposta do assistente: "{botReply}"';

export interface NoteInput {
  name: string | null;
  phone: string;
  lastMessage: string;
  botReply: string | null;
  channel: string;
}

/**
 * Fills a template in a single pass (a customer's text containing "{phone}" stays as typed)
 * and truncates to `maxChars` code points without splitting a character.
 */
export function renderNote(template: string, input: NoteInput, maxChars?: number): string {
  const values: NoteValues = {
    name: input.name && input.name.trim() !== '' ? input.name : 'sem nome',
    phone: input.phone,
    lastMessage: input.lastMessage,
    botReply: input.botReply ?? '',
    channel: input.channel,
  };
  const text = template.replace(/\{(name|phone|lastMessage|botReply|channel)\}/g, (_, key: keyof NoteValues) => values[key]);
  return maxChars === undefined ? text : truncateCodePoints(text, maxChars);
}
