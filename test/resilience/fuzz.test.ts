import { createHmac } from 'node:crypto';
import { gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SITE_SECRET, startHarness, VENDAS_TOKEN, type Harness } from '../helpers/harness.js';
import { signedHeaders } from '../helpers/sign.js';

/**
 * Webhook fuzzing: hundreds of generated bodies, all with VALID credentials (Bearer for
 * `vendas`, a Standard Webhooks signature for `site`), so every one goes past the auth check
 * and reaches the JSON parser, the schema and, when valid, the pipeline. Whatever the body,
 * the answer is one of the contract's statuses with a JSON body, never a 500, and the
 * server keeps serving afterwards.
 *
 * Reproducible: every case comes from a seeded PRNG. `FUZZ_SEED=<n> npx vitest run
 * test/resilience/fuzz.test.ts` replays a run; failure messages print the seed and case.
 */
const SEED = Number(process.env.FUZZ_SEED ?? 0x5eed_2026) >>> 0;
const CASES = 640;
const CONCURRENCY = 20;
/** The contract's answers to a webhook whose channel exists (README, "Answers"). */
const DOCUMENTED = [200, 202, 400, 401, 409, 413, 415, 502, 503, 504];

/** mulberry32: tiny, fast, good enough to pick fuzz cases reproducibly. */
function prng(seed: number) {
  let a = seed >>> 0;
  const next = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const int = (n: number) => Math.floor(next() * n);
  return { next, int, pick: <T>(items: readonly T[]): T => items[int(items.length)] as T };
}
type Rng = ReturnType<typeof prng>;

interface Case {
  n: number;
  label: string;
  channel: string;
  raw: Buffer;
  /** null = no Content-Type header. */
  contentType?: string | null;
  headers?: Record<string, string>;
  /** Statuses this case may get; DOCUMENTED when omitted. */
  expect?: number[];
}

const OK = [200, 202];
const BAD = [400];

let h: Harness;
let seq = 0;
const phone = (n: number) => `55119770${String(n % 37).padStart(5, '0')}`;
const id = (label: string) => `fuzz-${SEED}-${++seq}-${label}`;
const valid = (extra: Record<string, unknown> = {}): Record<string, unknown> => ({
  messageId: id('m'),
  contact: { phone: phone(seq), name: 'Fuzz' },
  text: 'oi, fuzz',
  ...extra,
});
const json = (value: unknown) => Buffer.from(JSON.stringify(value), 'utf8');

/** Sets `path` (dot-separated, '' = the whole body) of a valid body to `value`. */
function withValue(path: string, value: unknown): unknown {
  if (path === '') return value;
  const body = valid({ timestamp: '2026-11-21T10:00:00Z', externalIds: { mehubChatToken: 'abc123def456', superagentesConversationId: 'conv-1' } });
  const parts = path.split('.');
  let target = body;
  for (const part of parts.slice(0, -1)) target = target[part] as Record<string, unknown>;
  target[parts.at(-1) as string] = value;
  return body;
}

const nestedArrays = (depth: number, inner = '1') => '['.repeat(depth) + inner + ']'.repeat(depth);
const nestedObjects = (depth: number, inner = '1') => '{"a":'.repeat(depth) + inner + '}'.repeat(depth);

/** Splices raw JSON text in place of a placeholder string value. */
function splice(body: unknown, rawValue: string): Buffer {
  return Buffer.from(JSON.stringify(body).replace('"@@RAW@@"', () => rawValue), 'utf8');
}

const WRONG_TYPES: [string, unknown][] = [
  ['null', null],
  ['true', true],
  ['false', false],
  ['0', 0],
  ['-1', -1],
  ['1.5', 1.5],
  ['1e308', 1e308],
  ['bigint-ish', 12345678901234567890],
  ['[]', []],
  ['[strings]', ['5511999990000', 'x']],
  ['{}', {}],
  ['{a:1}', { a: 1 }],
  ['""', ''],
  ['100k chars', 'x'.repeat(100_000)],
];
const REQUIRED_PATHS = ['', 'messageId', 'contact', 'contact.phone', 'text'];
const OPTIONAL_PATHS = ['contact.name', 'timestamp', 'externalIds', 'externalIds.mehubChatToken', 'externalIds.superagentesConversationId'];

