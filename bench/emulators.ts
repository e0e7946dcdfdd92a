/**
 * The sandbox emulators as processes of their own for the benchmarks (nothing recorded but
 * what the benchmark reads).
 *
 * `--kind toolzz` (default): the Toolzz emulator, answering `ok: <first 20 characters>`;
 *   `--latency <ms>`: every answer that late; `--handoff`: every answer asks for a human.
 * `--kind whatsapp`: the WhatsApp Cloud API (Graph) send endpoint; `--token` its access token.
 * `--kind evolution`: the Evolution API `sendText` endpoint (echoes off: its `fromMe` echoes
 *   would go back to the service); `--token` its apikey, `--instance` the instance name.
 *
 * The channel emulators note each accepted send as `[tag, at]`: the tag the benchmark put
 * first in the customer's text (the bot's reply starts with it), and `at` in ms of
 * `process.hrtime` — the system's monotonic clock, shared by every process of the machine, so
 * it compares with the load generator's send times. Read with `GET /__sandbox/bench/sends`,
 * count with `GET /__sandbox/bench/count`, forget with `POST /__sandbox/bench/clear`.
 */
import { parseArgs } from 'node:util';
import type { RecordedRequest, RouteResult } from '../src/sandbox/emulator.js';
import { EvolutionEmulator } from '../src/sandbox/evolution.js';
import { ToolzzEmulator } from '../src/sandbox/toolzz.js';
import { WhatsappEmulator } from '../src/sandbox/whatsapp.js';

const { values } = parseArgs({
  options: {
    kind: { type: 'string', default: 'toolzz' },
    port: { type: 'string', default: '0' },
    latency: { type: 'string', default: '0' },
    handoff: { type: 'boolean', default: false },
    token: { type: 'string' },
    instance: { type: 'string', default: 'loja' },
  },
});

const TAG = /[0-9a-f]{8}-\d+/;
const nowMs = () => Number(process.hrtime.bigint()) / 1e6;

/** What a bench channel emulator keeps: one `[tag, at]` per accepted send. */
class SendNotes {
  sends: [string, number][] = [];
  constructor(emulator: { on(event: 'request', listener: (entry: RecordedRequest) => void): unknown }, route: string, text: (body: Record<string, unknown>) => unknown) {
    emulator.on('request', (entry: RecordedRequest) => {
      if (entry.route !== route || entry.status < 200 || entry.status >= 300) return;
      const value = text((entry.body ?? {}) as Record<string, unknown>);
      this.sends.push([typeof value === 'string' ? (TAG.exec(value)?.[0] ?? value.slice(0, 40)) : '', nowMs()]);
    });
  }
  control(method: string, action: string, reset: () => void): RouteResult | undefined {
    if (method === 'GET' && action === 'bench/count') return { status: 200, body: { count: this.sends.length } };
    if (method === 'GET' && action === 'bench/sends') return { status: 200, body: { count: this.sends.length, sends: this.sends } };
    if (method === 'POST' && action === 'bench/clear') {
      this.sends = [];
      reset();
      return { status: 200, body: { ok: true } };
    }
    return undefined;
  }
}

class BenchWhatsapp extends WhatsappEmulator {
  readonly notes = new SendNotes(this, 'messages', (body) => (body.text as { body?: unknown } | undefined)?.body);
  protected override controlAction(method: string, action: string): RouteResult | undefined {
    return this.notes.control(method, action, () => this.reset());
  }
}

class BenchEvolution extends EvolutionEmulator {
  readonly notes = new SendNotes(this, 'sendText', (body) => body.text);
  protected override controlAction(method: string, action: string): RouteResult | undefined {
    return this.notes.control(method, action, () => this.reset());
  }
}

let emulator: ToolzzEmulator | WhatsappEmulator | EvolutionEmulator;
if (values.kind === 'whatsapp') {
  emulator = new BenchWhatsapp({ accessToken: values.token });
} else if (values.kind === 'evolution') {
  emulator = new BenchEvolution({ apiKey: values.token, instances: [values.instance], echo: 'off' });
} else if (values.kind === 'toolzz') {
  const toolzz = new ToolzzEmulator({
    script: values.handoff
      ? () => ({ content: 'Vou transferir você.', transferToAgent: true, targetBotId: null })
      : ({ message }) => ({ content: `ok: ${message.slice(0, 20)}`, transferToAgent: false }),
  });
  toolzz.rememberConversations = false;
  emulator = toolzz;
} else {
  throw new Error(`unknown --kind ${values.kind} (toolzz, whatsapp or evolution)`);
}
emulator.maxRecorded = 0;
emulator.latencyMs = Number(values.latency);
const url = await emulator.start(Number(values.port));
process.stdout.write(`ready ${url}\n`);
process.on('SIGTERM', () => void emulator.close().then(() => process.exit(0)));
