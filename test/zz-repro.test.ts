import { it } from 'vitest';
import { metaEnvelope, metaText } from '../src/sandbox/whatsapp.js';
import { asyncChannels, startHarness, WA_PHONE_NUMBER_ID } from './helpers/harness.js';
import { waitUntil } from './helpers/wait.js';

it('repro', async () => {
  const h = await startHarness({ worker: true, file: { providers: { mehub: { webhookSecret: 'sec-abc-123' } } }, channels: (r) => asyncChannels(r) });
  h.mehub.setWebhook(`${h.url}/platform-webhooks/mehub`, 'sec-abc-123');
  const ana = '5511988887777';
  h.mehub.addChat({ phone: ana, name: 'Ana', lastMessage: 'Oi' });
  const say = (t: string) => h.sendMeta('wa', metaEnvelope({ phoneNumberId: WA_PHONE_NUMBER_ID, messages: [metaText(ana, t)], contacts: [{ wa_id: ana, name: 'Ana' }] }));
  await say('oi');
  await h.whatsapp.waitForSent(1);
  await say('Quero falar com um atendente');
  await h.whatsapp.waitForSent(2);
  await h.mehub.waitFor((r) => r.route === 'transfer' && r.applied, 1, 15_000);
  console.log('LOGS', h.logs.lines.filter((l) => /mehub|platform/i.test(l)).map((l) => l.slice(0, 300)).join('\n'));
  await say('Oi? Alguém?');
  await waitUntil(() => h.redis.llen(h.keys.inbox('wa', ana)), { what: 'drain', done: (n) => n === 0 });
  await new Promise((r) => setTimeout(r, 300));
  for (const c of h.mehub.calls()) console.log('REQ', c.method, c.path, JSON.stringify(c.query), c.status);
  console.log('STATE', JSON.stringify(await h.conversation('wa', ana)));
  console.log('SENT', h.whatsapp.sent().length);
  await h.close();
}, 60_000);
