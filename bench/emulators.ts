/**
 * The sandbox Toolzz emulator as a process of its own for the benchmarks (nothing recorded).
 * `--latency <ms>`: every answer that late; `--handoff`: every answer asks for a human.
 */
import { parseArgs } from 'node:util';
import { ToolzzEmulator } from '../src/sandbox/toolzz.js';

const { values } = parseArgs({ options: { port: { type: 'string', default: '0' }, latency: { type: 'string', default: '0' }, handoff: { type: 'boolean', default: false } } });
const toolzz = new ToolzzEmulator({
  script: values.handoff
    ? () => ({ content: 'Vou transferir você.', transferToAgent: true, targetBotId: null })
    : ({ message }) => ({ content: `ok: ${message.slice(0, 20)}`, transferToAgent: false }),
});
toolzz.maxRecorded = 0;
toolzz.rememberConversations = false;
toolzz.latencyMs = Number(values.latency);
const url = await toolzz.start(Number(values.port));
process.stdout.write(`ready ${url}\n`);
process.on('SIGTERM', () => void toolzz.close().then(() => process.exit(0)));
