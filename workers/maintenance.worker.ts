import { Job, Worker, type Queue } from 'bullmq';
import type { Logger } from 'pino';
import type { Config } from '../src/config/index.js';
import type { ConversationActions } from '../src/conversations/actions.js';
import { createDeliveryRecords, DELIVERY_RECORD_TTL_MS, SENT_RECORD_TTL_MS } from '../src/delivery/records.js';
import { handoffJobId, type HandoffQueue } from '../src/handoff/queue.js';
import { createHandoffRecords, HANDOFF_RECORD_TTL_MS } from '../src/handoff/records.js';
import { laneId, readLaneJob, type Lanes } from '../src/inbox/lanes.js';
import { parseWhere, QUEUES, type Keys } from '../src/keys.js';
import type { WorkerObserver } from '../src/observability/observers.js';
import { throttledErrorLog } from '../src/observability/throttle.js';
import { createBullConnection, type RedisClient } from '../src/redis/connection.js';
import { scriptsFor } from '../src/redis/scripts.js';
import { closeWorker } from './shared.js';

/** What one reconcile run found and did (returned for tests and logged when not all zero). */
export interface ReconcileReport {
  requeued: number;
  ended: number;
  repaired: number;
  forgotten: number;
  trimmed: number;
  /** Inbox/outbox lanes started again (a pending delivery, accepted messages with no live drain job, or a drain job that failed for good). */
  kicked: number;
}


export interface MaintenanceDeps {
  config: Config;
  keys: Keys;
  redis: RedisClient;
  handoffs: HandoffQueue;
  maintenance: Queue;
  /** Ending a handoff whose job BullMQ failed without an outcome, and telling the customer. */
  actions: Pick<ConversationActions, 'endHandoff'>;
  logger: Logger;
  observer?: WorkerObserver;
  /** The per-customer lanes of asynchronous channels, to start again those left stuck. */
  lanes?: Lanes;
  laneQueues?: Queue[];
}

/**
 * A pending record younger than this is left alone: an operator retry files it before its
 * new job is added. (The API adds a handoff's job before committing it, so an older pending
 * handoff without a live job has lost it.)
 */
const MAX_GRACE_MS = 30_000;
/** At most this many pending records are looked at per run (the next run takes the rest). */
const BATCH = 500;
const LIVE_STATES = new Set(['waiting', 'active', 'delayed', 'prioritized', 'waiting-children']);
/** At most this many inboxes are looked at per run (oldest first; the next run takes the rest). */
const INBOX_BATCH = 2_000;

/**
 * Nothing in a process's memory is the only thing that ends a handoff (SPEC §1): any worker
 * runs this reconciler every `worker.reconcileIntervalMs` as a BullMQ job scheduler (one run
 * at a time, whichever worker takes it). It finds pending handoffs whose job is gone (a crash
 * or a Redis failover lost it) and queues them again under the same id; ends those whose job
 * BullMQ failed without the worker recording it (a job that stalled too often); repairs
 * index entries filed under the wrong state and forgets those whose record expired; and
 * trims the admin indexes so their lists stay full.
 */
