import type { RecordIndex } from '../records/index-store.js';

/**
 * The newest `limit` records of `states`, newest first. Index entries are re-read: those
 * whose record expired, or moved to another state since it was filed, are skipped and the
 * next entries read instead, so a list comes back full.
 */
export async function newestRecords<S extends string, R extends { state: string }>(
  index: RecordIndex<S>,
  states: readonly S[],
  limit: number,
  read: (id: string) => Promise<R | null>,
): Promise<R[]> {
  const found: { record: R; score: number }[] = [];
  for (const state of states) {
    for (let offset = 0, kept = 0; kept < limit; offset += limit) {
      const entries = await index.newest(state, limit, offset);
      const records = await Promise.all(entries.map(async (entry) => ({ record: await read(entry.id), score: entry.score })));
      for (const { record, score } of records) {
        if (record?.state !== state) continue;
        found.push({ record, score });
        kept += 1;
      }
      if (entries.length < limit) break;
    }
  }
  return found
    .sort((a, b) => b.score - a.score)
    .slice(0, limit)
    .map((f) => f.record);
}
