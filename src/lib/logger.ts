import { pino, type Logger } from 'pino';

export type { Logger };

/** Secrets are redacted wherever they might ride along in a logged object. */
export function createLogger(level: string): Logger {
  return pino({
    level,
    redact: {
      paths: [
        'password', '*.password', 'newPassword', 'currentPassword', '*.newPassword', '*.currentPassword',
        'key', '*.key', 'token', '*.token', 'refreshToken', '*.refreshToken', 'secret', '*.secret',
        'req.headers.authorization', 'req.headers["x-api-key"]', 'headers.authorization', 'headers["x-api-key"]',
      ],
      censor: '[redacted]',
    },
  });
}

/** The process logger; `buildApp` replaces it with one at the configured level. */
export let log: Logger = pino({ level: process.env.LOG_LEVEL ?? 'info' });
export function setLogger(logger: Logger): void {
  log = logger;
}
