/**
 * Business hours (SPEC §12), pure: a weekly schedule of opening ranges in an IANA time zone,
 * whole days closed (holidays), and the two questions the service asks of it — is it open at
 * this instant, and when does it next open. Local times are read with `Intl` (the zone's own
 * rules, DST history included); nothing here reads the clock.
 */

/** Monday first, as the configuration names them. */
export const DAY_NAMES = ['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun'] as const;
export type DayName = (typeof DAY_NAMES)[number];

/** An opening range of one day, in minutes since local midnight: start inclusive, end exclusive (1440 = 24:00). */
export type Range = readonly [start: number, end: number];

export interface Calendar {
  readonly timezone: string;
  /** Per day, Monday first: the day's ranges, sorted and merged. */
  readonly weekly: readonly (readonly Range[])[];
  /** Local dates (`YYYY-MM-DD`) closed all day. */
  readonly closed: ReadonlySet<string>;
}

/** A local date and time in the calendar's zone. */
interface Local {
  date: string;
  /** 0 = Monday. */
  weekday: number;
  /** Minutes since local midnight. */
  minute: number;
}

const formatters = new Map<string, Intl.DateTimeFormat>();
function formatter(timezone: string): Intl.DateTimeFormat {
  let format = formatters.get(timezone);
  if (!format) {
    format = new Intl.DateTimeFormat('en-US', { timeZone: timezone, hourCycle: 'h23', year: 'numeric', month: '2-digit', day: '2-digit', hour: '2-digit', minute: '2-digit', second: '2-digit' });
    formatters.set(timezone, format);
  }
  return format;
}

/** True when `timezone` is an IANA zone this runtime knows. */
export function isTimezone(timezone: string): boolean {
  try {
    formatter(timezone);
    return true;
  } catch {
    return false;
  }
}

/** The wall clock of `at` in `timezone`, as UTC fields (ms since the epoch of that wall time). */
function wallClock(timezone: string, at: number): number {
  const parts: Record<string, number> = {};
  for (const part of formatter(timezone).formatToParts(new Date(at))) if (part.type !== 'literal') parts[part.type] = Number(part.value);
  return Date.UTC(parts.year ?? 1970, (parts.month ?? 1) - 1, parts.day ?? 1, parts.hour ?? 0, parts.minute ?? 0, parts.second ?? 0);
}

/** The zone's offset from UTC at `at` (ms; positive east of Greenwich), to the second. */
function offsetAt(timezone: string, at: number): number {
  const whole = Math.floor(at / 1000) * 1000;
  return wallClock(timezone, whole) - whole;
}

/** `YYYY-MM-DD` of a UTC-fields timestamp. */
const isoDate = (wall: number) => new Date(wall).toISOString().slice(0, 10);
/** 0 = Monday of a UTC-fields timestamp. */
const weekdayOf = (wall: number) => (new Date(wall).getUTCDay() + 6) % 7;

function local(calendar: Calendar, at: number): Local {
  const wall = wallClock(calendar.timezone, at);
  const day = Math.floor(wall / 86_400_000) * 86_400_000;
  return { date: isoDate(day), weekday: weekdayOf(day), minute: Math.floor((wall - day) / 60_000) };
}

/**
 * The instant a local wall time (UTC fields) happens in `timezone`. A time that does not
 * exist (skipped by a DST change) resolves to the instant right after the gap: opening at a
 * skipped 00:00 opens at the new 01:00.
 */
export function instantOf(timezone: string, wall: number): number {
  let at = wall - offsetAt(timezone, wall);
  const second = wall - offsetAt(timezone, at);
  if (second !== at) {
    // Across a DST change: the offset after the change names the instant; in a gap, both
    // candidates' wall times differ from the one asked for — take the later one.
    const candidates = [at, second].filter((t) => wallClock(timezone, t) === wall);
    at = candidates.length > 0 ? Math.min(...candidates) : Math.max(at, second);
  }
  return at;
}

/** Open at `at`: not a closed date, and within one of the day's ranges. */
export function isOpen(calendar: Calendar, at: number): boolean {
  const { date, weekday, minute } = local(calendar, at);
  if (calendar.closed.has(date)) return false;
  return (calendar.weekly[weekday] ?? []).some(([start, end]) => minute >= start && minute < end);
}

/** How far ahead {@link nextOpening} looks (a calendar closed longer than this never opens). */
const HORIZON_DAYS = 400;

/**
 * The next instant the calendar is open: `at` itself when open now, else the start of the
 * next range on a day that is not closed. Null when it never opens within 400 days (no range,
 * or every day closed).
 */
export function nextOpening(calendar: Calendar, at: number): number | null {
  if (isOpen(calendar, at)) return at;
  const today = local(calendar, at);
  const midnight = Date.parse(`${today.date}T00:00:00Z`);
  for (let offset = 0; offset <= HORIZON_DAYS; offset++) {
    const day = midnight + offset * 86_400_000;
    if (calendar.closed.has(isoDate(day))) continue;
    for (const [start] of calendar.weekly[weekdayOf(day)] ?? []) {
      const opening = instantOf(calendar.timezone, day + start * 60_000);
      if (opening > at) return opening;
    }
  }
  return null;
}

/** `08:00` → 480; `24:00` → 1440; null when not a time of day. */
export function minuteOf(text: string): number | null {
  const match = /^([01]\d|2[0-4]):([0-5]\d)$/.exec(text);
  if (!match) return null;
  const minute = Number(match[1]) * 60 + Number(match[2]);
  return minute <= 1440 ? minute : null;
}

/** `mon`, `mon-fri`, `fri-mon` (wrapping) → the days, Monday = 0; null when not a day or a range of days. */
export function daysOf(key: string): number[] | null {
  const [from, to, extra] = key.trim().toLowerCase().split('-');
  if (extra !== undefined || from === undefined) return null;
  const first = DAY_NAMES.indexOf(from as DayName);
  const last = to === undefined ? first : DAY_NAMES.indexOf(to as DayName);
  if (first < 0 || last < 0) return null;
  const days: number[] = [];
  for (let day = first; ; day = (day + 1) % 7) {
    days.push(day);
    if (day === last) return days;
  }
}

/** A day's ranges sorted, with overlapping or touching ones merged. */
export function mergeRanges(ranges: readonly Range[]): Range[] {
  const sorted = [...ranges].sort((a, b) => a[0] - b[0]);
  const merged: [number, number][] = [];
  for (const [start, end] of sorted) {
    const last = merged.at(-1);
    if (last && start <= last[1]) last[1] = Math.max(last[1], end);
    else merged.push([start, end]);
  }
  return merged;
}

/** `YYYY-MM-DD` that is a real date. */
export function isDate(text: string): boolean {
  if (!/^\d{4}-\d{2}-\d{2}$/.test(text)) return false;
  return isoDate(Date.parse(`${text}T00:00:00Z`)) === text;
}
