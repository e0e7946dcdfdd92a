import express, { type Request } from 'express';
import { conversationFromHash, effectiveState, isWithHuman, type Conversation, type ConversationState } from '../conversations/state.js';
import type { ConversationRef } from '../conversations/types.js';
import { createTimeline, indexMember } from '../timeline/store.js';
import { normalizePhone } from '../webhook/schema.js';
import { invalid, route } from './http.js';
import type { AdminDeps } from './types.js';

/**
 * The JSON the operator console reads (SPEC §14): the conversations list (newest activity
 * first, from the conversation index — never a SCAN of the keyspace), a conversation's
 * timeline, and the last 24 hours' figures.
 */

const STATES = ['bot', 'handoff_pending', 'human', 'handoff_failed'] as const;
/** Conversations per page (`limit`, 1..200). */
const PAGE = 50;
/** Index entries one list call examines at most (a filter that matches little returns a shorter page and a cursor). */
const MAX_EXAMINED = 1000;
const BATCH = 200;
const DAY_MS = 24 * 3_600_000;

type View = (ref: ConversationRef, conversation: Conversation) => Promise<Record<string, unknown>>;

interface Cursor {
  s: number;
  m: string;
}

function encodeCursor(cursor: Cursor): string {
  return Buffer.from(JSON.stringify(cursor)).toString('base64url');
}

/** A single query parameter: absent or empty → undefined; repeated or nested → 400. */
function param(req: Request, name: string): string | undefined {
  const value = req.query[name];
  if (value === undefined || value === '') return undefined;
  if (typeof value !== 'string') throw invalid(name, 'must be given once');
  return value;
}

function decodeCursor(raw: string | undefined): Cursor | null {
  if (raw === undefined) return null;
  try {
    const parsed = JSON.parse(Buffer.from(raw, 'base64url').toString('utf8')) as Partial<Cursor>;
    if (typeof parsed.s === 'number' && Number.isFinite(parsed.s) && typeof parsed.m === 'string') return { s: parsed.s, m: parsed.m };
  } catch {
    // below
  }
  throw invalid('cursor', 'must be the `next` of an earlier page');
}

/** The p-th percentile (nearest rank) of sorted values; null when there are none. */
export function percentile(sorted: readonly number[], p: number): number | null {
  if (sorted.length === 0) return null;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))] as number;
}

