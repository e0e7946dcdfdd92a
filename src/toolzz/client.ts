import type { Dispatcher } from 'undici';
import { requestJson } from '../http/request.js';
import { joinUrl } from '../http/url.js';
import { toolzzResponseSchema, type ToolzzReply } from './schema.js';

export interface ToolzzRequest {
  message: string;
  botId: string;
  /** Absent on a customer's first message: Toolzz creates the conversation. */
  conversationId?: string | null;
  token: string;
}

export interface ToolzzClient {
  /**
   * Sends one customer message to an agent. Never retried here: once the POST may have
   * reached Toolzz, sending it again could make the agent answer twice.
   * Rejects with an UpstreamError (`toolzz_timeout`, `toolzz_network`, `toolzz_http_*`,
   * `toolzz_invalid_response`).
   */
  sendMessage(req: ToolzzRequest): Promise<ToolzzReply>;
}

export function createToolzzClient(options: { baseUrl: string; timeoutMs: number; http: Dispatcher }): ToolzzClient {
  const url = joinUrl(options.baseUrl, '/api/v1/chat/send-message');
  return {
    async sendMessage(req) {
      const body: Record<string, string> = { message: req.message, botId: req.botId };
      if (req.conversationId) body.conversationId = req.conversationId;
      const { data } = await requestJson(options.http, {
        service: 'toolzz',
        method: 'POST',
        url,
        headers: { authorization: `Bearer ${req.token}` },
        body,
        timeoutMs: options.timeoutMs,
        schema: toolzzResponseSchema,
      });
      return data;
    },
  };
}
