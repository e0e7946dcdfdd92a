import type { Core } from '../src/core.js';
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
  const handoff = createHandoffWorker({ config, keys, redis, providers: core.providers, actions, identity: core.identity, logger, observer: metrics.worker });
  const inbox = createInboxWorker({ config, keys, locks: conversations, commits: conversations, inbox: core.inboxStore, turn: core.turn, channels, lanes, logger });
  const outbox = createOutboxWorker({ config, keys, redis, channels, logger, observer: metrics.delivery });
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
