import type { Keys } from '../keys.js';
import type { RedisClient } from '../redis/connection.js';
import type { ConversationRef } from '../conversations/types.js';
import { createRecordIndex, type RecordIndex } from '../records/index-store.js';
import { handoffJobSchema, type HandoffJob } from './job.js';

export type HandoffState = 'pending' | 'done' | 'failed';
export const HANDOFF_STATES: readonly HandoffState[] = ['pending', 'done', 'failed'];

/** One handoff as the admin API shows it (SPEC §6). */
export interface HandoffRecord {
  id: string;
  channel: string;
  phone: string;
  provider: string;
  state: HandoffState;
  /** Every try made, the successful one included. */
  attempts: number;
  lastError: string | null;
  createdAt: string;
  finishedAt: string | null;
  /** SPEC §12: each leg of the chain tried so far, the current one last (its tries and error are the record's). */
  legs: { provider: string; state: HandoffState; attempts: number; lastError: string | null }[];
  /** SPEC §12: queued outside business hours, performed at this opening (ISO). */
  scheduledFor?: string;
  /** SPEC §12: when a human first answered the customer after the handoff was done (ISO). */
  firstResponseAt?: string;
}

export type { HandoffLearnt } from '../providers/types.js';
import type { HandoffLearnt } from '../providers/types.js';

/** Handoff records are kept this long after their last change. */
export const HANDOFF_RECORD_TTL_MS = 30 * 24 * 60 * 60 * 1000;

export function recordFromHash(hash: Record<string, string>): HandoffRecord | null {
  if (!hash.id) return null;
  const state = HANDOFF_STATES.includes(hash.state as HandoffState) ? (hash.state as HandoffState) : 'pending';
  const current = { provider: hash.provider ?? '', state, attempts: Number(hash.attempts ?? '0') || 0, lastError: hash.lastError || null };
  return {
    id: hash.id,
    channel: hash.channel ?? '',
    phone: hash.phone ?? '',
    ...current,
    createdAt: hash.createdAt ?? '',
    finishedAt: hash.finishedAt || null,
    legs: [...pastLegsOf(hash), current],
    ...(hash.scheduledFor ? { scheduledFor: hash.scheduledFor } : {}),
    ...(hash.firstResponseAt ? { firstResponseAt: hash.firstResponseAt } : {}),
  };
}

/** The legs a record moved on from (SPEC §12), oldest first; none for a record written before chains existed. */
function pastLegsOf(hash: Record<string, string>): HandoffRecord['legs'] {
  try {
    const past = JSON.parse(hash.pastLegs || '[]') as unknown;
    if (!Array.isArray(past)) return [];
    return past.map((leg: Record<string, unknown>) => ({
      provider: typeof leg.provider === 'string' ? leg.provider : '',
      state: leg.state === 'done' ? 'done' : 'failed',
      attempts: Number(leg.attempts) || 0,
      lastError: typeof leg.lastError === 'string' && leg.lastError !== '' ? leg.lastError : null,
    }));
  } catch {
    return [];
  }
}

/** The fields of a new, pending record (written by the turn's commit, with the conversation). */
export function newRecordFields(job: HandoffJob): Record<string, string> {
  return {
    id: job.handoffId,
    channel: job.channel,
    phone: job.phone,
    provider: job.provider,
    reason: job.reason,
    state: 'pending',
    attempts: '0',
    lastError: '',
    createdAt: job.createdAt,
    finishedAt: '',
    sideEffect: '',
    ...(job.scheduledFor ? { scheduledFor: job.scheduledFor } : {}),
    job: JSON.stringify(job),
  };
}

/** What the record says the worker learnt at handoff time. */
export function learntFromHash(hash: Record<string, string>): HandoffLearnt {
  const learnt: HandoffLearnt = {};
  if (hash.mehubChatToken) learnt.mehubChatToken = hash.mehubChatToken;
  if (hash.superagentesConversationId) learnt.superagentesConversationId = hash.superagentesConversationId;
  return learnt;
}

/** Reading handoff records: by id (through the index's pointer) or by conversation. */
export interface HandoffRecords {
  index: RecordIndex<HandoffState>;
  read(id: string, ref?: ConversationRef | null): Promise<HandoffRecord | null>;
  /** The record with the job payload it was created with (validated) and what was learnt. */
  readFull(id: string, ref?: ConversationRef | null): Promise<{ record: HandoffRecord; job: HandoffJob | null; learnt: HandoffLearnt } | null>;
}

export function createHandoffRecords(redis: RedisClient, keys: Keys): HandoffRecords {
  const index = createRecordIndex(redis, keys, 'handoff', HANDOFF_STATES);

  async function hashOf(id: string, ref?: ConversationRef | null): Promise<Record<string, string> | null> {
    const where = ref ?? (await index.locate(id));
    if (!where) return null;
    const hash = await redis.hgetall(keys.handoff(where.channel, where.phone, id));
    return hash.id ? hash : null;
  }

  return {
    index,
    async read(id: string, ref?: ConversationRef | null): Promise<HandoffRecord | null> {
      const hash = await hashOf(id, ref);
      return hash ? recordFromHash(hash) : null;
    },
    /** The record with the job payload it was created with (validated) and what was learnt. */
    async readFull(id: string, ref?: ConversationRef | null): Promise<{ record: HandoffRecord; job: HandoffJob | null; learnt: HandoffLearnt } | null> {
      const hash = await hashOf(id, ref);
      const record = hash ? recordFromHash(hash) : null;
      if (!hash || !record) return null;
      let job: HandoffJob | null = null;
      try {
        const parsed = handoffJobSchema.safeParse(JSON.parse(hash.job ?? 'null'));
        job = parsed.success ? parsed.data : null;
      } catch {
        job = null;
      }
      return { record, job, learnt: learntFromHash(hash) };
    },
  };
}
