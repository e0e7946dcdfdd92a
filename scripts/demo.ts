/**
 * `npm run demo`: the sandbox emulators, the real service (`node dist/src/server.js`, API +
 * worker) on the example configuration, and a scripted conversation per platform that ends
 * in a handoff, printed step by step.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { Redis } from 'ioredis';
import { Webhook } from 'standardwebhooks';
import { parseConfigText } from '../src/config.js';
import { BrpexEmulator } from '../src/sandbox/brpex.js';
import { MehubEmulator } from '../src/sandbox/mehub.js';
import { SuperagentesEmulator } from '../src/sandbox/superagentes.js';
import { ToolzzEmulator } from '../src/sandbox/toolzz.js';
import { freePort, hasRedisServer, redisAnswers, startRedisServer } from './lib/local-redis.js';

const ROOT = resolve(import.meta.dirname, '../..');
const SITE_SECRET = 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw';
const TOKENS = {
  TOOLZZ_TOKEN: 'demo-toolzz-token',
  MEHUB_TOKEN: 'demo-mehub-token',
  SUPERAGENTES_TOKEN: 'demo-superagentes-token',
  BRPEX_CHANNEL_TOKEN: 'demo-brpex-token',
  VENDAS_WEBHOOK_TOKEN: 'demo-vendas-token',
  APP_TOKEN: 'demo-app-token',
  SITE_SECRET,
};

const bold = (s: string) => (process.stdout.isTTY ? `\x1b[1m${s}\x1b[0m` : s);
const dim = (s: string) => (process.stdout.isTTY ? `\x1b[2m${s}\x1b[0m` : s);
const say = (line = '') => process.stdout.write(`${line}\n`);

const cleanups: (() => Promise<void> | void)[] = [];
async function cleanup(): Promise<void> {
  for (const step of cleanups.splice(0).reverse()) await Promise.resolve(step()).catch(() => undefined);
}

/** REDIS_URL (or the default) if it answers; else a throwaway redis-server; else one clear line. */
async function findRedis(): Promise<string> {
  const url = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
  if (await redisAnswers(url)) return url;
  if (!hasRedisServer()) {
    process.stderr.write(`No Redis answers at ${url} and there is no redis-server on the PATH: start one with \`docker compose up -d redis\` (or install redis-server), or set REDIS_URL.\n`);
    process.exit(1);
  }
  const server = await startRedisServer();
  cleanups.push(() => server.destroy());
  say(dim(`(no Redis at ${url}: started a throwaway redis-server on port ${server.port})`));
  return server.url;
}

