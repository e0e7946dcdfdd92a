import { UpstreamError } from '../../errors.js';

/**
 * WhatsApp's customer service window (SPEC §13), pure: Meta takes free text only within 24 h
 * of the customer's last message; after that, only an approved template.
 */
export const WINDOW_MS = 24 * 60 * 60 * 1000;

/** Meta's error code for free text sent outside the window ("Re-engagement message"). */
export const OUTSIDE_WINDOW_CODE = 131047;

/** The template sent in place of free text outside the window (`whatsapp.windowTemplate`). */
export interface WindowTemplate {
  name: string;
  language: string;
}

/**
 * How a send to a customer who last wrote at `lastInboundAt` goes at `now`: free text inside
 * the window, and when the service does not know (a customer whose last message predates this
 * version: Meta's 131047 then says, and the template is tried once); outside it, the
 * template, or nothing at all when none is configured.
 */
export function windowSend(lastInboundAt: number | null, now: number, template: WindowTemplate | undefined): 'text' | 'template' | 'outside_window' {
  if (lastInboundAt === null || now - lastInboundAt < WINDOW_MS) return 'text';
  return template ? 'template' : 'outside_window';
}

/**
 * A delivery recorded failed because the window is closed and no template is configured:
 * nothing was sent (`refused`: Meta's 131047 answer to the free text, when it said so).
 */
export function outsideWindow(lastInboundAt: number | null, refused?: UpstreamError): UpstreamError {
  const since = lastInboundAt === null ? '' : ` (the customer last wrote ${new Date(lastInboundAt).toISOString()})`;
  const why = refused ? `Meta refused free text as outside the 24-hour window (${OUTSIDE_WINDOW_CODE})` : 'more than 24 h since the customer last wrote';
  return new UpstreamError('outside_window', refused ? 'http_status' : 'not_sent', `outside_window: ${why}${since}; nothing was sent — configure the channel's whatsapp.windowTemplate (an approved template) to reach customers after the window`, {
    retryable: false,
    ...(refused ? { status: refused.status, upstreamMessage: refused.upstreamMessage, upstreamBody: refused.upstreamBody, cause: refused } : {}),
  });
}
