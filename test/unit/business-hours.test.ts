import { describe, expect, it } from 'vitest';
import { ConfigError, parseConfig } from '../../src/config/index.js';
import { instantOf, isOpen, nextOpening, type Calendar } from '../../src/hours/calendar.js';
import { hoursSchema } from '../../src/hours/config.js';

/** SPEC §12: the business-hours calendar and the configuration of §12's keys. */
const calendar = (hours: Record<string, unknown>): Calendar => hoursSchema.parse(hours).calendar;
const iso = (at: number | null) => (at === null ? null : new Date(at).toISOString());
const at = (text: string) => Date.parse(text);

// 2026-12-07 is a Monday. São Paulo is UTC-3 all year since 2019.
const sp = calendar({ weekly: { 'mon-fri': ['08:00-12:00', '13:00-18:00'], sat: ['09:00-13:00'] }, closed: ['2026-12-25', '2027-01-01'] });

describe('the calendar', () => {
  it('is open inside a range, closed outside it, on the lunch break and on days not listed', () => {
    expect(isOpen(sp, at('2026-12-07T11:00:00Z'))).toBe(true); // mon 08:00 local
    expect(isOpen(sp, at('2026-12-07T10:59:59Z'))).toBe(false); // mon 07:59:59
    expect(isOpen(sp, at('2026-12-07T15:30:00Z'))).toBe(false); // mon 12:30, lunch
    expect(isOpen(sp, at('2026-12-07T20:59:00Z'))).toBe(true); // mon 17:59
    expect(isOpen(sp, at('2026-12-07T21:00:00Z'))).toBe(false); // mon 18:00: a range's end is closed
    expect(isOpen(sp, at('2026-12-12T13:00:00Z'))).toBe(true); // sat 10:00
    expect(isOpen(sp, at('2026-12-13T15:00:00Z'))).toBe(false); // sunday
  });

  it('is closed all day on a holiday, whatever the weekly ranges say', () => {
    expect(isOpen(sp, at('2026-12-25T14:00:00Z'))).toBe(false); // fri 11:00, Christmas
    expect(isOpen(sp, at('2026-12-24T14:00:00Z'))).toBe(true);
  });

  it('next opening: now when open, the afternoon after lunch, the next morning, over the weekend', () => {
    expect(iso(nextOpening(sp, at('2026-12-07T12:00:00Z')))).toBe('2026-12-07T12:00:00.000Z');
    expect(iso(nextOpening(sp, at('2026-12-07T15:30:00Z')))).toBe('2026-12-07T16:00:00.000Z'); // 13:00 local
    expect(iso(nextOpening(sp, at('2026-12-07T23:00:00Z')))).toBe('2026-12-08T11:00:00.000Z'); // tue 08:00
    expect(iso(nextOpening(sp, at('2026-12-12T17:00:00Z')))).toBe('2026-12-14T11:00:00.000Z'); // sat 14:00 → mon 08:00
    expect(iso(nextOpening(sp, at('2026-12-13T02:00:00Z')))).toBe('2026-12-14T11:00:00.000Z'); // sat 23:00 → mon
  });

  it('next opening across a week and across holidays: Christmas Eve evening opens on Saturday the 26th', () => {
    expect(iso(nextOpening(sp, at('2026-12-24T22:00:00Z')))).toBe('2026-12-26T12:00:00.000Z'); // thu 19:00 → sat 09:00
    // New Year's Eve (thu) evening: fri 1 Jan closed → sat 2 Jan 09:00.
    expect(iso(nextOpening(sp, at('2026-12-31T22:00:00Z')))).toBe('2027-01-02T12:00:00.000Z');
    // Only Wednesdays open: from a Wednesday evening, the next Wednesday.
    const weekly = calendar({ timezone: 'UTC', weekly: { wed: ['10:00-11:00'] } });
    expect(iso(nextOpening(weekly, at('2026-12-09T12:00:00Z')))).toBe('2026-12-16T10:00:00.000Z');
  });

  it('a zone with DST history: São Paulo in 2018 (UTC-2 in summer) and New York today', () => {
    const sp2018 = calendar({ weekly: { 'mon-sun': ['08:00-18:00'] } });
    // Brazil's summer time began on 2018-11-04 (00:00 → 01:00): 08:00 local was 11:00Z before, 10:00Z after.
    expect(iso(nextOpening(sp2018, at('2018-11-03T02:00:00Z')))).toBe('2018-11-03T11:00:00.000Z');
    expect(iso(nextOpening(sp2018, at('2018-11-05T02:00:00Z')))).toBe('2018-11-05T10:00:00.000Z');
    expect(isOpen(sp2018, at('2018-11-05T10:30:00Z'))).toBe(true); // 08:30 summer time
    const ny = calendar({ timezone: 'America/New_York', weekly: { 'mon-fri': ['09:00-17:00'] } });
    // 2026-03-08 (sunday) clocks go forward: friday 6 March 17:00 EST → monday 9 March 09:00 EDT = 13:00Z.
    expect(iso(nextOpening(ny, at('2026-03-06T22:30:00Z')))).toBe('2026-03-09T13:00:00.000Z');
    expect(iso(nextOpening(ny, at('2026-03-05T23:00:00Z')))).toBe('2026-03-06T14:00:00.000Z'); // still EST
  });

  it('a wall time skipped by a DST change opens right after the gap; a repeated one at its first occurrence', () => {
    // Brazil 2018-11-04: 00:00 did not exist (clocks went from 00:00 -03 to 01:00 -02 = 03:00Z).
    expect(iso(instantOf('America/Sao_Paulo', Date.UTC(2018, 10, 4, 0, 0)))).toBe('2018-11-04T03:00:00.000Z');
    // New York 2026-11-01: 01:30 happened twice (EDT 05:30Z, then EST 06:30Z).
    expect(iso(instantOf('America/New_York', Date.UTC(2026, 10, 1, 1, 30)))).toBe('2026-11-01T05:30:00.000Z');
  });

  it('a DST-free zone, a range up to 24:00, a night shift as two ranges, a wrapping day range', () => {
    const night = calendar({ timezone: 'Asia/Tokyo', weekly: { 'fri-mon': ['22:00-24:00', '00:00-06:00'] } });
    expect(isOpen(night, at('2026-12-11T14:30:00Z'))).toBe(true); // fri 23:30 JST
    expect(isOpen(night, at('2026-12-11T15:30:00Z'))).toBe(true); // sat 00:30 JST
    expect(isOpen(night, at('2026-12-08T15:30:00Z'))).toBe(false); // wed 00:30 JST: tue is not in fri-mon
    expect(isOpen(night, at('2026-12-14T19:30:00Z'))).toBe(false); // tue 04:30 JST: tue is not in fri-mon
    expect(iso(nextOpening(night, at('2026-12-09T03:00:00Z')))).toBe('2026-12-10T15:00:00.000Z'); // wed noon → fri 00:00 JST
  });

  it('returns null when it never opens within a year', () => {
    const closedForGood: Calendar = { timezone: 'UTC', weekly: [[], [], [], [], [], [], []], closed: new Set() };
    expect(nextOpening(closedForGood, at('2026-12-07T00:00:00Z'))).toBeNull();
  });
});

