import type { HandoffEndEvent } from '../src/channels/types.js';
import { newDelivery } from '../src/delivery/records.js';
import type { Core } from '../src/service.js';
import { createHandoffWorker, type HandoffNotifier, type HandoffWorker } from './handoff.worker.js';
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
  const { config, keys, redis, store, logger, metrics, queues, channels, lanes } = core;

  // What a handoff's end tells the customer of an asynchronous channel (SPEC §8.2, §9.2).
  const notify: HandoffNotifier = (job, outcome) => {
    const sender = channels.get(job.channel)?.sender;
    const channel = config.channels[job.channel];
    if (!sender || !channel) return [];
    const event: HandoffEndEvent = {
      type: outcome === 'done' ? 'handoff.done' : 'handoff.failed',
      conversationId: job.conversationId.startsWith('none:') ? null : job.conversationId,
      handoffId: job.handoffId,
      ...(outcome === 'failed' && channel.handoff.failedMessage ? { failedMessage: channel.handoff.failedMessage } : {}),
    };
    return sender.render(event).map((outgoing) => newDelivery(job, { messageId: job.messageId, to: job.address ?? job.phone, outgoing }));
  };
  const kickOutbox = (ref: { channel: string; phone: string }) => lanes.kickOutbox(ref);

  const handoff = createHandoffWorker({ config, keys, redis, store, providers: core.providers, logger, notify, kickOutbox, observer: metrics.worker });
  const inbox = createInboxWorker({ config, keys, store, turn: core.turn, channels, lanes, logger, observer: metrics.pipeline });
  const outbox = createOutboxWorker({ config, keys, redis, channels, logger, observer: metrics.delivery });
  const maintenance = createMaintenanceWorker({
    config,
    keys,
    redis,
    store,
    handoffs: queues.handoff,
    maintenance: queues.maintenance,
    logger,
    notify,
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
