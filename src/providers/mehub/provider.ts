import type { Dispatcher } from 'undici';
import { z } from 'zod';
import { UpstreamError } from '../../errors.js';
import { renderNote } from '../../handoff/note.js';
import { requestJson } from '../../http/request.js';
import { joinUrl } from '../../http/url.js';
import type { HandoffProvider } from '../types.js';
import { isMehubHandoff } from './config.js';

/** MeHub's `message` (internal context note) limit, in characters. */
export const MEHUB_NOTE_MAX = 1000;
/** A contact with more open chats than this is not a customer; stop paging. */
const MAX_PAGES = 50;

const chatSchema = z.object({
  token: z.string().min(1),
  is_open: z.boolean().optional(),
  lastMessage: z.object({ created_at: z.string().nullish() }).nullish(),
});
const listSchema = z.object({
  success: z.literal(true),
  data: z.array(chatSchema),
  pagination: z.object({ current_page: z.number().int(), last_page: z.number().int() }).optional(),
});
const transferSchema = z.object({ success: z.boolean(), message: z.string().optional() });

type Chat = z.infer<typeof chatSchema>;

const createdAt = (chat: Chat) => {
  const time = chat.lastMessage?.created_at ? Date.parse(chat.lastMessage.created_at) : NaN;
  return Number.isNaN(time) ? -Infinity : time;
};

/**
 * MeHub: find the customer's open chat (the `mehubChatToken` hint, else the open chat with the
 * newest last message), then `POST /api/v1/chats/{token}/transfer` to the configured channel
 * (and attendant) with the context note.
 *
 * A transfer to another channel creates a new chat every time it is applied, so it must never
 * be sent twice: a try that follows one which may have applied (timeout, dropped connection,
 * 5xx, dead worker) first lists the contact's open chats on the destination channel, and
 * treats an open chat there as the transfer having happened.
 */
export function createMehubProvider(options: { baseUrl: string; token?: string; timeoutMs: number; http: Dispatcher }): HandoffProvider {
  const { http, timeoutMs } = options;

  async function listOpenChats(token: string, query: Record<string, string>, limitMs = timeoutMs): Promise<Chat[]> {
    const chats: Chat[] = [];
    for (let page = 1; page <= MAX_PAGES; page++) {
      const url = joinUrl(options.baseUrl, '/api/v1/chats');
      for (const [key, value] of Object.entries({ ...query, is_open: 'true', per_page: '100', page: String(page) })) url.searchParams.set(key, value);
      const { data } = await requestJson(http, {
        service: 'mehub',
        method: 'GET',
        url,
        headers: { authorization: `Bearer ${token}` },
        timeoutMs: limitMs,
        schema: listSchema,
      });
      chats.push(...data.data.filter((chat) => chat.is_open !== false));
      if (!data.pagination || data.pagination.current_page >= data.pagination.last_page || data.data.length === 0) break;
    }
    return chats;
  }

  /**
   * The contact's open chats by `phone`, else by its other ninth-digit form (SPEC §11: the
   * customer may be on MeHub under either) — once, before giving up.
   */
  async function listForContact(token: string, phones: { phone: string; alternatePhone?: string | null }, query: Record<string, string>, limitMs = timeoutMs): Promise<Chat[]> {
    const found = await listOpenChats(token, { ...query, contact: phones.phone }, limitMs);
    if (found.length > 0 || !phones.alternatePhone) return found;
    return listOpenChats(token, { ...query, contact: phones.alternatePhone }, limitMs);
  }

  return {
    name: 'mehub',
    /** Done when the contact has no open chat left on the destination channel (SPEC §9.2). */
    async isHumanDone({ phone, alternatePhone, settings, timeoutMs: limitMs }) {
      if (!isMehubHandoff(settings)) throw new Error('mehub provider used for another platform');
      const token = settings.token ?? options.token;
      if (!token) throw new UpstreamError('mehub_no_token', 'http_status', 'no MeHub token configured', { retryable: false });
      const open = await listForContact(token, { phone, alternatePhone }, { channel: settings.channel }, limitMs);
      return open.length === 0;
    },
    async perform({ job, settings, mayHaveApplied, beforeSideEffect, log }) {
      if (!isMehubHandoff(settings)) throw new Error('mehub provider used for another platform');
      const token = settings.token ?? options.token;
      if (!token) throw new UpstreamError('mehub_no_token', 'http_status', 'no MeHub token configured', { retryable: false });

      if (mayHaveApplied) {
        const query: Record<string, string> = { channel: settings.channel };
        if (settings.attendant !== undefined) query.attendant = String(settings.attendant);
        const already = await listForContact(token, job, query);
        if (already.length > 0) {
          log.info({ chatToken: already[0]?.token }, 'an earlier try already transferred the chat; not sending it again');
          return {
            summary: `already transferred: open chat ${already[0]?.token} on channel ${settings.channel}`,
            ...(already[0] ? { learnt: { mehubChatToken: already[0].token } } : {}),
          };
        }
      }

      let chatToken = job.externalIds.mehubChatToken;
      if (!chatToken) {
        const open = await listForContact(token, job, {});
        const newest = open.sort((a, b) => createdAt(b) - createdAt(a))[0];
        if (!newest) {
          // The customer's chat may not have reached MeHub yet: worth another try later.
          throw new UpstreamError('no_open_chat', 'not_found', `MeHub has no open chat for ${job.phone}`, { retryable: true });
        }
        chatToken = newest.token;
      }

      const body: Record<string, unknown> = {
        channel: settings.channel,
        message: renderNote(settings.note, job, MEHUB_NOTE_MAX),
      };
      if (settings.attendant !== undefined) body.attendant = settings.attendant;
      await beforeSideEffect();
      const { data } = await requestJson(http, {
        service: 'mehub',
        method: 'POST',
        url: joinUrl(options.baseUrl, `/api/v1/chats/${encodeURIComponent(chatToken)}/transfer`),
        headers: { authorization: `Bearer ${token}` },
        body,
        timeoutMs,
        schema: transferSchema,
      });
      if (!data.success) {
        throw new UpstreamError('mehub_transfer_refused', 'invalid_response', `MeHub refused the transfer: ${data.message ?? 'success: false'}`, {
          retryable: false,
          upstreamMessage: data.message,
        });
      }
      return { summary: `chat ${chatToken} transferred to channel ${settings.channel}${settings.attendant !== undefined ? `, attendant ${settings.attendant}` : ' (waiting queue)'}` };
    },
  };
}
