import { pino, type DestinationStream, type Logger } from 'pino';

/**
 * Paths pino blanks out wherever they appear in a log object. The code never logs headers
 * or config secrets on purpose; this is the net under it.
 */
export const REDACT_PATHS = [
  'authorization',
  'token',
  'secret',
  'signingSecret',
  'password',
  '*.authorization',
  '*.Authorization',
  '*.token',
  '*.secret',
  '*.signingSecret',
  '*.password',
  '*["webhook-signature"]',
  'headers.*',
  'req.headers.*',
  'res.headers.*',
  'config.toolzz.token',
  'config.providers.*.token',
  'config.channels.*.auth',
  'config.channels.*.bot.token',
  'config.channels.*.handoff.token',
];

export function createLogger(options: { level: string; name?: string; destination?: DestinationStream }): Logger {
  return pino(
    {
      level: options.level,
      name: options.name ?? 'handoff-orchestrator',
      base: { pid: process.pid },
      redact: { paths: REDACT_PATHS, censor: '[redacted]' },
      serializers: { err: pino.stdSerializers.err },
    },
    options.destination,
  );
}