export function createMaintenanceWorker(deps: MaintenanceDeps) {
  const { config, keys, logger, handoffs } = deps;
  const records = createHandoffRecords(deps.redis, keys);
  const index = records.index;
  const GRACE_MS = Math.min(MAX_GRACE_MS, config.worker.reconcileIntervalMs);
  const deliveries = createDeliveryRecords(deps.redis, keys);
  const run = scriptsFor(deps.redis);

  async function reconcileHandoffs(report: ReconcileReport, now: number): Promise<void> {
    for (const id of await index.oldest('pending', now - GRACE_MS, BATCH)) {
      const ref = await index.locate(id);
      const full = ref ? await records.readFull(id, ref) : null;
      if (!full) {
        await index.forget(id);
        report.forgotten += 1;
        continue;
      }
      const { record, job } = full;
      if (record.state !== 'pending') {
        await index.file(id, record.state, Date.parse(record.finishedAt ?? '') || now);
        report.repaired += 1;
        continue;
      }
      if (!job) {
        logger.error({ handoffId: id }, 'pending handoff with an unreadable job payload; cannot run it');
        continue;
      }
      // The job of the leg the handoff is on (SPEC §12: each fallback leg is a job of its own).
      const jobId = handoffJobId(id, job.leg ?? 0);
      const state = await handoffs.queue.getJobState(jobId);
      if (LIVE_STATES.has(state)) continue;
      const log = logger.child({ handoffId: id, channel: job.channel, phone: job.phone, provider: job.provider });
      if (state === 'failed') {
        // BullMQ gave up on the job without the worker ending the handoff (it stalled too often).
        const reason = (await Job.fromId(handoffs.queue, jobId))?.failedReason || 'the job failed';
        const lastError = `job failed without an outcome: ${reason}`;
        if (await deps.actions.endHandoff(job, 'failed', { lastError })) {
          deps.observer?.finished?.(job.provider, 'failed');
          log.error({ lastError, attempts: record.attempts }, 'handoff failed for good; the conversation goes back to the bot');
          report.ended += 1;
        }
        continue;
      }
      // Gone ('unknown'), or completed while the record still says pending: run it again,
      // with the tries it has left. A completed job of that id must go first (same job id).
      if (state === 'completed') await (await Job.fromId(handoffs.queue, jobId))?.remove();
      await handoffs.enqueue(job, { attempts: Math.max(1, config.retry.attempts - record.attempts) });
      log.warn({ jobState: state, attempts: record.attempts }, 'pending handoff had no live job; queued it again');
      report.requeued += 1;
    }
  }

  async function trimIndexes(report: ReconcileReport, now: number): Promise<void> {
    // Scores are createdAt (pending) or finishedAt: an entry older than the record's TTL
    // has no record any more (a sent delivery's record lives a day, the others a week).
    for (const state of index.states) report.trimmed += await index.trim(state, now - HANDOFF_RECORD_TTL_MS);
    for (const state of deliveries.index.states) report.trimmed += await deliveries.index.trim(state, now - (state === 'sent' ? SENT_RECORD_TTL_MS : DELIVERY_RECORD_TTL_MS));
  }

  /**
   * SPEC §8.4: every accepted message is processed even if its drain job was lost (a crash
   * between storing and scheduling, a failover, an eviction). Inboxes filed in the inbox index
   * more than the grace period ago are looked at: an empty one leaves the index (unless it was
   * filed again meanwhile), one with messages and no live drain job is started again.
   */
  async function reconcileInboxes(report: ReconcileReport, now: number): Promise<void> {
    const lanes = deps.lanes;
    const queue = deps.laneQueues?.find((q) => q.name === QUEUES.inbox);
    if (!lanes || !queue) return;
    const found = await deps.redis.zrangebyscore(keys.inboxIndex(), '-inf', now - GRACE_MS, 'WITHSCORES', 'LIMIT', 0, INBOX_BATCH);
    const entries: { member: string; score: string }[] = [];
    for (let i = 0; i + 1 < found.length; i += 2) entries.push({ member: found[i] as string, score: found[i + 1] as string });
    await Promise.all(
      entries.map(async ({ member, score }) => {
        const ref = parseWhere(member);
        const waiting = ref ? await deps.redis.llen(keys.inbox(ref.channel, ref.phone)) : 0;
        if (!ref || waiting === 0) {
          report.forgotten += Number(await run('index-forget-if', [keys.inboxIndex()], [member, score]));
          return;
        }
        const jobId = await queue.getDeduplicationJobId(laneId(ref));
        const state = jobId ? await queue.getJobState(jobId) : 'unknown';
        if (LIVE_STATES.has(state)) return;
        // A deduplication key left pointing at a job that is gone would make the kick a no-op.
        if (jobId) await queue.removeDeduplicationKey(laneId(ref));
        await lanes.scheduleInboxDrain(ref);
        report.kicked += 1;
        logger.warn({ channel: ref.channel, phone: ref.phone, waiting, jobState: state }, 'accepted messages had no live drain job; started it again');
      }),
    );
  }

  /**
   * A reply still pending after the grace period whose lane has no job (its drain job failed
   * for good, or a crash came between a commit and the kick) is sent again: a kick is a
   * no-op while a drain job exists. Drain jobs that failed for good are started afresh.
   */
  async function reconcileLanes(report: ReconcileReport, now: number): Promise<void> {
    const lanes = deps.lanes;
    if (!lanes) return;
    const kicked = new Set<string>();
    for (const id of await deliveries.index.oldest('pending', now - GRACE_MS, BATCH)) {
      const ref = await deliveries.index.locate(id);
      const delivery = ref ? await deliveries.read(id, ref) : null;
      if (!ref || !delivery) {
        await deliveries.index.forget(id);
        report.forgotten += 1;
        continue;
      }
      if (delivery.state !== 'pending') {
        await deliveries.index.file(id, delivery.state, Date.parse(delivery.finishedAt ?? '') || now);
        report.repaired += 1;
        continue;
      }
      const lane = `${ref.channel}:${ref.phone}`;
      if (kicked.has(lane)) continue;
      kicked.add(lane);
      await lanes.scheduleOutboxDrain(ref);
      report.kicked += 1;
    }
    for (const queue of deps.laneQueues ?? []) {
      for (const job of await queue.getFailed(0, BATCH - 1)) {
        const read = readLaneJob(job.data);
        if (read.ok) await (queue.name === QUEUES.inbox ? lanes.scheduleInboxDrain(read.ref) : lanes.scheduleOutboxDrain(read.ref));
        await job.remove().catch(() => undefined);
        report.kicked += 1;
      }
    }
  }

  /** One reconcile run (also called directly by tests). */
  async function reconcile(): Promise<ReconcileReport> {
    const report: ReconcileReport = { requeued: 0, ended: 0, repaired: 0, forgotten: 0, trimmed: 0, kicked: 0 };
    const now = Date.now();
    await reconcileHandoffs(report, now);
    await reconcileLanes(report, now);
    await reconcileInboxes(report, now);
    await trimIndexes(report, now);
    if (Object.values(report).some((n) => n > 0)) logger.info({ ...report }, 'reconciled');
    return report;
  }

  const connection = createBullConnection(config.redisTarget, 'worker');
  const worker = new Worker(QUEUES.maintenance, async () => reconcile(), {
    connection,
    prefix: keys.bullPrefix(QUEUES.maintenance),
    concurrency: 1,
    lockDuration: config.worker.lockDurationMs,
  });
  worker.on('error', throttledErrorLog(logger, 'maintenance worker error'));
  worker.on('failed', (_job, error) => logger.warn({ err: error }, 'reconcile run failed; the next one tries again'));

  return {
    worker,
    reconcile,
    /** Registers the schedule (idempotent: every worker process does it, one run at a time). */
    async schedule(): Promise<void> {
      await deps.maintenance.upsertJobScheduler(
        'reconcile',
        { every: config.worker.reconcileIntervalMs },
        { name: 'reconcile', opts: { removeOnComplete: true, removeOnFail: 100 } },
      );
    },
    async close(graceMs = config.worker.shutdownGraceMs): Promise<void> {
      await closeWorker(worker, graceMs, logger, 'maintenance');
      await connection.quit().catch(() => connection.disconnect());
    },
  };
}

export type MaintenanceWorker = ReturnType<typeof createMaintenanceWorker>;
