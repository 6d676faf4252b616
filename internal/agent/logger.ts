/**
 * Structured JSON logs (pino) to stdout for journald. Secrets are redacted by path as a
 * second line of defence; the first is that no code path passes them to the logger.
 */
import { pino, type Logger } from 'pino';

export type { Logger };

/** Log paths that must never be printed even if a caller passes them by mistake. */
const REDACT = [
  'secret', 'secrets', 'hmac_secret', 'shared_secret', 'token', 'signature', 'authorization',
  '*.secret', '*.secrets', '*.hmac_secret', '*.signature', '*.authorization', '*.token',
  'req.headers.authorization', 'req.headers["x-quickcmd-signature"]', 'headers.authorization',
  'headers["x-quickcmd-signature"]',
];

/** A JSON logger at `level`, writing to `destination` (stdout by default). */
export function createLogger(level: string, destination?: NodeJS.WritableStream): Logger {
  return pino(
    {
      level,
      base: { service: 'quickcmd-agent' },
      redact: { paths: REDACT, censor: '[redacted]' },
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
    },
    destination ?? pino.destination({ dest: 1, sync: false }),
  );
}

/** A logger that drops everything (tests that do not look at logs). */
export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}