export function createConsoleApi(deps: AdminDeps, view: View, refOf: (req: Request) => Promise<ConversationRef>): express.Router {
  const { config, redis, keys } = deps;
  const router = express.Router();
  const timeline = createTimeline(redis, keys, deps.logger);

  /** A stored conversation as the list shows it, or null when it expired. */
  async function item(ref: ConversationRef, score: number | null): Promise<{ conversation: Conversation; row: () => Promise<Record<string, unknown>>; name: string | null } | null> {
    const hash = await redis.hgetall(keys.conversation(ref.channel, ref.phone));
    if (Object.keys(hash).length === 0) return null;
    const conversation = conversationFromHash(hash);
    const name = hash.name || null;
    // The index entry of a busy conversation is refreshed every few seconds; its own last write may be newer.
    const at = Math.max(score ?? 0, Number(hash.updatedAt) || 0) || null;
    return {
      conversation,
      name,
      row: async () => ({ ...(await view(ref, conversation)), name, lastActivityAt: at === null ? null : new Date(at).toISOString() }),
    };
  }

  const stateMatches = (conversation: Conversation, state: ConversationState | undefined, takenBy: string | undefined) => {
    const now = effectiveState(conversation, Date.now());
    if (state !== undefined && now !== state) return false;
    if (takenBy !== undefined && (!isWithHuman(now) || (conversation.takenBy ?? 'handoff') !== takenBy)) return false;
    return true;
  };

  router.get(
    '/admin/conversations',
    route(async (req, res) => {
      const channel = param(req, 'channel');
      if (channel !== undefined && !config.channels[channel]) throw invalid('channel', 'must be a configured channel');
      const stateRaw = param(req, 'state');
      if (stateRaw !== undefined && !(STATES as readonly string[]).includes(stateRaw)) throw invalid('state', `must be one of ${STATES.join(', ')}`);
      const state = stateRaw as ConversationState | undefined;
      const takenByRaw = param(req, 'takenBy');
      if (takenByRaw !== undefined && takenByRaw !== 'handoff' && takenByRaw !== 'phone') throw invalid('takenBy', 'must be handoff or phone');
      const q = (param(req, 'q') ?? '').trim();
      if (q.length > 200) throw invalid('q', 'must be at most 200 characters');
      const cursor = decodeCursor(param(req, 'cursor'));
      const limitRaw = param(req, 'limit');
      const limit = limitRaw === undefined ? PAGE : Number(limitRaw);
      if (!Number.isInteger(limit) || limit < 1 || limit > 200) throw invalid('limit', 'must be an integer from 1 to 200');

      // Any address of a customer (SPEC §11) names their conversation directly.
      if (q !== '' && cursor === null) {
        const address = normalizePhone(q) ?? q;
        const channels = channel ? [channel] : Object.keys(config.channels);
        const found = (
          await Promise.all(
            channels.map(async (name) => {
              const customer = await deps.identity.lookup(name, address).catch(() => null);
              if (!customer) return null;
              const ref = { channel: name, phone: customer };
              const score = await redis.zscore(keys.conversationIndex(), indexMember(ref));
              const stored = await item(ref, score === null ? null : Number(score));
              if (!stored || !stateMatches(stored.conversation, state, takenByRaw)) return null;
              return stored.row();
            }),
          )
        ).filter((row): row is Record<string, unknown> => row !== null);
        if (found.length > 0) {
          res.json({ conversations: found, next: null });
          return;
        }
      }

      const needle = q.toLocaleLowerCase('pt-BR');
      const digits = q.replace(/\D/g, '');
      const rows: Record<string, unknown>[] = [];
      let max: string = cursor ? String(cursor.s) : '+inf';
      let skipUpTo: Cursor | null = cursor;
      let examined = 0;
      let last: Cursor | null = null;
      let more = true;
      while (rows.length < limit && examined < MAX_EXAMINED && more) {
        const raw = await redis.zrevrangebyscore(keys.conversationIndex(), max, '-inf', 'WITHSCORES', 'LIMIT', 0, BATCH);
        const entries: { member: string; score: number }[] = [];
        for (let i = 0; i + 1 < raw.length; i += 2) entries.push({ member: raw[i] as string, score: Number(raw[i + 1]) });
        more = entries.length === BATCH;
        // Entries of the same score come in reverse order of their member: skip those already listed.
        const fresh = entries.filter((e) => !(skipUpTo && e.score === skipUpTo.s && e.member >= skipUpTo.m));
        if (fresh.length === 0) {
          if (!more) break;
          // A whole batch of one score already seen: go below it.
          max = `(${entries.at(-1)?.score ?? 0}`;
          skipUpTo = null;
          continue;
        }
        const candidates: { ref: ConversationRef; entry: { member: string; score: number } }[] = [];
        for (const entry of fresh) {
          if (examined >= MAX_EXAMINED || rows.length + candidates.length >= limit + BATCH) break;
          examined += 1;
          const split = entry.member.indexOf('\n');
          const ref = { channel: entry.member.slice(0, split), phone: entry.member.slice(split + 1) };
          last = { s: entry.score, m: entry.member };
          if (channel !== undefined && ref.channel !== channel) continue;
          if (!config.channels[ref.channel]) continue;
          candidates.push({ ref, entry });
        }
        const stored = await Promise.all(candidates.map((c) => item(c.ref, c.entry.score)));
        const gone: string[] = [];
        for (const [i, found] of stored.entries()) {
          const candidate = candidates[i] as (typeof candidates)[number];
          if (!found) {
            gone.push(candidate.entry.member);
            continue;
          }
          if (rows.length >= limit) {
            // The page is full: the next one starts at this entry.
            last = { s: candidate.entry.score, m: `${candidate.entry.member}\u0000` };
            break;
          }
          if (!stateMatches(found.conversation, state, takenByRaw)) continue;
          if (needle !== '') {
            const inName = (found.name ?? '').toLocaleLowerCase('pt-BR').includes(needle);
            const inPhone = digits.length >= 3 && (candidate.ref.phone.includes(digits) || (found.conversation.contactPhone ?? '').includes(digits));
            if (!inName && !inPhone) continue;
          }
          rows.push(await found.row());
        }
        // Conversations that expired leave the index as a listing meets them.
        if (gone.length > 0) await redis.zrem(keys.conversationIndex(), ...gone);
        if (last) {
          max = String(last.s);
          skipUpTo = last;
        }
        if (rows.length >= limit) break;
      }
      const next = last && (more || rows.length >= limit || examined >= MAX_EXAMINED) ? encodeCursor(last) : null;
      res.json({ conversations: rows, next });
    }),
  );

  router.get(
    '/admin/conversations/:channel/:phone/timeline',
    route(async (req, res) => {
      const ref = await refOf(req);
      res.json({ events: await timeline.read(ref) });
    }),
  );

  router.get(
    '/admin/channels',
    (_req, res) => {
      res.json({ channels: Object.entries(config.channels).map(([name, c]) => ({ name, kind: c.kind ?? 'json', provider: c.handoff.provider })) });
    },
  );

  router.get(
    '/admin/figures',
    route(async (_req, res) => {
      const now = Date.now();
      const since = now - DAY_MS;
      const count = (kind: 'handoff' | 'delivery', state: string) => redis.zcount(keys.index(kind, state), since, '+inf');
      const [done, failed, pending, deliveriesFailed, responses] = await Promise.all([
        count('handoff', 'done'),
        count('handoff', 'failed'),
        count('handoff', 'pending'),
        count('delivery', 'failed'),
        redis.zrangebyscore(keys.firstResponses(), since, '+inf'),
      ]);
      const seconds = responses.map((member) => Number(member.slice(0, member.indexOf(':')))).filter(Number.isFinite).sort((a, b) => a - b);
      res.json({
        since: new Date(since).toISOString(),
        handoffs: { done, failed, pending },
        firstResponseSeconds: { p50: percentile(seconds, 50), p90: percentile(seconds, 90) },
        deliveriesFailed,
      });
    }),
  );

  return router;
}
