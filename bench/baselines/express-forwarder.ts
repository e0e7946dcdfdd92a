/**
 * Baseline: the same framework's floor. A minimal Express app with express.json(), a zod
 * schema of the webhook body and an undici call to Toolzz — the least a webhook-to-bot
 * forwarder built on this stack does. With `--bullmq <redis url>` it also does one BullMQ
 * `add` per request (the floor for "every message is a handoff").
 */
import { parseArgs } from 'node:util';
import { Queue } from 'bullmq';
import express from 'express';
import { Agent, request } from 'undici';
import { z } from 'zod';

const { values } = parseArgs({
  options: { port: { type: 'string', default: '0' }, toolzz: { type: 'string' }, bullmq: { type: 'string' }, prefix: { type: 'string', default: 'bench-baseline' } },
});
const agent = new Agent({ keepAliveTimeout: 30_000 });
const target = `${values.toolzz}/api/v1/chat/send-message`;
const schema = z.object({
  messageId: z.string().min(1).max(256),
  contact: z.object({ phone: z.string().min(10).max(32), name: z.string().optional() }),
  text: z.string().min(1).max(4096),
});
let queue: Queue | undefined;
if (values.bullmq) {
  const url = new URL(values.bullmq);
  queue = new Queue('handoffs', { connection: { host: url.hostname, port: Number(url.port || 6379), db: Number(url.pathname.slice(1) || 0) }, prefix: values.prefix });
}

const app = express();
app.use(express.json({ limit: '256kb' }));
app.post('/webhooks/:channel', async (req, res) => {
  const parsed = schema.safeParse(req.body);
  if (!parsed.success) {
    res.status(400).json({ error: 'invalid_request' });
    return;
  }
  try {
    const upstream = await request(target, {
      dispatcher: agent,
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: 'Bearer bench' },
      body: JSON.stringify({ message: parsed.data.text, botId: '6b3c9f0e-1c2d-4e5f-8a9b-0c1d2e3f4a5b' }),
    });
    const reply = (await upstream.body.json()) as { message: { content: string; conversationId: string } };
    if (queue) {
      const job = await queue.add('handoff', { phone: parsed.data.contact.phone, text: parsed.data.text, reply: reply.message.content });
      res.status(202).json({ status: 'handoff_queued', conversationId: reply.message.conversationId, reply: reply.message.content, handoffId: job.id });
      return;
    }
    res.json({ status: 'replied', conversationId: reply.message.conversationId, reply: reply.message.content });
  } catch {
    res.status(502).json({ error: 'bot_unavailable' });
  }
});
const server = app.listen(Number(values.port), '127.0.0.1', () => {
  process.stdout.write(`ready http://127.0.0.1:${(server.address() as { port: number }).port}\n`);
});
server.keepAliveTimeout = 65_000;
process.on('SIGTERM', () => process.exit(0));
