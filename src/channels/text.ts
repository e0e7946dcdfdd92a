import { codePointLength } from '../text.js';

/** WhatsApp (Cloud API, Evolution, Z-API) takes at most 4096 characters per text message. */
export const MAX_TEXT_CHARS = 4096;

/**
 * Splits `text` into parts of at most `max` characters (code points), in order: at the last
 * line break within the limit, else the last space, else at the limit — never inside a
 * character (a surrogate pair stays whole). Parts keep their text exactly; the break
 * character itself is dropped.
 */
export function splitText(text: string, max = MAX_TEXT_CHARS): string[] {
  const parts: string[] = [];
  let rest = text;
  while (codePointLength(rest) > max) {
    // The first `max` code points, as a UTF-16 index.
    let end = 0;
    for (let points = 0; points < max; points++) end += (rest.codePointAt(end) ?? 0) > 0xffff ? 2 : 1;
    const head = rest.slice(0, end);
    const cut = head.lastIndexOf('\n') > 0 ? head.lastIndexOf('\n') : head.lastIndexOf(' ') > 0 ? head.lastIndexOf(' ') : -1;
    if (cut > 0) {
      parts.push(rest.slice(0, cut));
      rest = rest.slice(cut + 1);
    } else {
      parts.push(head);
      rest = rest.slice(end);
    }
  }
  if (rest !== '' || parts.length === 0) parts.push(rest);
  return parts;
}

/** The texts a customer-facing event becomes on a text channel (none for an empty reply). */
export function textsOf(text: string | null | undefined): { kind: 'text'; text: string }[] {
  return text && text.trim() !== '' ? [{ kind: 'text', text }] : [];
}
