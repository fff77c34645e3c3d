import { pino, type Logger, type DestinationStream } from 'pino';

/** Paths pino censors wherever they appear in a log object, so secrets never reach a log line. */
export const REDACTED_PATHS = [
  'secret',
  '*.secret',
  'authToken',
  '*.authToken',
  'auth_token',
  '*.auth_token',
  'accessToken',
  '*.accessToken',
  'access_token',
  '*.access_token',
  'encodingAesKey',
  '*.encodingAesKey',
  'token',
  '*.token',
  'config.wecom.secret',
  'config.wecom.encodingAesKey',
  'config.auth.secret',
];

/** JSON logger for a node: one line per event, object first, message second, errors under `err`. */
export function createLogger(options: { level: string; nodeId: string }, destination?: DestinationStream): Logger {
  return pino(
    {
      level: options.level,
      base: { node: options.nodeId },
      redact: { paths: REDACTED_PATHS, censor: '[redacted]' },
      timestamp: pino.stdTimeFunctions.isoTime,
    },
    destination,
  );
}
