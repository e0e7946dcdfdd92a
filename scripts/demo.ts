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
import { parseConfigText } from '../src/config/index.js';
import { BrpexEmulator } from '../src/sandbox/brpex.js';
import { MehubEmulator } from '../src/sandbox/mehub.js';
import { SuperagentesEmulator } from '../src/sandbox/superagentes.js';
import { ToolzzEmulator } from '../src/sandbox/toolzz.js';
import { WhatsappEmulator, deliverMetaWebhook, metaEnvelope, metaText } from '../src/sandbox/whatsapp.js';
import { EvolutionEmulator, deliverEvolutionWebhook, evolutionUpsert } from '../src/sandbox/evolution.js';
import { ZapiEmulator } from '../src/sandbox/zapi.js';
import { ReplyReceiver } from '../src/sandbox/reply-receiver.js';
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
  MEHUB_WEBHOOK_SECRET: 'demo-mehub-webhook-secret',
  WA_ACCESS_TOKEN: 'demo-wa-access-token',
  WA_APP_SECRET: 'demo-wa-app-secret',
  WA_VERIFY_TOKEN: 'demo-wa-verify-token',
  APP_ASYNC_TOKEN: 'demo-app-async-token',
  APP_REPLY_SECRET: 'whsec_ZGVtby1yZXBseS1zaWduaW5nLXNlY3JldA==',
  EVO_WEBHOOK_TOKEN: 'demo-evo-webhook-token',
  EVO_API_KEY: 'demo-evo-api-key',
  ZAPI_WEBHOOK_TOKEN: 'demo-zapi-webhook-token',
  ZAPI_INSTANCE_TOKEN: 'demo-zapi-instance-token',
  ZAPI_CLIENT_TOKEN: 'demo-zapi-client-token',
};

