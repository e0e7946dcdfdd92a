import type { Redis } from 'ioredis';
import type { Keys } from '../keys.js';
import { handoffJobSchema, type HandoffJob } from './job.js';

export type HandoffState = 'pending' | 'done' | 'failed';

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
}

/** Handoff records are kept this long after their last change. */
export const HANDOFF_RECORD_TTL_MS = 30 * 24 * 60 * 60 * 1000;

const STATES: readonly HandoffState[] = ['pending', 'done', 'failed'];

export function recordFromHash(hash: Record<string, string>): HandoffRecord | null {
  if (!hash.id) return null;
  const state = STATES.includes(hash.state as HandoffState) ? (hash.state as HandoffState) : 'pending';
  return {
    id: hash.id,
    channel: hash.channel ?? '',
    phone: hash.phone ?? '',
    provider: hash.provider ?? '',
    state,
    attempts: Number(hash.attempts ?? '0') || 0,
    lastError: hash.lastError || null,
    createdAt: hash.createdAt ?? '',
    finishedAt: hash.finishedAt || null,
  };
}

/** Adds the commands that create a pending record to a MULTI (written with the conversation state). */
export function addCreateRecord(multi: ReturnType<Redis['multi']>, keys: Keys, job: HandoffJob): void {
  const key = keys.handoff(job.handoffId);
  multi.hset(key, {
    id: job.handoffId,
    channel: job.channel,
    phone: job.phone,
    provider: job.provider,
    state: 'pending',
    attempts: '0',
    lastError: '',
    createdAt: job.createdAt,
    finishedAt: '',
    job: JSON.stringify(job),
  });
  multi.pexpire(key, HANDOFF_RECORD_TTL_MS);
  multi.zadd(keys.handoffIndex('pending'), Date.parse(job.createdAt), job.handoffId);
}

/** The job payload a record was created with (for re-enqueueing), validated. */
export async function readRecordJob(redis: Redis, keys: Keys, id: string): Promise<HandoffJob | null> {
  const raw = await redis.hget(keys.handoff(id), 'job');
  if (!raw) return null;
  const parsed = handoffJobSchema.safeParse(JSON.parse(raw));
  return parsed.success ? parsed.data : null;
}

export async function readRecord(redis: Redis, keys: Keys, id: string): Promise<HandoffRecord | null> {
  return recordFromHash(await redis.hgetall(keys.handoff(id)));
}
