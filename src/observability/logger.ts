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
  'headers',
  '*.authorization',
  '*.token',
  '*.secret',
  '*.signingSecret',
  '*.password',
  '*.headers',
];

/**
 * A pino logger. Without a destination it writes to stdout asynchronously (a write per line
 * costs a system call under load); pino flushes what is pending when the process exits, and
 * `logger.flush()` is called on shutdown.
 */
export function createLogger(options: { level: string; name?: string; destination?: DestinationStream }): Logger {
  return pino(
    {
      level: options.level,
      name: options.name ?? 'handoff-orchestrator',
      base: { pid: process.pid },
      redact: { paths: REDACT_PATHS, censor: '[redacted]' },
      serializers: { err: pino.stdSerializers.err },
    },
    options.destination ?? pino.destination({ dest: 1, sync: false }),
  );
}
