import { randomBytes } from 'node:crypto';
import { Emulator, type Route } from './emulator.js';

/** What a webhook the emulator POSTed got back (`status`), or why it got nothing (`error`). */
export interface WebhookResult {
  /** `echo` of a send call, `phone` = {@link phoneSend}-style message, `status` = delivery status. */
  kind: 'echo' | 'phone' | 'status';
  /** The message the webhook is about. */
  id: string;
  url: string;
  status?: number;
  error?: string;
  at: number;
}

export interface PostAnswer {
  status: number;
  /** Parsed JSON when the answer is JSON, else the raw text (undefined when empty). */
  body: unknown;
}

/** How long an emulator waits for a product's webhook answer before recording a timeout. */
const WEBHOOK_TIMEOUT_MS = 10_000;

/**
 * A list of records with event-driven waits, for the channel emulators' sends and webhooks
 * (the request log of {@link Emulator} only sees requests, not what they produced).
 */
export class RecordLog<T> {
  private readonly items: T[] = [];
  private readonly listeners = new Set<() => void>();

  constructor(private readonly label: string) {}

  push(item: T): void {
    this.items.push(item);
    for (const listener of [...this.listeners]) listener();
  }

  /** Copies, oldest first. */
  list(): T[] {
    return this.items.map((item) => structuredClone(item));
  }

  clear(): void {
    this.items.length = 0;
  }

  /**
   * Resolves with the matching records once there are `count` of them (already recorded ones
   * count), or rejects after `timeoutMs` saying how many were seen.
   */
  waitFor(count = 1, predicate: (item: T) => boolean = () => true, timeoutMs = 10_000): Promise<T[]> {
    const matching = () => this.items.filter(predicate).map((item) => structuredClone(item));
    const found = matching();
    if (found.length >= count) return Promise.resolve(found);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.listeners.delete(check);
        reject(new Error(`${this.label}: waited ${timeoutMs} ms for ${count} matching record(s), saw ${matching().length}`));
      }, timeoutMs);
      const check = () => {
        const now = matching();
        if (now.length < count) return;
        clearTimeout(timer);
        this.listeners.delete(check);
        resolve(now);
      };
      this.listeners.add(check);
    });
  }
}

/** POSTs `raw` (already serialized, so signatures cover exactly these bytes) and reads the answer. */
export async function postRaw(url: string, raw: string, headers: Record<string, string> = {}, timeoutMs = WEBHOOK_TIMEOUT_MS): Promise<PostAnswer> {
  const res = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: raw,
    signal: AbortSignal.timeout(timeoutMs),
  });
  const text = await res.text();
  let body: unknown = text === '' ? undefined : text;
  if (text !== '') {
    try {
      body = JSON.parse(text);
    } catch {
      // Not JSON: keep the text, a test may want to see it.
    }
  }
  return { status: res.status, body };
}

/**
 * Posts a webhook on the emulator's behalf and records the outcome; never throws, as a real
 * platform does not fail a send because the customer's webhook failed.
 */
export async function postAndRecord(
  log: RecordLog<WebhookResult>,
  result: Pick<WebhookResult, 'kind' | 'id' | 'url'>,
  raw: string,
  headers: Record<string, string> = {},
): Promise<WebhookResult> {
  const entry: WebhookResult = { ...result, at: Date.now() };
  try {
    entry.status = (await postRaw(result.url, raw, headers)).status;
  } catch (error) {
    entry.error = (error as Error).message;
  }
  entry.at = Date.now();
  log.push(entry);
  return entry;
}

/** `bytes` random bytes as upper-case hex (Evolution / Z-API ids). */
export function upperHex(bytes: number): string {
  return randomBytes(bytes).toString('hex').toUpperCase();
}

export const unixSeconds = (date = new Date()): number => Math.floor(date.getTime() / 1000);

/**
 * The shared half of the channel emulators (WhatsApp Graph, Evolution, Z-API): the log of
 * accepted sends and of the webhooks the emulator posted, with event-driven waits.
 */
export abstract class ChannelEmulator<TSent> extends Emulator {
  protected readonly sends: RecordLog<TSent>;
  protected readonly webhooks: RecordLog<WebhookResult>;

  constructor(name: string, routes: Route[], authorize: ConstructorParameters<typeof Emulator>[2]) {
    super(name, routes, authorize);
    this.sends = new RecordLog<TSent>(`${name} sends`);
    this.webhooks = new RecordLog<WebhookResult>(`${name} webhooks`);
  }

