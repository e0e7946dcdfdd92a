import { z } from 'zod';
import { customerText } from '../config/fields.js';
import { daysOf, isDate, isTimezone, mergeRanges, minuteOf, type Calendar, type Range } from './calendar.js';

/** What a handoff asked for while closed does (SPEC §12). */
export type OutsidePolicy = 'queue' | 'handoff' | 'bot';

/** What the customer is told when a handoff is asked for while closed and `message` is not set. */
export const DEFAULT_HOURS_MESSAGES: Record<OutsidePolicy, string> = {
  queue: 'Estamos fora do horário de atendimento. Um atendente fala com você assim que abrirmos.',
  handoff: 'Estamos fora do horário de atendimento. Um atendente fala com você assim que possível.',
  bot: 'Estamos fora do horário de atendimento. Se precisar de um atendente, fale com a gente no nosso horário.',
};

/** A channel's business hours, parsed: the calendar and what to do outside it. */
export interface BusinessHours {
  calendar: Calendar;
  outside: OutsidePolicy;
  message: string;
}

const RANGE = /^(\d{2}:\d{2})-(\d{2}:\d{2})$/;

/**
 * `hours` of a channel (SPEC §12): an IANA zone (default America/Sao_Paulo), weekly ranges by
 * day or range of days, whole closed days, and the `outside` policy. Every mistake is reported
 * at its path (`hours.weekly.mon-fri.1: …`).
 */
export const hoursSchema = z
  .strictObject({
    timezone: z
      .string({ error: 'must be a string' })
      .default('America/Sao_Paulo')
      .refine(isTimezone, { error: 'must be an IANA time zone, like America/Sao_Paulo' }),
    weekly: z
      .record(z.string(), z.array(z.string({ error: 'must be a range like "08:00-12:00"' }), { error: 'must be a list of ranges like "08:00-12:00"' }), {
        error: 'must map days (mon … sun, or a range like mon-fri) to lists of ranges',
      })
      .superRefine((weekly, ctx) => {
        let open = false;
        for (const [key, ranges] of Object.entries(weekly)) {
          if (!daysOf(key)) ctx.addIssue({ code: 'custom', path: [key], message: 'must be a day (mon, tue, wed, thu, fri, sat, sun) or a range of days like mon-fri' });
          ranges.forEach((text, i) => {
            const match = RANGE.exec(text.trim());
            const start = match ? minuteOf(match[1] as string) : null;
            const end = match ? minuteOf(match[2] as string) : null;
            if (start === null || end === null || start === 1440) {
              ctx.addIssue({ code: 'custom', path: [key, i], message: 'must be a range of times like "08:00-12:00" (00:00 to 24:00)' });
            } else if (end <= start) {
              ctx.addIssue({ code: 'custom', path: [key, i], message: 'must end after it starts (a night shift is two ranges on two days)' });
            } else {
              open = true;
            }
          });
        }
        if (!open) ctx.addIssue({ code: 'custom', message: 'must open at least once a week' });
      }),
    closed: z.array(z.string({ error: 'must be a date YYYY-MM-DD' }).refine(isDate, { error: 'must be a date YYYY-MM-DD' }), { error: 'must be a list of dates' }).default([]),
    outside: z.enum(['queue', 'handoff', 'bot'], { error: 'must be queue, handoff or bot' }).default('queue'),
    message: customerText.optional(),
  })
  .transform((hours): BusinessHours => {
    const days: Range[][] = Array.from({ length: 7 }, () => []);
    for (const [key, ranges] of Object.entries(hours.weekly)) {
      for (const day of daysOf(key) ?? []) {
        for (const text of ranges) {
          const match = RANGE.exec(text.trim()) as RegExpExecArray;
          days[day]?.push([minuteOf(match[1] as string) as number, minuteOf(match[2] as string) as number]);
        }
      }
    }
    return {
      calendar: { timezone: hours.timezone, weekly: days.map(mergeRanges), closed: new Set(hours.closed) },
      outside: hours.outside,
      message: hours.message ?? DEFAULT_HOURS_MESSAGES[hours.outside],
    };
  });
