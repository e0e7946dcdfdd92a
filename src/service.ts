import { createAdminRouter } from './admin/router.js';
import { createApp } from './app.js';
import type { Core } from './core.js';
import { createStatusRecorder } from './delivery/statuses.js';
import { httpService, type HttpService } from './http-service.js';
import { createPipeline, type Pipeline } from './turn/synchronous.js';
import { createMehubEventsRouter } from './platform-webhooks/mehub.js';

export { createCore, type Core, type CoreDeps } from './core.js';
export type { HttpService } from './http-service.js';

export interface ApiService extends HttpService {
  pipeline: Pipeline;
}

/** The API side: webhooks → pipeline or inbox, /metrics, the admin API, platform events. `close()` stops the HTTP server only. */
export function createApiService(core: Core): ApiService {
  const { config, redis, keys, logger, metrics, actions } = core;
  const pipeline = createPipeline({ config, locks: core.conversations, commits: core.conversations, turn: core.turn, identity: core.identity });
  const admin = createAdminRouter({ config, redis, keys, conversations: core.conversations, identity: core.identity, actions, queues: core.queues.all, http: core.http, logger });
  const mehub = createMehubEventsRouter({ config, redis, keys, actions, identity: core.identity, firstResponse: core.firstResponse, logger });
  const statuses = createStatusRecorder({ redis, keys, identity: core.identity, logger, observer: metrics.delivery, timeline: core.timeline });
  const webhook = { config, channels: core.channels, pipeline, inbox: core.inbox, statuses, observer: { inbound: metrics.inbound, ignoredMessages: metrics.ignoredMessages } };
  const app = createApp({ config, redis, webhook, logger, metrics, routers: [mehub, admin] });
  return Object.assign(httpService(app), { pipeline });
}

/** The operational endpoints alone (/healthz, /readyz, /metrics), for a worker-only process. */
export function createOpsService(core: Core): HttpService {
  return httpService(createApp({ config: core.config, redis: core.redis, logger: core.logger, metrics: core.metrics }));
}
