import type { Core } from '../src/core.js';
import { createDeliveryAttempts } from '../src/delivery/attempt.js';
import { createOutbox } from '../src/delivery/outbox.js';
import { createHandoffWorker, type HandoffWorker } from './handoff.worker.js';
import { createInboxWorker, type InboxWorker } from './inbox.worker.js';
import { createMaintenanceWorker, type MaintenanceWorker } from './maintenance.worker.js';
import { createOutboxWorker, type OutboxWorker } from './outbox.worker.js';

/** Every worker of the worker role, on the shared core of the process. */
export interface WorkerService {
  handoff: HandoffWorker;
  inbox: InboxWorker;
  outbox: OutboxWorker;
  maintenance: MaintenanceWorker;
  /** Resolves once every worker is connected and the reconciler is scheduled. */
  ready(): Promise<void>;
  close(graceMs?: number): Promise<void>;
}

export function createWorkerService(core: Core): WorkerService {
  const { config, keys, redis, logger, metrics, queues, channels, lanes, actions, conversations } = core;
  const handoff = createHandoffWorker({
    config,
    keys,
    redis,
    providers: core.providers,
    actions,
    handoffs: queues.handoff,
    firstResponse: core.firstResponse,
    firstResponseObserver: metrics.firstResponse,
    channels,
    identity: core.identity,
    logger,
    observer: metrics.worker,
    timeline: core.timeline,
  });
  // Replies are tried by the outbox worker, and by the inbox drain that wrote one (one job per message).
  const outboxStore = createOutbox(redis, keys, { perPartMs: config.delivery.timeoutMs });
  const attempts = createDeliveryAttempts({ config, outbox: outboxStore, channels, logger, observer: metrics.delivery });
  const inbox = createInboxWorker({ config, keys, locks: conversations, commits: conversations, inbox: core.inboxStore, turn: core.turn, channels, lanes, attempts, logger });
  const outbox = createOutboxWorker({ config, keys, outbox: outboxStore, attempts, logger, observer: metrics.delivery });
  const maintenance = createMaintenanceWorker({
    config,
    keys,
    redis,
    handoffs: queues.handoff,
    maintenance: queues.maintenance,
    actions,
    logger,
    observer: metrics.worker,
    lanes,
    laneQueues: [queues.inbox, queues.outbox],
  });
  const all = [handoff, inbox, outbox, maintenance];
  return {
    handoff,
    inbox,
    outbox,
    maintenance,
    async ready() {
      await Promise.all(all.map((w) => w.worker.waitUntilReady()));
      await maintenance.schedule();
    },
    async close(graceMs?: number) {
      await Promise.all(all.map((w) => w.close(graceMs)));
    },
  };
}
