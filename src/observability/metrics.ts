import type { Queue } from 'bullmq';
import express from 'express';
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { PipelineObserver } from '../pipeline/process-message.js';
import type { WorkerObserver } from '../../workers/handoff.worker.js';

const QUEUE_STATES = ['waiting', 'active', 'delayed', 'prioritized', 'completed', 'failed'] as const;

/**
 * The service's Prometheus metrics, on a registry of its own (several services can live in
 * one test process). Names are prefixed `handoff_`; default process metrics are included.
 */
export function createMetrics(options: { queue?: Queue } = {}) {
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
  const queue = options.queue;
  if (queue) {
    new Gauge({
      name: 'handoff_queue_jobs',
      help: 'Handoff jobs in the queue, by state',
      labelNames: ['state'] as const,
      registers: [registry],
      async collect() {
        // A scrape must answer even while Redis is away: skip the figure rather than hang.
        const counts = await Promise.race([
          queue.getJobCounts(...QUEUE_STATES),
          new Promise<null>((resolve) => setTimeout(resolve, 2000, null).unref()),
        ]).catch(() => null);
        if (!counts) return;
        for (const state of QUEUE_STATES) this.set({ state }, counts[state] ?? 0);
      },
    });
  }

  const pipeline: PipelineObserver = {
    botCall: (seconds, outcome) => toolzzDuration.observe({ outcome }, seconds),
    handoffQueued: (provider) => handoffs.inc({ provider, outcome: 'queued' }),
  };
  const worker: WorkerObserver = {
    attempt: (provider, outcome, seconds) => {
      attempts.inc({ provider, outcome });
      attemptDuration.observe({ provider }, seconds);
    },
    finished: (provider, outcome) => handoffs.inc({ provider, outcome }),
  };

  return {
    registry,
    pipeline,
    worker,
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