const UNICODE_SAMPLES = [
  'olá 👋🏽 família 👨‍👩‍👧‍👦 🇧🇷',
  'مرحبا بك، أريد المساعدة',
  'שלום, אני צריך עזרה',
  '\u202Eevil\u202C text with RTL override',
  'Z̸̢̧̛̛̛̖̗̘̙̜̝̞̟̠̣̤̥̦̩̪̫̬̭̮̯̰̱̲̳̹̺̻̼͇͈͉͍͎̀́̂̃̄̅̆̇̈̉̊̋̌̍̎̏̐̑̒̓̔̽̾̿̀́͂̓̈́͆͊͋͌̕̚ͅa̴l̷g̶o̸',
  'e\u0301\u0302\u0303\u0304 combining',
  'zero\u200Bwidth\u200D\uFEFFjoiners',
  '𝕳𝖊𝖑𝖑𝖔 𝟘𝟙𝟚',
  '\u0000nul\u0000inside\u0000',
  'tab\tnew\nline\rcr',
  '\uFFFD\uFFFE\uFFFF',
  '中文测试，日本語テスト，한국어',
];
/** JSON-escaped text (inserted raw) holding lone surrogates and NULs. */
const ESCAPED_SAMPLES = ['"\\ud800"', '"x\\udfffy"', '"\\udc00\\ud800"', '"a\\u0000b"', '"\\ud83d"', '"ok \\ud83d\\ude00 \\ud800"'];

