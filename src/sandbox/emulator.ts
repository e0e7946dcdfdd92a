import { EventEmitter, once } from 'node:events';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * What the next request to a route suffers instead of (or on top of) normal handling.
 * Injected with {@link Emulator.inject}; each request consumes one.
 */
export interface Fault {
  /** Answer this status (and `body`, `headers`) without applying the request, or after applying it with `apply: true`. */
  status?: number;
  body?: unknown;
  headers?: Record<string, string>;
  /** Wait this long before handling (the client may time out; nothing is applied until then). */
  delayMs?: number;
  /** Apply the request at once, then wait this long before answering (the "applied but timed out" case). */
  applyThenDelayMs?: number;
  /** Close the connection without answering. */
  destroy?: boolean;
  /** With `destroy` or `status`: apply the request first (it took effect, the answer is lost or wrong). */
  apply?: boolean;
  /** Answer 200 with this raw text (a malformed body). */
  rawBody?: string;
}

/** One request as the emulator saw it (authorization values are not kept). */
export interface RecordedRequest {
  route: string;
  method: string;
  path: string;
  query: Record<string, string>;
  body: unknown;
  status: number;
  /** True when the request changed the emulator's state (or would have, for reads). */
  applied: boolean;
  authorized: boolean;
  at: number;
}

export interface RouteContext {
  method: string;
  path: string;
  params: Record<string, string>;
  query: URLSearchParams;
  headers: IncomingMessage['headers'];
  body: unknown;
}

export interface RouteResult {
  status: number;
  body?: unknown;
  headers?: Record<string, string>;
}

export interface Route {
  name: string;
  method: string;
  /** `/api/v1/chats/:token/transfer` style; params are single path segments. */
  pattern: string;
  handle(ctx: RouteContext): RouteResult | Promise<RouteResult>;
}

