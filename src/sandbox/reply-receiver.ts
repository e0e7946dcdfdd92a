import { Webhook } from 'standardwebhooks';
import { RecordLog } from './channel-support.js';
import { Emulator, type RouteResult } from './emulator.js';

/** One event the service POSTed to a `json` channel's `reply.url`. */
export interface ReceivedReply {
  webhookId: string;
  /** True when its Standard Webhooks signature checked out with the receiver's secret. */
  verified: boolean;
  body: Record<string, unknown>;
  at: number;
}

/**
 * Stands in for a custom channel's `reply.url` (SPEC §8.2): records every event POSTed to
 * `POST /hooks/replies`, checks its Standard Webhooks signature, and answers 200 (inject
 * faults with {@link Emulator.inject} on route `reply` to script failures).
 */
export class ReplyReceiver extends Emulator {
  private readonly received = new RecordLog<ReceivedReply>('reply callbacks');
  private readonly verifier: Webhook | undefined;

  constructor(options: { signingSecret?: string } = {}) {
    super('reply-receiver', [
      {
        name: 'reply',
        method: 'POST',
        pattern: '/hooks/replies',
        handle: ({ headers, body }) => this.receive(headers, body),
      },
    ]);
    this.verifier = options.signingSecret ? new Webhook(options.signingSecret) : undefined;
  }

  get endpoint(): string {
    return `${this.url}/hooks/replies`;
  }

  /** Events received (each accepted POST once), oldest first. */
  replies(): ReceivedReply[] {
    return this.received.list();
  }

  waitForReplies(count = 1, predicate?: (reply: ReceivedReply) => boolean, timeoutMs?: number): Promise<ReceivedReply[]> {
    return this.received.waitFor(count, predicate, timeoutMs);
  }

  override reset(): void {
    super.reset();
    this.received.clear();
  }

  override state(): unknown {
    return { replies: this.replies() };
  }

  private receive(headers: Record<string, string | string[] | undefined>, body: unknown): RouteResult {
    const header = (name: string) => {
      const value = headers[name];
      return Array.isArray(value) ? value[0] : value;
    };
    const webhookId = header('webhook-id') ?? '';
    let verified = false;
    if (this.verifier) {
      try {
        // The emulator parsed the body; re-serialising is exact here because the service sends compact JSON.
        this.verifier.verify(JSON.stringify(body), { 'webhook-id': webhookId, 'webhook-timestamp': header('webhook-timestamp') ?? '', 'webhook-signature': header('webhook-signature') ?? '' });
        verified = true;
      } catch {
        verified = false;
      }
    }
    this.received.push({ webhookId, verified, body: (body ?? {}) as Record<string, unknown>, at: Date.now() });
    return { status: 200, body: { ok: true } };
  }
}
