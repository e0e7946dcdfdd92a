/**
 * Saturating load, in a process of its own: autocannon with a fresh body per request.
 * argv[2]: JSON {url, path, kind, token?, secret?, account?, phones?, customerBase?, connections, durationSec}. Prints one JSON line.
 */
import autocannon from 'autocannon';
import { makeRequest, type LoadTarget } from './bodies.js';

const options = JSON.parse(process.argv[2] ?? '{}') as LoadTarget & { connections: number; durationSec: number };
const result = await autocannon({
  url: options.url,
  connections: options.connections,
  duration: options.durationSec,
  timeout: 30,
  requests: [
    {
      method: 'POST',
      path: options.path,
      headers: { 'content-type': 'application/json' },
      // A fresh message each request; a signed kind's signature covers exactly its bytes.
      setupRequest: (request) => {
        const next = makeRequest(options);
        return { ...request, body: next.body, headers: { ...request.headers, ...next.headers } };
      },
    },
  ],
});
process.stdout.write(
  `${JSON.stringify({
    rps: result.requests.total / result.duration,
    // Steady state: the median of the per-second counts (a closed loop with 2 s replies
    // completes nothing in its first 2 s, which total/duration would count against it).
    rpsSteady: result.requests.p50,
    total: result.requests.total,
    non2xx: result.non2xx,
    errors: result.errors,
    timeouts: result.timeouts,
    latencyP50: result.latency.p50,
    latencyP99: result.latency.p99,
    statusCodes: result.statusCodeStats,
  })}\n`,
);
