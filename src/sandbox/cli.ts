import { parseArgs } from 'node:util';
import { BrpexEmulator } from './brpex.js';
import { EvolutionEmulator } from './evolution.js';
import { MehubEmulator } from './mehub.js';
import { SuperagentesEmulator } from './superagentes.js';
import { ToolzzEmulator } from './toolzz.js';
import { WhatsappEmulator } from './whatsapp.js';
import { ZapiEmulator } from './zapi.js';

/**
 * `npm run sandbox`: the emulators on fixed ports, for trying the service by hand
 * (README "Try it by hand"). They accept any token, and MeHub / SuperAgentes create the
 * customer's chat / conversation the first time it is looked up. The channel emulators
 * (WhatsApp, Evolution with instance `loja`, Z-API) record sends but post no webhooks:
 * they do not know the service's URL.
 * Control API on each: GET /__sandbox/requests, GET /__sandbox/state, POST /__sandbox/faults.
 * MeHub's attendant answers a chat (SPEC §12's first response: a MESSAGE_SENT event, once its
 * webhook is set with POST /__sandbox/webhook {"url","secret"}) with
 * POST /__sandbox/chats/<token>/reply {"content"}, and ends it with POST /__sandbox/chats/<token>/close.
 */
const { values } = parseArgs({
  options: { host: { type: 'string', default: '127.0.0.1' }, 'port-base': { type: 'string', default: '4010' } },
});
const host = values.host;
const base = Number(values['port-base']);

const emulators = [
  { name: 'Toolzz', env: 'TOOLZZ_BASE_URL', emulator: new ToolzzEmulator() },
  { name: 'BRPEX', env: 'BRPEX_BASE_URL', emulator: new BrpexEmulator() },
  { name: 'MeHub', env: 'MEHUB_BASE_URL', emulator: new MehubEmulator({ autoCreateChats: true }) },
  { name: 'SuperAgentes', env: 'SUPERAGENTES_BASE_URL', emulator: new SuperagentesEmulator({ autoCreateConversations: true }) },
  { name: 'WhatsApp', env: 'WHATSAPP_BASE_URL', emulator: new WhatsappEmulator() },
  { name: 'Evolution', env: 'EVOLUTION_BASE_URL', emulator: new EvolutionEmulator() },
  { name: 'Z-API', env: 'ZAPI_BASE_URL', emulator: new ZapiEmulator() },
];

for (const [i, entry] of emulators.entries()) {
  await entry.emulator.start(base + i, host);
  entry.emulator.on('request', (r: { route: string; method: string; path: string; status: number }) => {
    process.stdout.write(`${new Date().toISOString()} ${entry.name.padEnd(12)} ${r.method} ${r.path} → ${r.status}\n`);
  });
}
const shown = host === '0.0.0.0' ? '127.0.0.1' : host;
process.stdout.write('Sandbox emulators running. Point the service at them with:\n');
for (const [i, entry] of emulators.entries()) process.stdout.write(`  export ${entry.env}=http://${shown}:${base + i}\n`);
process.stdout.write('Ctrl-C stops them.\n');

const stop = () => {
  void Promise.all(emulators.map((e) => e.emulator.close())).then(() => process.exit(0));
};
process.on('SIGINT', stop);
process.on('SIGTERM', stop);