describe('the configuration of SPEC §12', () => {
  const channel = { auth: { token: 'x' }, bot: { id: '6b3c9f0e-1c2d-4e5f-8a9b-0c1d2e3f4a5b' }, handoff: { provider: 'mehub', channel: 'xyz789abc123def4' } };
  /** Keys set to undefined are left out (as a YAML file would). */
  const defined = (object: Record<string, unknown>) => Object.fromEntries(Object.entries(object).filter(([, value]) => value !== undefined));
  const config = (extra: Record<string, unknown>, handoff: Record<string, unknown> = {}, kind: Record<string, unknown> = {}) => ({
    toolzz: { token: 't' },
    providers: { mehub: { token: 'm' } },
    channels: { site: defined({ ...channel, ...kind, handoff: defined({ ...channel.handoff, ...handoff }), ...extra }) },
  });
  const problems = (document: unknown): string[] => {
    try {
      parseConfig(document, {});
    } catch (error) {
      if (error instanceof ConfigError) return error.problems.map((p) => `${p.path}: ${p.message}`);
      throw error;
    }
    return [];
  };

  it('parses hours with their defaults: São Paulo, queue, a default message', () => {
    const parsed = parseConfig(config({ hours: { weekly: { 'mon-fri': ['08:00-18:00'] } } }), {});
    const hours = parsed.channels.site?.hours;
    expect(hours).toMatchObject({ outside: 'queue', calendar: { timezone: 'America/Sao_Paulo' } });
    expect(hours?.message).toMatch(/fora do horário/);
  });

  it('names the path of every mistake in hours', () => {
    const found = problems(
      config({
        hours: { timezone: 'America/Sao_Pablo', weekly: { 'mon-fry': ['08:00-12:00'], tue: ['8h-12h', '18:00-08:00', '10:00-25:00'] }, closed: ['2026-02-30', 'christmas'], outside: 'later' },
      }),
    );
    expect(found).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/^channels\.site\.hours\.timezone: must be an IANA time zone/),
        expect.stringMatching(/^channels\.site\.hours\.weekly\.mon-fry: must be a day/),
        expect.stringMatching(/^channels\.site\.hours\.weekly\.tue\.0: must be a range of times/),
        expect.stringMatching(/^channels\.site\.hours\.weekly\.tue\.1: must end after it starts/),
        expect.stringMatching(/^channels\.site\.hours\.weekly\.tue\.2: must be a range of times/),
        'channels.site.hours.closed.0: must be a date YYYY-MM-DD',
        'channels.site.hours.closed.1: must be a date YYYY-MM-DD',
        expect.stringMatching(/^channels\.site\.hours\.outside: must be queue, handoff or bot/),
      ]),
    );
    expect(problems(config({ hours: { weekly: {} } }))).toEqual(['channels.site.hours.weekly: must open at least once a week']);
  });

  it('checks each fallback leg like the handoff block, at its own path', () => {
    const found = problems(config({}, { fallback: [{ provider: 'brpex' }, { provider: 'smoke-signals' }] }));
    expect(found).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/^channels\.site\.handoff\.fallback\.0\.subdomain: is required/),
        'channels.site.handoff.fallback.0.token: required: BRPEX tokens are per channel',
        expect.stringMatching(/^channels\.site\.handoff\.fallback\.1\.provider: provider must be one of/),
      ]),
    );
  });

  it('allows firstResponse only where a human answer can be seen, remind and bot only where the customer can be reached', () => {
    // A json channel handing off to BRPEX: no signal.
    expect(problems(config({}, { provider: 'brpex', subdomain: 'x', token: 'b', channel: undefined, firstResponse: { minutes: 5, action: 'fallback' }, fallback: [{ provider: 'mehub', channel: 'xyz789abc123def4' }] }))).toEqual(
      expect.arrayContaining([expect.stringMatching(/^channels\.site\.handoff\.firstResponse: needs a way to see a human answer/)]),
    );
    // MeHub on a synchronous json channel: fallback yes, remind / bot no.
    expect(problems(config({}, { firstResponse: { minutes: 5, action: 'remind', message: 'oi' } }))).toEqual(
      expect.arrayContaining(['channels.site.handoff.firstResponse.action: remind only on asynchronous channels (a synchronous channel has no way to reach the customer later)']),
    );
    expect(problems(config({}, { firstResponse: { minutes: 5, action: 'fallback' } }))).toEqual(['channels.site.handoff.firstResponse.action: fallback needs handoff.fallback: a leg to hand the customer to']);
    expect(problems(config({}, { firstResponse: { minutes: 5, action: 'fallback' }, fallback: [{ provider: 'brpex', subdomain: 'x', token: 'b' }] }))).toEqual([]);
    // A WhatsApp channel: the phone is a signal, remind needs its message.
    const wa = { kind: 'whatsapp-cloud', auth: undefined, whatsapp: { phoneNumberId: '1', accessToken: 'a', appSecret: 's', verifyToken: 'v' } };
    expect(problems(config({}, { provider: 'brpex', subdomain: 'x', token: 'b', channel: undefined, firstResponse: { minutes: 5, action: 'remind' } }, wa))).toEqual(['channels.site.handoff.firstResponse.message: is required with action remind']);
    expect(problems(config({}, { provider: 'brpex', subdomain: 'x', token: 'b', channel: undefined, firstResponse: { minutes: 5, action: 'bot', message: 'voltei' } }, wa))).toEqual([]);
  });
});
