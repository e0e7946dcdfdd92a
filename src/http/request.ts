import { request, type Dispatcher } from 'undici';
import type { z } from 'zod';
import { classifyStatus, UpstreamError } from '../errors.js';

export interface JsonRequest<T> {
  /** Names the upstream in error codes and messages: `toolzz`, `mehub`… */
  service: string;
  method: 'GET' | 'POST' | 'PATCH';
  url: string | URL;
  headers?: Record<string, string>;
  body?: unknown;
  timeoutMs: number;
  /** Validates a 2xx body; a body that fails is a permanent `invalid_response`. */
  schema: z.ZodType<T>;
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

/** The platform's own message from an error body (`{"message": …}`), trimmed for logs and records. */
function upstreamMessageOf(text: string): string | undefined {
  if (text === '') return undefined;
  try {
    const body: unknown = JSON.parse(text);
    if (body && typeof body === 'object') {
      const message = (body as Record<string, unknown>).message ?? (body as Record<string, unknown>).error;
      if (typeof message === 'string') return message.slice(0, MAX_MESSAGE_CHARS);
    }
  } catch {
    // not JSON: fall through to the raw text
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
  if (req.body !== undefined) {
    payload = JSON.stringify(req.body);
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
    const upstreamMessage = upstreamMessageOf(text);
    throw new UpstreamError(
      `${req.service}_http_${status}`,
      'http_status',
      `${req.service} answered ${status}${upstreamMessage ? `: ${upstreamMessage}` : ''}`,
      { status, retryable, ambiguous, upstreamMessage, retryAfterMs: parseRetryAfter(response.headers['retry-after']) },
    );
  }

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
      upstreamMessage: upstreamMessageOf(text),
    });
  }
  return { status, data: parsed.data };
}