/** Every fixed case, then random ones up to CASES. */
function generate(rng: Rng): Case[] {
  const cases: Case[] = [];
  let n = 0;
  const add = (c: Omit<Case, 'n' | 'channel'> & { channel?: string }) => cases.push({ channel: rng.next() < 0.25 ? 'site' : 'vendas', ...c, n: n++ });

  // Wrong types at every field.
  for (const path of [...REQUIRED_PATHS, ...OPTIONAL_PATHS]) {
    for (const [name, value] of WRONG_TYPES) {
      add({ label: `wrong type ${name} at ${path || '<root>'}`, raw: json(withValue(path, value)), expect: REQUIRED_PATHS.includes(path) ? BAD : undefined });
    }
  }
  // Arrays where objects go, numbers where strings go (some overlap with the above, on purpose).
  add({ label: 'root array of a valid body', raw: json([valid()]), expect: BAD });
  add({ label: 'contact as array of its fields', raw: json(valid({ contact: [{ phone: '5511999990000' }] })), expect: BAD });
  add({ label: 'phone as number', raw: json(valid({ contact: { phone: 5511999990000 } })), expect: BAD });
  add({ label: 'messageId as number', raw: json({ ...valid(), messageId: 42 }), expect: BAD });
  add({ label: 'text as number', raw: json({ ...valid(), text: 42 }), expect: BAD });

  // Empty strings.
  add({ label: 'empty messageId', raw: json({ ...valid(), messageId: '' }), expect: BAD });
  add({ label: 'empty text', raw: json({ ...valid(), text: '' }), expect: BAD });
  add({ label: 'empty phone', raw: json(valid({ contact: { phone: '' } })), expect: BAD });
  add({ label: 'empty name', raw: json(valid({ contact: { phone: phone(n), name: '' } })), expect: OK });
  add({ label: 'empty timestamp', raw: json(valid({ timestamp: '' })), expect: BAD });
  add({ label: 'empty externalIds hint', raw: json(valid({ externalIds: { mehubChatToken: '' } })), expect: BAD });
  add({ label: 'empty body', raw: Buffer.alloc(0), expect: BAD });
  add({ label: 'whitespace body', raw: Buffer.from('  \n\t '), expect: BAD });

  // Huge strings.
  const big = 'x'.repeat(100_000);
  add({ label: '100k messageId', raw: json({ ...valid(), messageId: big }), expect: BAD });
  add({ label: '100k text', raw: json({ ...valid(), text: big }), expect: BAD });
  add({ label: '100k name', raw: json(valid({ contact: { phone: phone(n), name: big } })), expect: BAD });
  add({ label: '100k phone digits', raw: json(valid({ contact: { phone: '5'.repeat(100_000) } })), expect: BAD });
  add({ label: '100k hint', raw: json(valid({ externalIds: { superagentesConversationId: big } })), expect: BAD });
  add({ label: '100k unknown field', raw: json(valid({ extra: big })), expect: OK });
  add({ label: '10k-key object in unknown field', raw: json(valid({ extra: Object.fromEntries(Array.from({ length: 10_000 }, (_, i) => [`k${i}`, i])) })), expect: OK });
  add({ label: '250 KiB unknown field (under the limit)', raw: json(valid({ extra: 'y'.repeat(250 * 1024) })), expect: OK });
  add({ label: '300 KiB body', raw: json(valid({ extra: 'y'.repeat(300 * 1024) })), expect: [413] });
  add({ label: '100k emoji text (400 KB)', raw: json({ ...valid(), text: '😀'.repeat(100_000) }), expect: [413] });
  add({ label: '4096 emoji text (the limit)', raw: json({ ...valid(), text: '😀'.repeat(4096) }), expect: OK });
  add({ label: '4097-char text', raw: json({ ...valid(), text: 'é'.repeat(4097) }), expect: BAD });
  add({ label: '256-char messageId', raw: json({ ...valid(), messageId: id('x').padEnd(256, 'z') }), expect: OK });

  // Deep nesting (JSON.parse and the schema must not blow the stack or hang).
  // (50 000 arrays are 100 KB; 40 000 objects 240 KB: both under the 256 KiB limit.)
  for (const [arrays, objects] of [[5_000, 5_000], [50_000, 40_000]] as const) {
    add({ label: `${arrays}-deep arrays as the body`, raw: Buffer.from(nestedArrays(arrays)), expect: BAD });
    add({ label: `${objects}-deep objects as the body`, raw: Buffer.from(nestedObjects(objects)), expect: BAD });
    add({ label: `${arrays}-deep arrays in an unknown field`, raw: splice(valid({ extra: '@@RAW@@' }), nestedArrays(arrays)), expect: OK });
    add({ label: `${objects}-deep objects in an unknown field`, raw: splice(valid({ extra: '@@RAW@@' }), nestedObjects(objects)), expect: OK });
  }
  add({ label: '5000-deep arrays as contact', raw: splice(valid({ contact: '@@RAW@@' }), nestedArrays(5000)), expect: BAD });
  add({ label: '5000-deep objects as contact', raw: splice(valid({ contact: '@@RAW@@' }), nestedObjects(5000)), expect: BAD });
  add({ label: '5000-deep arrays as text', raw: splice(valid({ text: '@@RAW@@' }), nestedArrays(5000)), expect: BAD });
  add({ label: '5000-deep arrays as externalIds', raw: splice(valid({ externalIds: '@@RAW@@' }), nestedArrays(5000)), expect: BAD });
  // Unknown keys of externalIds are ignored, however deep.
  add({ label: '5000-deep objects as externalIds', raw: splice(valid({ externalIds: '@@RAW@@' }), nestedObjects(5000)), expect: OK });
  add({ label: '5000-deep contact.contact.contact…', raw: splice(valid({ contact: '@@RAW@@' }), '{"contact":'.repeat(5000) + '{}' + '}'.repeat(5000)), expect: BAD });
  add({ label: '5000 unclosed arrays', raw: Buffer.from('['.repeat(5000)), expect: BAD });

  // Unicode: emoji, RTL, combining marks, lone surrogates (escaped), NULs.
  for (const sample of UNICODE_SAMPLES) {
    add({ label: `unicode text ${JSON.stringify(sample.slice(0, 12))}`, raw: json({ ...valid(), text: sample }), expect: OK });
    add({ label: `unicode name ${JSON.stringify(sample.slice(0, 12))}`, raw: json(valid({ contact: { phone: phone(n), name: sample } })), expect: OK });
    add({ label: `unicode messageId ${JSON.stringify(sample.slice(0, 12))}`, raw: json({ ...valid(), messageId: `${id('u')}${sample}` }), expect: OK });
    add({ label: `unicode phone ${JSON.stringify(sample.slice(0, 12))}`, raw: json(valid({ contact: { phone: `55119${sample}` } })), expect: BAD });
  }
  for (const escaped of ESCAPED_SAMPLES) {
    // A lone surrogate is not a character: the three text fields refuse it (400); NULs are fine.
    const wellFormed = (JSON.parse(escaped) as string).isWellFormed();
    const textual = wellFormed ? OK : BAD;
    add({ label: `escaped text ${escaped}`, raw: splice(valid({ text: '@@RAW@@' }), escaped), expect: textual });
    add({ label: `escaped name ${escaped}`, raw: splice(valid({ contact: { phone: phone(n), name: '@@RAW@@' } }), escaped), expect: textual });
    add({ label: `escaped messageId ${escaped}`, raw: splice({ ...valid(), messageId: '@@RAW@@' }, escaped.replace(/^"/, `"${id('s')}`)), expect: textual });
    add({ label: `escaped phone ${escaped}`, raw: splice(valid({ contact: { phone: '@@RAW@@' } }), escaped.replace(/^"/, '"5511999990000')), expect: BAD });
    add({ label: `escaped hint ${escaped}`, raw: splice(valid({ externalIds: { mehubChatToken: '@@RAW@@' } }), escaped), expect: BAD });
  }
  add({ label: 'Arabic-Indic digits in phone', raw: json(valid({ contact: { phone: '٥٥١١٩٩٩٩٩٠٠٠٠' } })), expect: BAD });
  add({ label: 'full-width digits in phone', raw: json(valid({ contact: { phone: '５５１１９９９９９００００' } })), expect: BAD });
  add({ label: 'raw NUL byte inside a string', raw: Buffer.from(JSON.stringify(valid()).replace('oi, fuzz', 'oi\u0000fuzz')), expect: BAD });
  add({ label: 'raw NUL byte after the JSON', raw: Buffer.concat([json(valid()), Buffer.from([0])]), expect: BAD });
  add({ label: 'raw control chars inside a string', raw: Buffer.from(JSON.stringify(valid()).replace('oi, fuzz', 'oi\u0001\u001ffuzz')), expect: BAD });
  add({ label: 'UTF-8 BOM before the JSON', raw: Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), json(valid())]), expect: [200, 400] });

  // Prototype-pollution keys, at the root and inside contact / externalIds.
  const pollute = '{"polluted":"yes","toString":"no"}';
  const protoBodies: [string, string, number[]][] = [
    ['__proto__ at the root', `{"__proto__":${pollute},"messageId":"@ID@","contact":{"phone":"@PHONE@"},"text":"oi"}`, OK],
    ['constructor.prototype at the root', `{"constructor":{"prototype":${pollute}},"messageId":"@ID@","contact":{"phone":"@PHONE@"},"text":"oi"}`, OK],
    ['prototype at the root', `{"prototype":${pollute},"messageId":"@ID@","contact":{"phone":"@PHONE@"},"text":"oi"}`, OK],
    ['only __proto__ carries the fields', `{"__proto__":{"messageId":"@ID@","contact":{"phone":"@PHONE@"},"text":"oi"}}`, BAD],
    ['__proto__ in contact', `{"messageId":"@ID@","contact":{"__proto__":${pollute},"phone":"@PHONE@"},"text":"oi"}`, OK],
    ['phone only in contact.__proto__', `{"messageId":"@ID@","contact":{"__proto__":{"phone":"@PHONE@"}},"text":"oi"}`, BAD],
    ['constructor in contact', `{"messageId":"@ID@","contact":{"constructor":{"prototype":${pollute}},"phone":"@PHONE@","name":"x"},"text":"oi"}`, OK],
    ['__proto__ in externalIds', `{"messageId":"@ID@","contact":{"phone":"@PHONE@"},"text":"oi","externalIds":{"__proto__":${pollute},"mehubChatToken":"abc123"}}`, OK],
    ['hint only in externalIds.__proto__', `{"messageId":"@ID@","contact":{"phone":"@PHONE@"},"text":"oi","externalIds":{"__proto__":{"mehubChatToken":"abc123"}}}`, OK],
    ['constructor.prototype in externalIds', `{"messageId":"@ID@","contact":{"phone":"@PHONE@"},"text":"oi","externalIds":{"constructor":{"prototype":${pollute}}}}`, OK],
    ['prototype in externalIds', `{"messageId":"@ID@","contact":{"phone":"@PHONE@"},"text":"oi","externalIds":{"prototype":${pollute}}}`, OK],
    ['__proto__ as externalIds', `{"messageId":"@ID@","contact":{"phone":"@PHONE@"},"text":"oi","externalIds":{"__proto__":null}}`, OK],
    ['__proto__ everywhere, nested', `{"__proto__":{"__proto__":${pollute}},"messageId":"@ID@","contact":{"__proto__":{"__proto__":${pollute}},"phone":"@PHONE@"},"text":"oi","externalIds":{"__proto__":{"__proto__":${pollute}}}}`, OK],
  ];
  for (const [label, template, expected] of protoBodies) {
    add({ label, raw: Buffer.from(template.replace('@ID@', id('p')).replace('@PHONE@', phone(n))), expect: expected });
  }
  for (const word of ['__proto__', 'constructor', 'prototype', 'hasOwnProperty', 'toString', '__defineGetter__']) {
    add({ label: `messageId ${word}`, raw: json({ ...valid(), messageId: `${word}` }), expect: OK });
    add({ label: `text ${word}`, raw: json({ ...valid(), text: word }), expect: OK });
    add({ label: `name ${word}`, raw: json(valid({ contact: { phone: phone(n), name: word } })), expect: OK });
    add({ label: `hint ${word}`, raw: json(valid({ externalIds: { mehubChatToken: word } })), expect: OK });
  }

  // Duplicated keys: JSON.parse keeps the last one.
  const p = phone(n);
  add({ label: 'duplicated messageId', raw: Buffer.from(`{"messageId":"${id('d1')}","messageId":"${id('d2')}","contact":{"phone":"${p}"},"text":"oi"}`), expect: OK });
  add({ label: 'duplicated contact, last valid', raw: Buffer.from(`{"messageId":"${id('d')}","contact":"x","contact":{"phone":"${p}"},"text":"oi"}`), expect: OK });
  add({ label: 'duplicated contact, last invalid', raw: Buffer.from(`{"messageId":"${id('d')}","contact":{"phone":"${p}"},"contact":[],"text":"oi"}`), expect: BAD });
  add({ label: 'duplicated text, last empty', raw: Buffer.from(`{"messageId":"${id('d')}","contact":{"phone":"${p}"},"text":"oi","text":""}`), expect: BAD });
  add({ label: 'duplicated phone', raw: Buffer.from(`{"messageId":"${id('d')}","contact":{"phone":"abc","phone":"${p}"},"text":"oi"}`), expect: OK });

  // Content types and encodings (still valid credentials).
  const body = () => json(valid());
  add({ label: 'content type with charset', raw: body(), contentType: 'application/json; charset=utf-8', expect: OK });
  add({ label: 'upper-case content type', raw: body(), contentType: 'APPLICATION/JSON', expect: OK });
  add({ label: '+json content type', raw: body(), contentType: 'application/vnd.channel+json', expect: OK });
  add({ label: 'charset utf-16 (body is utf-8)', raw: body(), contentType: 'application/json; charset=utf-16' });
  add({ label: 'text/plain', raw: body(), contentType: 'text/plain', expect: [415] });
  add({ label: 'form content type', raw: body(), contentType: 'application/x-www-form-urlencoded', expect: [415] });
  add({ label: 'no content type', raw: body(), contentType: null, expect: [415] });
  add({ label: 'garbage content type', raw: body(), contentType: ';;;/==', expect: [415] });
  add({ label: 'identity content encoding', raw: body(), headers: { 'content-encoding': 'identity' }, expect: OK });
  // (Compressed bodies have their own test below.)

  // Invalid UTF-8, inside a string and in the structure.
  const invalidSequences = [[0xff], [0xfe, 0xff], [0xc3, 0x28], [0xe2, 0x82], [0xed, 0xa0, 0x80], [0xc0, 0xaf], [0xf8, 0x88, 0x80, 0x80, 0x80], [0x80]];
  for (const bytes of invalidSequences) {
    const hex = Buffer.from(bytes).toString('hex');
    const [before, after] = JSON.stringify(valid()).split('oi, fuzz') as [string, string];
    add({ label: `invalid UTF-8 ${hex} in text`, raw: Buffer.concat([Buffer.from(before), Buffer.from(bytes), Buffer.from(after)]) });
    add({ label: `invalid UTF-8 ${hex} as structure`, raw: Buffer.concat([Buffer.from('{'), Buffer.from(bytes), json(valid()).subarray(1)]) });
  }

  // Unknown channels that look like Object.prototype members (the channel map is not an object).
  for (const name of ['__proto__', 'constructor', 'hasOwnProperty', 'toString']) {
    add({ label: `channel ${name}`, channel: name, raw: body(), expect: [404] });
  }

  // Random cases up to CASES.
  const generators: ((rng: Rng) => Omit<Case, 'n' | 'channel'>)[] = [
    // random bytes
    (r) => ({ label: 'random bytes', raw: Buffer.from(Array.from({ length: r.int(2000) }, () => r.int(256))), expect: BAD }),
    // random printable ASCII
    (r) => ({ label: 'random ASCII', raw: Buffer.from(Array.from({ length: 1 + r.int(500) }, () => 32 + r.int(95))), expect: BAD }),
    // a valid body truncated
    (r) => {
      const full = json(valid({ timestamp: '2026-11-21T10:00:00Z', externalIds: { mehubChatToken: 'abc' } }));
      const cut = r.int(full.length);
      return { label: `truncated at ${cut}/${full.length}`, raw: full.subarray(0, cut), expect: BAD };
    },
    // a wrong-typed value at a random path
    (r) => {
      const path = r.pick([...REQUIRED_PATHS, ...OPTIONAL_PATHS]);
      const [name, value] = r.pick(WRONG_TYPES);
      return { label: `random wrong type ${name} at ${path || '<root>'}`, raw: json(withValue(path, value)), expect: REQUIRED_PATHS.includes(path) ? BAD : undefined };
    },
    // random code points in text / name / messageId
    (r) => {
      const s = String.fromCodePoint(...Array.from({ length: 1 + r.int(300) }, () => r.pick([() => r.int(0x80), () => 0x80 + r.int(0x780), () => 0x800 + r.int(0xd000), () => 0x10000 + r.int(0xfffff)])())).replace(/[\ud800-\udfff]/g, 'x');
      const field = r.pick(['text', 'name', 'messageId']);
      const b = field === 'name' ? valid({ contact: { phone: phone(r.int(1000)), name: s.slice(0, 256) } }) : { ...valid(), [field]: field === 'messageId' ? `${id('r')}${s.slice(0, 100)}` : s };
      return { label: `random unicode ${field}`, raw: json(b), expect: OK };
    },
    // random nesting depth somewhere
    (r) => {
      const depth = 1 + r.int(5000);
      const where = r.pick(['extra', 'contact', 'text', 'externalIds']);
      const objects = r.next() < 0.5;
      const inner = (objects ? nestedObjects : nestedArrays)(depth);
      const ignored = where === 'extra' || (where === 'externalIds' && objects);
      return { label: `random ${depth}-deep ${objects ? 'objects' : 'arrays'} as ${where}`, raw: splice(valid({ [where]: '@@RAW@@' }), inner), expect: ignored ? OK : BAD };
    },
    // a valid body with a random byte flipped
    (r) => {
      const full = Buffer.from(json(valid()));
      const at = r.int(full.length);
      full[at] = r.int(256);
      return { label: `byte ${at} flipped`, raw: full };
    },
    // a valid body, noise in unknown fields
    (r) => ({ label: 'unknown fields', raw: json(valid({ [`k${r.int(1e6)}`]: r.pick(WRONG_TYPES)[1], nested: { __proto__x: r.int(10) } })), expect: OK }),
  ];
  while (cases.length < CASES) {
    const make = rng.pick(generators);
    add(make(rng));
  }
  return cases;
}

/** Standard Webhooks over the exact bytes (the contract), for bodies that are not valid UTF-8. */
function signRawBytes(secret: string, raw: Buffer): Record<string, string> {
  const msgId = `msg_fuzz_${++seq}`;
  const timestamp = Math.floor(Date.now() / 1000);
  const key = Buffer.from(secret.slice('whsec_'.length), 'base64');
  const signature = createHmac('sha256', key).update(Buffer.concat([Buffer.from(`${msgId}.${timestamp}.`), raw])).digest('base64');
  return { 'webhook-id': msgId, 'webhook-timestamp': String(timestamp), 'webhook-signature': `v1,${signature}` };
}

const isUtf8 = (raw: Buffer) => Buffer.from(raw.toString('utf8'), 'utf8').equals(raw);

interface Outcome {
  c: Case;
  status: number;
  text: string;
  contentType: string | null;
}

async function post(c: Case): Promise<Outcome> {
  const headers: Record<string, string> = { ...c.headers };
  if (c.contentType !== null) headers['content-type'] = c.contentType ?? 'application/json';
  if (c.channel === 'site') Object.assign(headers, isUtf8(c.raw) ? signedHeaders(SITE_SECRET, c.raw.toString('utf8')) : signRawBytes(SITE_SECRET, c.raw));
  else headers.authorization = `Bearer ${VENDAS_TOKEN}`;
  const response = await fetch(`${h.url}/webhooks/${encodeURIComponent(c.channel)}`, { method: 'POST', headers, body: c.raw });
  return { c, status: response.status, text: await response.text(), contentType: response.headers.get('content-type') };
}

/** Runs `task` over `items`, at most `limit` at a time, in order of start. */
async function pool<T, R>(items: T[], limit: number, task: (item: T) => Promise<R>): Promise<R[]> {
  const results: R[] = new Array(items.length);
  let next = 0;
  await Promise.all(
    Array.from({ length: limit }, async () => {
      while (next < items.length) {
        const i = next++;
        results[i] = await task(items[i] as T);
      }
    }),
  );
  return results;
}

/** What is wrong with an answer, or null. */
function problem(o: Outcome): string | null {
  let allowed = o.c.expect ?? DOCUMENTED;
  // The signature is checked on the UTF-8 decoding of the body, not on its bytes (see the
  // report): a body that is not UTF-8, signed over its bytes as the contract says, gets 401.
  if (o.c.channel === 'site' && !isUtf8(o.c.raw)) allowed = [...allowed, 401];
  if (o.status === 500) return `500 (never allowed): ${o.text.slice(0, 300)}`;
  if (!allowed.includes(o.status)) return `status ${o.status}, expected one of ${allowed.join('/')}: ${o.text.slice(0, 300)}`;
  if (!o.contentType?.includes('application/json')) return `content-type ${o.contentType}`;
  let body: unknown;
  try {
    body = JSON.parse(o.text);
  } catch {
    return `non-JSON body: ${o.text.slice(0, 200)}`;
  }
  if (body === null || typeof body !== 'object' || Array.isArray(body)) return `body is not an object: ${o.text.slice(0, 200)}`;
  const record = body as Record<string, unknown>;
  if (o.status < 300) {
    if (typeof record.status !== 'string') return `2xx without "status": ${o.text.slice(0, 200)}`;
  } else if (typeof record.error !== 'string') {
    return `${o.status} without "error": ${o.text.slice(0, 200)}`;
  }
  if (o.status === 400) {
    const issues = record.issues;
    if (record.error !== 'invalid_request' || !Array.isArray(issues) || issues.length === 0) return `400 not invalid_request with issues: ${o.text.slice(0, 200)}`;
    if (!issues.every((i: unknown) => typeof (i as { path?: unknown }).path === 'string' && typeof (i as { message?: unknown }).message === 'string')) {
      return `400 issues not {path,message}: ${o.text.slice(0, 200)}`;
    }
  }
  if (o.status === 413 && record.error !== 'payload_too_large') return `413 body ${o.text.slice(0, 100)}`;
  if (o.status === 415 && record.error !== 'unsupported_media_type') return `415 body ${o.text.slice(0, 100)}`;
  if (o.status === 401 && o.c.channel !== 'site') return 'a Bearer request with the right token got 401';
  return null;
}

beforeAll(async () => {
  h = await startHarness();
});
afterAll(async () => {
  await h.close();
});

describe(`webhook fuzzing (FUZZ_SEED=${SEED})`, () => {
  it(`${CASES} generated bodies with valid credentials: documented statuses, JSON bodies, never a 500; the server still serves`, async () => {
    const prototypeBefore = Object.getOwnPropertyNames(Object.prototype).sort();
    const cases = generate(prng(SEED));

    const outcomes = await pool(cases, CONCURRENCY, post);
    const problems = outcomes.flatMap((o) => {
      const p = problem(o);
      return p === null ? [] : [`#${o.c.n} [${o.c.channel}] ${o.c.label}: ${p}`];
    });
    expect(problems, `FUZZ_SEED=${SEED}: ${problems.length} bad answers`).toEqual([]);

    // The run reached the pipeline (valid bodies were answered by the bot), not just the parser.
    const byStatus = new Map<number, number>();
    for (const o of outcomes) byStatus.set(o.status, (byStatus.get(o.status) ?? 0) + 1);
    expect(byStatus.get(200) ?? 0, `FUZZ_SEED=${SEED}`).toBeGreaterThan(100);
    expect(byStatus.get(400) ?? 0, `FUZZ_SEED=${SEED}`).toBeGreaterThan(200);
    expect(h.toolzz.calls('send-message').length).toBeGreaterThan(100);

    // No prototype pollution (the server runs in this process).
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    expect(Object.getOwnPropertyNames(Object.prototype).sort()).toEqual(prototypeBefore);
    expect(Object.prototype.toString.call([])).toBe('[object Array]');
    // Nothing reached the error handler as an unexpected error.
    expect(h.logs.lines.filter((l) => l.includes('unexpected error')), `FUZZ_SEED=${SEED}`).toEqual([]);

    // Still serving.
    expect((await fetch(`${h.url}/healthz`)).status).toBe(200);
    expect((await fetch(`${h.url}/readyz`)).status).toBe(200);
    const after = await h.send('vendas', { messageId: id('after'), contact: { phone: '5511977099999', name: 'Depois' }, text: 'ainda funciona?' });
    expect(after.status).toBe(200);
    expect(after.body).toMatchObject({ status: 'replied', reply: expect.stringContaining('ainda funciona?') });
    const signed = await h.send('site', { messageId: id('after-site'), contact: { phone: '5511977099998' }, text: 'e pelo site?' });
    expect(signed.status).toBe(200);
    expect(signed.body.status).toBe('replied');
  }, 90_000);

  it('compressed bodies: gzip is inflated, a bomb is 413, an unknown encoding 415, a body that is not what its Content-Encoding says is 400 — never 500', async () => {
    const send = async (label: string, raw: Buffer, encoding: string) => {
      const o = await post({ n: -1, label, channel: 'vendas', raw, headers: { 'content-encoding': encoding } });
      return { label, status: o.status, body: o.text.slice(0, 120) };
    };
    const plain = () => json(valid());
    const results = [
      await send('gzip body', gzipSync(plain()), 'gzip'),
      await send('gzip bomb (5 MB of spaces)', gzipSync(Buffer.alloc(5 * 1024 * 1024, 0x20)), 'gzip'),
      await send('unknown encoding', plain(), 'x-fuzz'),
      await send('gzip header, plain body', plain(), 'gzip'),
      await send('deflate header, plain body', plain(), 'deflate'),
      await send('br header, plain body', plain(), 'br'),
    ];
    expect(results.map((r) => `${r.label}: ${r.status}`)).toEqual([
      'gzip body: 200',
      'gzip bomb (5 MB of spaces): 413',
      'unknown encoding: 415',
      // A corrupt body is the client's fault: 400 invalid_request, like malformed JSON.
      'gzip header, plain body: 400',
      'deflate header, plain body: 400',
      'br header, plain body: 400',
    ]);
    expect(h.logs.lines.filter((l) => l.includes('unexpected error'))).toEqual([]);
  }, 30_000);

  it('messageIds that differ only in a lone surrogate are refused, never taken for duplicates', async () => {
    // "m\ud800" and "m\udbff" are different JSON strings, but as Redis keys (UTF-8) both
    // would become "m\ufffd": the second would be answered as a duplicate of the first.
    const base = id('surrogate');
    const raw = (suffix: string, text: string) => `{"messageId":"${base}${suffix}","contact":{"phone":"5511977088888"},"text":"${text}"}`;
    const first = await h.send('vendas', null, { raw: raw('\\ud800', 'primeira') });
    const second = await h.send('vendas', null, { raw: raw('\\udbff', 'segunda') });
    for (const answer of [first, second]) {
      expect(answer.status).toBe(400);
      expect(answer.body.issues).toEqual([{ path: 'messageId', message: 'must be valid Unicode text (no lone surrogates)' }]);
    }
    const valid = await h.send('vendas', null, { raw: raw('\\ufffd', 'terceira') });
    expect(valid.status).toBe(200);
  }, 15_000);
});
