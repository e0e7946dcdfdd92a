import type { Dispatcher } from 'undici';
import { z } from 'zod';
import { UpstreamError } from '../../errors.js';
import { renderNote } from '../../handoff/note.js';
import { requestJson } from '../../http/request.js';
import { joinUrl } from '../../http/url.js';
import type { HandoffProvider } from '../types.js';
import { isSuperagentesHandoff } from './config.js';

const conversationSchema = z.object({ id: z.string().min(1), status: z.string().nullish(), updatedAt: z.string().nullish() });
/** SPEC §5: an array of conversations, or an object whose `data` is that array. */
const listSchema = z.union([z.array(conversationSchema), z.object({ data: z.array(conversationSchema) })]).transform((v) => (Array.isArray(v) ? v : v.data));
const updatedSchema = z.object({ id: z.string().optional() }).loose();

const updatedAt = (c: { updatedAt?: string | null }) => {
  const time = c.updatedAt ? Date.parse(c.updatedAt) : NaN;
  return Number.isNaN(time) ? -Infinity : time;
};

export type BulkStatus = 'UNRESOLVED' | 'RESOLVED' | 'HUMAN_REQUESTED';

/**
 * The workspace-wide `POST /api/conversations/update-status` (SPEC §6, admin only): without
 * a filter SuperAgentes changes EVERY conversation of the workspace, so the caller must pass
 * one or `all: true` explicitly. Rejects with an UpstreamError (status and message kept).
 */
export async function superagentesBulkStatus(
  options: { baseUrl: string; token: string; timeoutMs: number; http: Dispatcher },
  change: { status: BulkStatus; channel?: string; agentId?: string; all?: boolean },
): Promise<{ count: number }> {
  if (!change.channel && !change.agentId && change.all !== true) throw new Error('refused: a bulk status change needs a channel or agentId filter, or all: true');
  const url = joinUrl(options.baseUrl, '/api/conversations/update-status');
  if (change.channel) url.searchParams.set('channel', change.channel);
  if (change.agentId) url.searchParams.set('agentId', change.agentId);
  const { data } = await requestJson(options.http, {
    service: 'superagentes',
    method: 'POST',
    url,
    headers: { authorization: `Bearer ${options.token}` },
    body: { status: change.status },
    timeoutMs: options.timeoutMs,
    schema: z.object({ count: z.number().int().nonnegative() }).loose(),
  });
  return { count: data.count };
}

/**
 * SuperAgentes: the conversation id (the `superagentesConversationId` hint, else the newest
 * not-`RESOLVED` conversation of `channelExternalId = phone`), then
 * `PATCH /api/conversations/{id}` with priority, assignees and title. The PATCH sets the
 * same fields every time, so repeating it is harmless. The bulk
 * `/api/conversations/update-status` is never used here: without a filter it changes every
 * conversation of the workspace.
 */
export function createSuperagentesProvider(options: { baseUrl: string; token?: string; timeoutMs: number; http: Dispatcher }): HandoffProvider {
  const { http, timeoutMs } = options;

  /** The conversations of `channelExternalId = phone`. */
  async function conversationsOf(token: string, phone: string, limitMs = timeoutMs) {
    const url = joinUrl(options.baseUrl, '/api/conversations');
    url.searchParams.set('channelExternalId', phone);
    const { data } = await requestJson(http, { service: 'superagentes', method: 'GET', url, headers: { authorization: `Bearer ${token}` }, timeoutMs: limitMs, schema: listSchema });
    return data;
  }

  return {
    name: 'superagentes',
    /** Done when the conversation the handoff changed is `RESOLVED` (SPEC §9.2); unknown id = cannot tell. */
    async isHumanDone({ phone, alternatePhone, settings, learnt, timeoutMs: limitMs }) {
      if (!isSuperagentesHandoff(settings)) throw new Error('superagentes provider used for another platform');
      const token = settings.token ?? options.token;
      if (!token) throw new UpstreamError('superagentes_no_token', 'http_status', 'no SuperAgentes token configured', { retryable: false });
      const id = learnt.superagentesConversationId;
      if (!id) return false;
      let found = (await conversationsOf(token, phone, limitMs)).find((c) => c.id === id);
      // SPEC §11: the conversation may be filed under the number's other ninth-digit form.
      if (!found && alternatePhone) found = (await conversationsOf(token, alternatePhone, limitMs)).find((c) => c.id === id);
      return found?.status === 'RESOLVED';
    },
    async perform({ job, settings }) {
      if (!isSuperagentesHandoff(settings)) throw new Error('superagentes provider used for another platform');
      const token = settings.token ?? options.token;
      if (!token) throw new UpstreamError('superagentes_no_token', 'http_status', 'no SuperAgentes token configured', { retryable: false });
      const headers = { authorization: `Bearer ${token}` };

      let id = job.externalIds.superagentesConversationId;
      if (!id) {
        const open = async (phone: string) => (await conversationsOf(token, phone)).filter((c) => c.status !== 'RESOLVED').sort((a, b) => updatedAt(b) - updatedAt(a))[0];
        // SPEC §11: under the phone as written, else once under its other ninth-digit form.
        const newest = (await open(job.phone)) ?? (job.alternatePhone ? await open(job.alternatePhone) : undefined);
        if (!newest) {
          throw new UpstreamError('no_conversation', 'not_found', `SuperAgentes has no open conversation for ${job.phone}`, { retryable: false });
        }
        id = newest.id;
      }

      const body: Record<string, unknown> = { priority: settings.priority };
      if (settings.assigneeIds) body.assigneeIds = settings.assigneeIds;
      if (settings.title) body.title = renderNote(settings.title, job);
      await requestJson(http, {
        service: 'superagentes',
        method: 'PATCH',
        url: joinUrl(options.baseUrl, `/api/conversations/${encodeURIComponent(id)}`),
        headers,
        body,
        timeoutMs,
        schema: updatedSchema,
      });
      return {
        summary: `conversation ${id} set to ${settings.priority}${settings.assigneeIds ? ` for ${settings.assigneeIds.join(', ')}` : ''}`,
        learnt: { superagentesConversationId: id },
      };
    },
  };
}
