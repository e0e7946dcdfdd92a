import type { Queue } from 'bullmq';
import express from 'express';
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { TurnObserver } from '../turn/run.js';
import type { DeliveryObserver, FirstResponseObserver, WorkerObserver } from './observers.js';

const QUEUE_STATES = ['waiting', 'active', 'delayed', 'prioritized', 'completed', 'failed'] as const;

/**
 * The service's Prometheus metrics, on a registry of its own (several services can live in
 * one test process). Names are prefixed `handoff_`; default process metrics are included.
 */
export function createMetrics(options: { queues?: Record<string, Queue> } = {}) {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });

  const webhookRequests = new Counter({
    name: 'handoff_webhook_requests_total',
    help: 'Webhook requests by channel and HTTP status (channel "unknown" for names not in the config)',
    labelNames: ['channel', 'status'] as const,
    registers: [registry],
  });
  const webhookChildren = new Map<string, ReturnType<typeof webhookRequests.labels>>();
  const toolzzDuration = new Histogram({
    name: 'handoff_toolzz_request_duration_seconds',
    help: 'Duration of calls to the Toolzz agent, by outcome (ok, error)',
    labelNames: ['outcome'] as const,
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 25],
    registers: [registry],
  });
  const handoffs = new Counter({
    name: 'handoff_handoffs_total',
    help: 'Handoffs by provider and outcome: queued (API); done, failed and cancelled (worker, once per handoff)',
    labelNames: ['provider', 'outcome'] as const,
    registers: [registry],
  });
  const attempts = new Counter({
    name: 'handoff_attempts_total',
    help: 'Handoff tries by provider and outcome (done, retry, failed)',
    labelNames: ['provider', 'outcome'] as const,
    registers: [registry],
  });
  const attemptDuration = new Histogram({
    name: 'handoff_attempt_duration_seconds',
    help: 'Duration of one handoff try on the platform, by provider',
    labelNames: ['provider'] as const,
    buckets: [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
    registers: [registry],
  });
  const failovers = new Counter({
    name: 'handoff_failovers_total',
    help: 'Handoffs that failed for good on one helpdesk and moved on to the next of the channel’s chain (SPEC §12), by channel and providers',
    labelNames: ['channel', 'from', 'to'] as const,
    registers: [registry],
  });
  const firstResponseSeconds = new Histogram({
    name: 'handoff_first_response_seconds',
    help: 'From a handoff being done to a human first answering the customer (MeHub MESSAGE_SENT, or a person on the phone), by channel',
    labelNames: ['channel'] as const,
    buckets: [10, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 14400],
    registers: [registry],
  });
  const firstResponseBreaches = new Counter({
    name: 'handoff_first_response_breaches_total',
    help: 'Done handoffs no human answered within handoff.firstResponse.minutes, by channel and the action taken',
    labelNames: ['channel', 'action'] as const,
    registers: [registry],
  });
  const deliveries = new Counter({
    name: 'handoff_deliveries_total',
    help: 'Replies and events sent through asynchronous channels, by channel and outcome (sent, retry, failed — also when the channel reports it later —, cancelled)',
    labelNames: ['channel', 'outcome'] as const,
    registers: [registry],
  });
  const replyLatency = new Histogram({
    name: 'handoff_reply_latency_seconds',
    help: 'Asynchronous channels: from the message being accepted to its reply being sent, by channel',
    labelNames: ['channel'] as const,
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60],
    registers: [registry],
  });
  const inbound = new Counter({
    name: 'handoff_inbound_messages_total',
    help: 'Messages of asynchronous channels at the webhook, by channel and outcome (accepted, duplicate, ignored)',
    labelNames: ['channel', 'outcome'] as const,
    registers: [registry],
  });
  const ignoredMessages = new Counter({
    name: 'webhook_messages_ignored_total',
    help: 'Message items of asynchronous channels not processed, by channel and reason (unreadable, unknown_address, foreign_number, reaction, edit, group…)',
    labelNames: ['channel', 'reason'] as const,
    registers: [registry],
  });
  const releases = new Counter({
    name: 'handoff_releases_total',
    help: 'Conversations back to the bot, by cause (ttl, admin, platform_event, platform_status); phone = taken over by a person answering from the phone',
    labelNames: ['cause'] as const,
    registers: [registry],
  });
  const queues = options.queues;
  if (queues) {
    new Gauge({
      name: 'handoff_queue_jobs',
      help: 'Jobs in the queues (handoffs, inbox, outbox, maintenance), by queue and state',
      labelNames: ['queue', 'state'] as const,
      registers: [registry],
      async collect() {
        // A scrape must answer even while Redis is away: skip the figure rather than hang.
        await Promise.all(
          Object.entries(queues).map(async ([name, queue]) => {
            const counts = await Promise.race([
              queue.getJobCounts(...QUEUE_STATES),
              new Promise<null>((resolve) => setTimeout(resolve, 2000, null).unref()),
            ]).catch(() => null);
            if (!counts) return;
            for (const state of QUEUE_STATES) this.set({ queue: name, state }, counts[state] ?? 0);
          }),
        );
      },
    });
  }

  const pipeline: TurnObserver = {
    botCall: (seconds, outcome) => toolzzDuration.observe({ outcome }, seconds),
    handoffQueued: (provider) => handoffs.inc({ provider, outcome: 'queued' }),
    released: (cause) => releases.inc({ cause }),
  };
  const delivery: DeliveryObserver = {
    delivery: (channel, outcome) => deliveries.inc({ channel, outcome }),
    replyLatency: (channel, seconds) => replyLatency.observe({ channel }, seconds),
  };
  const worker: WorkerObserver = {
    attempt: (provider, outcome, seconds) => {
      attempts.inc({ provider, outcome });
      attemptDuration.observe({ provider }, seconds);
    },
    finished: (provider, outcome) => handoffs.inc({ provider, outcome }),
    failover: (channel, from, to) => failovers.inc({ channel, from, to }),
  };
  const firstResponse: FirstResponseObserver = {
    answered: (channel, seconds) => firstResponseSeconds.observe({ channel }, seconds),
    breach: (channel, action) => firstResponseBreaches.inc({ channel, action }),
  };

  return {
    registry,
    pipeline,
    worker,
    delivery,
    firstResponse,
    inbound: (channel: string, outcome: 'accepted' | 'duplicate' | 'ignored', count = 1) => inbound.inc({ channel, outcome }, count),
    ignoredMessages: (channel: string, reason: string, count: number) => ignoredMessages.inc({ channel, reason }, count),
    webhookRequest: (channel: string, status: number) => {
      // One labelled child per (channel, status), looked up instead of re-hashing labels.
      const key = `${channel}\u0000${status}`;
      let child = webhookChildren.get(key);
      if (!child) {
        child = webhookRequests.labels(channel, String(status));
        webhookChildren.set(key, child);
      }
      child.inc();
    },
    router(): express.Router {
      const router = express.Router();
      router.get('/metrics', async (_req, res) => {
        res.setHeader('content-type', registry.contentType);
        res.send(await registry.metrics());
      });
      return router;
    },
  };
}

export type Metrics = ReturnType<typeof createMetrics>;
