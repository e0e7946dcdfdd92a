/**
 * Baseline: the machine's limit for this job. A bare node:http server that reads the
 * webhook body, parses it, forwards the text to Toolzz with undici and answers — no
 * framework, no validation library, no Redis.
 */
import { createServer } from 'node:http';
import { parseArgs } from 'node:util';
import { Agent, request } from 'undici';

const { values } = parseArgs({ options: { port: { type: 'string', default: '0' }, toolzz: { type: 'string' } } });
const agent = new Agent({ keepAliveTimeout: 30_000 });
const target = `${values.toolzz}/api/v1/chat/send-message`;

const server = createServer((req, res) => {
  const chunks: Buffer[] = [];
  req.on('data', (chunk: Buffer) => chunks.push(chunk));
  req.on('end', async () => {
    try {
      const body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as { text: string };
      const upstream = await request(target, {
        dispatcher: agent,
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: 'Bearer bench' },
        body: JSON.stringify({ message: body.text, botId: '6b3c9f0e-1c2d-4e5f-8a9b-0c1d2e3f4a5b' }),
      });
      const reply = (await upstream.body.json()) as { message: { content: string; conversationId: string } };
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ status: 'replied', conversationId: reply.message.conversationId, reply: reply.message.content }));
    } catch {
      res.writeHead(502, { 'content-type': 'application/json' });
      res.end('{"error":"bot_unavailable"}');
    }
  });
});
server.keepAliveTimeout = 65_000;
server.listen(Number(values.port), '127.0.0.1', () => {
  process.stdout.write(`ready http://127.0.0.1:${(server.address() as { port: number }).port}\n`);
});
process.on('SIGTERM', () => process.exit(0));
