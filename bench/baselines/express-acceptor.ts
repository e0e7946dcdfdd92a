/**
 * Baseline for acknowledging an asynchronous channel's webhook: the least a receiver on this
 * stack does before answering 200. A minimal Express app reading the raw body
 * (`express.raw`), checking the credentials on it in constant time, parsing it, and doing one
 * BullMQ `queue.add` per request (the message handed to a worker); no de-duplication, no
 * per-customer order, no log line.
 *
 * `--auth hmac --secret <app secret>`: WhatsApp Cloud API's `X-Hub-Signature-256`
 * (HMAC-SHA256 of the raw body). `--auth bearer --token <token>`: `Authorization: Bearer`
 * (Evolution's custom webhook header). `--bullmq <redis url> --prefix <prefix>`.
 */
import { createHash, createHmac, timingSafeEqual } from 'node:crypto';
import { parseArgs } from 'node:util';
import { Queue } from 'bullmq';
import express from 'express';

const { values } = parseArgs({
  options: {
    port: { type: 'string', default: '0' },
    auth: { type: 'string', default: 'hmac' },
    secret: { type: 'string', default: '' },
    token: { type: 'string', default: '' },
    bullmq: { type: 'string', default: 'redis://127.0.0.1:6379' },
    prefix: { type: 'string', default: 'bench-acceptor' },
  },
});

const url = new URL(values.bullmq);
const queue = new Queue('inbox', { connection: { host: url.hostname, port: Number(url.port || 6379), db: Number(url.pathname.slice(1) || 0) }, prefix: values.prefix });

const sha256 = (value: string | Buffer) => createHash('sha256').update(value).digest();
const expectedToken = sha256(values.token);
/** Constant time whatever the lengths: both sides hashed to 32 bytes first. */
const sameSecret = (presented: string, expected: Buffer) => timingSafeEqual(sha256(presented), expected);

const authenticate: (raw: Buffer, headers: express.Request['headers']) => boolean =
  values.auth === 'bearer'
    ? (_raw, headers) => {
        const match = /^Bearer +(\S+) *$/i.exec(headers.authorization ?? '');
        return match !== null && sameSecret(match[1] as string, expectedToken);
      }
    : (raw, headers) => {
        const presented = headers['x-hub-signature-256'];
        if (typeof presented !== 'string' || !presented.startsWith('sha256=')) return false;
        const expected = Buffer.from(`sha256=${createHmac('sha256', values.secret).update(raw).digest('hex')}`);
        const given = Buffer.from(presented.toLowerCase());
        return given.length === expected.length && timingSafeEqual(given, expected);
      };

/** The one message of the delivery, as little as a worker needs. */
function message(body: unknown): { id: string; from: string; text: string } | null {
  const b = body as Record<string, any>;
  if (values.auth === 'bearer') {
    const data = b?.data;
    const id = data?.key?.id;
    const jid = data?.key?.remoteJid;
    const text = data?.message?.conversation;
    return typeof id === 'string' && typeof jid === 'string' && typeof text === 'string' ? { id, from: jid.split('@')[0] as string, text } : null;
  }
  const m = b?.entry?.[0]?.changes?.[0]?.value?.messages?.[0];
  return typeof m?.id === 'string' && typeof m?.from === 'string' && typeof m?.text?.body === 'string' ? { id: m.id, from: m.from, text: m.text.body } : null;
}

const app = express();
app.post('/webhooks/:channel', express.raw({ type: () => true, limit: '256kb' }), async (req, res) => {
  const raw: Buffer = Buffer.isBuffer(req.body) ? req.body : Buffer.alloc(0);
  if (!authenticate(raw, req.headers)) {
    res.status(401).json({ error: 'unauthorized' });
    return;
  }
  let found: ReturnType<typeof message>;
  try {
    found = message(JSON.parse(raw.toString('utf8')));
  } catch {
    res.status(400).json({ error: 'invalid_request' });
    return;
  }
  if (!found) {
    res.json({ status: 'accepted', accepted: 0 });
    return;
  }
  try {
    await queue.add('message', found);
    res.json({ status: 'accepted', accepted: 1 });
  } catch {
    res.status(503).json({ error: 'unavailable' });
  }
});
const server = app.listen(Number(values.port), '127.0.0.1', () => {
  process.stdout.write(`ready http://127.0.0.1:${(server.address() as { port: number }).port}\n`);
});
server.keepAliveTimeout = 65_000;
process.on('SIGTERM', () => process.exit(0));