  /** Accepted messages, oldest first (copies). */
  sent(): TSent[] {
    return this.sends.list();
  }

  /** Resolves with the matching sends once `count` of them were accepted; rejects after `timeoutMs`. */
  waitForSent(count = 1, predicate?: (sent: TSent) => boolean, timeoutMs?: number): Promise<TSent[]> {
    return this.sends.waitFor(count, predicate, timeoutMs);
  }

  /** Also forgets sends and webhook outcomes. */
  override reset(): void {
    super.reset();
    this.sends.clear();
    this.webhooks.clear();
  }
}

/**
 * A channel that posts the business's own messages back to its webhook as `fromMe`
 * (Evolution, Z-API): each send is echoed after its answer, before it (the race the product
 * must survive), `echoDelayMs` after it was applied whatever the answer does ('late'), or not
 * at all; {@link phoneSend}-style messages are recorded alongside.
 */
export abstract class EchoingEmulator<TSent> extends ChannelEmulator<TSent> {
  echo: EchoMode;
  /** With `echo: 'late'`: how long after a send is applied its echo is posted (ms). */
  echoDelayMs: number;
  webhookUrl: string | undefined;
  /** Late echoes not posted yet: dropped on reset and close, so none lands in the next test. */
  private readonly lateEchoes = new Set<NodeJS.Timeout>();

  constructor(
    name: string,
    routes: Route[],
    authorize: ConstructorParameters<typeof Emulator>[2],
    private readonly echoDefaults: { echo?: EchoMode; echoDelayMs?: number; webhookUrl?: string; webhookHeaders?: Record<string, string> },
  ) {
    super(name, routes, authorize);
    this.echo = echoDefaults.echo ?? 'after';
    this.echoDelayMs = echoDefaults.echoDelayMs ?? 0;
    this.webhookUrl = echoDefaults.webhookUrl;
  }

  /** Outcomes of the echoes and phone messages posted so far. */
  echoes(): WebhookResult[] {
    return this.webhooks.list();
  }

  waitForEchoes(count = 1, predicate?: (echo: WebhookResult) => boolean, timeoutMs?: number): Promise<WebhookResult[]> {
    return this.webhooks.waitFor(count, predicate, timeoutMs);
  }

  /** Also restores `echo`, `echoDelayMs` and `webhookUrl`, and drops late echoes not posted yet. */
  override reset(): void {
    super.reset();
    this.dropLateEchoes();
    this.echo = this.echoDefaults.echo ?? 'after';
    this.echoDelayMs = this.echoDefaults.echoDelayMs ?? 0;
    this.webhookUrl = this.echoDefaults.webhookUrl;
  }

  override async close(): Promise<void> {
    this.dropLateEchoes();
    await super.close();
  }

  protected requireWebhook(): string {
    if (!this.webhookUrl) throw new Error(`${this.name} emulator: no webhookUrl configured`);
    return this.webhookUrl;
  }

  /**
   * Posts the echo of send `id`, just applied, as the echo mode says: awaited ('before'), once
   * the handler returned ('after': normally just after the answer), on a timer of its own ('late': the answer may come before or
   * after it, e.g. with an injected `applyThenDelayMs`), or not at all.
   */
  protected async echoSend(id: string, raw: () => string): Promise<void> {
    const url = this.webhookUrl;
    if (!url || this.echo === 'off') return;
    const post = () => postAndRecord(this.webhooks, { kind: 'echo', id, url }, raw(), this.echoDefaults.webhookHeaders);
    if (this.echo === 'before') await post();
    else if (this.echo === 'late') {
      const timer = setTimeout(() => {
        this.lateEchoes.delete(timer);
        void post();
      }, this.echoDelayMs);
      this.lateEchoes.add(timer);
    } else setImmediate(() => void post());
  }

  /** Posts a `fromMe` message no send returned (a person on the phone), once answered. */
  protected async postPhoneMessage(id: string, raw: string): Promise<void> {
    await postAndRecord(this.webhooks, { kind: 'phone', id, url: this.requireWebhook() }, raw, this.echoDefaults.webhookHeaders);
  }

  private dropLateEchoes(): void {
    for (const timer of this.lateEchoes) clearTimeout(timer);
    this.lateEchoes.clear();
  }
}

/**
 * When a channel emulator posts a send's `fromMe` echo: after the send's answer, before it,
 * `echoDelayMs` after the send was applied whatever its answer does (`late`), or never.
 */
export type EchoMode = 'after' | 'before' | 'late' | 'off';
