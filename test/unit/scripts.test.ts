import { readdirSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { scriptSources } from '../../src/redis/scripts.js';

const DIR = new URL('../../src/redis/scripts/', import.meta.url);

describe('Lua scripts (src/redis/scripts/*.lua)', () => {
  const files = readdirSync(DIR).filter((f) => f.endsWith('.lua'));

  it('one script per file, no two with the same name, every include resolved', () => {
    const sources = scriptSources();
    expect(sources.size).toBe(files.length);
    for (const [name, { lua }] of sources) {
      expect(lua, name).not.toMatch(/--- @include/);
      expect(lua, name).toMatch(/^--\[\[/);
    }
  });

  it('every KEYS and ARGV slot a script uses is named in its header, and a -N file uses exactly N keys', () => {
    for (const file of files) {
      const text = readFileSync(new URL(file, DIR), 'utf8');
      const end = text.indexOf(']]');
      const header = text.slice(0, end);
      const body = text.slice(end);
      const declared = new Set([...header.matchAll(/^\s*(KEYS|ARGV)\[(\d+)(…)?\]/gm)].map((m) => `${m[1]}[${m[2]}]`));
      const used = new Set([...body.matchAll(/\b(KEYS|ARGV)\[(\d+)\]/g)].map((m) => `${m[1]}[${m[2]}]`));
      for (const slot of used) expect(declared.has(slot), `${file}: ${slot} is used but not named in the header`).toBe(true);
      const fixed = /-(\d+)\.lua$/.exec(file);
      if (fixed) {
        const keys = [...used].filter((s) => s.startsWith('KEYS')).map((s) => Number(/\d+/.exec(s)?.[0]));
        expect(Math.max(...keys), `${file}: keys used`).toBe(Number(fixed[1]));
      }
    }
  });

  it('no script builds a key name itself (every key comes through KEYS, so Cluster routes it)', () => {
    for (const file of files) {
      const body = readFileSync(new URL(file, DIR), 'utf8');
      expect(body, file).not.toMatch(/redis\.call\(\s*'[A-Z]+'\s*,\s*[a-z_]+\s*\.\./);
    }
  });
});