const DEMO_SYNC_TOKEN = 'demo-sync-token';
const DEMO_ADMIN_TOKEN = 'demo-admin-token';

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
  const whatsapp = new WhatsappEmulator({ accessToken: TOKENS.WA_ACCESS_TOKEN });
  const evolution = new EvolutionEmulator({ apiKey: TOKENS.EVO_API_KEY, instances: ['loja'], webhookHeaders: { authorization: `Bearer ${TOKENS.EVO_WEBHOOK_TOKEN}` } });
  const zapi = new ZapiEmulator({ clientToken: TOKENS.ZAPI_CLIENT_TOKEN });
  const replies = new ReplyReceiver({ signingSecret: TOKENS.APP_REPLY_SECRET });
  const emulators = [toolzz, brpex, mehub, superagentes, whatsapp, evolution, zapi, replies];
  await Promise.all(emulators.map((e) => e.start()));
  cleanups.push(() => Promise.all(emulators.map((e) => e.close())).then(() => undefined));
  say(dim(`sandbox Toolzz ${toolzz.url} · BRPEX ${brpex.url} · MeHub ${mehub.url} · SuperAgentes ${superagentes.url}`));
  say(dim(`        WhatsApp Graph ${whatsapp.url} · Evolution ${evolution.url} · Z-API ${zapi.url} · reply receiver ${replies.url}`));

  // The example configuration, under a key prefix of its own so it never touches real data.
  const prefix = `demo-${randomBytes(3).toString('hex')}`;
  const examplePath = join(ROOT, 'handoff.config.example.yaml');
  const example = parseConfigText(readFileSync(examplePath, 'utf8'), examplePath) as Record<string, any>;
  example.redis = { keyPrefix: prefix };
  example.retry = { attempts: 5, baseDelayMs: 200, maxDelayMs: 2000 };
  // Scenes 8 and 9 (SPEC §12): a channel whose business hours open at the next whole minute
  // (UTC; at least 5 s away), and one handing off to BRPEX with MeHub as its fallback.
  const opening = Math.ceil((Date.now() + 20_000) / 60_000) * 60_000;
  const hhmm = (at: number) => new Date(at).toISOString().slice(11, 16);
  const weekday = ['sun', 'mon', 'tue', 'wed', 'thu', 'fri', 'sat'][new Date(opening).getUTCDay()] as string;
  const demoChannel = { auth: { token: DEMO_SYNC_TOKEN }, bot: { id: '6b3c9f0e-1c2d-4e5f-8a9b-0c1d2e3f4a5b' } };
  example.channels['demo-horario'] = {
    ...demoChannel,
    handoff: { provider: 'brpex', subdomain: 'minhaempresa', token: '${BRPEX_CHANNEL_TOKEN}' },
    hours: { timezone: 'UTC', weekly: { [weekday]: [`${hhmm(opening)}-24:00`] }, outside: 'queue', message: 'Estamos fora do horário. Um atendente fala com você assim que abrirmos.' },
  };
  // Scene 10 (SPEC §13): loja-wa has an approved template for messages outside the 24-hour window.
  example.channels['loja-wa'].whatsapp.windowTemplate = { name: 'retomar_atendimento', language: 'pt_BR' };
  example.channels['demo-failover'] = {
    ...demoChannel,
    handoff: { provider: 'brpex', subdomain: 'minhaempresa', token: '${BRPEX_CHANNEL_TOKEN}', fallback: [{ provider: 'mehub', channel: 'xyz789abc123def4' }] },
  };
  const configDir = mkdtempSync(join(tmpdir(), 'ho-demo-'));
  const configPath = join(configDir, 'handoff.config.json');
  writeFileSync(configPath, JSON.stringify(example, null, 2));
  cleanups.push(() => rmSync(configDir, { recursive: true, force: true }));

  const port = await freePort();
  const base = `http://127.0.0.1:${port}`;
  const { child, output } = await startService({
    ...TOKENS,
    APP_REPLY_URL: replies.endpoint,
    WHATSAPP_BASE_URL: whatsapp.url,
    EVOLUTION_BASE_URL: evolution.url,
    ZAPI_BASE_URL: zapi.url,
    PORT: String(port),
    REDIS_URL: redisUrl,
    HANDOFF_CONFIG: configPath,
    ADMIN_TOKEN: DEMO_ADMIN_TOKEN,
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
        ? `bot: “${String(answer.reply)}”`
        : answer.status === 'handoff_queued'
          ? `bot: “${String(answer.reply)}” → handoff ${String(answer.handoffId)} queued`
          : answer.status === 'human_active'
            ? 'the conversation is with a human: the bot is not called'
            : JSON.stringify(answer);
    say(`    ${bold(String(res.status))} ${String(answer.status ?? answer.error)} — ${detail}`);
    return answer;
  }

  const adminGet = async (path: string) => (await (await fetch(`${base}${path}`, { headers: { authorization: `Bearer ${DEMO_ADMIN_TOKEN}` } })).json()) as Record<string, unknown>;

  say();
  say(bold(`8. Out of hours (demo-horario, open from ${hhmm(opening)} UTC) → BRPEX: queued now, performed at the opening (the scenes below run meanwhile)`));
  const rita = '+55 51 94444-5555';
  const queued = await customer('demo-horario', rita, 'Rita', 'Quero falar com um atendente', 'token', DEMO_SYNC_TOKEN);
  const queuedRecord = await adminGet(`/admin/handoffs/${String(queued.handoffId)}`);
  say(`    handoff ${String(queued.handoffId)}: ${String(queuedRecord.state)}, scheduledFor ${String(queuedRecord.scheduledFor)} (a delayed job: restarts lose none)`);
  await customer('demo-horario', rita, 'Rita', 'Tem alguém aí?', 'token', DEMO_SYNC_TOKEN);

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
  say(dim(`    note for the attendant: ${String(sent.message).replaceAll("\n", "\n      ")}`));
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
  say(bold('4. WhatsApp Cloud API (loja-wa) → MeHub: signed Meta webhooks in, replies through the Graph API'));
  const ana = '5511988887777';
  mehub.setWebhook(`${base}/platform-webhooks/mehub`, TOKENS.MEHUB_WEBHOOK_SECRET);
  mehub.addChat({ phone: ana, name: 'Ana', lastMessage: 'Oi' });
  async function whatsappSays(text: string, expectReply: boolean): Promise<void> {
    const before = whatsapp.sent().length;
    const envelope = metaEnvelope({ phoneNumberId: '106540352242922', messages: [metaText(ana, text)], contacts: [{ wa_id: ana, name: 'Ana' }] });
    const answer = await deliverMetaWebhook(`${base}/webhooks/loja-wa`, envelope, TOKENS.WA_APP_SECRET);
    say(`  Ana (WhatsApp): “${text}”`);
    say(`    ${bold(String(answer.status))} ${JSON.stringify(answer.body)} — answered before the bot was asked`);
    if (!expectReply) return;
    const sent = await whatsapp.waitForSent(before + 1, undefined, 15_000);
    say(`    ${bold('Graph API')} ← POST /v21.0/106540352242922/messages to ${sent.at(-1)?.to}: “${sent.at(-1)?.text}”`);
  }
  await whatsappSays('Oi! Qual o prazo de entrega para Recife?', true);
  await whatsappSays('Quero falar com um atendente', true);
  await mehub.waitFor((r) => r.route === 'transfer' && r.applied, 2, 15_000);
  say(`    ${bold('MeHub')}: Ana's chat transferred to channel xyz789abc123def4 (a human has it now)`);
  await whatsappSays('Oi? Alguém?', false);
  // Processed in the background: wait until its turn is on the conversation's timeline (SPEC §14) before the attendant closes the chat.
  for (let i = 0; i < 100; i++) {
    const { events } = (await adminGet(`/admin/conversations/loja-wa/${ana}/timeline`)) as { events: { type: string; text?: string | null }[] };
    if (events.some((e) => e.type === 'message' && e.text === 'Oi? Alguém?')) break;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  say(dim('    (nothing is sent and the bot is not asked: the human sees it on MeHub)'));
  const humanChat = mehub.openChat(ana, 'xyz789abc123def4');
  const ended = await mehub.closeChat(humanChat?.token as string);
  say(`    ${bold('MeHub')}: the attendant closes the chat → signed CHAT_ENDED → ${ended?.status} from the service: back to the bot`);
  await whatsappSays('Voltei! Chegou meu pedido, obrigada', true);

  say();
  say(bold('5. An app with a reply callback (app-async) → BRPEX: 202 at once, outcomes POSTed, signed'));
  let appSeq = 0;
  async function appSays(text: string, events: number): Promise<void> {
    const before = replies.replies().length;
    const res = await fetch(`${base}/webhooks/app-async`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${TOKENS.APP_ASYNC_TOKEN}` },
      body: JSON.stringify({ messageId: `demo-app-${prefix}-${++appSeq}`, contact: { phone: '+55 41 96666-3333', name: 'Pedro' }, text }),
    });
    say(`  Pedro (app): “${text}”`);
    say(`    ${bold(String(res.status))} ${JSON.stringify(await res.json())}`);
    const received = await replies.waitForReplies(before + events, undefined, 15_000);
    for (const reply of received.slice(before)) {
      say(`    ${bold('reply.url')} ← ${String(reply.body.type)}${typeof reply.body.reply === 'string' ? `: “${reply.body.reply}”` : ''} (signature ${reply.verified ? 'valid' : 'INVALID'}, ${reply.webhookId})`);
    }
  }
  await appSays('Vocês aceitam Pix?', 1);
  await appSays('Prefiro falar com um humano', 2);

  say();
  say(bold('6. Evolution API (loja-evo) → SuperAgentes: a burst becomes one turn; an attendant answers from the phone'));
  const bia = '5511955554444';
  evolution.webhookUrl = `${base}/webhooks/loja-evo`;
  superagentes.addConversation({ channelExternalId: bia });
  const evoHeaders = { authorization: `Bearer ${TOKENS.EVO_WEBHOOK_TOKEN}` };
  for (const text of ['oi', 'tudo bem?', 'quero saber do meu pedido 1234']) {
    const answer = await deliverEvolutionWebhook(`${base}/webhooks/loja-evo`, evolutionUpsert({ instance: 'loja', phone: bia, pushName: 'Bia', text }), evoHeaders);
    say(`  Bia (WhatsApp via Evolution): “${text}” → ${answer.status} ${JSON.stringify(answer.body)}`);
  }
  const [burst] = await evolution.waitForSent(1, undefined, 15_000);
  const asked = toolzz.calls('send-message').at(-1)?.body as { message: string };
  say(`    ${bold('Toolzz')} asked once, after 1.5 s of quiet, with: ${JSON.stringify(asked.message)}`);
  say(`    ${bold('Evolution')} ← sendText to ${burst?.number}: “${burst?.text}” (its fromMe echo changes nothing)`);
  await evolution.phoneSend(bia, 'Oi Bia, aqui é a Júlia da loja, já vou ver seu pedido!');
  say('  Júlia answers from the shop’s phone (a fromMe message no send call returned)');
  const callsBefore = toolzz.calls('send-message').length;
  await deliverEvolutionWebhook(`${base}/webhooks/loja-evo`, evolutionUpsert({ instance: 'loja', phone: bia, pushName: 'Bia', text: 'ah, que bom! obrigada' }), evoHeaders);
  // Showing that nothing happens takes a wait: longer than the 1.5 s debounce window, after
  // which the bot would have answered (the tests check this with events, not with time).
  await new Promise((resolve) => setTimeout(resolve, 2_000));
  say(`  Bia: “ah, que bom! obrigada” → the bot stays quiet (Toolzz calls: ${toolzz.calls('send-message').length - callsBefore}, Evolution sends: ${evolution.sent().length - 1})`);

  say();
  say(bold('7. One customer, many addresses (loja-evo): a WhatsApp LID first, then the phone — one conversation'));
  const leoLid = '204563378945021';
  const leoPhone = '5521987651234';
  const sentBefore = evolution.sent().length;
  await deliverEvolutionWebhook(`${base}/webhooks/loja-evo`, evolutionUpsert({ instance: 'loja', lid: leoLid, pushName: 'Léo', text: 'oi, quanto custa o frete?' }), evoHeaders);
  say(`  Léo writes from a LID only (${leoLid}@lid, no phone in the message): “oi, quanto custa o frete?”`);
  const [toLid] = await evolution.waitForSent(sentBefore + 1, undefined, 15_000).then((all) => all.slice(sentBefore));
  const firstCall = toolzz.calls('send-message').at(-1)?.body as { conversationId?: string | null };
  say(`    ${bold('Evolution')} ← sendText to ${toLid?.number}: “${toLid?.text}”`);
  await deliverEvolutionWebhook(`${base}/webhooks/loja-evo`, evolutionUpsert({ instance: 'loja', lid: leoLid, phone: leoPhone, pushName: 'Léo', text: 'e para Niterói?' }), evoHeaders);
  say(`  Léo again, now with his phone next to the LID (remoteJidAlt ${leoPhone}): “e para Niterói?”`);
  const [toPhone] = await evolution.waitForSent(sentBefore + 2, undefined, 15_000).then((all) => all.slice(sentBefore + 1));
  const secondCall = toolzz.calls('send-message').at(-1)?.body as { conversationId?: string | null };
  say(`    ${bold('Evolution')} ← sendText to ${toPhone?.number}: “${toPhone?.text}”`);
  say(
    `    ${bold('Toolzz')}: the second message continued the conversation the LID started (${String(secondCall.conversationId)}${firstCall.conversationId ? '' : ', created by the first'}) — one customer`,
  );

  say();
  say(bold(`8, continued. The opening (${hhmm(opening)} UTC)`));
  say(dim(`    (waiting for it, ${Math.max(0, Math.round((opening - Date.now()) / 1000))} s…)`));
  await brpex.waitFor((r) => r.route === 'dispatch' && r.applied && (r.body as { phone?: string }).phone === '5551944445555', 1, 120_000);
  say(`    ${bold('BRPEX')}: Rita's ticket dispatched at ${new Date().toISOString().slice(11, 19)} UTC, ${((Date.now() - opening) / 1000).toFixed(1)} s after the opening`);

  say();
  say(bold('9. Failover (demo-failover): BRPEX refuses the handoff for good → MeHub takes the customer'));
  const davi = '5561933336666';
  mehub.addChat({ phone: davi, name: 'Davi', lastMessage: 'Oi' });
  brpex.inject('dispatch', { status: 422, body: { message: 'departamento inválido' } });
  const failing = await customer('demo-failover', '+55 61 93333-6666', 'Davi', 'Quero falar com um atendente', 'token', DEMO_SYNC_TOKEN);
  let chain: Record<string, unknown> = {};
  for (let i = 0; i < 150 && chain.state !== 'done'; i++) {
    chain = await adminGet(`/admin/handoffs/${String(failing.handoffId)}`);
    if (chain.state !== 'done') await new Promise((resolve) => setTimeout(resolve, 100));
  }
  const legs = (chain.legs as { provider: string; state: string; lastError: string | null }[] | undefined) ?? [];
  say(`    handoff ${String(failing.handoffId)}: ${String(chain.state)} by ${String(chain.provider)}; legs: ${legs.map((l) => `${l.provider} ${l.state}${l.lastError ? ` (${l.lastError})` : ''}`).join(' → ')}`);

  say();
  say(bold('10. The 24-hour window (loja-wa, SPEC §13): a message Meta delivers 25 h late → the reply goes as the approved template'));
  const lia = '5511977776666';
  const lateAt = Date.now() - 25 * 3_600_000;
  whatsapp.customerWrote(lia, Math.floor(lateAt / 1000) * 1000);
  const lateBefore = whatsapp.sent().length;
  const late = { ...metaText(lia, 'Oi, ainda dá para trocar o produto?'), timestamp: String(Math.floor(lateAt / 1000)) };
  const lateAnswer = await deliverMetaWebhook(`${base}/webhooks/loja-wa`, metaEnvelope({ phoneNumberId: '106540352242922', messages: [late], contacts: [{ wa_id: lia, name: 'Lia' }] }), TOKENS.WA_APP_SECRET);
  say(`  Lia (WhatsApp, written 25 h ago, delivered now): “Oi, ainda dá para trocar o produto?” → ${lateAnswer.status}`);
  const [templated] = (await whatsapp.waitForSent(lateBefore + 1, undefined, 15_000)).slice(lateBefore);
  say(`    ${bold('Graph API')} ← template ${templated?.template?.name} (${templated?.template?.language}) to ${templated?.to}: free text would be refused (131047) outside the window`);
  say(dim('    (and the MeHub notes above carry the conversation so far: scene 1’s note lists João’s first message and the bot’s answer)'));

  say();
  say(bold('11. The operator console (SPEC §14): GET /admin/console in a browser; the JSON it reads'));
  const listed = (await adminGet(`/admin/conversations?q=${ana}`)).conversations as { channel: string; name: string | null; state: string; takenBy: string | null; lastActivityAt: string }[];
  for (const c of listed) say(`    /admin/conversations?q=${ana} → ${c.channel}: ${c.name ?? 'sem nome'}, ${c.state}${c.takenBy ? ` (${c.takenBy})` : ''}, last activity ${c.lastActivityAt}`);
  const { events } = (await adminGet(`/admin/conversations/loja-wa/${ana}/timeline`)) as { events: { type: string; text?: string | null; state?: string; provider?: string; cause?: string }[] };
  say(`    its timeline (${events.length} events): ${events.map((e) => (e.type === 'handoff' ? `handoff ${e.provider ?? ''} ${e.state ?? ''}` : e.type === 'delivery' ? `delivery ${e.state ?? ''}` : e.type === 'release' ? `release (${e.cause ?? ''})` : e.type)).join(' → ')}`);
  const figures = await adminGet('/admin/figures');
  say(`    /admin/figures → ${JSON.stringify(figures.handoffs)} handoffs in 24 h, ${String(figures.deliveriesFailed)} failed deliveries`);

  say();
  say(bold('Done: every handoff performed once; the WhatsApp customer came back to the bot; the bot went quiet for the person on the phone; one customer across two addresses; a handoff waited for the opening; one failed over to another helpdesk; a late message went as a template.'));
  const log = output.join('');
  if (process.env.DEMO_SERVICE_LOG) writeFileSync(process.env.DEMO_SERVICE_LOG, log);
  if (/"level":(50|60)/.test(log)) say(dim('(the service logged errors; run with LOG_LEVEL=debug to see them)'));
}

main()
  .then(cleanup)
  .catch(async (error: unknown) => {
    process.stderr.write(`demo failed: ${error instanceof Error ? error.message : String(error)}\n`);
    await cleanup();
    process.exit(1);
  });