function startService(env: Record<string, string>): Promise<{ child: ChildProcess; output: string[] }> {
  const child = spawn(process.execPath, [join(ROOT, 'dist/src/server.js')], { env: { PATH: process.env.PATH, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  const output: string[] = [];
  return new Promise((resolveStart, reject) => {
    let api = false;
    let worker = false;
    const onData = (chunk: Buffer) => {
      const text = chunk.toString('utf8');
      output.push(text);
      api ||= text.includes('API listening');
      worker ||= text.includes('workers running');
      if (api && worker) resolveStart({ child, output });
    };
    child.stdout?.on('data', onData);
    child.stderr?.on('data', onData);
    child.once('exit', (code) => reject(new Error(`the service exited (${code}) during start-up:\n${output.join('')}`)));
  });
}

async function main(): Promise<void> {
  say(bold('handoff-orchestrator demo'));
  const redisUrl = await findRedis();

  const toolzz = new ToolzzEmulator({ token: TOKENS.TOOLZZ_TOKEN });
  const brpex = new BrpexEmulator({ token: TOKENS.BRPEX_CHANNEL_TOKEN });
  const mehub = new MehubEmulator({ token: TOKENS.MEHUB_TOKEN });
  const superagentes = new SuperagentesEmulator({ token: TOKENS.SUPERAGENTES_TOKEN });
  await Promise.all([toolzz.start(), brpex.start(), mehub.start(), superagentes.start()]);
  cleanups.push(() => Promise.all([toolzz, brpex, mehub, superagentes].map((e) => e.close())).then(() => undefined));
  say(dim(`sandbox Toolzz ${toolzz.url} · BRPEX ${brpex.url} · MeHub ${mehub.url} · SuperAgentes ${superagentes.url}`));

  // The example configuration, under a key prefix of its own so it never touches real data.
  const prefix = `demo-${randomBytes(3).toString('hex')}`;
  const examplePath = join(ROOT, 'handoff.config.example.yaml');
  const example = parseConfigText(readFileSync(examplePath, 'utf8'), examplePath) as Record<string, any>;
  example.redis = { keyPrefix: prefix };
  example.retry = { attempts: 5, baseDelayMs: 200, maxDelayMs: 2000 };
  const configDir = mkdtempSync(join(tmpdir(), 'ho-demo-'));
  const configPath = join(configDir, 'handoff.config.json');
  writeFileSync(configPath, JSON.stringify(example, null, 2));
  cleanups.push(() => rmSync(configDir, { recursive: true, force: true }));

  const port = await freePort();
  const { child, output } = await startService({
    ...TOKENS,
    PORT: String(port),
    REDIS_URL: redisUrl,
    HANDOFF_CONFIG: configPath,
    LOG_LEVEL: 'info',
    TOOLZZ_BASE_URL: toolzz.url,
    BRPEX_BASE_URL: brpex.url,
    MEHUB_BASE_URL: mehub.url,
    SUPERAGENTES_BASE_URL: superagentes.url,
  });
  cleanups.push(async () => {
    const exited = new Promise((r) => child.once('exit', r));
    child.kill('SIGTERM');
    await exited;
    const redis = new Redis(redisUrl, { maxRetriesPerRequest: 1 });
    const keys = await redis.keys(`${prefix}:*`);
    if (keys.length > 0) await redis.del(...keys);
    redis.disconnect();
  });
  const base = `http://127.0.0.1:${port}`;
  say(dim(`service (API + worker) on ${base}, config ${configPath}, Redis ${redisUrl}, key prefix ${prefix}`));

  let seq = 0;
  async function customer(channel: string, phone: string, name: string, text: string, auth: 'token' | 'signed', token = ''): Promise<Record<string, unknown>> {
    const body = JSON.stringify({ messageId: `demo-${prefix}-${++seq}`, contact: { phone, name }, text });
    const headers: Record<string, string> = { 'content-type': 'application/json' };
    if (auth === 'token') headers.authorization = `Bearer ${token}`;
    else {
      const id = `msg_${randomBytes(8).toString('hex')}`;
      const now = new Date();
      Object.assign(headers, { 'webhook-id': id, 'webhook-timestamp': String(Math.floor(now.getTime() / 1000)), 'webhook-signature': new Webhook(SITE_SECRET).sign(id, now, body) });
    }
    const res = await fetch(`${base}/webhooks/${channel}`, { method: 'POST', headers, body });
    const answer = (await res.json()) as Record<string, unknown>;
    say(`  ${name}: “${text}”`);
    const detail =
      answer.status === 'replied'
        ? `bot: “${answer.reply}”`
        : answer.status === 'handoff_queued'
          ? `bot: “${answer.reply}” → handoff ${answer.handoffId} queued`
          : answer.status === 'human_active'
            ? 'the conversation is with a human: the bot is not called'
            : JSON.stringify(answer);
    say(`    ${bold(String(res.status))} ${answer.status ?? answer.error} — ${detail}`);
    return answer;
  }

  say();
  say(bold('1. WhatsApp sales (vendas-whatsapp) → MeHub, Bearer token'));
  const joao = '+55 (11) 99999-0000';
  const chat = mehub.addChat({ phone: '5511999990000', name: 'João', lastMessage: 'Oi, bom dia' });
  say(dim(`  (MeHub has João's open chat ${chat.token} on channel ${chat.channel})`));
  await customer('vendas-whatsapp', joao, 'João', 'Oi, bom dia! Vocês entregam em Campinas?', 'token', TOKENS.VENDAS_WEBHOOK_TOKEN);
  await customer('vendas-whatsapp', joao, 'João', 'Quero falar com um atendente', 'token', TOKENS.VENDAS_WEBHOOK_TOKEN);
  const [transfer] = await mehub.waitFor((r) => r.route === 'transfer' && r.applied, 1, 15_000);
  const sent = transfer?.body as { channel: string; attendant: number; message: string };
  say(`    ${bold('MeHub')}: chat ${chat.token} transferred to channel ${sent.channel}, attendant ${sent.attendant}`);
  say(dim(`    note for the attendant: ${sent.message}`));
  await customer('vendas-whatsapp', joao, 'João', 'Alô? Tem alguém aí?', 'token', TOKENS.VENDAS_WEBHOOK_TOKEN);

  say();
  say(bold('2. Website support (suporte-site) → BRPEX, Standard Webhooks signature'));
  await customer('suporte-site', '+55 21 98888-1111', 'Maria', 'Meu pedido 4821 chegou quebrado', 'signed');
  await customer('suporte-site', '+55 21 98888-1111', 'Maria', 'Quero falar com uma pessoa, por favor', 'signed');
  await brpex.waitFor((r) => r.route === 'dispatch' && r.applied, 1, 15_000);
  say(`    ${bold('BRPEX')}: ticket of 5521988881111 dispatched to human attendance (state ${brpex.ticket('5521988881111')?.state})`);

  say();
  say(bold('3. Premium app (app-premium) → SuperAgentes, Bearer token'));
  const conversation = superagentes.addConversation({ channelExternalId: '5531977772222', channel: 'api' });
  say(dim(`  (SuperAgentes has Carla's conversation ${conversation.id}, priority ${conversation.priority})`));
  await customer('app-premium', '+55 31 97777-2222', 'Carla', 'Preciso de atendimento humano para cancelar', 'token', TOKENS.APP_TOKEN);
  await superagentes.waitFor((r) => r.route === 'update' && r.applied, 1, 15_000);
  const updated = superagentes.conversation(conversation.id);
  say(`    ${bold('SuperAgentes')}: conversation ${conversation.id} now priority ${updated?.priority}, assigned to ${updated?.assignees.map((a) => a.id).join(', ')}`);

  say();
  say(bold('Done: three handoffs, each performed once.'));
  const log = output.join('');
  if (/"level":(50|60)/.test(log)) say(dim('(the service logged errors; run with LOG_LEVEL=debug to see them)'));
}

main()
  .then(cleanup)
  .catch(async (error: unknown) => {
    process.stderr.write(`demo failed: ${error instanceof Error ? error.message : String(error)}\n`);
    await cleanup();
    process.exit(1);
  });
