import { request, type Dispatcher } from 'undici';
import type { z } from 'zod';
import { classifyStatus, UpstreamError } from '../errors.js';

export interface JsonRequest<T> {
  /** Names the upstream in error codes and messages: `toolzz`, `mehub`… */
  service: string;
  method: 'GET' | 'POST' | 'PATCH' | 'PUT';
  url: string | URL;
  headers?: Record<string, string>;
  body?: unknown;
  /** The body exactly as it must go (a signed payload); sent as JSON. */
  rawBody?: string;
  timeoutMs: number;
  /** Validates a 2xx body; a body that fails is a permanent `invalid_response`. */
  schema: z.ZodType<T>;
  /** Any 2xx is success whatever its body (a customer's callback endpoint may answer "OK"). */
  ignoreBody?: boolean;
}

export interface JsonResponse<T> {
  status: number;
  data: T;
}

/**
 * Bodies beyond this are not read (the APIs here answer a few KiB); give it to the undici
 * Agent as `maxResponseSize`.
 */
export const MAX_RESPONSE_BYTES = 4 * 1024 * 1024;
const MAX_MESSAGE_CHARS = 500;

// Codes undici (and Node's net) use for failures before the request could reach the server.
const NEVER_SENT = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'UND_ERR_CONNECT_TIMEOUT', 'EHOSTUNREACH', 'ENETUNREACH']);
const TIMEOUTS = new Set(['UND_ERR_HEADERS_TIMEOUT', 'UND_ERR_BODY_TIMEOUT', 'UND_ERR_CONNECT_TIMEOUT']);

function isTimeout(error: unknown): boolean {
  // AbortSignal.timeout() rejects with a DOMException named TimeoutError.
  return (error instanceof Error || error instanceof DOMException) && error.name === 'TimeoutError';
}

/** `Retry-After` in seconds or as an HTTP date, in ms from now; undefined when absent or unreadable. */
export function parseRetryAfter(value: string | string[] | undefined, now = Date.now()): number | undefined {
  const header = Array.isArray(value) ? value[0] : value;
  if (header === undefined || header.trim() === '') return undefined;
  if (/^\s*\d+\s*$/.test(header)) return Number(header) * 1000;
  const date = Date.parse(header);
  return Number.isNaN(date) ? undefined : Math.max(0, date - now);
}

function errorCode(error: unknown): string | undefined {
  let current: unknown = error;
  // undici wraps socket errors; the useful code can be one or two causes down.
  for (let depth = 0; depth < 4 && current instanceof Error; depth++) {
    const code = (current as NodeJS.ErrnoException).code;
    if (typeof code === 'string') return code;
    current = current.cause;
  }
  return undefined;
}

function jsonOrUndefined(text: string): unknown {
  try {
    return text === '' ? undefined : JSON.parse(text);
  } catch {
    return undefined;
  }
}

/**
 * The platform's own message from an error body — `{"message": …}`, `{"error": "…"}`, Meta's
 * `{"error": {"message", "code"}}`, Evolution's `{"response": {"message": [...]}}` — trimmed
 * for logs and records.
 */
function upstreamMessageOf(text: string, body: unknown): string | undefined {
  if (text === '') return undefined;
  if (body && typeof body === 'object') {
    const b = body as Record<string, unknown>;
    const error = b.error && typeof b.error === 'object' ? (b.error as Record<string, unknown>) : undefined;
    const response = b.response && typeof b.response === 'object' ? (b.response as Record<string, unknown>) : undefined;
    if (error && typeof error.message === 'string') {
      const code = typeof error.code === 'number' || typeof error.code === 'string' ? ` (code ${error.code})` : '';
      return `${error.message}${code}`.slice(0, MAX_MESSAGE_CHARS);
    }
    const message = b.message ?? response?.message ?? b.error;
    if (typeof message === 'string') return message.slice(0, MAX_MESSAGE_CHARS);
    if (Array.isArray(message)) return JSON.stringify(message).slice(0, MAX_MESSAGE_CHARS);
  }
  return text.slice(0, MAX_MESSAGE_CHARS);
}

/**
 * One JSON call to an upstream API, with its time limit, and every failure turned into an
 * {@link UpstreamError} that says whether a retry may help and whether the call may have
 * been applied. Never retries by itself: the caller decides (Toolzz calls are not idempotent).
 */
export async function requestJson<T>(dispatcher: Dispatcher, req: JsonRequest<T>): Promise<JsonResponse<T>> {
  const headers: Record<string, string> = { accept: 'application/json', ...req.headers };
  let payload: string | undefined;
  if (req.rawBody !== undefined || req.body !== undefined) {
    payload = req.rawBody ?? JSON.stringify(req.body);
    headers['content-type'] = 'application/json';
  }

  let response: Dispatcher.ResponseData;
  let text: string;
  try {
    // One deadline for the whole exchange (undici's own header/body timers have ~1 s resolution).
    response = await request(req.url, { dispatcher, method: req.method, headers, body: payload, signal: AbortSignal.timeout(req.timeoutMs) });
    text = await response.body.text();
  } catch (error) {
    const code = errorCode(error) ?? 'UNKNOWN';
    if (code === 'UND_ERR_RES_EXCEEDED_MAX_SIZE') {
      return Promise.reject(
        new UpstreamError(`${req.service}_invalid_response`, 'invalid_response', `${req.service} answered a body over ${MAX_RESPONSE_BYTES} bytes`, { retryable: false, cause: error }),
      );
    }
    if (isTimeout(error) || TIMEOUTS.has(code)) {
      return Promise.reject(
        new UpstreamError(`${req.service}_timeout`, 'timeout', `${req.service} did not answer within ${req.timeoutMs} ms`, {
          retryable: true,
          ambiguous: code !== 'UND_ERR_CONNECT_TIMEOUT',
          cause: error,
        }),
      );
    }
    return Promise.reject(
      new UpstreamError(`${req.service}_network`, 'network', `${req.service} unreachable: ${code}`, {
        retryable: true,
        ambiguous: !NEVER_SENT.has(code),
        cause: error,
      }),
    );
  }

  const status = response.statusCode;
  if (status < 200 || status > 299) {
    const { retryable, ambiguous } = classifyStatus(status);
    const upstreamBody = jsonOrUndefined(text);
    const upstreamMessage = upstreamMessageOf(text, upstreamBody);
    throw new UpstreamError(
      `${req.service}_http_${status}`,
      'http_status',
      `${req.service} answered ${status}${upstreamMessage ? `: ${upstreamMessage}` : ''}`,
      { status, retryable, ambiguous, upstreamMessage, upstreamBody, retryAfterMs: parseRetryAfter(response.headers['retry-after']) },
    );
  }
  if (req.ignoreBody) return { status, data: undefined as T };

  let json: unknown;
  try {
    json = text === '' ? undefined : JSON.parse(text);
  } catch (error) {
    throw new UpstreamError(`${req.service}_invalid_response`, 'invalid_response', `${req.service} answered ${status} with a body that is not JSON`, {
      status,
      retryable: false,
      cause: error,
    });
  }
  const parsed = req.schema.safeParse(json);
  if (!parsed.success) {
    const first = parsed.error.issues[0];
    const where = first ? `${first.path.join('.') || '(body)'}: ${first.message}` : 'unexpected shape';
    throw new UpstreamError(`${req.service}_invalid_response`, 'invalid_response', `${req.service} answered ${status} with an unexpected body (${where})`, {
      status,
      retryable: false,
      upstreamMessage: upstreamMessageOf(text, jsonOrUndefined(text)),
    });
  }
  return { status, data: parsed.data };
}