interface CompiledRoute extends Route {
  regex: RegExp;
  keys: string[];
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

function compile(route: Route): CompiledRoute {
  const keys: string[] = [];
  const source = route.pattern.replace(/:([A-Za-z]+)/g, (_, key: string) => {
    keys.push(key);
    return '([^/]+)';
  });
  return { ...route, regex: new RegExp(`^${source}/?$`), keys };
}

async function readBody(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

function send(res: ServerResponse, result: RouteResult): void {
  const headers = { 'content-type': 'application/json', ...result.headers };
  res.writeHead(result.status, headers);
  res.end(result.body === undefined ? '' : typeof result.body === 'string' ? result.body : JSON.stringify(result.body));
}

/**
 * A small programmable HTTP server that stands in for an upstream API in the demo, the
 * tests and the benchmarks. Subclasses declare routes; this base adds fault injection,
 * a request log with event-driven waits, and a JSON control API under `/__sandbox/`
 * for processes that do not share memory with it.
 */
export class Emulator extends EventEmitter {
  readonly requests: RecordedRequest[] = [];
  /** Added to every request (ms). */
  latencyMs = 0;
  /** Requests being handled right now, and the most seen at once since the last reset. */
  inFlight = 0;
  maxInFlight = 0;
  /** Keep about this many requests in the log (up to twice as many); 0 keeps none (benchmarks). */
  maxRecorded = 10_000;
  private readonly routes: CompiledRoute[];
  private readonly faults = new Map<string, Fault[]>();
  private server: Server | undefined;
  url = '';

  constructor(
    readonly name: string,
    routes: Route[],
    /** Checks credentials; returns an error answer, or null when authorized. */
    private readonly authorize: (headers: IncomingMessage['headers'], route: string) => RouteResult | null = () => null,
  ) {
    super();
    this.setMaxListeners(0);
    this.routes = routes.map(compile);
  }

  /** Queues faults for the next requests to `route` (one per request, in order). */
  inject(route: string, ...faults: Fault[]): this {
    const queue = this.faults.get(route) ?? [];
    queue.push(...faults);
    this.faults.set(route, queue);
    return this;
  }

  /** Drops pending faults and the request log (subclasses also reset their data). */
  reset(): void {
    this.faults.clear();
    this.requests.length = 0;
    this.latencyMs = 0;
    this.maxInFlight = this.inFlight;
  }

  /** Emulator-specific data for the control API (`GET /__sandbox/state`). */
  state(): unknown {
    return {};
  }

  /** Resolves when the next request (whose path matches) arrives, before it is handled. */
  nextArrival(path?: RegExp): Promise<void> {
    return new Promise((resolve) => {
      const check = (arrival: { path: string }) => {
        if (path && !path.test(arrival.path)) return;
        this.off('arrival', check);
        resolve();
      };
      this.on('arrival', check);
    });
  }

  /** Recorded requests to `route` (all routes when omitted). */
  calls(route?: string, filter: (r: RecordedRequest) => boolean = () => true): RecordedRequest[] {
    return this.requests.filter((r) => (route === undefined || r.route === route) && filter(r));
  }

  /**
   * Resolves once `count` recorded requests match (already recorded ones count), or rejects
   * after `timeoutMs` with what was seen, so a failing test says why.
   */
  async waitFor(predicate: (r: RecordedRequest) => boolean, count = 1, timeoutMs = 10_000): Promise<RecordedRequest[]> {
    const matching = () => this.requests.filter(predicate);
    if (matching().length >= count) return matching();
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.off('request', check);
        reject(new Error(`${this.name}: waited ${timeoutMs} ms for ${count} matching request(s), saw ${matching().length}`));
      }, timeoutMs);
      const check = () => {
        const found = matching();
        if (found.length >= count) {
          clearTimeout(timer);
          this.off('request', check);
          resolve(found);
        }
      };
      this.on('request', check);
    });
  }

  async start(port = 0, host = '127.0.0.1'): Promise<string> {
    const server = createServer((req, res) => {
      this.inFlight += 1;
      this.maxInFlight = Math.max(this.maxInFlight, this.inFlight);
      this.dispatch(req, res)
        .catch((error: unknown) => {
          if (!res.headersSent) send(res, { status: 500, body: { message: `emulator error: ${(error as Error).message}` } });
          else res.destroy();
        })
        .finally(() => {
          this.inFlight -= 1;
        });
    });
    server.keepAliveTimeout = 60_000;
    server.listen(port, host);
    await once(server, 'listening');
    this.server = server;
    const address = server.address() as AddressInfo;
    this.url = `http://${host}:${address.port}`;
    return this.url;
  }

  async close(): Promise<void> {
    const server = this.server;
    if (!server) return;
    this.server = undefined;
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  private record(entry: RecordedRequest): void {
    if (this.maxRecorded > 0) {
      this.requests.push(entry);
      // Trim in batches: one splice per maxRecorded requests, not one per request.
      if (this.requests.length > this.maxRecorded * 2) this.requests.splice(0, this.requests.length - this.maxRecorded);
    }
    this.emit('request', entry);
  }

  private async dispatch(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://emulator');
    const text = await readBody(req);
    this.emit('arrival', { method: req.method, path: url.pathname });
    if (url.pathname.startsWith('/__sandbox/')) return this.control(url, req.method ?? 'GET', text, res);

    const method = req.method ?? 'GET';
    let route: CompiledRoute | undefined;
    let params: Record<string, string> = {};
    for (const candidate of this.routes) {
      const match = candidate.method === method ? candidate.regex.exec(url.pathname) : null;
      if (match) {
        route = candidate;
        params = Object.fromEntries(candidate.keys.map((key, i) => [key, decodeURIComponent(match[i + 1] ?? '')]));
        break;
      }
    }
    if (!route) return send(res, { status: 404, body: { message: 'Not found' } });

    let body: unknown;
    try {
      body = text === '' ? undefined : JSON.parse(text);
    } catch {
      return send(res, { status: 400, body: { message: 'Malformed JSON' } });
    }
    const entry: RecordedRequest = {
      route: route.name,
      method,
      path: url.pathname,
      query: Object.fromEntries(url.searchParams),
      body,
      status: 0,
      applied: false,
      authorized: false,
      at: Date.now(),
    };

    if (this.latencyMs > 0) await sleep(this.latencyMs);
    const fault = this.faults.get(route.name)?.shift();
    if (fault?.delayMs) await sleep(fault.delayMs);

    const denied = this.authorize(req.headers, route.name);
    entry.authorized = denied === null;
    if (denied) {
      entry.status = denied.status;
      this.record(entry);
      return send(res, denied);
    }
    if (fault?.status !== undefined && !fault.apply) {
      entry.status = fault.status;
      this.record(entry);
      return send(res, { status: fault.status, body: fault.body ?? { message: `injected ${fault.status}` }, headers: fault.headers });
    }
    if (fault?.destroy && !fault.apply) {
      this.record(entry);
      req.socket.destroy();
      return;
    }

    const result = await route.handle({ method, path: url.pathname, params, query: url.searchParams, headers: req.headers, body });
    entry.status = result.status;
    entry.applied = result.status >= 200 && result.status < 300;
    this.record(entry);
    if (fault?.destroy) {
      req.socket.destroy();
      return;
    }
    if (fault?.status !== undefined) {
      return send(res, { status: fault.status, body: fault.body ?? { message: `injected ${fault.status}` }, headers: fault.headers });
    }
    if (fault?.applyThenDelayMs) await sleep(fault.applyThenDelayMs);
    if (fault?.rawBody !== undefined) return send(res, { status: 200, body: fault.rawBody });
    if (res.destroyed) return;
    send(res, result);
  }

  /**
   * Subclass hook for extra control endpoints: `action` is the path after `/__sandbox/`,
   * `text` the raw body. Return undefined when not handled (the base answers 404).
   * Called only for actions the base does not handle itself.
   */
  protected controlAction(_method: string, _action: string, _text: string): RouteResult | undefined | Promise<RouteResult | undefined> {
    return undefined;
  }

  /**
   * `/__sandbox/requests`, `/__sandbox/state`, `/__sandbox/faults` (POST), `/__sandbox/reset` (POST),
   * then whatever {@link controlAction} adds.
   */
  private async control(url: URL, method: string, text: string, res: ServerResponse): Promise<void> {
    const action = url.pathname.slice('/__sandbox/'.length);
    if (method === 'GET' && action === 'requests') {
      const route = url.searchParams.get('route') ?? undefined;
      return send(res, { status: 200, body: { requests: this.calls(route) } });
    }
    if (method === 'GET' && action === 'state') return send(res, { status: 200, body: this.state() });
    if (method === 'POST' && action === 'reset') {
      this.reset();
      return send(res, { status: 200, body: { ok: true } });
    }
    if (method === 'POST' && action === 'faults') {
      try {
        const { route, faults, latencyMs } = JSON.parse(text) as { route?: string; faults?: Fault[]; latencyMs?: number };
        if (typeof latencyMs === 'number') this.latencyMs = latencyMs;
        if (route && Array.isArray(faults)) this.inject(route, ...faults);
        return send(res, { status: 200, body: { ok: true } });
      } catch {
        return send(res, { status: 400, body: { message: 'expected {"route","faults":[…]} or {"latencyMs"}' } });
      }
    }
    const extra = await this.controlAction(method, action, text);
    send(res, extra ?? { status: 404, body: { message: 'unknown control endpoint' } });
  }
}

/** `Authorization: Bearer <token>` check for emulators (401 with the platform's body). */
export function bearerAuth(token: string | undefined, denied: RouteResult): (headers: IncomingMessage['headers']) => RouteResult | null {
  return (headers) => {
    if (token === undefined) return null;
    return headers.authorization === `Bearer ${token}` ? null : denied;
  };
}
